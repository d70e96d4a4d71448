"""Encoders over word vectors, shaped like a Hugging Face backbone, and the token ids they read.

`WordVectorEncoder` turns word ids [B x L] into the words' vectors [B x L x D]; `HybridEncoder` runs a transformer
over a text's tokens and joins each token's state with the vector of the jieba word the token lies in
[B x L x (H + D)] (the B-board #1 solution's character + word input). To kit.models.transformer both look like an
AutoModel (`config.hidden_size`, `config.num_hidden_layers`, `get_input_embeddings()`, `forward(input_ids,
attention_mask, output_hidden_states)` returning `last_hidden_state`), so TextClassifier, the heads, the one training
loop and predict() take them as they are.

The loop hands a model one tensor of ids. A hybrid needs two per token, so its ids carry both:
`token_id + n_tokens x word_id` (`hybrid_ids`), unpacked in forward. The transformer's [PAD] with the [PAD] word
packs to the transformer's own pad id, so padding, length bucketing and sorted prediction work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from kit.word_vectors import PAD_ID, RESERVED, UNK_ID, FoldVocabulary, KeptWords


@dataclass
class EncoderOutput:
    """What TextClassifier reads from a backbone's forward."""

    last_hidden_state: torch.Tensor  # [B x L x hidden_size]
    hidden_states: tuple[torch.Tensor, ...] | None = None  # no head of this family asks for the layers
    pooler_output: torch.Tensor | None = None


class WordEmbedding(nn.Module):
    """Word ids [B x L] -> vectors [B x L x D] from a FoldVocabulary's matrix [V x D].

    Frozen, the matrix is a buffer: a parameter would be unfrozen by the loop's gradual unfreezing, which sets
    requires_grad on every backbone parameter, and decayed by AdamW. [PAD] (row 0) stays zero; [UNK] is one
    trainable vector, frozen or not, since no pretrained vector stands for the words without one.
    """

    def __init__(self, matrix: np.ndarray, freeze: bool):
        super().__init__()
        weight = torch.from_numpy(np.asarray(matrix, dtype=np.float32).copy())
        if freeze:
            self.register_buffer("weight", weight)
        else:
            self.weight = nn.Parameter(weight)
        # Drawn at the scale of the real vectors, so an unknown word starts as an ordinary-looking one.
        scale = weight[len(RESERVED):].std() if len(weight) > len(RESERVED) + 1 else torch.tensor(1.0)
        self.unknown = nn.Parameter(torch.randn(weight.shape[1]) * scale)

    def forward(self, word_ids: torch.Tensor) -> torch.Tensor:
        vectors = nn.functional.embedding(word_ids, self.weight, padding_idx=PAD_ID)
        return torch.where((word_ids == UNK_ID).unsqueeze(-1), self.unknown.to(vectors.dtype), vectors)


class SpatialDropout(nn.Module):
    """Dropout of whole vector dimensions per text: [B x L x D] with the same D-mask at every position."""

    def __init__(self, p: float):
        super().__init__()
        self.dropout = nn.Dropout1d(p)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.dropout(states.transpose(1, 2)).transpose(1, 2)


class WordVectorEncoder(nn.Module):
    """Word ids [B x L] -> word vectors [B x L x D] as token states, with spatial dropout while training."""

    def __init__(self, embedding: WordEmbedding, dropout: float):
        super().__init__()
        self.embeddings = embedding  # the name puts it at depth 0 of the loop's layer-wise LR groups
        self.dropout = SpatialDropout(dropout)
        self.config = SimpleNamespace(hidden_size=embedding.weight.shape[1], num_hidden_layers=0)

    def get_input_embeddings(self) -> WordEmbedding:
        return self.embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                output_hidden_states: bool = False) -> EncoderOutput:
        return EncoderOutput(self.dropout(self.embeddings(input_ids)))


class HybridEncoder(nn.Module):
    """Packed ids [B x L] (hybrid_ids) -> each token's transformer state joined with its word's vector
    [B x L x (H + D)]."""

    def __init__(self, transformer: nn.Module, n_tokens: int, embedding: WordEmbedding, dropout: float):
        super().__init__()
        self.transformer = transformer
        self.n_tokens = n_tokens
        # Not named `embeddings`: the LR groups put it beside the top layer, like the pooler.
        self.word_vectors = embedding
        self.dropout = SpatialDropout(dropout)
        self.config = SimpleNamespace(hidden_size=transformer.config.hidden_size + embedding.weight.shape[1],
                                      num_hidden_layers=transformer.config.num_hidden_layers)

    def get_input_embeddings(self) -> nn.Module:
        """The transformer's token embeddings: what FGM and PGD perturb."""
        return self.transformer.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                output_hidden_states: bool = False) -> EncoderOutput:
        token_ids, word_ids = input_ids % self.n_tokens, input_ids // self.n_tokens
        states = self.transformer(input_ids=token_ids, attention_mask=attention_mask).last_hidden_state
        words = self.dropout(self.word_vectors(word_ids)).to(states.dtype)
        return EncoderOutput(torch.cat([states, words], dim=-1))


def word_ids(word_lists: list[list[str]], vocabulary: FoldVocabulary | KeptWords, max_words: int) -> list[list[int]]:
    """Each text's first max_words words as vocabulary rows; an empty text is one [PAD], a zero vector, since a
    sequence head needs a position to read."""
    return [vocabulary.ids(words[:max_words]) or [PAD_ID] for words in word_lists]


def hybrid_ids(tokenizer, texts: list[str], word_lists: list[list[str]], vocabulary: FoldVocabulary, max_len: int,
               what: str) -> list[np.ndarray]:
    """Each text tokenized as it is (truncated to max_len), each token packed with the vocabulary row of the word
    its first character lies in: token_id + len(tokenizer) x word row ([PAD] for [CLS], [SEP]). texts: the cleaned
    texts whose words word_lists holds (kit.corpus.words_of)."""
    from kit.models.transformer.post_train import encode_corpus

    if not texts:
        return []
    encoded = encode_corpus(tokenizer, texts, [" ".join(words) for words in word_lists], np.arange(len(texts)),
                            max_len, what)
    packed = []
    for tokens, positions, words in zip(encoded.token_ids, encoded.word_ids, word_lists):
        rows = np.array([PAD_ID] + vocabulary.ids(words), dtype=np.int64)
        packed.append(tokens + len(tokenizer) * rows[positions + 1])  # position -1 ([CLS], [SEP]) -> [PAD]
    return packed
