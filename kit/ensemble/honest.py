"""Honest scores by cross-fitting: whatever an ensemble fits on OOF rows is refitted once per fold without that fold.

Fitting class weights or blend weights on the OOF predictions and scoring them on the same rows flatters them
(the public solutions of this competition report such numbers). Cross-fitting uses the experiments' own fold file:
the rows of fold k are transformed by parameters fitted on the other folds only, so every scored row is predicted
by something that never saw its label. Rows with fold_of < 0 (never held out) are neither fitted on nor scored.

A fit is handed every row, with the labels it must not learn from replaced by -1 (as scikit-learn's semi-supervised
estimators mark unlabelled rows), rather than a copy of its training rows: a member stack [M x n x C] is as large as
the members' logits, and a copy per fold would double the memory an ensemble needs.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

HIDDEN = -1  # the label of a row a fit must not learn from


@dataclass
class CrossFitScope:
    """The cross-fit in progress: the full fit on `inputs`, then one fit per fold of `fold_of` on the same inputs.

    What does not depend on labels (level-2 features, curvature of the full fit per fold) is the same for all of
    them, so a method may keep it in `cache` and compute it once; the scope ends with the cross-fit.
    """

    inputs: np.ndarray
    fold_of: np.ndarray
    cache: dict = field(default_factory=dict)


_SCOPE: ContextVar[CrossFitScope | None] = ContextVar("kit_cross_fit_scope", default=None)


@contextmanager
def cross_fit_scope(inputs: np.ndarray, fold_of: np.ndarray):
    """A block in which the fits on `inputs` are one full fit and its cross-fit (see CrossFitScope)."""
    token = _SCOPE.set(CrossFitScope(inputs, np.asarray(fold_of)))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def scope_of(inputs: np.ndarray) -> CrossFitScope | None:
    """The cross-fit scope whose inputs are this very array (not a copy, not the test rows), or None."""
    scope = _SCOPE.get()
    return scope if scope is not None and scope.inputs is inputs else None


@dataclass
class CrossFit:
    probs: np.ndarray  # [n x C]: fold k's rows from the params fitted without fold k; unscored rows: the folds' mean
    fold_params: dict[int, Any]  # fold -> params fitted on the other folds: how stable the fit is across folds


def hide_labels(y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """y [n] with HIDDEN wherever keep [n] (bool) is False."""
    return np.where(keep, y, HIDDEN)


def cross_fit(
    inputs: np.ndarray,
    y: np.ndarray,
    fold_of: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], Any],
    apply: Callable[[Any, np.ndarray], np.ndarray],
) -> CrossFit:
    """Cross-fitted predictions of fit/apply over the folds of fold_of.

    inputs: whatever fit and apply take, with the n rows on any axis (probs [n x C], a member stack [M x n x C],
    level-2 features [n x F]); y: [n] class indices; fold_of: [n] fold of each row (-1 = never held out).
    fit(inputs, y_train) -> params, where y_train is y with HIDDEN on the held-out fold and on the rows never held
    out: the fit learns from the rows labelled >= 0 only. apply(params, inputs) -> probs [n x C] for every row; the
    held-out fold's rows are kept, and the rows never held out get the mean over the folds.
    """
    fold_of = np.asarray(fold_of)
    scored = fold_of >= 0
    folds = np.unique(fold_of[scored])
    if len(folds) < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds in fold_of, found {folds.tolist()}")
    unscored = ~scored
    probs, fold_params = None, {}
    for fold in folds:
        held = fold_of == fold
        params = fit(inputs, hide_labels(y, scored & ~held))
        fold_probs = apply(params, inputs)
        if probs is None:
            probs = np.zeros(fold_probs.shape, dtype=fold_probs.dtype)
        probs[held] = fold_probs[held]
        if unscored.any():
            probs[unscored] += fold_probs[unscored] / len(folds)
        fold_params[int(fold)] = params
    return CrossFit(probs=probs, fold_params=fold_params)
