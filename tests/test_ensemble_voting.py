import numpy as np
import pytest

from kit.ensemble.voting import (
    agreement,
    apply_vote_plan,
    fit_multi_round_vote,
    hard_vote,
    rank_weights,
    soft_vote,
    vote,
)
from kit.metrics import macro_f1

M0 = [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.3, 0.5]]
M1 = [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.1, 0.6, 0.3]]
M2 = [[0.2, 0.5, 0.3], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]


def test_hard_vote_by_hand():
    # Votes per row: (0, 0, 1), (0, 1, 1), (2, 1, 2); the winners' voters average their probabilities.
    probs = hard_vote(np.array([M0, M1, M2]))
    assert np.allclose(probs, [[0.65, 0.25, 0.1], [0.25, 0.65, 0.1], [0.25, 0.3, 0.45]])


def test_ties_go_to_the_weighted_probabilities():
    first, second = np.array([[0.6, 0.4]]), np.array([[0.3, 0.7]])
    assert np.allclose(hard_vote([first, second]), [[0.3, 0.7]])  # equal weights: mean 0.45 vs 0.55
    assert np.allclose(vote([first, second], [0.9, 0.1]), [[0.6, 0.4]])  # weighted toward the first: 0.57 vs 0.43


def test_soft_vote_and_rank_weights_by_hand():
    assert np.allclose(soft_vote(np.array([M0, M1])), (np.array(M0) + np.array(M1)) / 2)
    assert np.allclose(rank_weights(3), [3 / 6, 2 / 6, 1 / 6])


def test_agreement_by_hand():
    labels = np.array([[0, 1, 2, 0], [0, 1, 1, 0], [1, 1, 1, 1]])
    assert np.allclose(agreement(labels), [[1, 0.75, 0.25], [0.75, 1, 0.5], [0.25, 0.5, 1]])


def members_with_errors(seed=0, n_rows=600):
    """A strong member, two near-copies of it, and two weaker members whose mistakes fall on other rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n_rows)

    def predicted(error_rows):
        labels = y.copy()
        labels[error_rows] = (y[error_rows] + rng.integers(1, 3, len(error_rows))) % 3
        return labels

    strong = predicted(rng.choice(n_rows, 60, replace=False))
    copies = []
    for _ in range(2):
        copy = strong.copy()
        flip = rng.choice(n_rows, 12, replace=False)
        copy[flip] = (copy[flip] + 1) % 3
        copies.append(copy)
    weaker = [predicted(rng.choice(n_rows, 120, replace=False)) for _ in range(2)]
    labels = [strong, *copies, *weaker]
    probs = np.full((len(labels), n_rows, 3), 0.2, dtype=np.float32)
    for m, label in enumerate(labels):
        probs[m, np.arange(n_rows), label] = 0.6 + 0.01 * m  # distinct, so ties in probability are impossible
    return probs, y, ["strong", "copy1", "copy2", "weak1", "weak2"]


def test_multi_round_picks_the_best_with_the_least_agreeing_and_beats_it():
    probs, y, names = members_with_errors()
    plan = fit_multi_round_vote(probs, y, names=names)
    result, log = apply_vote_plan(plan, probs), plan.log
    assert log[0]["voters"][0] == "strong" and set(log[0]["voters"][1:]) == {"weak1", "weak2"}
    assert log[0]["result"] == "vote_round1" and "stop" in log[-1]
    assert macro_f1(y, result.argmax(axis=1), 3) > macro_f1(y, probs[0].argmax(axis=1), 3)


def test_multi_round_is_deterministic_and_replayable():
    probs, y, names = members_with_errors(seed=1)
    plan = fit_multi_round_vote(probs, y, names=names)
    assert plan.log == fit_multi_round_vote(probs, y, names=names).log
    result = apply_vote_plan(plan, probs)
    # Replayed on half of the rows, each row gets what it got with all of them: the vote is row by row.
    assert np.array_equal(apply_vote_plan(plan, probs[:, :300]), result[:300])


def test_rounds_are_bounded_and_say_why_they_stopped():
    probs, y, names = members_with_errors()
    plan = fit_multi_round_vote(probs, y, names=names, stop_agreement=1.0, max_rounds=2)
    assert len(plan.voters) <= 2 and "stop" in plan.log[-1]
    once = fit_multi_round_vote(probs, y, names=names, stop_agreement=0.01)
    assert len(once.voters) == 1 and "agrees with every voter" in once.log[0]["stop"]


def test_too_few_voters_are_refused():
    probs, y, _ = members_with_errors()
    with pytest.raises(ValueError, match="n_voters must be >= 3"):
        fit_multi_round_vote(probs, y, n_voters=2)
    with pytest.raises(ValueError, match="members \\(2\\)"):
        fit_multi_round_vote(probs[:2], y)


def test_rows_labelled_minus_one_vote_but_are_not_scored():
    probs, y, names = members_with_errors(seed=2)
    kept = np.arange(len(y)) % 3 != 0
    hidden = fit_multi_round_vote(probs, np.where(kept, y, -1), names=names)
    assert hidden.log == fit_multi_round_vote(probs[:, kept], y[kept], names=names).log
