"""`kind: sklearn`: TF-IDF over character n-grams and/or jieba words, with a linear classifier.

The fast classical family: the whole pipeline runs on CPU in minutes with it, and it is the baseline every
transformer must beat. Scores come out as logits: decision_function of the classifier, whose softmax is
predict_proba for logistic regression and a calibrated-enough ranking for a linear SVM.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from kit.models import FoldData, FoldResult
from kit.registry import Family, register
from kit.settings import Settings, fail, setting

if TYPE_CHECKING:
    import numpy as np


@dataclass
class SklearnParams(Settings):
    # Character n-grams need no segmenter and were the strongest classical features here.
    features: Literal["char", "word", "char+word"] = setting("char", "character n-grams, jieba words, or both")
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

    def check(self, path: str) -> None:
        for name in ("char_ngram", "word_ngram"):
            low, high = getattr(self, name)
            if low > high:
                raise fail(f"{path}.{name}", f"must be [low, high] with low <= high, got [{low}, {high}]")


@functools.cache
def quiet_jieba():
    """jieba with its dictionary banner silenced (it would fill every fold's log); set once: a logger's setLevel
    clears logging's caches, which cost more than segmenting a short post."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def jieba_tokens(text: str) -> list[str]:
    return [token for token in quiet_jieba().lcut(text) if token.strip()]


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


# A kept fold model: the fitted numbers as arrays (numpy .npz, no pickled objects) and the entry that rebuilds the
# vectorizer and classifier around them. Not skops: importing it imports every scikit-learn estimator (and torch),
# 2.5 s of CPU in each of the many small fold jobs (measured), and it would store a vocabulary term by term.
MODEL_ARRAYS, MODEL_PARAMS = "tfidf_model.npz", "tfidf_model.json"


@dataclass
class SklearnPredictor:
    """A fold's fitted vectorizer and classifier: logits [n x C] for any texts."""

    params: SklearnParams
    vectorizer: Any
    estimator: Any
    n_classes: int

    def predict(self, texts: list[str]) -> np.ndarray:
        return as_logits(self.estimator.decision_function(self.vectorizer.transform(texts)), self.n_classes)

    def save(self, folder: Path) -> None:
        from kit.artifacts import save_npz, write_json
        from kit.settings import to_dict

        arrays = {"coef": self.estimator.coef_, "intercept": self.estimator.intercept_,
                  "classes": self.estimator.classes_}
        for i, part in enumerate(text_vectorizers(self.vectorizer)):
            arrays[f"terms{i}"], arrays[f"ends{i}"] = pack_terms(part.vocabulary_)
            arrays[f"idf{i}"] = part.idf_
        save_npz(Path(folder) / MODEL_ARRAYS, **arrays)
        write_json(Path(folder) / MODEL_PARAMS, {"params": to_dict(self.params), "n_classes": self.n_classes})


def load_predictor(folder: Path) -> SklearnPredictor:
    """The SklearnPredictor a fold kept in folder: the entry's vectorizer and classifier, fitted numbers set."""
    from kit.artifacts import load_npz, read_json
    from kit.settings import parse

    folder = Path(folder)
    saved = read_json(folder / MODEL_PARAMS)
    params = parse(SklearnParams, saved["params"], str(folder / MODEL_PARAMS))
    arrays = load_npz(folder / MODEL_ARRAYS)
    vectorizer = make_vectorizer(params)
    for i, part in enumerate(text_vectorizers(vectorizer)):
        part.vocabulary_ = unpack_terms(arrays[f"terms{i}"], arrays[f"ends{i}"])
        part.idf_ = arrays[f"idf{i}"]  # scikit-learn's documented way to give a TfidfVectorizer its idf
    estimator = make_estimator(params, seed=0)
    estimator.coef_, estimator.intercept_, estimator.classes_ = arrays["coef"], arrays["intercept"], arrays["classes"]
    estimator.n_features_in_ = arrays["coef"].shape[1]
    if params.features != "char":
        quiet_jieba().initialize()  # the dictionary loads here, once, rather than inside the first post's prediction
    return SklearnPredictor(params, vectorizer, estimator, saved["n_classes"])


def text_vectorizers(vectorizer) -> list:
    """The TfidfVectorizers in vectorizer: itself, or the parts of a char+word FeatureUnion, in order."""
    parts = getattr(vectorizer, "transformer_list", None)
    return [part for _, part in parts] if parts is not None else [vectorizer]


def pack_terms(vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A vocabulary (term -> column 0..n-1) as two arrays: the terms' UTF-8 bytes [total bytes] uint8 in column
    order, and where each term ends [n] int64. One array rather than n strings: numpy would pad every term to the
    longest."""
    import numpy as np

    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    if [vocabulary[term] for term in terms] != list(range(len(terms))):
        raise ValueError("a TF-IDF vocabulary must map its terms to the columns 0..n-1")
    encoded = [term.encode("utf-8") for term in terms]
    return (np.frombuffer(b"".join(encoded), dtype=np.uint8),
            np.cumsum([len(term) for term in encoded], dtype=np.int64))


def unpack_terms(term_bytes: np.ndarray, ends: np.ndarray) -> dict[str, int]:
    """The vocabulary pack_terms packed."""
    blob, ends = term_bytes.tobytes(), ends.tolist()
    return {blob[start:end].decode("utf-8"): column for column, (start, end) in enumerate(zip([0, *ends[:-1]], ends))}


def fit_predict(
    p: SklearnParams, data: FoldData, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> FoldResult:
    vectorizer = make_vectorizer(p)
    try:
        train_x = vectorizer.fit_transform(data.train_text)
    except ValueError as error:  # e.g. min_df above the number of posts: scikit-learn names neither model nor key
        n_posts = len(data.train_text)
        fix = f"; lower the model entry's min_df (an n-gram must occur in {p.min_df} of {n_posts} posts)"
        raise ValueError(f"TF-IDF on {n_posts} training posts (features {p.features!r}, min_df {p.min_df}, "
                         f"max_features {p.max_features}): {error}{fix if p.min_df > 1 else ''}") from None
    log(f"tfidf {p.features}: {train_x.shape[1]} features from {train_x.shape[0]} posts")
    estimator = make_estimator(p, seed)
    estimator.fit(train_x, data.train_y)
    predictor = SklearnPredictor(p, vectorizer, estimator, data.n_classes)
    started = time.perf_counter()
    valid_logits, test_logits = predictor.predict(data.valid_text), predictor.predict(data.test_text)
    pool_logits = predictor.predict(data.pool_text) if data.pool_text else None
    info = {"epoch_policy": "none (convex fit, no epochs)", "n_features": int(train_x.shape[1]),
            "predict_seconds": round(time.perf_counter() - started, 3)}
    return FoldResult(valid_logits=valid_logits, test_logits=test_logits, info=info, pool_logits=pool_logits,
                      predictor=predictor)


register(Family("sklearn", SklearnParams, fit_predict, help="TF-IDF n-grams with a linear classifier",
                load_predictor=load_predictor))
