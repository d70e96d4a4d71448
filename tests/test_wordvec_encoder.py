"""kit.models.wordvec.encoder: frozen word vectors stay as the corpus trained them while [UNK] learns, word ids
become rows of the fold's vocabulary, and the hybrid packs each token with the word it lies in."""

import numpy as np
import pytest
import torch

from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
from kit.models.wordvec.encoder import HybridEncoder, WordEmbedding, WordVectorEncoder, hybrid_ids, word_ids
from kit.word_vectors import PAD_ID, UNK_ID, FoldVocabulary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Rows 0 and 1 are [PAD] and [UNK]; 武汉 is row 2, 加油 row 3.
VOCABULARY = FoldVocabulary({"武汉": 2, "加油": 3}, np.array([[0, 0], [0, 0], [1, 2], [3, 4]], dtype=np.float32),
                            subword_words=0, unknown_words=0)


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_vectors_stay_while_unk_learns_and_fine_tuned_ones_move(freeze):
    embedding = WordEmbedding(VOCABULARY.matrix, freeze)
    encoder = WordVectorEncoder(embedding, dropout=0.0)
    assert encoder.config.hidden_size == 2 and encoder.get_input_embeddings() is embedding
    trainable = dict(encoder.named_parameters())
    assert ("embeddings.weight" in trainable) != freeze and "embeddings.unknown" in trainable
    ids = torch.tensor([[2, 3, UNK_ID, PAD_ID]])
    states = encoder(ids, torch.ones_like(ids)).last_hidden_state
    assert states[0, :2].tolist() == [[1, 2], [3, 4]] and states[0, 3].tolist() == [0, 0]
    assert torch.equal(states[0, 2], embedding.unknown.detach())
    before_unknown = embedding.unknown.detach().clone()
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.5)
    states.sum().backward()
    optimizer.step()
    assert np.array_equal(embedding.weight.detach().numpy()[2:], VOCABULARY.matrix[2:]) == freeze
    assert not torch.equal(embedding.unknown.detach(), before_unknown)
    assert not embedding.weight[PAD_ID].any()  # padding never learns


def test_word_ids_truncate_and_an_empty_text_is_one_pad():
    assert word_ids([["武汉", "加油", "冲"], []], VOCABULARY, max_words=2) == [[2, 3], [PAD_ID]]


def test_the_hybrid_packs_each_token_with_its_word(tmp_path):
    folder = build_scratch_backbone(tmp_path / "bert", ["武汉加油冲"], layers=1, hidden=8, heads=2, max_position=32)
    tokenizer, transformer = load_backbone(str(folder))
    n_tokens = len(tokenizer)
    (packed,) = hybrid_ids(tokenizer, ["武汉加油冲"], [["武汉", "加油", "冲"]], VOCABULARY, max_len=16, what="test")
    tokens = tokenizer("武汉加油冲")["input_ids"]
    # [CLS] 武 汉 加 油 冲 [SEP]: each character gets its word's row; [CLS] and [SEP] [PAD]; 冲 (no vector) [UNK].
    assert (packed % n_tokens).tolist() == tokens
    assert (packed // n_tokens).tolist() == [PAD_ID, 2, 2, 3, 3, UNK_ID, PAD_ID]
    encoder = HybridEncoder(transformer, n_tokens, WordEmbedding(VOCABULARY.matrix, True), dropout=0.0)
    ids = torch.from_numpy(packed)[None]
    states = encoder.eval()(ids, torch.ones_like(ids)).last_hidden_state
    assert states.shape == (1, 7, 8 + 2)  # the transformer's 8 dimensions, then the word's 2
    assert states[0, 1, 8:].tolist() == [1, 2] and states[0, 3, 8:].tolist() == [3, 4]
