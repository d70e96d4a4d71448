import numpy as np
import pytest

from kit.ensemble.blend import RunningBlend, blend, caruana, normalised, optimise_blend, shared_rounds
from kit.ensemble.honest import hide_labels
from kit.metrics import macro_f1, softmax

# Four rows, two classes: A misses row 2, B misses row 0; together they get every row; C gets every row wrong.
Y = np.array([0, 0, 1, 1])
A = [[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]]
B = [[0.4, 0.6], [0.6, 0.4], [0.1, 0.9], [0.1, 0.9]]
C = [[0.2, 0.8], [0.2, 0.8], [0.8, 0.2], [0.8, 0.2]]
STACK = np.array([A, B, C], dtype=np.float32)


def noisy_members(n_members=8, n_rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n_rows)
    strength = rng.uniform(0.3, 2.0, (n_members, 1, 1))
    logits = strength * np.eye(3)[y] + rng.normal(size=(n_members, n_rows, 3))
    return softmax(logits.astype(np.float32)), y


def test_blend_by_hand():
    blended = blend(STACK[:2], np.array([0.25, 0.75]))
    assert np.allclose(blended[0], [0.25 * 0.9 + 0.75 * 0.4, 0.25 * 0.1 + 0.75 * 0.6])
    assert np.allclose(blended.sum(axis=1), 1.0)


def test_fixed_weights_are_normalised_and_checked():
    assert np.allclose(normalised([0.2, 0.3, 0.5]), [0.2, 0.3, 0.5])
    assert np.allclose(normalised([2, 3, 5]), [0.2, 0.3, 0.5])
    for bad in ([0.5, -0.1], [0, 0], [1, np.nan]):
        with pytest.raises(ValueError, match="non-negative"):
            normalised(bad)


def test_caruana_by_hand():
    # Round 1: A and B score the same alone (macro-F1 0.733), the tie goes to A. Round 2: A+B gets every row.
    # Round 3: A+B+A and A+B+B both get every row; the tie goes to A. C never helps.
    assert np.allclose(caruana(STACK, Y, rounds=1), [1, 0, 0])
    assert np.allclose(caruana(STACK, Y, rounds=2), [0.5, 0.5, 0])
    assert np.allclose(caruana(STACK, Y, rounds=3), [2 / 3, 1 / 3, 0])
    # init=2: the two best singles A and B, then one round in which A and B tie again.
    assert np.allclose(caruana(STACK, Y, rounds=1, init=2), [2 / 3, 1 / 3, 0])


def test_caruana_log_loss_picks_the_best_calibrated_member_first():
    probs, y = noisy_members()
    losses = [-np.mean(np.log(p[np.arange(len(y)), y])) for p in probs]
    assert np.argmax(caruana(probs, y, rounds=1, objective="logloss")) == np.argmin(losses)


def test_caruana_bags_are_seeded_and_weights_sum_to_one():
    probs, y = noisy_members()
    first = caruana(probs, y, rounds=5, bags=4, seed=3)
    assert first.sum() == pytest.approx(1.0)
    assert np.array_equal(first, caruana(probs, y, rounds=5, bags=4, seed=3))
    assert not np.array_equal(first, caruana(probs, y, rounds=5, bags=4, seed=4))


def test_scoring_only_open_rows_is_exact():
    probs, y = noisy_members(seed=1)
    total = probs[0] + 2 * probs[3] + probs[5]
    additions = [(m, scale) for m in range(len(probs)) for scale in (1.0, -0.5, 0.25)]
    fast = RunningBlend(probs, y, total).scores_after_adding(additions)
    slow = [macro_f1(y, (total + np.float32(scale) * probs[m]).argmax(axis=1), 3) for m, scale in additions]
    assert np.array_equal(fast, slow)
    # Rows labelled -1 are left out of every score, as the cross-fit needs.
    hidden = np.where(np.arange(len(y)) % 3 == 0, -1, y)
    kept = hidden >= 0
    fast = RunningBlend(probs, hidden, total).scores_after_adding(additions)
    slow = [macro_f1(y[kept], (total + np.float32(s) * probs[m])[kept].argmax(axis=1), 3) for m, s in additions]
    assert np.array_equal(fast, slow)


def test_scores_stay_exact_as_the_open_rows_shrink_round_after_round():
    # Rounds of a greedy selection pass through every way of reading the open rows: every row while most are open,
    # a gather from the stack, then a copy of the open rows kept up to date as rows close and open.
    probs, y = noisy_members(n_members=6, n_rows=4000, seed=3)
    hidden = np.where(np.arange(len(y)) % 5 == 0, -1, y)
    kept = hidden >= 0
    running = RunningBlend(probs, hidden)
    every_member = [(m, 1.0) for m in range(len(probs))]
    for _ in range(12):
        fast = running.scores_after_adding(every_member)
        slow = [macro_f1(y[kept], (running.total + probs[m])[kept].argmax(axis=1), 3) for m in range(len(probs))]
        assert np.array_equal(fast, slow)
        running.add(int(np.argmax(fast)), 1.0)
    assert running.open_copy is not None


def test_log_loss_weights_by_hand():
    # True-class probabilities 0.8/0.2 and 0.2/0.8: the log-loss is symmetric in the two weights, so 1/2 each.
    stack = np.array([[[0.8, 0.2], [0.8, 0.2]], [[0.2, 0.8], [0.2, 0.8]]], dtype=np.float32)
    assert np.allclose(optimise_blend(stack, np.array([0, 1]), objective="logloss"), [0.5, 0.5], atol=1e-3)


def test_optimised_weights_favour_the_informative_member_and_f1_refines_log_loss():
    probs, y = noisy_members()
    probs[2] = softmax(np.random.default_rng(9).normal(size=probs[2].shape).astype(np.float32))  # pure noise
    by_loss = optimise_blend(probs, y, objective="logloss")
    by_f1 = optimise_blend(probs, y, objective="f1")
    assert by_loss[2] < 0.02 and by_loss.sum() == pytest.approx(1.0) and by_f1.sum() == pytest.approx(1.0)
    assert macro_f1(y, blend(probs, by_f1).argmax(axis=1), 3) >= macro_f1(y, blend(probs, by_loss).argmax(axis=1), 3)


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="unknown objective 'accuracy'"):
        optimise_blend(STACK, Y, objective="accuracy")


def test_the_fits_of_a_cross_fit_sharing_rounds_pick_what_each_would_alone(monkeypatch):
    probs, y = noisy_members(seed=2)
    fold_of = np.arange(len(y)) % 4
    alone = [caruana(probs, y, rounds=6)] + [caruana(probs, hide_labels(y, fold_of != k), rounds=6) for k in range(4)]
    counted = []
    count_open_rows = RunningBlend._count_open_rows
    monkeypatch.setattr(RunningBlend, "_count_open_rows", lambda *a: counted.append(1) or count_open_rows(*a))
    with shared_rounds(probs, fold_of):
        shared = [caruana(probs, y, rounds=6)] + [
            caruana(probs, hide_labels(y, fold_of != k), rounds=6) for k in range(4)
        ]
    assert all(np.array_equal(a, b) for a, b in zip(alone, shared))
    assert len(counted) < 5 * 6  # the fold fits reused rounds the fit on every fold had counted
