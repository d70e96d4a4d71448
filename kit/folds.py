"""The one fold split: every model, seed and text variant is trained and scored on the same folds.

`assign_folds` is stratified by label and grouped by a key (the cleaned text), so that copies of one post, which are
common on Weibo (retweets, spam, templates), never sit on both sides of a split and inflate out-of-fold scores.

Algorithm: groups are visited largest first, equal sizes in a seeded pseudo-random order, and each group goes to the
fold whose label counts lie furthest below their target (n_c / k rows of class c per fold), measured relative to the
target so that rare classes count as much as common ones; ties go to the fold with fewest rows, then the lowest index.
An empty fold always ties for furthest below target, so the first k groups open the k folds and none stays empty.

The seeded order comes from a hash of (seed, group key), never from row positions, so the folds are a function of the
set of (group key, label) rows alone: shuffling, reordering or re-reading the same data gives every row the same fold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kit.artifacts import sha256_strings, write_parquet
from kit.cleaning import clean_text
from kit.data import read_split

# fold_of is stored as int8 in every artifact (kit/artifacts.py).
MAX_FOLDS = int(np.iinfo(np.int8).max)


def _group_rows(groups: Sequence[Hashable]) -> tuple[np.ndarray, list[Hashable]]:
    """np array [n] int64: group index of each row, and the group keys in order of first appearance."""
    index_of: dict[Hashable, int] = {}
    group_of = np.fromiter((index_of.setdefault(key, len(index_of)) for key in groups), dtype=np.int64)
    return group_of, list(index_of)


def _seeded_rank(keys: list[Hashable], seed: int) -> np.ndarray:
    """np array [n_groups] uint64: a pseudo-random sort key per group that depends only on (seed, str(key)).

    str, not repr: a text read as numpy's np.str_ and the same text as a Python str must get the same fold.
    """
    prefix = f"{seed}\x1f".encode()
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(prefix + str(key).encode("utf-8"), digest_size=8).digest(), "big")
            for key in keys
        ),
        dtype=np.uint64,
        count=len(keys),
    )


def _check_inputs(labels: np.ndarray, groups: Sequence[Hashable], k: int) -> None:
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    n = len(labels)
    if len(groups) != n:
        raise ValueError(f"labels has {n} rows but groups has {len(groups)}")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 2 <= k <= MAX_FOLDS:
        raise ValueError(f"k must be an integer from 2 to {MAX_FOLDS}, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} folds need at least {k} rows, got {n}")
    for name, values in (("labels", labels), ("groups", groups)):
        missing = pd.Series(list(values), dtype=object).isna().to_numpy()
        if missing.any():
            rows = np.flatnonzero(missing)
            raise ValueError(f"{name} has {len(rows)} missing value(s), first at row {rows[0]}")


def assign_folds(labels: np.ndarray, groups: Sequence[Hashable], k: int = 5, seed: int = 42) -> np.ndarray:
    """np array [n] int8: the fold 0..k-1 of each row.

    labels: [n] class of each row (any sortable values); groups: [n] hashable key per row, rows with equal keys
    always share a fold. Deterministic for (the set of (group, label) rows, k, seed), whatever the row order.
    Raises ValueError when k < 2, k > n, there are fewer than k groups, or a class occurs in fewer than k groups
    (it could not reach every fold), or a label or group key is missing.
    """
    labels = np.asarray(labels)
    _check_inputs(labels, groups, k)
    classes, class_of = np.unique(labels, return_inverse=True)
    group_of, keys = _group_rows(groups)
    n_groups, n_classes = len(keys), len(classes)
    if n_groups < k:
        raise ValueError(f"only {n_groups} distinct group(s) for k={k} folds: some fold would be empty")

    # class_counts[g, c]: rows of class c in group g.
    class_counts = np.bincount(group_of * n_classes + class_of, minlength=n_groups * n_classes).reshape(
        n_groups, n_classes
    )
    rows_per_class = np.bincount(class_of, minlength=n_classes)
    groups_per_class = (class_counts > 0).sum(axis=0)
    too_rare = np.flatnonzero(groups_per_class < k)
    if len(too_rare):
        c = too_rare[np.argmin(groups_per_class[too_rare])]  # the rarest: a k that fits it fits every class
        n_class_groups = int(groups_per_class[c])
        fix = (
            f"set folds.k to {n_class_groups} or less, or add rows of that class"
            if n_class_groups >= 2
            else "no k >= 2 can spread it: add rows of that class with other texts, or drop it from `classes`"
        )
        # tolist(), not .item(): labels read by pandas 3 are Python str objects, which have no .item().
        raise ValueError(
            f"class {classes.tolist()[c]!r} has {rows_per_class[c]} row(s) in {n_class_groups} group(s), "
            f"fewer than k={k}: some fold would have none of it; {fix}"
        )

    sizes = class_counts.sum(axis=1)
    order = np.lexsort((_seeded_rank(keys, seed), -sizes))  # the last key sorts first: largest groups first
    fold_of_group = _greedy_assign(class_counts, order, k)
    return fold_of_group[group_of]


def _greedy_assign(class_counts: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
    """np array [n_groups] int8: each group's fold, visiting groups in `order` (see the module docstring).

    class_counts: [n_groups x C] rows of each class in each group. A group's deficit in fold f is
    sum_c m_c * (1 - count[f][c] / target_c) with target_c = n_c / k; the fold with the largest deficit wins, then
    the one with fewest rows, then the lowest index. For a group of one class (nearly all of them) that order is
    simply (count[f][c], rows in f, f), compared exactly on integers.
    """
    n_groups, n_classes = class_counts.shape
    inverse_target = (k / class_counts.sum(axis=0)).tolist()
    group_index, class_index = np.nonzero(class_counts)  # sorted by group, then class
    member_counts = class_counts[group_index, class_index].tolist()
    class_index = class_index.tolist()
    first_member = np.searchsorted(group_index, np.arange(n_groups + 1)).tolist()

    counts = [[0] * k for _ in range(n_classes)]  # counts[c][f]: rows of class c in fold f
    fold_sizes = [0] * k
    folds = range(k)
    fold_of_group = np.empty(n_groups, dtype=np.int8)
    for g in order.tolist():
        lo, hi = first_member[g], first_member[g + 1]
        if hi - lo == 1:
            best = min(zip(counts[class_index[lo]], fold_sizes, folds))[2]
        else:
            members = list(zip(class_index[lo:hi], member_counts[lo:hi]))
            minus_deficits = [-sum(m * (1.0 - counts[c][f] * inverse_target[c]) for c, m in members) for f in folds]
            best = min(zip(minus_deficits, fold_sizes, folds))[2]
        for c, m in zip(class_index[lo:hi], member_counts[lo:hi]):
            counts[c][best] += m
            fold_sizes[best] += m
        fold_of_group[g] = best
    return fold_of_group


def fold_hash(ids: Sequence[str], fold_of: np.ndarray) -> str:
    """sha256 hex of the (id, fold) pairs sorted by id: the same split listed in another row order hashes the same.

    Every artifact records it, and artifacts are only combined when their hashes agree.
    """
    ids = np.asarray([str(row_id) for row_id in ids])
    fold_of = np.asarray(fold_of)
    if fold_of.shape != ids.shape:
        raise ValueError(f"ids has shape {ids.shape} but fold_of has shape {fold_of.shape}")
    if not np.issubdtype(fold_of.dtype, np.integer):
        raise ValueError(f"fold_of must hold integer fold indices, got dtype {fold_of.dtype}")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(repeated):
        raise ValueError(f"ids are not unique: {str(sorted_ids[repeated[0]])!r} occurs more than once")
    return sha256_strings(sorted_ids.tolist(), fold_of[order].tolist())


def fold_balance(labels: np.ndarray, fold_of: np.ndarray) -> pd.DataFrame:
    """DataFrame [k x (C + 1)] for the log: rows per (fold, class).

    Columns are the sorted classes as str, then 'total'; the index, named 'fold', holds the fold numbers.
    """
    labels, fold_of = np.asarray(labels), np.asarray(fold_of)
    if labels.shape != fold_of.shape or labels.ndim != 1:
        raise ValueError(f"labels has shape {labels.shape} but fold_of has shape {fold_of.shape}")
    classes, class_of = np.unique(labels, return_inverse=True)
    folds, fold_index = np.unique(fold_of, return_inverse=True)
    counts = np.bincount(fold_index * len(classes) + class_of, minlength=len(folds) * len(classes))
    table = pd.DataFrame(
        counts.reshape(len(folds), len(classes)),
        index=pd.Index(folds, name="fold"),
        columns=[str(c) for c in classes.tolist()],
    )
    table["total"] = table.sum(axis=1)
    return table


def write_fold_file(train_path, k: int, seed: int, out, log=print):
    """The one fold file: every ingested train row's id, label and fold (grouped by cleaned text); returns it."""
    train = read_split(train_path)
    fold_of = assign_folds(train["label"].to_numpy(), [clean_text(text) for text in train["text"]], k=k, seed=seed)
    table = train[["id", "label"]].assign(fold=fold_of)
    write_parquet(table, Path(out))
    log(f"folds: k={k} seed={seed} hash={fold_hash(table['id'].tolist(), fold_of)[:16]}")
    log(f"rows per fold and class:\n{fold_balance(table['label'].to_numpy(), fold_of)}")
    return table
