"""kit.models.transformer.data: tokenize once, length-bucketed batches, dynamic padding, the inner split."""

import numpy as np
import pytest
from transformers import BertTokenizer

from kit.models.transformer.data import bucketed_batches, encode, inner_split, pad_batch, sorted_batches


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    vocab = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "武", "汉", "加", "油"]) + "\n",
                     encoding="utf-8")
    return BertTokenizer(vocab=str(vocab))


def test_encode_adds_specials_and_truncates(tokenizer):
    ids = encode(tokenizer, ["武汉", "", "加油" * 10], max_len=6, what="test_text")
    assert ids[0] == [2, 5, 6, 3]
    assert ids[1] == [2, 3]  # an empty text still gets a prediction
    assert len(ids[2]) == 6 and ids[2][-1] == 3


def test_encode_names_the_row_that_is_not_text(tokenizer):
    with pytest.raises(ValueError, match="train_text: row 2"):
        encode(tokenizer, ["武汉", "加油", float("nan")], max_len=8, what="train_text")


def test_bucketed_batches_cover_every_row_once_and_repeat_per_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(3, 190, size=1000)
    batches = bucketed_batches(lengths, batch_size=16, bucket_batches=10, seed=7, epoch=0)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
    assert all(len(rows) <= 16 for rows in batches)
    again = bucketed_batches(lengths, batch_size=16, bucket_batches=10, seed=7, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    next_epoch = bucketed_batches(lengths, batch_size=16, bucket_batches=10, seed=7, epoch=1)
    assert not np.array_equal(batches[0], next_epoch[0])
    # Padding: each batch is padded to its longest text; bucketing keeps that close to the real token count.
    padded = sum(len(rows) * lengths[rows].max() for rows in batches)
    shuffled = np.random.default_rng(1).permutation(1000).reshape(-1, 8)
    padded_unsorted = sum(len(rows) * lengths[rows].max() for rows in shuffled)
    assert padded < 1.1 * lengths.sum() < 0.7 * padded_unsorted


def test_sorted_batches_go_longest_first():
    lengths = np.array([3, 9, 5, 9, 1])
    assert [rows.tolist() for rows in sorted_batches(lengths, 2)] == [[1, 3], [2, 0], [4]]


def test_pad_batch_pads_to_the_longest_row_rounded_up():
    input_ids, attention_mask = pad_batch([[2, 5, 3], [2, 3]], pad_id=0, multiple=4)
    assert input_ids.tolist() == [[2, 5, 3, 0], [2, 3, 0, 0]]
    assert attention_mask.tolist() == [[1, 1, 1, 0], [1, 1, 0, 0]]


def test_inner_split_is_stratified_disjoint_and_repeatable():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    fit, inner = inner_split(y, 0.1, seed=3)
    assert np.array_equal(np.sort(np.concatenate([fit, inner])), np.arange(100))
    assert np.bincount(y[inner]).tolist() == [6, 3, 1]
    assert np.array_equal(inner, inner_split(y, 0.1, seed=3)[1])
    assert not np.array_equal(inner, inner_split(y, 0.1, seed=4)[1])


def test_inner_split_refuses_to_leave_nothing_to_train_on():
    with pytest.raises(ValueError, match="empty split"):
        inner_split(np.array([0, 1]), 0.4, seed=0)
