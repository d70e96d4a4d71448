"""Weighted blends of member probabilities: weights optimised on OOF, Caruana selection, and fixed user weights.

A blend is sum_m weights[m] * prob_stack[m] with weights >= 0 summing to 1, so it is again a probability.
prob_stack is np array [M x n x C] float32: member m's probabilities (softmax of its logits) for n rows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kit.ensemble.methods import OBJECTIVES
from kit.ensemble.weights import TINY, confusion_many, macro_f1_from_confusion
from kit.metrics import macro_f1

CANDIDATE_BUDGET = 1 << 21  # floats of candidate blends scored at once: ~8 MB, whatever M and n are
F1_STEPS = (0.0, 0.5, 2.0)  # coordinate search: a member's weight is dropped, halved or doubled


def blend(prob_stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """np array [n x C]: sum over members of weights[m] * prob_stack[m]; weights [M].

    A plain loop rather than a BLAS product: members with weight 0 (most of them, after Caruana) cost nothing,
    and a threaded BLAS slows to a crawl on a busy 2-core machine.
    """
    total = np.zeros(prob_stack.shape[1:], dtype=prob_stack.dtype)
    for m in np.flatnonzero(weights):
        total += np.asarray(weights[m], dtype=prob_stack.dtype) * prob_stack[m]
    return total


def normalised(weights: Sequence[float], where: str = "weights") -> np.ndarray:
    """Non-negative weights [M] scaled to sum to 1; a clear error for negative, non-finite or all-zero ones."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"{where}: need finite non-negative weights with a positive sum, got {weights.tolist()}")
    return weights / weights.sum()


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; use one of {OBJECTIVES}")


def true_class_probs(prob_stack: np.ndarray, y: np.ndarray) -> np.ndarray:
    """np array [M x n]: each member's probability of each row's true class (all that log-loss looks at)."""
    return np.take_along_axis(prob_stack, np.asarray(y, dtype=np.int64)[None, :, None], axis=2)[:, :, 0]


def optimise_blend(prob_stack: np.ndarray, y: np.ndarray, objective: str = "f1", max_passes: int = 3) -> np.ndarray:
    """Blend weights [M] (summing to 1) optimised on these rows.

    'logloss' minimises the blend's log-loss with scipy's SLSQP on the simplex (smooth, with its gradient).
    'f1' starts there and refines by coordinate search: macro-F1 is piecewise constant in the weights, so each
    member's weight in turn is dropped, halved or doubled and the best change kept, for at most max_passes passes.
    """
    check_objective(objective)
    weights = _logloss_weights(true_class_probs(prob_stack, y))
    if objective == "logloss":
        return weights
    return _refine_for_f1(prob_stack, np.asarray(y, dtype=np.int64), weights, max_passes)


def _logloss_weights(true_probs: np.ndarray) -> np.ndarray:
    """Simplex weights [M] minimising -mean log(sum_m w_m true_probs[m]); true_probs [M x n]."""
    from scipy.optimize import minimize

    n_members, n_rows = true_probs.shape

    def loss_and_grad(w):
        # einsum, not BLAS: see blend()
        mixed = np.maximum(np.einsum("m,mn->n", w.astype(true_probs.dtype), true_probs), TINY)
        grad = -np.einsum("mn,n->m", true_probs, (1.0 / mixed).astype(true_probs.dtype)).astype(np.float64) / n_rows
        return -np.log(mixed.astype(np.float64)).mean(), grad

    result = minimize(
        loss_and_grad,
        np.full(n_members, 1.0 / n_members),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n_members,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
    )
    return normalised(np.clip(result.x, 0.0, None), "log-loss blend weights")


def _refine_for_f1(prob_stack: np.ndarray, y: np.ndarray, weights: np.ndarray, max_passes: int) -> np.ndarray:
    n_classes = prob_stack.shape[2]
    weights = weights.copy()
    for _ in range(max_passes):
        total = blend(prob_stack, weights)  # recomputed each pass so rounding from the updates cannot build up
        current = macro_f1(y, total.argmax(axis=1), n_classes)
        improved = False
        for m in range(len(weights)):
            steps = np.array(sorted({weights[m] * s for s in F1_STEPS} | {weights[m] + 1.0 / len(weights)}))
            steps = steps[(steps != weights[m]) & (weights.sum() - weights[m] + steps > 0)]  # one member stays in
            scores = macro_f1_after_adding(y, total, prob_stack, [(m, step - weights[m]) for step in steps])
            best = int(np.argmax(scores))
            if scores[best] > current + 1e-12:
                total = total + np.float32(steps[best] - weights[m]) * prob_stack[m]
                weights[m], current, improved = steps[best], float(scores[best]), True
        if not improved:
            break
    return normalised(weights, "F1 blend weights")


def macro_f1_after_adding(
    y: np.ndarray, total: np.ndarray, prob_stack: np.ndarray, additions: Sequence[tuple[int, float]]
) -> np.ndarray:
    """Macro-F1 [K] of argmax(total + scale * prob_stack[m]) for each (m, scale) in additions; total [n x C].

    Exact, and cheap once the blend has settled: probabilities lie in [0, 1], so an addition moves the gap between
    two classes' scores by at most |scale|, and a row whose top-two gap in total is wider keeps its class. Only the
    other (open) rows are re-decided; the settled rows' confusion counts are shared by every candidate.
    """
    n_classes = total.shape[1]
    reach = max(abs(scale) for _, scale in additions)
    top, gap = top_two_gap(total)
    is_open = gap <= reach + 1e-5 * (1.0 + np.abs(top))  # the slack covers float32 rounding of growing scores
    settled = confusion_many(y[~is_open], total[~is_open].argmax(axis=1)[None], n_classes)[0]
    open_rows = slice(None) if is_open.all() else np.flatnonzero(is_open)  # a slice takes views, not copies
    open_total, open_y = total[open_rows], y[open_rows]
    chunk = max(1, CANDIDATE_BUDGET // max(1, len(open_y) * n_classes))
    scores = np.empty(len(additions))
    for start in range(0, len(additions), chunk):
        part = additions[start : start + chunk]
        candidates = np.stack([open_total + np.float32(scale) * prob_stack[m][open_rows] for m, scale in part])
        confusions = confusion_many(open_y, candidates.argmax(axis=2), n_classes) + settled
        scores[start : start + chunk] = macro_f1_from_confusion(confusions)
    return scores


def top_two_gap(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top score [n], top minus second score [n]) of scores [n x C], by a running pass over the columns
    (ten times faster than np.partition along a short axis)."""
    top = scores[:, 0].copy()
    second = np.full(len(scores), -np.inf, dtype=scores.dtype)
    for c in range(1, scores.shape[1]):
        column = scores[:, c]
        second = np.maximum(second, np.minimum(top, column))
        top = np.maximum(top, column)
    return top, top - second


def caruana(
    prob_stack: np.ndarray,
    y: np.ndarray,
    rounds: int = 25,
    objective: str = "f1",
    init: int = 0,
    bags: int = 1,
    bag_fraction: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Caruana ensemble selection with replacement: weights [M] = how often each member was picked / picks.

    Starts from the `init` best single members, then for `rounds` rounds adds (again, possibly) the member whose
    addition scores best on these rows; ties go to the lower index. With bags > 1 the greedy runs on `bags`
    seeded random subsets of bag_fraction of the members and the weights are averaged (Caruana et al. 2004),
    which keeps one lucky member from taking every pick.
    """
    check_objective(objective)
    n_members = prob_stack.shape[0]
    if rounds < 1 or init < 0 or bags < 1 or not 0 < bag_fraction <= 1:
        raise ValueError(
            f"caruana: need rounds >= 1, init >= 0, bags >= 1, 0 < bag_fraction <= 1; got "
            f"rounds={rounds}, init={init}, bags={bags}, bag_fraction={bag_fraction}"
        )
    y = np.asarray(y, dtype=np.int64)
    if bags == 1:
        return normalised(_greedy_counts(prob_stack, y, rounds, objective, init), "caruana weights")
    rng = np.random.default_rng(seed)
    bag_size = max(1, round(bag_fraction * n_members))
    weights = np.zeros(n_members)
    for _ in range(bags):
        subset = np.sort(rng.choice(n_members, size=bag_size, replace=False))
        counts = _greedy_counts(prob_stack[subset], y, rounds, objective, min(init, bag_size))
        weights[subset] += counts / counts.sum()
    return normalised(weights, "caruana weights")


def _greedy_counts(prob_stack: np.ndarray, y: np.ndarray, rounds: int, objective: str, init: int) -> np.ndarray:
    n_members, n_rows, n_classes = prob_stack.shape
    counts = np.zeros(n_members)
    # F1 needs the whole running sum (unnormalised: argmax ignores the scale); log-loss only its true-class column.
    total = np.zeros((n_rows, n_classes), dtype=prob_stack.dtype) if objective == "f1" else None
    true_probs = true_class_probs(prob_stack, y) if objective == "logloss" else None
    true_total = np.zeros(n_rows, dtype=prob_stack.dtype)
    picks = []
    if init:
        singles = _candidate_scores(prob_stack, y, total, true_probs, true_total, 0)
        picks = [int(m) for m in np.argsort(-singles, kind="stable")[:init]]
    for step in range(init + rounds):
        if step >= init:
            scores = _candidate_scores(prob_stack, y, total, true_probs, true_total, step)
            picks.append(int(np.argmax(scores)))
        m = picks[step]
        counts[m] += 1
        if total is not None:
            total += prob_stack[m]
        else:
            true_total += true_probs[m]
    return counts


def _candidate_scores(prob_stack, y, total, true_probs, true_total, n_picked) -> np.ndarray:
    """Score [M] (higher is better) of the blend after adding each member once more to the current picks."""
    if total is None:
        mixed = (true_total[None, :] + true_probs) / (n_picked + 1)
        return np.log(np.maximum(mixed, TINY)).mean(axis=1)
    return macro_f1_after_adding(y, total, prob_stack, [(m, 1.0) for m in range(prob_stack.shape[0])])
