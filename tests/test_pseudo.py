"""kit.pseudo: which pool rows a fold's students get, and how often the teacher is right where it is trusted."""

import numpy as np
import pytest

from kit.pseudo import PseudoSettings, select_pseudo_rows, teacher_precision
from kit.settings import parse


def settings(**values) -> PseudoSettings:
    return parse(PseudoSettings, {"teacher": "m.cleaned.s0", **values}, "pseudo.p")


def probs_for(labels, confidences, n_classes=3):
    """[n x C] probabilities whose argmax is labels and max is confidences."""
    rest = (1 - np.asarray(confidences)) / (n_classes - 1)
    probs = np.repeat(rest[:, None], n_classes, axis=1)
    probs[np.arange(len(labels)), labels] = confidences
    return probs


def test_threshold_keeps_confident_allowed_rows_only():
    probs = probs_for([0, 1, 2, 1, 0], [0.95, 0.5, 0.99, 0.91, 0.92])
    allowed = np.array([True, True, True, True, False])
    rows, labels, confidence = select_pseudo_rows(probs, allowed, np.array([0, 1, 2]), settings(balance="none"), 0)
    assert rows.tolist() == [0, 2, 3] and labels.tolist() == [0, 2, 1]
    assert np.allclose(confidence, [0.95, 0.99, 0.91])


def test_per_class_thresholds_and_top_fraction():
    probs = probs_for([0, 0, 0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9, 0.4, 0.95])
    allowed = np.ones(6, dtype=bool)
    rows, _, _ = select_pseudo_rows(probs, allowed, np.array([0, 1]), settings(threshold=[0.75, 0.5, 0.5],
                                                                               balance="none"), 0)
    assert rows.tolist() == [2, 3, 5]
    rows, _, _ = select_pseudo_rows(probs, allowed, np.array([0, 1]), settings(threshold=0, top_fraction=0.5,
                                                                               balance="none"), 0)
    assert rows.tolist() == [2, 3, 5]  # the top half of each predicted class


def test_train_ratio_balance_keeps_the_class_ratio_and_the_cap():
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=1000, p=[0.1, 0.7, 0.2])
    probs = probs_for(labels, rng.uniform(0.91, 1.0, 1000))
    train = np.repeat([0, 1, 2], [30, 40, 30])  # 30% / 40% / 30%
    rows, chosen, _ = select_pseudo_rows(probs, np.ones(1000, dtype=bool), train, settings(max_rows=200), 1)
    counts = np.bincount(chosen, minlength=3)
    assert counts.tolist() == [60, 80, 60] and len(rows) == 200
    rows, chosen, _ = select_pseudo_rows(probs, np.ones(1000, dtype=bool), train, settings(max_rows=10**6), 1)
    available = np.bincount(labels, minlength=3)
    assert available[0] - 1 <= np.bincount(chosen, minlength=3)[0] <= available[0]  # the scarcest class binds
    assert np.allclose(np.bincount(chosen, minlength=3) / len(chosen), [0.3, 0.4, 0.3], atol=0.01)


def test_selection_is_a_function_of_its_inputs_and_fold():
    probs = probs_for(np.zeros(50, dtype=int), np.full(50, 0.95))
    pick = [select_pseudo_rows(probs, np.ones(50, dtype=bool), np.array([0]), settings(max_rows=10), fold)[0]
            for fold in (0, 0, 1)]
    assert np.array_equal(pick[0], pick[1]) and not np.array_equal(pick[0], pick[2])  # ties broken per fold


def test_teacher_precision_counts_the_trusted_oof_rows():
    probs = probs_for([0, 0, 1, 1, 2], [0.95, 0.99, 0.92, 0.5, 0.97])
    y = np.array([0, 1, 1, 1, 2])
    estimate = teacher_precision(probs, y, settings())
    assert estimate["rows"] == 4 and estimate["precision"] == pytest.approx(0.75)
    assert estimate["per_class"][0] == {"rows": 2, "precision": 0.5}
    assert estimate["per_class"][1] == {"rows": 1, "precision": 1.0}


@pytest.mark.parametrize(("entry", "message"), [
    ({}, r"'pseudo\.p\.teacher': is required"),
    ({"teacher": "t", "threshold": 1.5}, r"'pseudo\.p\.threshold': must be at most 1"),
    ({"teacher": "t", "sources": ["train"]}, r"'pseudo\.p\.sources\[0\]': must be one of 'test', 'unlabeled'"),
    ({"teacher": "t", "sources": ["test", "test"]}, r"'pseudo\.p\.sources': names a source twice"),
    ({"teacher": "t", "balance": "equal"}, r"'pseudo\.p\.balance': must be one of"),
])
def test_bad_entries_name_their_key(entry, message):
    with pytest.raises(ValueError, match=message):
        parse(PseudoSettings, entry, "pseudo.p")
