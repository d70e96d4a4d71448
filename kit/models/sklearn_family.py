"""`kind: sklearn`: TF-IDF over character n-grams and/or jieba words, and/or pooled word vectors, with a linear
classifier.

The fast classical family: the whole pipeline runs on CPU in minutes with it, and it is the baseline every
transformer must beat. Scores come out as logits: decision_function of the classifier, whose softmax is
predict_proba for logistic regression and a calibrated-enough ranking for a linear SVM.

Pooled word vectors (`features: vectors`, `char+vectors`, `word+vectors`) bring what the corpus's word vectors
learnt from the unlabelled posts: each text's words (the corpus's, kit.corpus.words_of) averaged, or weighted by
TF-IDF, then standardised on the training rows and scaled so that the block weighs about `vectors_scale` beside a
TF-IDF row (whose norm is 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

from kit.models import FoldData, FoldResult
from kit.registry import Family, register
from kit.settings import Settings, fail, setting

if TYPE_CHECKING:
    import numpy as np


@dataclass
class SklearnParams(Settings):
    # Character n-grams need no segmenter and were the strongest classical features here.
    features: Literal["char", "word", "char+word", "vectors", "char+vectors", "word+vectors"] = setting(
        "char", "character n-grams, jieba words, or both; or pooled word vectors, alone or beside one of them")
    # 1-3 characters catch most Chinese words and emoticon tokens like [哈哈].
    char_ngram: tuple[int, int] = setting((1, 3), "[shortest, longest] character n-gram", ge=1)
    word_ngram: tuple[int, int] = setting((1, 2), "[shortest, longest] word n-gram", ge=1)
    # Bounds memory on the 100k-post train set.
    max_features: int | None = setting(200_000, "most frequent n-grams kept per analyzer; null keeps all", ge=1)
    # An n-gram seen once cannot generalise across folds.
    min_df: int = setting(2, "n-grams in fewer training posts are dropped", ge=1)
    # Log-scaled counts: long posts should not dominate.
    sublinear_tf: bool = setting(True, "1 + log(tf) instead of tf")
    estimator: Literal["logreg", "linear_svm"] = setting("logreg", "the linear classifier")
    C: float = setting(4.0, "inverse regularisation strength", gt=0)
    # "balanced" trades accuracy for macro-F1 on the rare negative class.
    class_weight: Literal["balanced"] | None = setting(None, "null or 'balanced'")
    # On sparse TF-IDF, saga reaches lbfgs's solution several times faster (measured 2 s vs 14 s).
    solver: Literal["saga", "sag", "lbfgs", "liblinear", "newton-cg", "newton-cholesky"] = setting(
        "saga", "logreg's solver")
    max_iter: int = setting(1000, "solver iterations", ge=1)
    vectors: str | None = setting(None, "the word_vectors entry pooled into features (features with 'vectors')",
                                  names="word_vectors")
    # The mean is the strong simple baseline (SWEM); TF-IDF weights let rare, telling words outweigh particles.
    pooling: Literal["mean", "tfidf"] = setting("mean", "each text's word vectors averaged, or weighted by tf x idf "
                                                        "(idf from the training rows)")
    # 1: the pooled block weighs as much as a TF-IDF row; more lets the regulariser spare the vectors more.
    vectors_scale: float = setting(1.0, "about the norm of a text's pooled-vector block beside its TF-IDF row "
                                        "(norm 1)", gt=0)

    def check(self, path: str) -> None:
        for name in ("char_ngram", "word_ngram"):
            low, high = getattr(self, name)
            if low > high:
                raise fail(f"{path}.{name}", f"must be [low, high] with low <= high, got [{low}, {high}]")
        if uses_vectors(self) and self.vectors is None:
            raise fail(f"{path}.vectors", f"is required by features {self.features!r}: name a word_vectors entry")
        if not uses_vectors(self):
            defaults = SklearnParams()
            for name in ("vectors", "pooling", "vectors_scale"):
                if getattr(self, name) != getattr(defaults, name):
                    raise fail(f"{path}.{name}", f"applies to features with 'vectors' only (features is "
                                                 f"{self.features!r}: use e.g. 'char+vectors')")


def uses_vectors(p: SklearnParams) -> bool:
    return "vectors" in p.features.split("+")


def inputs(p: SklearnParams) -> dict[str, str]:
    """The family's workflow inputs (kit.registry.Family.inputs): the vectors and the corpus, when pooled."""
    from kit.word_vectors import fold_inputs

    return fold_inputs(p.vectors) if uses_vectors(p) else {}


def jieba_tokens(text: str) -> list[str]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary banner would fill every fold's log
    return [token for token in jieba.lcut(text) if token.strip()]


def make_vectorizer(p: SklearnParams):
    """The TF-IDF vectorizer of the features' n-gram parts, or None for features 'vectors'."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    shared = dict(max_features=p.max_features, min_df=p.min_df, sublinear_tf=p.sublinear_tf, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char", ngram_range=p.char_ngram, **shared)
    word = TfidfVectorizer(
        analyzer="word", tokenizer=jieba_tokens, token_pattern=None, lowercase=False, ngram_range=p.word_ngram, **shared
    )
    parts = [(name, {"char": char, "word": word}[name]) for name in p.features.split("+") if name != "vectors"]
    if len(parts) > 1:
        return FeatureUnion(parts)
    return parts[0][1] if parts else None


def word_counts(id_lists: list[list[int]], n_rows: int):
    """csr [len(id_lists) x n_rows] float64: how often each vocabulary row occurs in each text, [PAD] and [UNK]
    left out (a word without a vector adds nothing to a pooled vector)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    from kit.word_vectors import RESERVED

    lengths = [len(ids) for ids in id_lists]
    columns = np.fromiter((i for ids in id_lists for i in ids), dtype=np.int64, count=sum(lengths))
    rows = np.repeat(np.arange(len(id_lists)), lengths)
    kept = columns >= len(RESERVED)
    counts = csr_matrix((np.ones(kept.sum()), (rows[kept], columns[kept])), shape=(len(id_lists), n_rows))
    counts.sum_duplicates()
    return counts


def inverse_document_frequency(train_counts) -> np.ndarray:
    """[n_rows] float64: scikit-learn's smooth idf, ln((1 + n) / (1 + df)) + 1, over the training texts' counts
    (word_counts); a word no training text has gets the largest, as an unseen n-gram would."""
    import numpy as np

    document_frequency = np.asarray((train_counts > 0).sum(axis=0)).ravel()
    return np.log((1 + train_counts.shape[0]) / (1 + document_frequency)) + 1


def pool_vectors(counts, matrix: np.ndarray, idf: np.ndarray | None = None) -> np.ndarray:
    """[n_texts x dim] float64: each text's word vectors averaged over its words (counts from word_counts), or with
    idf [n_rows] weighted by tf x idf; a text without a word that has a vector pools to zeros."""
    import numpy as np

    weights = counts if idf is None else counts.multiply(idf[np.newaxis, :]).tocsr()
    totals = np.asarray(weights.sum(axis=1)).ravel()
    summed = np.asarray(weights @ matrix.astype(np.float64))
    return summed / np.maximum(totals, np.finfo(np.float64).tiny)[:, np.newaxis]


def pooled_features(p: SklearnParams, texts: dict[str, list[str]], inputs, log) -> dict[str, np.ndarray]:
    """split -> [len(texts[split]) x dim] float32: the pooled vectors of each split's texts, standardised with the
    training rows' mean and deviation and scaled to a row norm of about vectors_scale. texts: 'train' first."""
    import numpy as np

    from kit.word_vectors import fold_vocabulary, read_fold_words

    every_text = [text for split_texts in texts.values() for text in split_texts]
    words, vectors, meta = read_fold_words(inputs, every_text, f"sklearn features {p.features!r}")
    vocabulary = fold_vocabulary(words, vectors)
    log(f"pooled {p.pooling} vectors of {meta['name']!r} ({meta['algorithm']}, dim {vectors.vector_size}): "
        f"{vocabulary.summary()}")
    counts = word_counts([vocabulary.ids(text_words) for text_words in words], len(vocabulary.matrix))
    idf = inverse_document_frequency(counts[: len(texts["train"])]) if p.pooling == "tfidf" else None
    pooled = pool_vectors(counts, vocabulary.matrix, idf)
    train = pooled[: len(texts["train"])]
    mean, deviation = train.mean(axis=0), train.std(axis=0)
    scale = p.vectors_scale / np.sqrt(pooled.shape[1])  # a standardised row's norm is about sqrt(dim)
    standardised = ((pooled - mean) / np.where(deviation > 0, deviation, 1.0) * scale).astype(np.float32)
    ends = np.cumsum([len(split_texts) for split_texts in texts.values()])
    return dict(zip(texts, np.split(standardised, ends[:-1])))


def fit_tfidf(vectorizer, p: SklearnParams, train_text: list[str]):
    """The fitted vectorizer's training matrix; a ValueError that names the entry's keys when it cannot be fitted."""
    try:
        return vectorizer.fit_transform(train_text)
    except ValueError as error:  # e.g. min_df above the number of posts: scikit-learn names neither model nor key
        n_posts = len(train_text)
        fix = f"; lower the model entry's min_df (an n-gram must occur in {p.min_df} of {n_posts} posts)"
        raise ValueError(f"TF-IDF on {n_posts} training posts (features {p.features!r}, min_df {p.min_df}, "
                         f"max_features {p.max_features}): {error}{fix if p.min_df > 1 else ''}") from None


def make_estimator(p: SklearnParams, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if p.estimator == "logreg":
        return LogisticRegression(
            C=p.C, solver=p.solver, max_iter=p.max_iter, class_weight=p.class_weight, random_state=seed
        )
    return LinearSVC(C=p.C, max_iter=p.max_iter, class_weight=p.class_weight, random_state=seed)


def as_logits(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """decision_function gives [n] for two classes: turn it into [n x 2] logits with the same softmax."""
    import numpy as np

    if scores.ndim == 1:
        scores = np.stack([-scores / 2, scores / 2], axis=1)
    if scores.shape[1] != n_classes:
        raise ValueError(f"classifier saw {scores.shape[1]} classes, expected {n_classes}: a class is missing from the fold")
    return scores.astype(np.float32)


def fit_predict(
    p: SklearnParams, data: FoldData, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> FoldResult:
    from scipy.sparse import hstack

    texts = {"train": data.train_text, "valid": data.valid_text, "test": data.test_text}
    if data.pool_text:
        texts["pool"] = data.pool_text
    blocks: dict[str, list] = {split: [] for split in texts}
    vectorizer = make_vectorizer(p)
    if vectorizer is not None:
        blocks["train"].append(fit_tfidf(vectorizer, p, data.train_text))
        log(f"tfidf {p.features}: {blocks['train'][0].shape[1]} features from {len(data.train_text)} posts")
        for split in list(texts)[1:]:
            blocks[split].append(vectorizer.transform(texts[split]))
    if uses_vectors(p):
        for split, pooled in pooled_features(p, texts, data.inputs, log).items():
            blocks[split].append(pooled)
    features = {split: parts[0] if len(parts) == 1 else hstack(parts, format="csr") for split, parts in blocks.items()}
    estimator = make_estimator(p, seed)
    estimator.fit(features["train"], data.train_y)

    def logits(split: str) -> np.ndarray:
        return as_logits(estimator.decision_function(features[split]), data.n_classes)

    info = {"epoch_policy": "none (convex fit, no epochs)", "n_features": int(features["train"].shape[1])}
    return FoldResult(valid_logits=logits("valid"), test_logits=logits("test"), info=info,
                      pool_logits=logits("pool") if data.pool_text else None)


register(Family("sklearn", SklearnParams, fit_predict, inputs=inputs,
                help="TF-IDF n-grams and/or pooled word vectors with a linear classifier"))
