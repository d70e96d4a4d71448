"""kit.folds: stratified, grouped, deterministic folds; their hash; the balance table."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from kit.folds import assign_folds, fold_balance, fold_hash

# Label shares of the real training data (shared/data/README.md): 0 = 57.7%, 1 = 25.7%, -1 = 16.7%.
CLASSES = np.array([-1, 0, 1])
SHARES = np.array([0.167, 0.577, 0.256])


def weibo_like(n: int, duplicate_share: float = 0.05, conflicting_share: float = 0.2, seed: int = 0):
    """labels [n] int64 and texts [n] str: unique posts, plus copies of earlier posts (as on Weibo) of which a
    share carries another label than the original (annotators disagree on copies too)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES, size=n, p=SHARES)
    texts = np.array([f"post {i}" for i in range(n)], dtype=object)
    is_copy = rng.random(n) < duplicate_share
    original = rng.integers(0, n, size=n)
    texts[is_copy] = texts[original[is_copy]]
    labels[is_copy] = labels[original[is_copy]]
    relabelled = is_copy & (rng.random(n) < conflicting_share)
    labels[relabelled] = rng.choice(CLASSES, size=int(relabelled.sum()))
    return labels, texts.tolist()


@pytest.fixture(scope="module")
def realistic():
    """100k rows in ~95k groups, with the timing of their split."""
    labels, texts = weibo_like(100_000)
    started = time.perf_counter()
    fold_of = assign_folds(labels, texts, k=5, seed=42)
    return labels, texts, fold_of, time.perf_counter() - started


def class_shares(labels: np.ndarray, fold_of: np.ndarray, k: int) -> np.ndarray:
    """np array [k x C]: share of each class within each fold."""
    return np.array([[np.mean(labels[fold_of == f] == c) for c in np.unique(labels)] for f in range(k)])


def assert_groups_together(groups, fold_of):
    fold_of_group = {}
    for key, fold in zip(groups, fold_of.tolist()):
        assert fold_of_group.setdefault(key, fold) == fold, f"group {key!r} is split across folds"


# --- the realistic case ------------------------------------------------------------------------------------------


def test_realistic_split_is_complete_disjoint_and_int8(realistic):
    labels, _, fold_of, _ = realistic
    assert fold_of.shape == labels.shape and fold_of.dtype == np.int8
    assert set(np.unique(fold_of).tolist()) == {0, 1, 2, 3, 4}  # every row in exactly one of 5 non-empty folds


def test_realistic_split_is_stratified(realistic):
    labels, _, fold_of, _ = realistic
    global_shares = np.array([np.mean(labels == c) for c in np.unique(labels)])
    assert np.abs(class_shares(labels, fold_of, 5) - global_shares).max() < 0.002
    sizes = np.bincount(fold_of)
    assert sizes.max() - sizes.min() <= 0.002 * len(labels)


def test_realistic_split_keeps_copies_together(realistic):
    _, texts, fold_of, _ = realistic
    assert len(set(texts)) < 0.97 * len(texts)  # the case does hold copies
    assert_groups_together(texts, fold_of)


def test_realistic_split_takes_seconds_at_most(realistic):
    *_, seconds = realistic
    assert seconds < 10.0  # about 0.5 s on one core; StratifiedGroupKFold takes about 40 s here


# --- small cases -------------------------------------------------------------------------------------------------


def test_small_balanced_case_splits_every_class_evenly():
    labels = np.repeat(["neg", "neu", "pos"], 10)
    fold_of = assign_folds(labels, [f"text {i}" for i in range(30)], k=5, seed=0)
    balance = fold_balance(labels, fold_of)
    assert (balance[["neg", "neu", "pos"]].to_numpy() == 2).all()


def test_small_case_with_copies_stays_stratified_and_grouped():
    labels, texts = weibo_like(300, duplicate_share=0.3, conflicting_share=0.0, seed=3)
    fold_of = assign_folds(labels, texts, k=3, seed=1)
    assert_groups_together(texts, fold_of)
    global_shares = np.array([np.mean(labels == c) for c in CLASSES])
    assert np.abs(class_shares(labels, fold_of, 3) - global_shares).max() < 0.05


def test_a_large_group_lands_whole_in_one_fold():
    labels = np.array([0] * 40 + [1] * 20 + [0] * 10)
    groups = ["spam"] * 40 + [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(10)]
    fold_of = assign_folds(labels, groups, k=4, seed=7)
    assert len(set(fold_of[:40].tolist())) == 1
    assert set(np.unique(fold_of).tolist()) == {0, 1, 2, 3}


# --- determinism -------------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_folds_and_another_seed_others():
    labels, texts = weibo_like(2_000)
    first = assign_folds(labels, texts, k=5, seed=42)
    assert np.array_equal(first, assign_folds(labels, texts, k=5, seed=42))
    assert not np.array_equal(first, assign_folds(labels, texts, k=5, seed=43))


def test_folds_do_not_depend_on_row_order_or_container():
    labels, texts = weibo_like(2_000)
    fold_of = assign_folds(labels, texts, k=5, seed=42)
    order = np.random.default_rng(1).permutation(len(labels))
    shuffled = assign_folds(labels[order], [texts[i] for i in order], k=5, seed=42)
    assert np.array_equal(shuffled, fold_of[order])
    as_numpy_strings = assign_folds(labels.tolist(), np.array(texts, dtype=str), k=5, seed=42)
    assert np.array_equal(as_numpy_strings, fold_of)


# --- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, True, 128])
def test_rejects_a_bad_k(k):
    with pytest.raises(ValueError, match="k must be an integer from 2 to 127"):
        assign_folds(np.array([0, 1] * 10), [str(i) for i in range(20)], k=k)


def test_rejects_more_folds_than_rows():
    with pytest.raises(ValueError, match="k=5 folds need at least 5 rows, got 4"):
        assign_folds(np.array([0, 1, 0, 1]), ["a", "b", "c", "d"], k=5)


def test_names_the_class_with_fewer_rows_than_k():
    labels = np.array([0] * 10 + [1] * 10 + [-1] * 3)
    with pytest.raises(ValueError, match=r"class -1 has 3 row\(s\) in 3 group\(s\), fewer than k=5"):
        assign_folds(labels, [f"t{i}" for i in range(23)], k=5)


def test_names_the_class_whose_rows_are_copies_of_too_few_texts():
    labels = np.array(["neu"] * 10 + ["neg"] * 6)
    groups = [f"t{i}" for i in range(10)] + ["same"] * 6
    with pytest.raises(ValueError, match=r"class 'neg' has 6 row\(s\) in 1 group\(s\).*no k >= 2 can spread it"):
        assign_folds(labels, groups, k=5)


def test_names_a_rare_class_of_pandas_str_labels_and_the_k_that_fits():
    # What the folds command passes: a str column of the interim parquet, whose values are Python str objects.
    labels = pd.Series(["0"] * 10 + ["1"] * 10 + ["-1"] * 3, dtype="str").to_numpy()
    with pytest.raises(ValueError, match=r"class '-1' has 3 row\(s\) in 3 group\(s\), fewer than k=5.*folds\.k to 3"):
        assign_folds(labels, [f"t{i}" for i in range(23)], k=5)


def test_rejects_fewer_groups_than_folds():
    with pytest.raises(ValueError, match="only 2 distinct group"):
        assign_folds(np.array([0, 1] * 5), ["a", "b"] * 5, k=3)


def test_rejects_mismatched_lengths_and_missing_values():
    with pytest.raises(ValueError, match="labels has 4 rows but groups has 3"):
        assign_folds(np.array([0, 1, 0, 1]), ["a", "b", "c"], k=2)
    with pytest.raises(ValueError, match="groups has 1 missing value.*row 2"):
        assign_folds(np.array([0, 1, 0, 1]), ["a", "b", None, "d"], k=2)
    with pytest.raises(ValueError, match="labels has 1 missing value.*row 0"):
        assign_folds(np.array([np.nan, 1.0, 0.0, 1.0]), ["a", "b", "c", "d"], k=2)


# --- hash and balance --------------------------------------------------------------------------------------------


def test_fold_hash_is_stable_and_ignores_row_order():
    ids = ["4456068992182160", "4456424178427250", "4456797466940200"]
    fold_of = np.array([0, 1, 0], dtype=np.int8)
    # A fixed value: a change in how the hash is computed would orphan every artifact already on disk.
    assert fold_hash(ids, fold_of) == "d5735f168479ec5560465737686a260efbda368199e361b66c051dc4f0328ddd"
    assert fold_hash(ids[::-1], fold_of[::-1]) == fold_hash(ids, fold_of)


def test_fold_hash_changes_when_one_row_moves():
    labels, texts = weibo_like(1_000)
    ids = [f"{4456000000000000 + i}" for i in range(1_000)]
    fold_of = assign_folds(labels, texts, k=5)
    moved = fold_of.copy()
    moved[17] = (moved[17] + 1) % 5
    assert fold_hash(ids, moved) != fold_hash(ids, fold_of)


def test_fold_hash_rejects_duplicate_ids_and_bad_shapes():
    with pytest.raises(ValueError, match="'7' occurs more than once"):
        fold_hash(["7", "8", "7"], np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="shape"):
        fold_hash(["7", "8"], np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="integer fold indices"):
        fold_hash(["7", "8"], np.array([0.0, 1.0]))


def test_fold_balance_counts_rows_per_fold_and_class():
    labels = np.array([-1, 0, 0, 1, 1, 1])
    fold_of = np.array([0, 0, 1, 1, 1, 0], dtype=np.int8)
    balance = fold_balance(labels, fold_of)
    assert list(balance.columns) == ["-1", "0", "1", "total"]
    assert balance.index.name == "fold"
    assert balance.to_numpy().tolist() == [[1, 1, 1, 3], [0, 1, 2, 3]]


# --- real labels -------------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_labels_split_stratified_with_real_duplicates_together(shared_data):
    lines = (shared_data / "ncov" / "processed_dev.txt").read_text(encoding="utf-8").splitlines()
    labels = np.array([line.split(" ", 1)[0] for line in lines])
    texts = [line.split(" ", 1)[1] if " " in line else "" for line in lines]
    assert len(set(texts)) < len(texts)  # real copies, the empty text among them
    fold_of = assign_folds(labels, texts, k=5, seed=42)
    assert_groups_together(texts, fold_of)
    global_shares = np.array([np.mean(labels == c) for c in np.unique(labels)])
    assert np.abs(class_shares(labels, fold_of, 5) - global_shares).max() < 0.01
