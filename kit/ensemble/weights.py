"""Class-weight search for macro-F1: the decision argmax(w * p), with w [C] chosen on OOF probabilities.

Macro-F1 is piecewise constant in w, so a gradient sees a flat surface and Nelder-Mead wanders on plateaus. Along
one class's weight, though, every row changes its decision at a single threshold (it picks class c once w_c beats
its best other class), so the best value on that line is found exactly from the sorted thresholds: one sort and a
few cumulative sums give the macro-F1 of every distinct decision at once. The search cycles over the classes until
no line improves, from several starts, in log-weights (only ratios of weights matter).
"""

from __future__ import annotations

import numpy as np

from kit.metrics import macro_f1

TINY = 1e-12  # floor before a log: a probability of exactly 0 (a hard vote, an underflow) must not become -inf
START_SPREAD = 1.0  # random starts draw log-weights in [-1, 1]: weights within a factor e of each other


def macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 of confusion matrices [... x C x C] (rows true, columns predicted) -> [...]."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    denom = confusion.sum(axis=-2) + confusion.sum(axis=-1)  # 2TP + FP + FN per class
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return f1.mean(axis=-1)


def confusion_many(y: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices [K x C x C] (rows true, columns predicted) of K predictions of the same rows, in one
    bincount. y: [n] class indices; preds: [K x n] predicted class indices."""
    preds = np.asarray(preds)
    n_candidates = preds.shape[0]
    cells = n_classes * n_classes
    codes = preds.astype(np.int64) + (np.asarray(y, dtype=np.int64) * n_classes)[None, :]
    codes += (np.arange(n_candidates, dtype=np.int64) * cells)[:, None]
    counts = np.bincount(codes.ravel(), minlength=n_candidates * cells)
    return counts.reshape(n_candidates, n_classes, n_classes)


def macro_f1_many(y: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 [K] of K predictions preds [K x n] of the same rows, labels y [n]."""
    return macro_f1_from_confusion(confusion_many(y, preds, n_classes))


def best_log_weight(log_probs: np.ndarray, y: np.ndarray, shift: np.ndarray, c: int) -> tuple[float, float]:
    """The log-weight of class c that maximises macro-F1 of argmax(log_probs + shift), the other entries fixed.

    log_probs: [n x C] float64; y: [n]; shift: [C] current log-weights. Returns (new shift[c], its macro-F1).
    Among equally good decisions it keeps the one nearest the current value, so a plateau does not make it drift.
    """
    n, n_classes = log_probs.shape
    # The best other class of each row, by a pass over the columns (faster than argmax along a short axis).
    best_other = np.full(n, -np.inf)
    other_class = np.zeros(n, dtype=np.intp)
    for j in range(n_classes):
        if j != c:
            score = log_probs[:, j] + shift[j]
            better = score > best_other
            other_class[better] = j
            np.maximum(best_other, score, out=best_other)
    # Row i picks c exactly when shift[c] > threshold[i]; otherwise it keeps other_class[i].
    threshold = best_other - log_probs[:, c]
    order = np.argsort(threshold)  # the order among equal thresholds is irrelevant: see `reachable` below
    threshold, y_sorted, other_sorted = threshold[order], y[order], other_class[order]

    # Decision k (k = 0..n): the k rows with the lowest thresholds predict c, the rest their other class.
    # Per class j, F1 = 2 correct / (predicted + actual), each count a function of k read off a cumulative sum.
    ks = np.arange(n + 1)
    actual = np.bincount(y, minlength=n_classes)
    f1_sum = np.zeros(n + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(n_classes):
            if j == c:
                predicted, correct = ks, _cumsum0(y_sorted == c)
            else:
                is_j = other_sorted == j
                predicted = _rest(is_j)
                correct = _rest(is_j & (y_sorted == j))
            f1_sum += np.where(predicted + actual[j] > 0, 2 * correct / (predicted + actual[j]), 0.0)
    f1 = f1_sum / n_classes

    # Only a k between two distinct thresholds is a decision some weight can make.
    reachable = np.ones(n + 1, dtype=bool)
    reachable[1:n] = threshold[:-1] < threshold[1:]
    f1 = np.where(reachable, f1, -np.inf)
    current_k = int(np.searchsorted(threshold, shift[c], side="left"))
    best = np.flatnonzero(f1 == f1.max())
    k = int(best[np.argmin(np.abs(best - current_k))])
    if k == current_k:
        return float(shift[c]), float(f1[k])
    if k == 0:
        return float(threshold[0] - 1.0), float(f1[k])
    if k == n:
        return float(threshold[-1] + 1.0), float(f1[k])
    return float((threshold[k - 1] + threshold[k]) / 2), float(f1[k])


def _cumsum0(mask: np.ndarray) -> np.ndarray:
    """[n+1] int64: how many of the first k entries of mask [n] are true, for k = 0..n."""
    out = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(mask, out=out[1:])
    return out


def _rest(mask: np.ndarray) -> np.ndarray:
    """[n+1] int64: how many entries of mask [n] from position k on are true, for k = 0..n."""
    counts = _cumsum0(mask)
    return counts[-1] - counts


def class_weight_search(
    probs: np.ndarray, y: np.ndarray, n_classes: int, starts: int = 3, seed: int = 0, max_passes: int = 10
) -> np.ndarray:
    """Class weights w [C] maximising macro-F1 of argmax(w * probs) on these rows.

    probs: [n x C] probabilities (any positive scores); y: [n] class indices. The first start is w = 1, the others
    are seeded random; each cycles exact line searches over the classes until a pass gains nothing (at most
    max_passes). Returns w with geometric mean 1; ties between starts go to the earlier one.
    """
    if starts < 1:
        raise ValueError(f"class_weight_search: starts must be >= 1, got {starts}")
    y = np.asarray(y, dtype=np.int64)
    log_probs = np.log(np.maximum(np.asarray(probs, dtype=np.float64), TINY))
    rng = np.random.default_rng(seed)
    best_shift, best_f1 = None, -np.inf
    for start in range(starts):
        shift = np.zeros(n_classes) if start == 0 else rng.uniform(-START_SPREAD, START_SPREAD, n_classes)
        current = macro_f1(y, (log_probs + shift).argmax(axis=1), n_classes)
        for _ in range(max_passes):
            improved = False
            for c in range(n_classes):
                value, score = best_log_weight(log_probs, y, shift, c)
                if score > current + 1e-12:
                    shift[c], current, improved = value, score, True
            if not improved:
                break
        # Re-score with the real argmax: the line search's ties at a threshold resolve the same way only up to rounding.
        achieved = macro_f1(y, (log_probs + shift).argmax(axis=1), n_classes)
        if achieved > best_f1 + 1e-12:
            best_shift, best_f1 = shift.copy(), achieved
    return np.exp(best_shift - best_shift.mean())


def apply_class_weights(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """probs [n x C] scaled by weights [C] and renormalised: argmax is the weighted decision."""
    scaled = probs * np.asarray(weights, dtype=probs.dtype)
    return scaled / scaled.sum(axis=1, keepdims=True)
