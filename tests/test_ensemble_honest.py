import numpy as np
import pytest

from kit.ensemble.honest import HIDDEN, cross_fit


def test_no_fold_is_scored_by_a_fit_that_saw_its_labels():
    fold_of = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, -1], dtype=np.int8)
    y = np.arange(10) % 2
    seen = []

    def fit(inputs, labels):
        visible = labels >= 0
        assert np.array_equal(labels[visible], y[visible]) and np.all(labels[~visible] == HIDDEN)
        seen.append(set(np.flatnonzero(visible)))
        return len(seen) - 1

    def apply(fit_index, inputs):
        return np.tile([float(fit_index), 0.0], (len(inputs), 1))  # each row says which fit predicted it

    result = cross_fit(np.zeros((10, 2)), y, fold_of, fit, apply)
    assert len(seen) == 3
    for fold, labelled in zip((0, 1, 2), seen):
        assert labelled == {i for i in range(9) if fold_of[i] != fold}  # exactly the other folds; never row 9 (-1)
    for row in range(9):
        assert row not in seen[int(result.probs[row, 0])], "a fit predicted a row whose label it saw"
    assert result.probs[9, 0] == pytest.approx((0 + 1 + 2) / 3)  # never held out: the mean of the fits


def test_each_fold_gets_the_params_fitted_without_it_and_unscored_rows_their_mean():
    fold_of = np.array([0, 0, 1, 1, 2, 2, -1])
    y = np.array([1, 1, 0, 0, 0, 1, 1])
    result = cross_fit(
        np.zeros((7, 2)),
        y,
        fold_of,
        fit=lambda inputs, labels: labels[labels >= 0].mean(),  # share of class 1 in the training rows
        apply=lambda share, inputs: np.tile([1 - share, share], (len(inputs), 1)),
    )
    share = {0: 1 / 4, 1: 3 / 4, 2: 2 / 4}
    assert result.fold_params == pytest.approx(share)
    for row in range(6):
        assert result.probs[row, 1] == pytest.approx(share[fold_of[row]])
    assert result.probs[6, 1] == pytest.approx(np.mean(list(share.values())))


def test_inputs_are_handed_over_whole_not_copied_per_fold():
    prob_stack = np.zeros((2, 6, 2))  # rows on axis 1, as a member stack has them
    handed = []
    cross_fit(
        prob_stack,
        np.zeros(6, dtype=int),
        np.array([0, 1, 0, 1, 0, 1]),
        fit=lambda inputs, labels: handed.append(inputs),
        apply=lambda params, inputs: inputs[0],
    )
    assert len(handed) == 2 and all(inputs is prob_stack for inputs in handed)


def test_one_fold_cannot_be_cross_fitted():
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_fit(np.zeros((4, 2)), np.zeros(4, dtype=int), np.array([0, 0, -1, 0]), lambda *a: None, lambda *a: None)
