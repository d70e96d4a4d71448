"""Token ids for a fold: tokenized once, batched by length, padded per batch; and the inner early-stopping split.

Texts are tokenized once per fold without padding. Training batches come from length buckets (texts sorted by
length inside shuffled chunks), so a batch is padded only to its own longest text; prediction batches are fully
sorted by length and the logits are put back in input order by the caller.
"""

from __future__ import annotations

import numpy as np


def encode(tokenizer, texts: list[str], max_len: int, what: str) -> list[list[int]]:
    """Token ids of each text with [CLS]/[SEP], truncated to max_len; `what` names the texts in errors."""
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{what}: row {row} is {type(text).__name__} ({text!r}), not a string")
    if not texts:
        return []
    return tokenizer(
        list(texts), truncation=True, max_length=max_len, return_attention_mask=False, return_token_type_ids=False
    )["input_ids"]


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, bucket_batches: int, seed: int, epoch: int
) -> list[np.ndarray]:
    """One epoch's training batches (row indices), a pure function of (lengths, sizes, seed, epoch).

    Rows are shuffled, cut into chunks of batch_size x bucket_batches, sorted by length inside each chunk, cut
    into batches, and the batches shuffled; so resuming an epoch can rebuild the same order and skip ahead.
    """
    rng = np.random.default_rng([seed, 0, epoch])
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        rows = rows[np.argsort(-lengths[rows], kind="stable")]
        batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Prediction batches (row indices), longest texts first, so every batch holds texts of similar length."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(token_ids: list[list[int]], pad_id: int, multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """input_ids, attention_mask [B x L] int64, L = the longest row rounded up to `multiple` (8 suits tensor cores)."""
    width = max(len(ids) for ids in token_ids)
    width = -(-width // multiple) * multiple
    input_ids = np.full((len(token_ids), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def inner_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, inner rows): a stratified split of the training folds for early stopping, sorted row indices.

    Each class gives round(fraction x its count) rows to the inner split, at least one when it has two or more.
    """
    rng = np.random.default_rng([seed, 1])  # a stream of its own, apart from the batch orders' [seed, 0, epoch]
    inner = []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        take = int(round(fraction * len(rows)))
        take = max(take, 1) if len(rows) >= 2 else 0
        inner.append(rows[:take])
    inner_rows = np.sort(np.concatenate(inner))
    fit_rows = np.setdiff1d(np.arange(len(y)), inner_rows)
    if len(inner_rows) == 0 or len(fit_rows) == 0:
        raise ValueError(f"inner_fraction {fraction} leaves an empty split of {len(y)} training rows")
    return fit_rows, inner_rows
