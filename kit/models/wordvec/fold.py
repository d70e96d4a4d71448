"""One fold of the word-vector family: each text's words, the fold's vocabulary, the encoder, then the transformer
family's training and prediction (kit.models.transformer.fold.train_and_predict).

The words are the corpus's (kit.corpus.words_of: the words of the cleaned text, whatever the text variant), so a
model reads the same words its vectors were trained on. The vocabulary holds the words of this fold's texts only:
a word that no text of the fold has is never looked up, and the table (and every checkpoint) stays small.

The trained model comes back as a WordvecPredictor, which the fold job keeps when keep_models asks (the weights,
the vectors among them, the vocabulary's words and a copy of the corpus's user dictionary) and load_predictor
reads back: `kit predict` segments a new text as the corpus would have, and a word the fold never saw is [UNK].
A hybrid also keeps its transformer's config and tokenizer (its weights are among the model's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from kit.artifacts import read_json, write_json
from kit.hashing import sha256_json
from kit.models import FoldData, FoldResult
from kit.models.transformer.checkpoint import fingerprint
from kit.models.transformer.fold import (
    EncodedFold,
    check_labels,
    load_checked_backbone,
    train_and_predict,
    training_settings,
)
from kit.models.transformer.heads import TextClassifier
from kit.models.transformer.train import prediction_amp, predict, resolve_amp
from kit.models.transformer.config import with_built_backbone
from kit.models.wordvec.config import WordvecConfig
from kit.models.wordvec.encoder import HybridEncoder, WordEmbedding, WordVectorEncoder, hybrid_ids, word_ids
from kit.settings import parse, to_dict
from kit.word_vectors import PAD_ID, RESERVED, KeptWords, fold_vocabulary, read_fold_words

MODEL_WEIGHTS, MODEL_CONFIG = "wordvec_model.pt", "wordvec_model.json"
BACKBONE_DIR = "backbone"  # a hybrid's transformer config and tokenizer, in a kept model's folder


@dataclass
class WordvecPredictor:
    """A fold's trained word-vector classifier and its words: logits [n x C] for any texts, predicted as the fold
    did (the first max_words words, length-sorted batches of predict_batch_size)."""

    model: TextClassifier
    config: WordvecConfig
    words: KeptWords
    tokenizer: object | None = None  # a hybrid's transformer tokenizer

    def predict(self, texts: list[str]) -> np.ndarray:
        words = self.words.words_of(texts)
        if self.tokenizer is None:
            ids, pad_id = word_ids(words, self.words, self.config.embedding.max_words), PAD_ID
        else:
            from kit.cleaning import clean_text

            ids = hybrid_ids(self.tokenizer, [clean_text(text) for text in texts], words, self.words,
                             self.config.backbone.max_len, "texts")
            pad_id = self.tokenizer.pad_token_id
        amp = prediction_amp(self.config.schedule.amp, next(self.model.parameters()).device)
        return predict(self.model, ids, self.config.schedule.predict_batch_size, pad_id, amp)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        torch.save(self.model.state_dict(), folder / MODEL_WEIGHTS)
        encoder = self.model.backbone
        embedding = encoder.word_vectors if isinstance(encoder, HybridEncoder) else encoder.embeddings
        write_json(folder / MODEL_CONFIG, {"params": to_dict(self.config),
                                          "n_classes": self.model.classifier.out_features,
                                          "dim": embedding.weight.shape[1]})
        self.words.save(folder)
        if self.tokenizer is not None:
            encoder.transformer.config.save_pretrained(folder / BACKBONE_DIR)
            self.tokenizer.save_pretrained(folder / BACKBONE_DIR)


def load_predictor(folder: Path) -> WordvecPredictor:
    """The WordvecPredictor a fold kept in folder, on the CPU in eval mode."""
    folder = Path(folder)
    saved = read_json(folder / MODEL_CONFIG)
    config = parse(WordvecConfig, saved["params"], str(folder / MODEL_CONFIG))
    words = KeptWords.load(folder)
    # The shapes only: every number, the vectors included, comes from the saved weights.
    shape = np.zeros((len(RESERVED) + len(words.index), saved["dim"]), dtype=np.float32)
    embedding, dropout = WordEmbedding(shape, config.embedding.freeze), config.embedding.embedding_dropout
    tokenizer = None
    if config.backbone.backbone is None:
        encoder = WordVectorEncoder(embedding, dropout)
    else:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder / BACKBONE_DIR))
        transformer = AutoModel.from_config(AutoConfig.from_pretrained(str(folder / BACKBONE_DIR)))
        encoder = HybridEncoder(transformer, len(tokenizer), embedding, dropout)
    model = TextClassifier(encoder, config.head, saved["n_classes"])
    model.load_state_dict(torch.load(folder / MODEL_WEIGHTS, map_location="cpu", weights_only=True))
    return WordvecPredictor(model.eval(), config, words, tokenizer)


def run_fold(
    config: WordvecConfig,
    data: FoldData,
    seed: int,
    workdir: Path,
    log: Callable[[str], None] = print,
    on_step: Callable[[int], None] | None = None,
) -> FoldResult:
    """Train on data.train_*, predict data.valid_text, data.test_text and data.pool_text; data.inputs holds the
    vectors' two files and the corpus files (kit.word_vectors.fold_inputs). on_step(step) is a hook for tests."""
    check_labels(data)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)  # the [UNK] vector and the head's initial weights, and the dropout stream after them

    started = time.perf_counter()
    splits = {"train": data.train_text, "valid": data.valid_text, "test": data.test_text, "pool": data.pool_text}
    texts = [text for split_texts in splits.values() for text in split_texts]
    embedding = config.embedding
    words, vectors, meta = read_fold_words(data.inputs, texts, f"wordvec entry with vectors {embedding.vectors!r}")
    hybrid = config.backbone.backbone is not None
    read_words = words if hybrid else [text_words[: embedding.max_words] for text_words in words]
    vocabulary = fold_vocabulary(read_words, vectors)
    word_vectors = WordEmbedding(vocabulary.matrix, embedding.freeze)
    if hybrid:
        from kit.cleaning import clean_text

        tokenizer, transformer = load_checked_backbone(config.backbone.backbone, config.backbone.max_len,
                                                         attention_dropout=config.backbone.attention_dropout)
        encoder = HybridEncoder(transformer, len(tokenizer), word_vectors, embedding.embedding_dropout)
        cleaned = [clean_text(text) for text in texts]
        ids = []
        for split, (start, end) in split_bounds(splits).items():
            ids += hybrid_ids(tokenizer, cleaned[start:end], words[start:end], vocabulary, config.backbone.max_len,
                              f"{split}_text")
        pad_id = tokenizer.pad_token_id
    else:
        encoder = WordVectorEncoder(word_vectors, embedding.embedding_dropout)
        ids, pad_id = word_ids(read_words, vocabulary, embedding.max_words), PAD_ID
    model = TextClassifier(encoder, config.head, data.n_classes).to(device)
    encoded = EncodedFold(**{split: ids[start:end] for split, (start, end) in split_bounds(splits).items()})
    log(f"vectors {embedding.vectors!r} ({meta['algorithm']}, dim {vectors.vector_size}"
        f"{', frozen' if embedding.freeze else ''}): {vocabulary.summary()}; {len(texts)} texts read in "
        f"{time.perf_counter() - started:.1f}s; device {device}, amp {resolve_amp(config.schedule.amp, device).name}")

    # Other vectors under the same entry name (retrained on a changed corpus) make another run, and so does another
    # fold vocabulary (it holds the held-out, test and pool texts' words too): the embedding rows follow it.
    settings = {**training_settings(config, data.n_classes), "vectors_config_hash": meta["config_hash"],
                "vocabulary": sha256_json(list(vocabulary.index))}
    run_id = fingerprint(settings, seed, data.train_text, data.train_y)
    result = train_and_predict(model, config, encoded, pad_id, data, seed, workdir, run_id, log, on_step)
    result.predictor = WordvecPredictor(model, config, KeptWords(vocabulary.index, Path(data.inputs["userdict"])),
                                        tokenizer if hybrid else None)
    result.info = {
        "family": "wordvec",
        "vectors": embedding.vectors,
        "vectors_config_hash": meta["config_hash"],
        "corpus_hash": meta["corpus_hash"],
        "vocabulary": {"words": len(vocabulary.index), "subword_words": vocabulary.subword_words,
                       "unknown_words": vocabulary.unknown_words},
        "backbone": config.backbone.backbone if hybrid else None,
        "head": config.head.head,
        **result.info,
        "config": to_dict(config),
    }
    return result


def split_bounds(splits: dict[str, list]) -> dict[str, tuple[int, int]]:
    """split -> (start, end) of its texts in the splits' concatenation, in order."""
    ends = np.cumsum([len(texts) for texts in splits.values()]).tolist()
    return {split: (end - len(texts), end) for (split, texts), end in zip(splits.items(), ends)}


def fit_predict(config: WordvecConfig, data: FoldData, seed: int, workdir: Path,
                log: Callable[[str], None] = print) -> FoldResult:
    """The model family's entry point (kit.models.fit_predict), with the model's entry parsed; a hybrid's built
    backbone is read from the folder the fold job was given."""
    return run_fold(with_built_backbone(config, data.inputs), data, seed, workdir, log)
