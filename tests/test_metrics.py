import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from kit.metrics import accuracy, confusion, macro_f1, per_class_f1, row_argmax, score_summary, softmax


def test_macro_f1_matches_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert per_class_f1(y_true, y_pred, 3) == pytest.approx(f1_score(y_true, y_pred, average=None))
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))


def test_absent_class_scores_zero_like_sklearn():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])
    assert per_class_f1(y_true, y_pred, 3).tolist() == [1.0, 1.0, 0.0]
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(2 / 3)


def test_confusion_by_hand():
    cm = confusion(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]


def test_softmax_rows_sum_to_one_and_keep_order():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    probs = softmax(logits)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs.dtype == np.float32
    assert (probs.argmax(axis=1) == logits.argmax(axis=1)).all()


def test_softmax_writes_into_any_layout_and_equals_the_plain_formula():
    logits = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    planar = np.empty((3, 50), dtype=np.float32)  # class columns contiguous
    assert softmax(logits, out=planar.T) is not None and np.array_equal(planar.T, expected)
    assert np.allclose(softmax(logits.T, axis=0), expected.T) and softmax(np.array([[1, 2]])).dtype == np.float64


def test_row_argmax_is_argmax_with_the_first_class_on_ties():
    scores = np.array([[0.2, 0.5, 0.5], [0.7, 0.7, 0.1], [0.1, 0.2, 0.3], [0.4, 0.4, 0.4]], dtype=np.float32)
    assert row_argmax(scores).tolist() == [1, 0, 2, 0] == scores.argmax(axis=1).tolist()
    stack = np.random.default_rng(1).random((4, 30, 5))
    assert np.array_equal(row_argmax(stack), stack.argmax(axis=-1))


def test_score_summary_per_fold_and_unscored_rows():
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    logits = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 1, 2]]
    fold_of = np.array([0, 0, 0, 1, 1, 1, -1])
    summary = score_summary(y, logits, fold_of)
    assert summary["n_folds"] == 2
    assert summary["fold_f1"][0] == pytest.approx(1.0)
    assert summary["fold_f1"][1] == pytest.approx(f1_score([0, 1, 2], [0, 1, 1], average="macro"))
    assert summary["accuracy"] == pytest.approx(5 / 6)  # the row with fold -1 is not scored
