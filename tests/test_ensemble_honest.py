import numpy as np
import pytest

from kit.ensemble.honest import cross_fit


def row_coded(n_rows: int) -> np.ndarray:
    """probs-shaped inputs [n x 2] whose first column is the row's index, so a spy can tell which rows it got."""
    return np.stack([np.arange(n_rows, dtype=np.float64), np.zeros(n_rows)], axis=1)


def test_no_fold_is_scored_by_a_fit_that_saw_it():
    fold_of = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, -1], dtype=np.int8)
    y = np.arange(10) % 2
    fits, applies = [], []

    def fit(inputs, labels):
        fits.append(set(inputs[:, 0].astype(int)))
        return len(fits) - 1

    def apply(params, inputs):
        applies.append((params, set(inputs[:, 0].astype(int))))
        return np.ones((len(inputs), 2))

    cross_fit(row_coded(10), y, fold_of, fit, apply)
    assert len(fits) == 3
    for fit_index, rows in applies:
        assert not rows & fits[fit_index], "a fit scored rows it was fitted on"
    for fold, seen in zip((0, 1, 2), fits):
        assert seen == {i for i in range(9) if fold_of[i] != fold}  # exactly the other folds; never row 9 (-1)
    held_out = [rows for _, rows in applies if 9 not in rows]
    assert set().union(*held_out) == set(range(9))


def test_each_fold_gets_the_params_fitted_without_it_and_unscored_rows_their_mean():
    fold_of = np.array([0, 0, 1, 1, 2, 2, -1])
    y = np.array([1, 1, 0, 0, 0, 1, 1])
    result = cross_fit(
        row_coded(7),
        y,
        fold_of,
        fit=lambda inputs, labels: labels.mean(),  # share of class 1 in the training rows
        apply=lambda share, inputs: np.tile([1 - share, share], (len(inputs), 1)),
    )
    share = {0: 1 / 4, 1: 3 / 4, 2: 2 / 4}
    assert result.fold_params == pytest.approx(share)
    for row in range(6):
        assert result.probs[row, 1] == pytest.approx(share[fold_of[row]])
    assert result.probs[6, 1] == pytest.approx(np.mean(list(share.values())))


def test_rows_may_lie_on_another_axis():
    prob_stack = np.zeros((2, 6, 2))
    prob_stack[0, :, 0] = np.arange(6)
    fold_of = np.array([0, 1, 0, 1, 0, 1])
    seen = []
    cross_fit(
        prob_stack,
        np.zeros(6, dtype=int),
        fold_of,
        fit=lambda inputs, labels: seen.append(sorted(inputs[0, :, 0].astype(int))),
        apply=lambda params, inputs: inputs[0],
        row_axis=1,
    )
    assert seen == [[1, 3, 5], [0, 2, 4]]


def test_one_fold_cannot_be_cross_fitted():
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_fit(row_coded(4), np.zeros(4, dtype=int), np.array([0, 0, -1, 0]), lambda *a: None, lambda *a: None)
