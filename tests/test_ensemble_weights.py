import numpy as np
import pytest

from kit.ensemble.honest import cross_fit
from kit.ensemble.weights import (
    apply_class_weights,
    best_log_weight,
    class_weight_search,
    confusion_many,
    macro_f1_many,
)
from kit.metrics import confusion, macro_f1, softmax


def under_predicted_minority(n_rows: int = 3000, seed: int = 0):
    """Labels 80/15/5 and probabilities whose argmax favours class 0: the rare classes are under-predicted."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n_rows, p=[0.8, 0.15, 0.05])
    logits = 2.0 * np.eye(3)[y] + rng.normal(size=(n_rows, 3))
    logits[:, 0] += 2.5
    fold_of = (np.arange(n_rows) % 5).astype(np.int8)
    return softmax(logits.astype(np.float32)), y, fold_of


def test_many_candidates_score_like_one_at_a_time():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    preds = rng.integers(0, 3, (6, 200))
    preds[2] = np.where(preds[2] == 2, 0, preds[2])  # a class never predicted
    assert np.allclose(macro_f1_many(y, preds, 3), [macro_f1(y, p, 3) for p in preds])
    assert np.array_equal(confusion_many(y, preds, 3)[4], confusion(y, preds[4], 3))


def test_line_search_finds_the_best_weight_of_one_class():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 80)
    log_probs = np.log(softmax(rng.normal(size=(80, 3)) + np.eye(3)[y]))
    shift = np.array([0.0, 0.3, -0.2])
    for c in range(3):
        value, claimed = best_log_weight(log_probs, y, shift.copy(), c)
        moved = shift.copy()
        moved[c] = value
        assert macro_f1(y, (log_probs + moved).argmax(axis=1), 3) == pytest.approx(claimed)
        # Brute force along the line: no weight on a fine grid may beat the exact search.
        grid = np.linspace(-8, 8, 1601)
        best = max(macro_f1(y, (log_probs + np.where(np.arange(3) == c, t, shift)).argmax(axis=1), 3) for t in grid)
        assert claimed >= best - 1e-12


def full_sort_line_search(log_probs, y, shift, c):
    """The line search done by sorting every threshold: the reference the binned search must reproduce exactly."""
    n, n_classes = log_probs.shape
    scores = log_probs + shift
    scores[:, c] = -np.inf
    other = scores.argmax(axis=1)
    threshold = scores.max(axis=1) - log_probs[:, c]
    order = np.argsort(threshold)
    threshold, y_sorted, other_sorted = threshold[order], y[order], other[order]
    f1 = np.zeros(n + 1)
    for k in range(n + 1):
        decided = np.where(np.arange(n) < k, c, other_sorted)
        f1[k] = macro_f1(y_sorted, decided, n_classes)
    reachable = np.r_[True, threshold[:-1] < threshold[1:], True]
    f1 = np.where(reachable, f1, -np.inf)
    current_k = int(np.searchsorted(threshold, shift[c]))
    best = np.flatnonzero(f1 == f1.max())
    k = int(best[np.argmin(np.abs(best - current_k))])
    if k == current_k:
        return shift[c], f1[k]
    if k in (0, n):
        return (threshold[0] - 1.0 if k == 0 else threshold[-1] + 1.0), f1[k]
    return (threshold[k - 1] + threshold[k]) / 2, f1[k]


@pytest.mark.parametrize("seed", range(6))
def test_binned_line_search_gives_what_sorting_every_threshold_gives(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 400)
    # Coarse probabilities make many equal thresholds (ties a weight cannot split); few bins make bins to sort.
    logits = np.round(rng.normal(size=(400, 3)) + np.eye(3)[y], 1 if seed % 2 else 3)
    log_probs = np.log(softmax(logits))
    monkeypatch.setattr("kit.ensemble.weights.LINE_BINS", 16)
    shift = rng.normal(size=3) * (seed > 2)
    for c in range(3):
        value, claimed = best_log_weight(log_probs, y, shift.copy(), c)
        expected_value, expected = full_sort_line_search(log_probs, y, shift.copy(), c)
        assert claimed == pytest.approx(expected, abs=1e-12) and value == pytest.approx(expected_value, abs=1e-12)


def test_rows_labelled_minus_one_are_left_out_of_the_search():
    probs, y, fold_of = under_predicted_minority()
    kept = fold_of != 0
    hidden = np.where(kept, y, -1)
    assert np.array_equal(class_weight_search(probs, hidden, 3), class_weight_search(probs[kept], y[kept], 3))


def test_class_weights_raise_macro_f1_on_an_imbalanced_case_also_when_cross_fitted():
    probs, y, fold_of = under_predicted_minority()
    plain = macro_f1(y, probs.argmax(axis=1), 3)
    weights = class_weight_search(probs, y, 3)
    assert weights[2] > weights[0] and weights[1] > weights[0]
    assert macro_f1(y, (probs * weights).argmax(axis=1), 3) > plain + 0.1
    honest = cross_fit(probs, y, fold_of, lambda p, t: class_weight_search(p, t, 3), apply_class_weights)
    assert macro_f1(y, honest.probs.argmax(axis=1), 3) > plain + 0.1


def test_nothing_to_gain_leaves_the_weights_at_one():
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.eye(3)[y] * 0.8 + 0.1
    assert np.allclose(class_weight_search(probs, y, 3, starts=4), 1.0)


def test_search_is_seeded_and_weights_have_geometric_mean_one():
    probs, y, _ = under_predicted_minority(seed=3)
    first = class_weight_search(probs, y, 3, starts=3, seed=7)
    assert np.array_equal(first, class_weight_search(probs, y, 3, starts=3, seed=7))
    assert np.exp(np.log(first).mean()) == pytest.approx(1.0)


def test_apply_class_weights_by_hand():
    probs = np.array([[0.5, 0.3, 0.2]], dtype=np.float32)
    weighted = apply_class_weights(probs, np.array([1.0, 2.0, 1.0]))
    assert np.allclose(weighted, [[0.5 / 1.3, 0.6 / 1.3, 0.2 / 1.3]])
    assert weighted.dtype == np.float32
