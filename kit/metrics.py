"""Metrics as pure numpy functions. Labels are class indices 0..C-1 unless said otherwise."""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """np array [C x C] of counts, rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """np array [C]: F1 of each class; a class absent from both truth and prediction scores 0, as in sklearn."""
    cm = confusion(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # 2TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return f1


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1: the competition's score."""
    return float(per_class_f1(y_true, y_pred, n_classes).mean())


def row_argmax(scores: np.ndarray) -> np.ndarray:
    """np array [...] int8: the class of each row's largest score, the first on ties (as np.argmax); scores [... x C].

    One pass per class column: np.argmax along a short last axis is about ten times slower, and on class-planar
    arrays (see kit.ensemble.build.member_probs) each column is contiguous.
    """
    n_classes = scores.shape[-1]
    if n_classes > 127:
        return scores.argmax(axis=-1)
    best = scores[..., 0].copy()
    decision = np.zeros(best.shape, dtype=np.int8)
    beats = np.empty(best.shape, dtype=bool)
    for c in range(1, n_classes):
        column = scores[..., c]
        np.greater(column, best, out=beats)
        # c is above every class before it, so a maximum moves the rows it wins: a masked store is ~50 times slower.
        np.maximum(decision, beats.view(np.int8) * np.int8(c), out=decision)
        np.maximum(best, column, out=best)
    return decision


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def softmax(logits: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Numerically stable softmax; float32 in, float32 out (float64 inputs stay float64). out: where to write it, an
    array of logits' shape in any memory layout (kit.ensemble.build.member_probs writes class-planar stacks).

    The max and the sum (left to right) run as a loop over the classes: numpy's reductions along a short axis are
    several times slower.
    """
    classes = np.moveaxis(logits, axis, 0)
    peak = classes[0].copy()
    for column in classes[1:]:
        np.maximum(peak, column, out=peak)
    out = np.subtract(logits, np.expand_dims(peak, axis), out=out, dtype=np.result_type(logits, 1.0))
    np.exp(out, out=out)
    exp_classes = np.moveaxis(out, axis, 0)
    total = exp_classes[0].copy()
    for column in exp_classes[1:]:
        total += column
    out /= np.expand_dims(total, axis)
    return out


def score_summary(y_true: np.ndarray, logits: np.ndarray, fold_of: np.ndarray) -> dict:
    """Scores of one OOF prediction: OOF macro-F1, per-fold macro-F1 (mean, std), per-class F1, accuracy.

    y_true: [n] class indices; logits: [n x C]; fold_of: [n] fold index of each row (-1 = not scored).
    """
    n_classes = logits.shape[1]
    scored = fold_of >= 0
    y, pred, folds = y_true[scored], row_argmax(logits[scored]), fold_of[scored]
    fold_scores = [macro_f1(y[folds == k], pred[folds == k], n_classes) for k in np.unique(folds)]
    return {
        "oof_macro_f1": macro_f1(y, pred, n_classes),
        "fold_f1": fold_scores,
        "fold_f1_mean": float(np.mean(fold_scores)) if fold_scores else float("nan"),
        "fold_f1_std": float(np.std(fold_scores)) if fold_scores else float("nan"),
        "per_class_f1": per_class_f1(y, pred, n_classes).tolist(),
        "accuracy": accuracy(y, pred),
        "n_folds": len(fold_scores),
    }
