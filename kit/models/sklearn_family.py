"""`kind: sklearn`: TF-IDF over character n-grams and/or jieba words, with a linear classifier.

The fast classical family: the whole pipeline runs on CPU in minutes with it, and it is the baseline every
transformer must beat. Scores come out as logits: decision_function of the classifier, whose softmax is
predict_proba for logistic regression and a calibrated-enough ranking for a linear SVM.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kit.models import FoldData, FoldResult

if TYPE_CHECKING:
    import numpy as np


@dataclass
class SklearnParams:
    features: str = "char"  # "char" n-grams need no segmenter and were the strongest classical features here
    char_ngram: tuple[int, int] = (1, 3)  # 1-3 chars catch most Chinese words and emoticon tokens like [哈哈]
    word_ngram: tuple[int, int] = (1, 2)
    max_features: int | None = 200_000  # bounds memory on the 100k-post train set; None keeps every n-gram
    min_df: int = 2  # an n-gram seen once cannot generalise across folds
    sublinear_tf: bool = True  # log-scaled counts: long posts should not dominate
    estimator: str = "logreg"  # "logreg" or "linear_svm"
    C: float = 4.0
    class_weight: str | None = None  # "balanced" trades accuracy for macro-F1 on the rare negative class
    solver: str = "saga"  # on sparse TF-IDF, saga reaches lbfgs's solution several times faster (measured 2s vs 14s)
    max_iter: int = 1000

    def __post_init__(self):
        if self.features not in {"char", "word", "char+word"}:
            raise ValueError(f"sklearn model field 'features' must be char, word or char+word, not {self.features!r}")
        if self.estimator not in {"logreg", "linear_svm"}:
            raise ValueError(f"sklearn model field 'estimator' must be logreg or linear_svm, not {self.estimator!r}")
        if self.class_weight not in {None, "balanced"}:
            raise ValueError(f"sklearn model field 'class_weight' must be null or balanced, not {self.class_weight!r}")
        for name in ("char_ngram", "word_ngram"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(f"sklearn model field {name!r} must be [low, high] with 1 <= low <= high")
            setattr(self, name, (int(low), int(high)))

    @classmethod
    def from_dict(cls, params: dict) -> "SklearnParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"sklearn model has unknown fields {unknown}; known: {sorted(known)}")
        return cls(**params)


def jieba_tokens(text: str) -> list[str]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary banner would fill every fold's log
    return [token for token in jieba.lcut(text) if token.strip()]


def make_vectorizer(p: SklearnParams):
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    shared = dict(max_features=p.max_features, min_df=p.min_df, sublinear_tf=p.sublinear_tf, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char", ngram_range=p.char_ngram, **shared)
    word = TfidfVectorizer(
        analyzer="word", tokenizer=jieba_tokens, token_pattern=None, lowercase=False, ngram_range=p.word_ngram, **shared
    )
    if p.features == "char":
        return char
    if p.features == "word":
        return word
    return FeatureUnion([("char", char), ("word", word)])


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
    params: dict, data: FoldData, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> FoldResult:
    p = SklearnParams.from_dict(params)
    vectorizer = make_vectorizer(p)
    train_x = vectorizer.fit_transform(data.train_text)
    log(f"tfidf {p.features}: {train_x.shape[1]} features from {train_x.shape[0]} posts")
    estimator = make_estimator(p, seed)
    estimator.fit(train_x, data.train_y)
    valid_logits = as_logits(estimator.decision_function(vectorizer.transform(data.valid_text)), data.n_classes)
    test_logits = as_logits(estimator.decision_function(vectorizer.transform(data.test_text)), data.n_classes)
    info = {"epoch_policy": "none (convex fit, no epochs)", "n_features": int(train_x.shape[1])}
    return FoldResult(valid_logits=valid_logits, test_logits=test_logits, info=info)
