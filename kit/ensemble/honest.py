"""Honest scores by cross-fitting: whatever an ensemble fits on OOF rows is refitted once per fold without that fold.

Fitting class weights or blend weights on the OOF predictions and scoring them on the same rows flatters them
(the public solutions of this competition report such numbers). Cross-fitting uses the experiments' own fold file:
the rows of fold k are transformed by parameters fitted on the other folds only, so every scored row is predicted
by something that never saw its label. Rows with fold_of < 0 (never held out) are neither fitted on nor scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass
class CrossFit:
    probs: np.ndarray  # [n x C]: fold k's rows from the params fitted without fold k; unscored rows: the folds' mean
    fold_params: dict[int, Any]  # fold -> params fitted on the other folds: how stable the fit is across folds


def cross_fit(
    inputs: np.ndarray,
    y: np.ndarray,
    fold_of: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], Any],
    apply: Callable[[Any, np.ndarray], np.ndarray],
    row_axis: int = 0,
) -> CrossFit:
    """Cross-fitted predictions of fit/apply over the folds of fold_of.

    inputs: an array with the n rows along row_axis (probs [n x C], row_axis 0; prob_stack [M x n x C], row_axis 1);
    y: [n] class indices; fold_of: [n] fold of each row (-1 = never held out).
    fit(inputs of the training rows, their y) -> params; apply(params, inputs of some rows) -> probs [rows x C].
    """
    fold_of = np.asarray(fold_of)
    scored = fold_of >= 0
    folds = np.unique(fold_of[scored])
    if len(folds) < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds in fold_of, found {folds.tolist()}")
    unscored = np.flatnonzero(~scored)
    probs, fold_params = None, {}
    for fold in folds:
        train, held = np.flatnonzero(scored & (fold_of != fold)), np.flatnonzero(fold_of == fold)
        params = fit(np.take(inputs, train, axis=row_axis), y[train])
        held_probs = apply(params, np.take(inputs, held, axis=row_axis))
        if probs is None:
            probs = np.zeros((len(fold_of), held_probs.shape[1]), dtype=held_probs.dtype)
        probs[held] = held_probs
        if len(unscored):
            probs[unscored] += apply(params, np.take(inputs, unscored, axis=row_axis)) / len(folds)
        fold_params[int(fold)] = params
    return CrossFit(probs=probs, fold_params=fold_params)
