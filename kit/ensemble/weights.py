"""Class-weight search for macro-F1: the decision argmax(w * p), with w [C] chosen on OOF probabilities.

Macro-F1 is piecewise constant in w, so a gradient sees a flat surface and Nelder-Mead wanders on plateaus. Along
one class's weight, though, every row changes its decision at a single threshold (it picks class c once w_c beats
its best other class), so the best value on that line is found exactly from the ordered thresholds: cumulative
counts give the macro-F1 of every distinct decision at once (see best_log_weight). The search cycles over the classes
until no line improves, from several starts, in log-weights (only ratios of weights matter).
"""

from __future__ import annotations

import numpy as np

from kit.metrics import macro_f1, row_argmax

TINY = 1e-12  # floor before a log: a probability of exactly 0 (a hard vote, an underflow) must not become -inf
START_SPREAD = 1.0  # random starts draw log-weights in [-1, 1]: weights within a factor e of each other
LINE_BINS = 2048  # the line search counts thresholds in this many bins and sorts only the bins that may hold the best
BOUND_SLACK = 1e-9  # a bin whose bound comes this close to the best edge is sorted: rounding must not hide a tie


def macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 of confusion matrices [... x C x C] (rows true, columns predicted) -> [...]."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    denom = confusion.sum(axis=-2) + confusion.sum(axis=-1)  # 2TP + FP + FN per class
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return f1.mean(axis=-1)


def confusion_many(y: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices [K x C x C] (rows true, columns predicted) of K predictions of the same rows.
    y: [n] class indices, -1 for a row not to count; preds: [K x n] predicted class indices."""
    preds = np.asarray(preds)
    cells = n_classes * n_classes
    # Cell label * C + prediction, shifted by one label so that the uncounted rows (label -1) fall below the cells.
    codes = (np.asarray(y, dtype=np.int64) + 1) * n_classes
    counts = np.empty((preds.shape[0], n_classes, n_classes), dtype=np.int64)
    for k, pred in enumerate(preds):  # one at a time: K x n int64 codes would be 8 bytes per row and prediction
        counts[k] = np.bincount(codes + pred, minlength=cells + n_classes)[n_classes:].reshape(n_classes, n_classes)
    return counts


def macro_f1_many(y: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 [K] of K predictions preds [K x n] of the same rows, labels y [n]."""
    return macro_f1_from_confusion(confusion_many(y, preds, n_classes))


def best_log_weight(log_probs: np.ndarray, y: np.ndarray, shift: np.ndarray, c: int) -> tuple[float, float]:
    """The log-weight of class c that maximises macro-F1 of argmax(log_probs + shift), the other entries fixed.

    log_probs: [n x C] float64; y: [n]; shift: [C] current log-weights. Returns (new shift[c], its macro-F1).
    Among equally good decisions it keeps the one nearest the current value, so a plateau does not make it drift.

    Row i picks c exactly when shift[c] > threshold[i], so decision k (k = 0..n) is: the k rows with the lowest
    thresholds predict c, the rest their best other class. Rather than sorting all n thresholds, the rows are counted
    in LINE_BINS bins of equal threshold width, which gives the exact macro-F1 of the decision at every bin edge; inside
    a bin each class's counts lie between those at its two edges, which bounds the bin's macro-F1 from above, and only
    the few bins whose bound reaches the best edge are sorted. The answer is the one a full sort gives.
    """
    n, n_classes = log_probs.shape
    threshold, other_class = _thresholds(log_probs, shift, c)
    actual = np.bincount(y, minlength=n_classes)
    low, high = threshold.min(), threshold.max()
    n_bins = LINE_BINS if high > low else 1
    # Monotone in the threshold (a subtraction, a positive scale, a truncation), so equal thresholds share a bin and
    # every bin edge is a decision some weight can make.
    scaled = threshold - low
    scaled *= n_bins / (high - low) if high > low else 0.0
    cell = scaled.astype(np.intp)
    np.minimum(cell, n_bins - 1, out=cell)
    cells = n_classes * n_classes
    cell *= cells
    cell += y * n_classes
    cell += other_class  # bin * C^2 + label * C + other class
    below = np.zeros((n_bins + 1, n_classes, n_classes), dtype=np.int64)  # [b]: rows in the bins below edge b
    np.cumsum(np.bincount(cell, minlength=n_bins * cells).reshape(n_bins, n_classes, n_classes), axis=0, out=below[1:])
    edge_k = below.sum(axis=(1, 2))
    predicted, correct = _line_counts(below, edge_k, below[-1], c)
    edge_f1 = _line_f1(predicted, correct, actual)

    # Upper bound of the decisions strictly inside each bin: class c at most its correct count at the upper edge
    # over at least one more prediction than at the lower edge; another class j at most its correct count at the
    # lower edge over its predictions at the upper edge.
    bound_predicted, bound_correct = predicted[1:].copy(), correct[:-1].copy()
    bound_predicted[:, c] = predicted[:-1, c] + 1
    bound_correct[:, c] = correct[1:, c]
    bound = _line_f1(bound_predicted, bound_correct, actual)
    to_sort = np.flatnonzero((np.diff(edge_k) >= 2) & (bound >= edge_f1.max() - BOUND_SLACK))
    inside_k, inside_f1, inside_above = _inside_bins(threshold, cell, to_sort, below, edge_k, actual, c)
    ks, f1s = np.concatenate([edge_k, inside_k]), np.concatenate([edge_f1, inside_f1])

    best = np.unique(ks[f1s == f1s.max()])
    current_k = int(np.count_nonzero(threshold < shift[c]))
    k = int(best[np.argmin(np.abs(best - current_k))])
    f1 = float(f1s[ks == k][0])
    if k == current_k:
        return float(shift[c]), f1
    if k == 0:
        return float(low - 1.0), f1
    if k == n:
        return float(high + 1.0), f1
    inside = np.flatnonzero(inside_k == k)
    if len(inside):
        above = inside_above[inside[0]]
    else:  # a bin edge: the lowest threshold in the bins above it
        above = threshold.min(where=cell >= np.searchsorted(edge_k, k) * cells, initial=np.inf)
    return float((threshold.max(where=threshold < above, initial=-np.inf) + above) / 2), f1


def _thresholds(log_probs: np.ndarray, shift: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(threshold [n], other_class [n]): row i picks c when shift[c] > threshold[i], else its other_class, the best
    of the other classes (by a pass over the columns: faster than argmax along a short axis)."""
    others = [j for j in range(log_probs.shape[1]) if j != c]
    threshold = log_probs[:, others[0]] + shift[others[0]]
    other_class = np.full(len(log_probs), others[0], dtype=np.intp)
    for j in others[1:]:
        score = log_probs[:, j] + shift[j]
        np.maximum(other_class, (score > threshold) * j, out=other_class)  # j is above the classes before it
        np.maximum(threshold, score, out=threshold)
    threshold -= log_probs[:, c]
    return threshold, other_class


def _inside_bins(
    threshold: np.ndarray,
    cell: np.ndarray,
    to_sort: np.ndarray,
    below: np.ndarray,
    edge_k: np.ndarray,
    actual: np.ndarray,
    c: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decisions strictly inside the bins to_sort, found by sorting their rows: (k [K], macro-F1 [K], the lowest
    threshold of the rows that keep their class [K]). cell [n]: bin * C^2 + label * C + other class; below and edge_k
    as in best_log_weight."""
    n_classes = len(actual)
    cells = n_classes * n_classes
    chosen = np.zeros((len(below) - 1) * cells, dtype=bool)
    chosen.reshape(-1, cells)[to_sort] = True
    rows = np.flatnonzero(chosen[cell])
    rows = rows[np.argsort(threshold[rows])]  # bins follow thresholds, so each bin is one run of these rows
    run_bin, run_threshold = cell[rows] // cells, threshold[rows]
    run_start = np.searchsorted(run_bin, run_bin)
    seen = np.zeros((len(rows) + 1, cells), dtype=np.int64)  # [i]: the first i of these rows, by cell
    seen[np.arange(1, len(rows) + 1), cell[rows] % cells] = 1
    np.cumsum(seen, axis=0, out=seen)
    # Decision "every row of the run up to this one picks c", where the run's next row has a higher threshold.
    steps = np.flatnonzero((run_bin[:-1] == run_bin[1:]) & (run_threshold[:-1] < run_threshold[1:]))
    first = below[run_bin[steps]] + (seen[steps + 1] - seen[run_start[steps]]).reshape(-1, n_classes, n_classes)
    k = edge_k[run_bin[steps]] + steps - run_start[steps] + 1
    return k, _line_f1(*_line_counts(first, k, below[-1], c), actual), run_threshold[steps + 1]


def _line_counts(first: np.ndarray, k: np.ndarray, every: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted [K x C], correct [K x C]) counts of decision k: first [K x C x C] counts the first k rows by
    (label, best other class), every [C x C] all of them; those k rows predict c, the others their other class."""
    predicted = every.sum(axis=0)[None, :] - first.sum(axis=1)
    correct = np.diagonal(every)[None, :] - np.diagonal(first, axis1=1, axis2=2)
    predicted[:, c] = k
    correct[:, c] = first[:, c, :].sum(axis=1)
    return predicted, correct


def _line_f1(predicted: np.ndarray, correct: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Macro-F1 [K] from predicted and correct counts [K x C] and the label counts actual [C]."""
    f1_sum = np.zeros(len(predicted))
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(len(actual)):
            denominator = predicted[:, j] + actual[j]
            f1_sum += np.where(denominator > 0, 2 * correct[:, j] / denominator, 0.0)
    return f1_sum / len(actual)


def class_weight_search(
    probs: np.ndarray, y: np.ndarray, n_classes: int, starts: int = 3, seed: int = 0, max_passes: int = 10
) -> np.ndarray:
    """Class weights w [C] maximising macro-F1 of argmax(w * probs) on these rows.

    probs: [n x C] probabilities (any positive scores); y: [n] class indices, -1 for a row to leave out (see
    kit.ensemble.honest). The first start is w = 1, the others are seeded random; each cycles exact line searches over
    the classes until a pass gains nothing (at most max_passes). Returns w with geometric mean 1; ties between starts
    go to the earlier one.
    """
    if starts < 1:
        raise ValueError(f"class_weight_search: starts must be >= 1, got {starts}")
    y = np.asarray(y, dtype=np.int64)
    labelled = y >= 0
    if not labelled.all():
        probs, y = probs[labelled], y[labelled]
    log_probs = np.log(np.maximum(np.asarray(probs, dtype=np.float64), TINY))
    rng = np.random.default_rng(seed)
    best_shift, best_f1 = None, -np.inf
    for start in range(starts):
        shift = np.zeros(n_classes) if start == 0 else rng.uniform(-START_SPREAD, START_SPREAD, n_classes)
        current = macro_f1(y, row_argmax(log_probs + shift), n_classes)
        searched = 0  # lines searched since the shift last moved: once every class's is, no pass can move it
        for _ in range(max_passes):
            for c in range(n_classes):
                if searched == n_classes:
                    break
                value, score = best_log_weight(log_probs, y, shift, c)
                searched += 1
                if score > current + 1e-12:
                    shift[c], current, searched = value, score, 1  # c's own line is at its best now
            if searched == n_classes:
                break
        # Re-score with the real argmax: the line search's ties at a threshold resolve the same way only up to rounding.
        achieved = macro_f1(y, row_argmax(log_probs + shift), n_classes)
        if achieved > best_f1 + 1e-12:
            best_shift, best_f1 = shift.copy(), achieved
    return np.exp(best_shift - best_shift.mean())


def apply_class_weights(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """probs [n x C] scaled by weights [C] and renormalised: argmax is the weighted decision."""
    scaled = probs * np.asarray(weights, dtype=probs.dtype)
    return scaled / scaled.sum(axis=1, keepdims=True)
