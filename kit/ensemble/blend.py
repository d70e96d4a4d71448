"""Weighted blends of member probabilities: weights optimised on OOF, Caruana selection, and fixed user weights.

A blend is sum_m weights[m] * prob_stack[m] with weights >= 0 summing to 1, so it is again a probability.
prob_stack is np array [M x n x C] float32: member m's probabilities (softmax of its logits) for n rows, best stored
class-planar (kit.ensemble.build.member_probs). Fits take y [n] with -1 on the rows they must not learn from.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from kit.ensemble.objectives import OBJECTIVES
from kit.ensemble.stacking import one_blas_thread
from kit.ensemble.weights import TINY, macro_f1_from_confusion
from kit.metrics import row_argmax

CANDIDATE_BUDGET = 1 << 20  # floats of candidate blends scored at once: 4 MB, whatever M and n are
# Once the rows open to an addition of some reach are at most this share, a running blend that scores most members
# (Caruana's rounds) copies every member's probabilities of them and decides those rows from the copy while they stay
# at least half of the rows it decides (rows close faster than they open), reading only newly open rows from the
# stack: a few open rows spread over the stack touch nearly every cache line of it.
OPEN_COPY_SHARE = 0.2
EVERY_ROW_SHARE = 0.5  # above this share of open rows, deciding every row costs less than gathering the open ones
F1_STEPS = (0.0, 0.5, 2.0)  # coordinate search: a member's weight is dropped, halved or doubled


def blend(prob_stack: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """np array [n x C]: sum over members of weights[m] * prob_stack[m]; weights [M].

    A plain loop rather than a BLAS product: members with weight 0 (most of them, after Caruana) cost nothing,
    and a threaded BLAS slows to a crawl on a busy 2-core machine.
    """
    total = np.zeros_like(prob_stack[0])  # in the members' layout, so the sums run over contiguous memory
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
    """np array [M x n_labelled]: each member's probability of the true class of each row with y >= 0 (all that
    log-loss looks at)."""
    y = np.asarray(y, dtype=np.int64)
    rows = np.flatnonzero(y >= 0)
    true_probs = np.empty((len(prob_stack), len(rows)), dtype=prob_stack.dtype)
    classes = np.moveaxis(prob_stack, 2, 1)  # [M x C x n]: each member's [C x n] is one block when class-planar
    at = y[rows] * prob_stack.shape[1] + rows  # (true class, row) in a member's [C x n] block, raveled
    for m, member in enumerate(classes):
        np.take(member.reshape(-1), at, out=true_probs[m])  # a 1-d take: three times faster than [rows, labels]
    return true_probs


def optimise_blend(prob_stack: np.ndarray, y: np.ndarray, objective: str = "f1", max_passes: int = 3) -> np.ndarray:
    """Blend weights [M] (summing to 1) optimised on the rows with y >= 0.

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
        mixed = np.maximum(w.astype(true_probs.dtype) @ true_probs, TINY)
        grad = -(true_probs @ (1.0 / mixed).astype(true_probs.dtype)).astype(np.float64) / n_rows
        return -np.log(mixed.astype(np.float64)).mean(), grad

    # One BLAS thread: on a busy 2-core machine threads that wait on each other make SLSQP 4-8 times slower, and
    # a single-threaded matrix-vector product is still twice as fast as einsum.
    with one_blas_thread():
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
    weights = weights.copy()
    for _ in range(max_passes):
        # Rebuilt from the weights each pass, so rounding from the updates cannot build up.
        running = RunningBlend(prob_stack, y, blend(prob_stack, weights))
        current = running.macro_f1()
        improved = False
        for m in range(len(weights)):
            steps = np.array(sorted({weights[m] * s for s in F1_STEPS} | {weights[m] + 1.0 / len(weights)}))
            steps = steps[(steps != weights[m]) & (weights.sum() - weights[m] + steps > 0)]  # one member stays in
            scores = running.scores_after_adding([(m, step - weights[m]) for step in steps])
            best = int(np.argmax(scores))
            if scores[best] > current + 1e-12:
                running.add(m, steps[best] - weights[m])
                weights[m], current, improved = steps[best], float(scores[best]), True
        if not improved:
            break
    return normalised(weights, "F1 blend weights")


class RunningBlend:
    """A running blend total [n x C] float32 (a sum of scale * prob_stack[m]) and the macro-F1 of adding candidates
    to it: the inner loop of Caruana's selection and of the F1 coordinate search. prob_stack [M x n x C]; y [n], with
    -1 on rows not to score.

    Scoring is exact, and cheap once the blend has settled: probabilities lie in [0, 1], so adding scale * p moves
    the gap between two classes' scores by at most |scale|, and a row whose top-two gap in total is wider keeps its
    class. Only the other (open) rows are decided again, for all candidates at once on one candidates x classes x rows
    block, with the rows grouped by label so that a candidate's confusion matrix is a few counts; the settled rows'
    counts are shared by every candidate. A candidate's scores are computed as add() computes them (float32 total +
    float32 scale * p), so the score of a pick is the score of the blend it makes. Within shared_rounds, a blend built
    from zero by the same additions as an earlier one adds up that one's counts instead (see there).
    """

    def __init__(self, prob_stack: np.ndarray, y: np.ndarray, total: np.ndarray | None = None):
        self.prob_stack = prob_stack
        self.y = np.asarray(y, dtype=np.int64)
        self.n_classes = prob_stack.shape[2]
        self.total = np.zeros_like(prob_stack[0]) if total is None else total
        self.history = () if total is None else None  # the additions that made the total, when it started at zero
        self.open_copy = None  # (reach, rows [s], every member's probabilities of them [M x C x s])
        self.label_cell = (self.y + 1) * self.n_classes  # + decision: a confusion cell, after C cells for label -1
        # Open rows are counted by group: by fold within shared_rounds (for the fits on other folds), else all in one.
        sharing = _SHARING.get()
        folds = None if sharing is None or total is not None else sharing.folds_labelled(prob_stack, self.y)
        if folds is None:
            self.sharing, self.folds, self.group_of = None, np.zeros(1, dtype=np.intp), np.zeros(len(y), dtype=np.intp)
            self.n_groups = 1
        else:
            self.sharing, self.folds, self.group_of = sharing, folds, sharing.fold_index
            self.n_groups = len(sharing.folds)
        self._settle()

    def _settle(self) -> None:
        """What every scoring against this total shares: each row's decision, its top-two gap less a slack that
        covers float32 rounding, and the confusion matrix [C x C] of the scored rows."""
        top, gap = top_two_gap(self.total)
        self.decision = row_argmax(self.total)
        np.abs(top, out=top)
        top += 1.0
        top *= 1e-5
        self.margin = np.subtract(gap, top, out=gap)  # a row is open to an addition reaching further than this
        cells = np.bincount(self.label_cell + self.decision, minlength=(self.n_classes + 1) * self.n_classes)
        self.confusion = cells[self.n_classes :].reshape(self.n_classes, self.n_classes)  # unscored rows cut off

    def macro_f1(self) -> float:
        return float(macro_f1_from_confusion(self.confusion))

    def add(self, m: int, scale: float) -> None:
        self.total = self.total + np.float32(scale) * self.prob_stack[m]
        if self.history is not None:
            self.history += ((m, scale),)
        self._settle()

    def scores_after_adding(self, additions: Sequence[tuple[int, float]]) -> np.ndarray:
        """Macro-F1 [K] on the scored rows of argmax(total + scale * prob_stack[m]), per (m, scale) in additions."""
        key = (self.history, tuple(additions))
        counted = None if self.sharing is None else self.sharing.counted(key, self.folds)
        if counted is None:
            counted = self._count_open_rows(additions)
            if self.sharing is not None:
                self.sharing.keep(key, self.folds, counted)
        now, after = counted
        return macro_f1_from_confusion(self.confusion - now[self.folds].sum(axis=0) + after[:, self.folds].sum(axis=1))

    def _count_open_rows(self, additions: Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
        """The open scored rows' confusion counts, group by group: now [G x C x C] with the total's decisions, after
        [K x G x C x C] with each addition's."""
        n_classes, n_groups = self.n_classes, self.n_groups
        reach = max(abs(scale) for _, scale in additions)
        rows = np.flatnonzero(self.margin <= reach)
        rows = rows[self.y[rows] >= 0]  # ascending: each gather below is one sweep over a member's class column
        rows, copies = self._rows_to_decide(rows, reach, len({m for m, _ in additions}))
        # The decisions are counted in runs of (group, label); rows not scored (deciding every row) fall in none.
        labels = self.y[rows]
        run_of = np.where(labels >= 0, self.group_of[rows] * n_classes + labels, n_groups * n_classes)
        in_runs = np.concatenate([np.flatnonzero(run_of == run) for run in range(n_groups * n_classes)])
        run_ends = np.cumsum(np.bincount(run_of, minlength=n_groups * n_classes + 1)[:-1])
        cells = n_groups * n_classes * n_classes
        now = np.bincount(run_of * n_classes + self.decision[rows], minlength=cells + n_classes)[:cells]
        open_total = self.total.T if len(rows) == len(self.y) else np.take(self.total.T, rows, axis=1)  # [C x rows]
        chunk = max(1, CANDIDATE_BUDGET // max(1, len(rows) * n_classes))
        block = np.empty((min(chunk, len(additions)), n_classes, len(rows)), dtype=self.total.dtype)
        after = np.empty((len(additions), n_groups * n_classes, n_classes), dtype=np.int64)
        gathered = {}  # member -> its probabilities of rows, when it comes at several scales (the F1 search)
        repeated = len({m for m, _ in additions}) < len(additions)
        for start in range(0, len(additions), chunk):
            part = additions[start : start + chunk]
            candidates = block[: len(part)]
            for k, (m, scale) in enumerate(part):
                if copies is None and repeated:
                    if m not in gathered:
                        gathered[m] = np.take(self.prob_stack[m].T, rows, axis=1, mode="clip")
                    np.multiply(gathered[m], np.float32(scale), out=candidates[k])
                elif copies is None:
                    np.take(self.prob_stack[m].T, rows, axis=1, out=candidates[k], mode="clip")  # "raise" buffers
                    if scale != 1.0:
                        candidates[k] *= np.float32(scale)
                else:
                    for columns, copy in copies:
                        np.multiply(copy[m], np.float32(scale), out=candidates[k][:, columns])
            candidates += open_total
            decisions = np.take(row_argmax(np.moveaxis(candidates, 1, 2)), in_runs, axis=1)  # [K x open rows]
            counts = after[start : start + chunk]
            for run, (run_start, run_end) in enumerate(zip(np.concatenate([[0], run_ends[:-1]]), run_ends)):
                decided = decisions[:, run_start:run_end]
                for c in range(1, n_classes):
                    counts[:, run, c] = np.count_nonzero(decided == c, axis=1)
                counts[:, run, 0] = decided.shape[1] - counts[:, run, 1:].sum(axis=1)
        shape = (n_groups, n_classes, n_classes)
        return now.reshape(shape), after.reshape(len(additions), *shape)

    def _rows_to_decide(self, rows: np.ndarray, reach: float, n_candidates: int) -> tuple[np.ndarray, list | None]:
        """(rows to decide again: the open rows, or a superset of them (every row, or the copy's rows and the newly
        open ones); [(columns of those, every member's probabilities of them [M x C x columns])], or None to gather
        them from the stack). A settled row decided again keeps its class, so a superset changes no count."""
        n_rows = len(self.y)
        stack_columns = np.moveaxis(self.prob_stack, 2, 1)  # [M x C x n]: contiguous for a class-planar stack
        if len(rows) > OPEN_COPY_SHARE * n_rows:
            self.open_copy = None
            if len(rows) > EVERY_ROW_SHARE * n_rows:  # a gather would read the whole stack: decide every row
                return np.arange(n_rows), [(slice(None), stack_columns)]
            return rows, None
        if 2 * n_candidates <= len(self.prob_stack):  # a copy of every member would not pay for a few of them
            return rows, None
        if self.open_copy is not None and self.open_copy[0] == reach:
            _, copied_rows, copied = self.open_copy
            new = rows[~np.isin(rows, copied_rows, assume_unique=True)]
            if len(copied_rows) + len(new) <= 2 * len(rows):
                if not len(new):
                    return copied_rows, [(slice(None), copied)]
                added = np.take(stack_columns, new, axis=2, mode="clip")
                return np.concatenate([copied_rows, new]), [
                    (slice(0, len(copied_rows)), copied),
                    (slice(len(copied_rows), None), added),
                ]
        self.open_copy = None  # before the new copy is taken: a lower peak
        self.open_copy = (reach, rows, np.take(stack_columns, rows, axis=2, mode="clip"))
        return rows, [(slice(None), self.open_copy[2])]


@dataclass
class _SharedRounds:
    """The open rows' counts of the blends built within one shared_rounds block, by fold."""

    prob_stack: np.ndarray
    folds: np.ndarray  # the scored folds of fold_of, sorted
    fold_index: np.ndarray  # [n] each row's fold's position in folds (-1: never held out)
    counts: dict = field(default_factory=dict)  # (additions so far, candidates) -> (fold positions, now, after)

    def folds_labelled(self, prob_stack: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The positions of the folds y labels, when prob_stack is this block's and y labels exactly whole folds."""
        if prob_stack is not self.prob_stack:
            return None
        labelled = y >= 0
        positions = np.unique(self.fold_index[labelled])
        if not len(positions) or positions[0] < 0 or not np.array_equal(labelled, np.isin(self.fold_index, positions)):
            return None
        return positions

    def counted(self, key, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        kept = self.counts.get(key)
        return kept[1:] if kept is not None and set(positions.tolist()) <= kept[0] else None

    def keep(self, key, positions: np.ndarray, counted: tuple[np.ndarray, np.ndarray]) -> None:
        if key not in self.counts or set(positions.tolist()) >= self.counts[key][0]:
            self.counts[key] = (set(positions.tolist()), *counted)


_SHARING: ContextVar[_SharedRounds | None] = ContextVar("kit_shared_rounds", default=None)


@contextmanager
def shared_rounds(prob_stack: np.ndarray, fold_of: np.ndarray):
    """A block in which the greedy fits on prob_stack of one cross-fit share the rounds they pick alike.

    The fits of a cross-fit see the same members and differ only in the fold they leave out, so Caruana's picks
    agree for the first rounds (the first 7 to 9 of 25 on the bench's 50 members), which are its costliest: most
    rows are still open. The first fit counts each candidate's open rows fold by fold; a later fit whose labels are
    some of those folds, at a blend made by the same additions, adds up its folds' counts and decides no row. The
    rows' decisions do not depend on labels, so the scores are those the fit would compute itself. fold_of: [n].
    """
    fold_of = np.asarray(fold_of)
    folds = np.unique(fold_of[fold_of >= 0])
    fold_index = np.where(fold_of >= 0, np.searchsorted(folds, fold_of), -1)
    token = _SHARING.set(_SharedRounds(prob_stack, folds, fold_index))
    try:
        yield
    finally:
        _SHARING.reset(token)


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
    addition scores best on the rows with y >= 0; ties go to the lower index. With bags > 1 the greedy runs on `bags`
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
        return normalised(
            _greedy_counts(prob_stack, y, np.arange(n_members), rounds, objective, init), "caruana weights"
        )
    rng = np.random.default_rng(seed)
    bag_size = max(1, round(bag_fraction * n_members))
    weights = np.zeros(n_members)
    for _ in range(bags):
        subset = np.sort(rng.choice(n_members, size=bag_size, replace=False))
        counts = _greedy_counts(prob_stack, y, subset, rounds, objective, min(init, bag_size))
        weights[subset] += counts / counts.sum()
    return normalised(weights, "caruana weights")


def _greedy_counts(
    prob_stack: np.ndarray, y: np.ndarray, members: np.ndarray, rounds: int, objective: str, init: int
) -> np.ndarray:
    """How often each of members (indices into prob_stack) is picked: counts [len(members)]."""
    counts = np.zeros(len(members))
    if objective == "f1":  # the whole running sum (unnormalised: argmax ignores the scale)
        running = RunningBlend(prob_stack, y)
        every_member = [(int(m), 1.0) for m in members]

        def candidate_scores(n_picked: int) -> np.ndarray:
            return running.scores_after_adding(every_member)

        def pick(i: int) -> None:
            running.add(int(members[i]), 1.0)

    else:  # log-loss looks only at the true class
        true_probs = true_class_probs(prob_stack, y)[members]
        true_total = np.zeros(true_probs.shape[1], dtype=prob_stack.dtype)

        def candidate_scores(n_picked: int) -> np.ndarray:
            mixed = (true_total[None, :] + true_probs) / (n_picked + 1)
            return np.log(np.maximum(mixed, TINY)).mean(axis=1)

        def pick(i: int) -> None:
            true_total[:] += true_probs[i]

    picks = [int(i) for i in np.argsort(-candidate_scores(0), kind="stable")[:init]] if init else []
    for step in range(init + rounds):
        if step >= init:
            picks.append(int(np.argmax(candidate_scores(step))))
        counts[picks[step]] += 1
        pick(picks[step])
    return counts
