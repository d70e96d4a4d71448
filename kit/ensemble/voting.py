"""Voting: hard majority, soft (mean probabilities), and the winning team's multi-round voting.

Every vote returns probabilities [n x C] whose argmax is the decision: the mean probabilities of the members that
voted for the winning label (each of them has that label as its argmax, so their mean does too).
Members arrive as a sequence of probability arrays [n x C] (a prob_stack [M x n x C] is one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

import numpy as np

from kit.ensemble.weights import macro_f1_many
from kit.metrics import macro_f1, row_argmax


def vote(voter_probs: Sequence[np.ndarray], tie_weights: Sequence[float]) -> np.ndarray:
    """Majority vote of the voters' argmax labels; probs [n x C] = mean probs of the winning label's voters.

    voter_probs: k arrays [n x C]; tie_weights: [k]. A tie between labels with the most votes goes to the label
    with the largest tie_weights-weighted sum of the voters' probabilities (computed on the tied rows only). Counts are
    kept class by class ([C x n]), so every step is a pass over contiguous rows.
    """
    n_rows, n_classes = voter_probs[0].shape
    labels = [row_argmax(probs) for probs in voter_probs]
    counts = np.zeros((n_classes, n_rows), dtype=np.int64)
    for label in labels:
        for c in range(n_classes):
            counts[c] += label == c
    most = counts.max(axis=0)
    is_top = counts == most
    winner = row_argmax(is_top.T)
    tied = np.flatnonzero(is_top.sum(axis=0) > 1)
    if len(tied):
        tie_score = np.zeros((len(tied), n_classes), dtype=np.float64)
        for probs, weight in zip(voter_probs, tie_weights):
            tie_score += weight * probs[tied]
        winner[tied] = row_argmax(np.where(is_top[:, tied].T, tie_score, -np.inf))
    total = np.zeros_like(voter_probs[0])
    for label, probs in zip(labels, voter_probs):
        total += probs * (label == winner)[:, None]
    return total / most[:, None].astype(total.dtype)


def hard_vote(prob_stack: Sequence[np.ndarray]) -> np.ndarray:
    """Majority of the members' argmax labels, ties to the label with the higher mean probability: probs [n x C]."""
    return vote(prob_stack, np.ones(len(prob_stack)))


def soft_vote(prob_stack: np.ndarray) -> np.ndarray:
    """Mean probabilities of the members: [n x C]."""
    return np.mean(prob_stack, axis=0)


def agreement(labels: np.ndarray) -> np.ndarray:
    """Share of rows on which two members predict the same label, for every pair: [M x M] from labels [M x n].

    Row by row comparisons rather than a one-hot matrix product: a threaded BLAS crawls on a busy 2-core machine.
    Each pair is compared once, and each count is a count over one contiguous row (fast, unlike counting along an axis).
    """
    labels = np.asarray(labels)
    n_members = labels.shape[0]
    same = np.zeros((n_members, n_members))
    for i in range(n_members):
        equal = labels[i + 1 :] == labels[i]
        same[i, i + 1 :] = [np.count_nonzero(row) for row in equal]
    same += same.T
    same[np.diag_indices(n_members)] = labels.shape[1]
    return same / labels.shape[1]


def rank_weights(k: int) -> np.ndarray:
    """Tie-break weights [k] for voters sorted best first: k, k-1, ..., 1, normalised."""
    weights = np.arange(k, 0, -1, dtype=np.float64)
    return weights / weights.sum()


@dataclass
class VotePlan:
    """What multi-round voting chose on the rows it was fitted on, replayable on any rows (held-out folds, test)."""

    voters: list[tuple[int, ...]]  # per round, pool indices best first; pool = members, then round 1, 2... results
    log: list[dict] = field(default_factory=list)  # per round: voters, their F1, agreements, result F1, stop reason


def fit_multi_round_vote(
    prob_stack: Sequence[np.ndarray],
    y: np.ndarray,
    names: Sequence[str] | None = None,
    n_voters: int = 3,
    candidates: int = 5,
    stop_agreement: float = 0.95,
    max_rounds: int = 10,
) -> VotePlan:
    """Multi-round voting, fitted on these rows.

    The pool starts as the members. Each round, the pool member with the highest macro-F1 votes with the
    n_voters - 1 of the next `candidates - 1` best whose group has the lowest mean pairwise agreement (high F1,
    low agreement). Ties are broken by probabilities weighted toward the better voter (rank_weights), and the
    result joins the pool as a new member. Voting stops when the result agrees with every voter of its round on at
    least stop_agreement of the rows, when it predicts exactly what a pool member predicts (the pool has stopped
    changing), or after max_rounds rounds. The last result is the answer. prob_stack: M arrays [n x C]; y: [n],
    -1 on the rows not to learn from (their votes are cast, not scored).
    """
    pool = list(prob_stack)
    if not 3 <= n_voters <= min(candidates, len(pool)):
        raise ValueError(
            f"multi-round voting: n_voters must be >= 3 and <= candidates ({candidates}) and members ({len(pool)}), "
            f"got {n_voters}"
        )
    if max_rounds < 1 or not 0 < stop_agreement <= 1:
        raise ValueError(
            f"multi-round voting: need max_rounds >= 1 and 0 < stop_agreement <= 1, "
            f"got {max_rounds}, {stop_agreement}"
        )
    y = np.asarray(y, dtype=np.int64)
    scored = y >= 0
    y = y[scored]
    n_classes = pool[0].shape[1]
    pool_names = list(names) if names is not None else [f"member{i}" for i in range(len(pool))]
    labels = [row_argmax(probs)[scored] for probs in pool]  # int8: 50 members x 100k rows are 5 MB, not 40
    member_labels = np.stack(labels)
    f1 = macro_f1_many(y, member_labels, n_classes).tolist()
    agree = agreement(member_labels)
    del member_labels
    plan = VotePlan(voters=[])
    for round_number in range(1, max_rounds + 1):
        voters = _choose_voters(np.array(f1), agree, n_voters, candidates)
        result = vote([pool[i] for i in voters], rank_weights(n_voters))
        result_labels = row_argmax(result)[scored]
        with_pool = [np.count_nonzero(result_labels == label) / len(y) for label in labels]
        plan.voters.append(voters)
        entry = {
            "round": round_number,
            "voters": [pool_names[i] for i in voters],
            "voter_f1": [f1[i] for i in voters],
            "mean_pairwise_agreement": _mean_pairwise(agree, voters),
            "result": f"vote_round{round_number}",
            "result_f1": macro_f1(y, result_labels, n_classes),
            "agreement_with_voters": [with_pool[i] for i in voters],
        }
        repeated = [pool_names[i] for i, share in enumerate(with_pool) if share == 1.0]
        if min(entry["agreement_with_voters"]) >= stop_agreement:
            entry["stop"] = f"the result agrees with every voter on >= {stop_agreement} of the rows"
        elif repeated:
            entry["stop"] = f"the result repeats {repeated[0]}'s labels: the pool has stopped changing"
        elif round_number == max_rounds:
            entry["stop"] = f"max_rounds ({max_rounds}) reached"
        plan.log.append(entry)
        if "stop" in entry:
            break
        pool.append(result)
        pool_names.append(entry["result"])
        labels.append(result_labels)
        f1.append(entry["result_f1"])
        agree = _grow(agree, with_pool + [1.0])
    return plan


def _choose_voters(f1: np.ndarray, agree: np.ndarray, n_voters: int, candidates: int) -> tuple[int, ...]:
    """The best pool member, and the n_voters - 1 among the next best `candidates - 1` that make the group's
    mean pairwise agreement lowest (ties: higher mean F1, then the better-ranked). Best first."""
    ranked = np.argsort(-f1, kind="stable")[:candidates].tolist()
    best_key, best = None, None
    for others in combinations(ranked[1:], n_voters - 1):
        group = (ranked[0], *others)
        key = (_mean_pairwise(agree, group), -float(np.mean(f1[list(group)])))
        if best_key is None or key < best_key:
            best_key, best = key, group
    return tuple(sorted(best, key=lambda i: (-f1[i], i)))


def _mean_pairwise(agree: np.ndarray, group: Sequence[int]) -> float:
    return float(np.mean([agree[a, b] for a, b in combinations(group, 2)]))


def _grow(agree: np.ndarray, new_row: list[float]) -> np.ndarray:
    """The agreement matrix with one more member whose agreements (with itself last: 1.0) are new_row."""
    size = agree.shape[0] + 1
    grown = np.ones((size, size))
    grown[:-1, :-1] = agree
    grown[-1, :] = grown[:, -1] = new_row
    return grown


def apply_vote_plan(plan: VotePlan, prob_stack: Sequence[np.ndarray]) -> np.ndarray:
    """Replay a fitted plan's rounds on these rows: probs [n x C] of the last round."""
    pool = list(prob_stack)
    for voters in plan.voters:
        pool.append(vote([pool[i] for i in voters], rank_weights(len(voters))))
    return pool[-1]
