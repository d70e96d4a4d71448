"""`kind: sklearn`: TF-IDF over character n-grams and/or jieba words, and/or pooled word vectors, with a linear
classifier.

The fast classical family: the whole pipeline runs on CPU in minutes with it, and it is the baseline every
transformer must beat. Scores come out as logits: decision_function of the classifier, whose softmax is
predict_proba for logistic regression and a calibrated-enough ranking for a linear SVM.

Pooled word vectors (`features: vectors`, `char+vectors`, `word+vectors`) bring what the corpus's word vectors
learnt from the unlabelled posts: each text's words (the corpus's, kit.corpus.words_of) averaged, or weighted by
TF-IDF, then standardised on the training rows and scaled so that the block weighs about `vectors_scale` beside a
TF-IDF row (whose norm is 1).

Naive-Bayes features (`nb: true`; NB-LR / NB-SVM, Wang and Manning 2012) scale the n-gram columns by how much more
often each n-gram occurs in a class than outside it: one log-count ratio r_c per class, from the fold's training rows
only, and one binary classifier per class (that class against the rest) on X * r_c. Its decision values are the
logits [n x C]; since w_c . (x * r_c) = (w_c * r_c) . x, each class's r_c is folded into its weights after the fit,
and the kept model is an ordinary linear model.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from kit.models import FoldData, FoldResult, expanded
from kit.registry import Family, register
from kit.settings import Settings, fail, setting

if TYPE_CHECKING:
    import numpy as np

    from kit.word_vectors import KeptWords


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
    # Wang and Manning's NB-SVM; one-vs-rest because a log-count ratio compares a class with the rest of the posts.
    nb: bool = setting(False, "Naive-Bayes log-count-ratio features (NB-LR, NB-SVM): per class, the n-gram columns "
                              "scaled by log(p_c / q_c) from the training rows and a binary classifier of that class "
                              "against the rest; their decision values are the logits (n-gram features only)")
    # Added to each n-gram's summed TF-IDF in and out of a class: the smaller, the more a rare n-gram's ratio counts.
    nb_alpha: float = setting(1.0, "smoothing of the log-count ratios (nb: true): added to each n-gram's summed "
                                   "feature value in the class and in the rest", gt=0)
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
        if self.nb and uses_vectors(self):
            raise fail(f"{path}.nb", f"scales n-gram counts, and features {self.features!r} hold signed pooled "
                                     f"vectors: use features char, word or char+word")
        if not self.nb and self.nb_alpha != SklearnParams().nb_alpha:
            raise fail(f"{path}.nb_alpha", "applies with nb: true only")
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


@dataclass
class VectorPooler:
    """Pooled word vectors as features, fitted on a fold's training rows: each text's vectors averaged (or weighted
    by tf x idf), standardised with the training rows' mean and deviation, scaled to a row norm of about scale x
    sqrt(dim)."""

    matrix: np.ndarray  # [V x dim] float32: the fold vocabulary's vectors (kit.word_vectors.FoldVocabulary)
    idf: np.ndarray | None  # [V] float64 with pooling tfidf, else None
    mean: np.ndarray  # [dim] float64
    deviation: np.ndarray  # [dim] float64, 1 where the training rows do not vary
    scale: float

    @classmethod
    def fit(cls, p: SklearnParams, train_ids: list[list[int]], matrix: np.ndarray) -> VectorPooler:
        import numpy as np

        idf = inverse_document_frequency(word_counts(train_ids, len(matrix))) if p.pooling == "tfidf" else None
        train = pool_vectors(word_counts(train_ids, len(matrix)), matrix, idf)
        deviation = train.std(axis=0)
        # A standardised row's norm is about sqrt(dim): scaled, the block weighs about vectors_scale.
        return cls(matrix, idf, train.mean(axis=0), np.where(deviation > 0, deviation, 1.0),
                   p.vectors_scale / np.sqrt(matrix.shape[1]))

    def transform(self, id_lists: list[list[int]]) -> np.ndarray:
        """[len(id_lists) x dim] float32: the pooled, standardised, scaled vectors of each text's word rows."""
        import numpy as np

        pooled = pool_vectors(word_counts(id_lists, len(self.matrix)), self.matrix, self.idf)
        return ((pooled - self.mean) / self.deviation * self.scale).astype(np.float32)


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


def nb_log_count_ratios(train_x, train_y: np.ndarray, n_classes: int, alpha: float,
                        weight: np.ndarray | None = None) -> np.ndarray:
    """[n_classes x n_features] float64: each class's log-count ratio r_c = log((p / |p|_1) / (q / |q|_1)), with
    p = alpha + the features summed over the class's rows and q = alpha + the same over the other rows (Wang and
    Manning 2012, on TF-IDF values rather than binarised counts). train_x: csr [n x F], non-negative, the training rows
    only (a validation row's label must not reach a feature); weight [n]: each row's weight in the sums (soft
    targets), 1 when None."""
    import numpy as np
    from scipy.sparse import csr_matrix

    weight = np.ones(len(train_y)) if weight is None else weight
    one_hot = csr_matrix((weight, (np.asarray(train_y), np.arange(len(train_y)))),
                         shape=(n_classes, len(train_y)))
    in_class = np.asarray((one_hot @ train_x).todense(), dtype=np.float64)
    outside = in_class.sum(axis=0, keepdims=True) - in_class
    p, q = in_class + alpha, outside + alpha
    return np.log(p / p.sum(axis=1, keepdims=True)) - np.log(q / q.sum(axis=1, keepdims=True))


def fit_nb_one_vs_rest(p: SklearnParams, train_x, train_y: np.ndarray, n_classes: int, seed: int,
                       weight: np.ndarray | None = None):
    """The entry's estimator with NB features (nb: true): per class c, a binary estimator of c against the rest fitted
    on train_x * r_c (nb_log_count_ratios), its weights times r_c set as row c of coef_ [C x F] (intercept_ [C]),
    so that decision_function gives the C one-vs-rest decision values. class_weight 'balanced' weighs the rows as
    the multiclass fit would (each class equal in total), not each binary problem's two sides; weight [n] weighs
    the rows on top of that (soft targets)."""
    import dataclasses

    import numpy as np
    from sklearn.utils.class_weight import compute_sample_weight

    missing = sorted(set(range(n_classes)) - set(np.unique(train_y).tolist()))
    if missing:
        raise ValueError(f"no training row of class {missing} in the fold: nb needs rows of every class")
    ratios = nb_log_count_ratios(train_x, train_y, n_classes, p.nb_alpha, weight)
    sample_weight = compute_sample_weight("balanced", train_y) if p.class_weight == "balanced" else None
    if weight is not None:
        sample_weight = weight if sample_weight is None else sample_weight * weight
    binary = dataclasses.replace(p, class_weight=None)
    coef, intercept = np.zeros((n_classes, train_x.shape[1])), np.zeros(n_classes)
    for c in range(n_classes):
        scaled = train_x.multiply(ratios[c].astype(train_x.dtype)).tocsr()
        side = make_estimator(binary, seed).fit(scaled, (train_y == c).astype(np.int64), sample_weight=sample_weight)
        coef[c], intercept[c] = side.coef_.ravel() * ratios[c], side.intercept_[0]
    estimator = make_estimator(p, seed)
    estimator.coef_, estimator.intercept_ = coef, intercept
    estimator.classes_, estimator.n_features_in_ = np.arange(n_classes), train_x.shape[1]
    return estimator


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
    """A fold's fitted vectorizer (None for features 'vectors'), pooled vectors and their words (None without
    vectors) and classifier: logits [n x C] for any texts."""

    params: SklearnParams
    vectorizer: Any
    estimator: Any
    n_classes: int
    pooler: VectorPooler | None = None
    words: KeptWords | None = None

    def features(self, texts: list[str], word_ids: list[list[int]] | None = None):
        """[len(texts) x n_features]: the TF-IDF rows and/or the pooled vectors. word_ids: each text's vocabulary
        rows where the caller has them (the fold job, from the corpus), else read here from the texts."""
        from scipy.sparse import hstack

        parts = [] if self.vectorizer is None else [self.vectorizer.transform(texts)]
        if self.pooler is not None:
            if word_ids is None:
                word_ids = [self.words.ids(words) for words in self.words.words_of(texts)]
            parts.append(self.pooler.transform(word_ids))
        return parts[0] if len(parts) == 1 else hstack(parts, format="csr")

    def predict(self, texts: list[str], word_ids: list[list[int]] | None = None) -> np.ndarray:
        return as_logits(self.estimator.decision_function(self.features(texts, word_ids)), self.n_classes)

    def save(self, folder: Path) -> None:
        from kit.artifacts import save_npz, write_json
        from kit.settings import to_dict

        arrays = {"coef": self.estimator.coef_, "intercept": self.estimator.intercept_,
                  "classes": self.estimator.classes_}
        for i, part in enumerate(text_vectorizers(self.vectorizer)):
            arrays[f"terms{i}"], arrays[f"ends{i}"] = pack_terms(part.vocabulary_)
            arrays[f"idf{i}"] = part.idf_
        if self.pooler is not None:
            arrays.update(pool_matrix=self.pooler.matrix, pool_mean=self.pooler.mean,
                          pool_deviation=self.pooler.deviation)
            if self.pooler.idf is not None:
                arrays["pool_idf"] = self.pooler.idf
            self.words.save(folder)
        save_npz(Path(folder) / MODEL_ARRAYS, **arrays)
        write_json(Path(folder) / MODEL_PARAMS, {"params": to_dict(self.params), "n_classes": self.n_classes})


class CharTfidf:
    """scikit-learn's TfidfVectorizer(analyzer="char", lowercase, l2 norm, float32).transform, fitted numbers given,
    without importing scikit-learn: its import (scipy.stats with it) was a second of CPU of a cold one-post
    `kit predict` whose only other cost was the kept models. The same operations in the same order and precision,
    so the same numbers (tests/test_sklearn_family.py compares them)."""

    _white_spaces = re.compile(r"\s\s+")  # as scikit-learn's _char_ngrams folds runs of whitespace

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, ngram_range: tuple[int, int], sublinear_tf: bool):
        self.vocabulary_, self.idf_, self.ngram_range, self.sublinear_tf = vocabulary, idf, ngram_range, sublinear_tf

    def ngrams(self, text: str) -> list[str]:
        text = self._white_spaces.sub(" ", text.lower())
        low, high = self.ngram_range
        grams = list(text) if low == 1 else []
        for n in range(max(low, 2), min(high + 1, len(text) + 1)):
            grams += [text[i : i + n] for i in range(len(text) - n + 1)]
        return grams

    def transform(self, texts: list[str]):
        import numpy as np
        from scipy.sparse import csr_array

        columns, counts, indptr = [], [], [0]
        for text in texts:
            found: dict[int, int] = {}
            for gram in self.ngrams(text):
                column = self.vocabulary_.get(gram)
                if column is not None:
                    found[column] = found.get(column, 0) + 1
            columns += found.keys()
            counts += found.values()
            indptr.append(len(columns))
        matrix = csr_array((np.asarray(counts, dtype=np.intc), np.asarray(columns, dtype=np.int32),
                            np.asarray(indptr, dtype=np.int32)), shape=(len(texts), len(self.vocabulary_)),
                           dtype=np.float32)
        matrix.sort_indices()
        data = matrix.data
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        data *= self.idf_[matrix.indices]
        data /= np.repeat(row_norms(data, matrix.indptr), np.diff(matrix.indptr))
        return matrix


def row_norms(data: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """[rows] float64: each CSR row's l2 norm as scikit-learn's normalize computes it (the float32 squares summed in
    double from left to right; 1 for an empty row, which it leaves as it is). All rows advance one position at a
    time, so each row's sum keeps that order."""
    import numpy as np

    lengths, starts = np.diff(indptr), np.asarray(indptr[:-1])
    squares = (data * data).astype(np.float64)
    totals = np.zeros(len(lengths))
    for position in range(int(lengths.max(initial=0))):
        present = lengths > position
        totals[present] += squares[starts[present] + position]
    return np.where(totals == 0.0, 1.0, np.sqrt(totals))


@dataclass
class LinearScores:
    """A linear classifier's decision_function (coef_ [C x F], intercept_ [C]) as scikit-learn computes it."""

    coef_: Any
    intercept_: Any
    classes_: Any

    def decision_function(self, features):
        scores = features @ self.coef_.T + self.intercept_
        return scores.reshape(-1) if scores.ndim > 1 and scores.shape[1] == 1 else scores


def load_predictor(folder: Path) -> SklearnPredictor:
    """The SklearnPredictor a fold kept in folder: the entry's vectorizer and classifier, fitted numbers set (for
    character n-grams alone, CharTfidf and LinearScores: the same numbers without importing scikit-learn)."""
    import numpy as np

    from kit.artifacts import load_npz, read_json
    from kit.settings import parse
    from kit.word_vectors import KeptWords

    folder = Path(folder)
    saved = read_json(folder / MODEL_PARAMS)
    params = parse(SklearnParams, saved["params"], str(folder / MODEL_PARAMS))
    arrays = load_npz(folder / MODEL_ARRAYS)
    if params.features == "char":
        vectorizer = CharTfidf(unpack_terms(arrays["terms0"], arrays["ends0"]), arrays["idf0"], params.char_ngram,
                               params.sublinear_tf)
        estimator = LinearScores(arrays["coef"], arrays["intercept"], arrays["classes"])
        return SklearnPredictor(params, vectorizer, estimator, saved["n_classes"])
    vectorizer = make_vectorizer(params)
    for i, part in enumerate(text_vectorizers(vectorizer)):
        part.vocabulary_ = unpack_terms(arrays[f"terms{i}"], arrays[f"ends{i}"])
        part.idf_ = arrays[f"idf{i}"]  # scikit-learn's documented way to give a TfidfVectorizer its idf
    estimator = make_estimator(params, seed=0)
    estimator.coef_, estimator.intercept_, estimator.classes_ = arrays["coef"], arrays["intercept"], arrays["classes"]
    estimator.n_features_in_ = arrays["coef"].shape[1]
    pooler = words = None
    if uses_vectors(params):
        matrix = arrays["pool_matrix"]
        pooler = VectorPooler(matrix, arrays.get("pool_idf"), arrays["pool_mean"], arrays["pool_deviation"],
                              params.vectors_scale / np.sqrt(matrix.shape[1]))
        words = KeptWords.load(folder)
    if "word" in params.features.split("+"):
        quiet_jieba().initialize()  # the dictionary loads here, once, rather than inside the first post's prediction
    return SklearnPredictor(params, vectorizer, estimator, saved["n_classes"], pooler, words)


def text_vectorizers(vectorizer) -> list:
    """The TfidfVectorizers in vectorizer: itself, or the parts of a char+word FeatureUnion, in order; none for
    None (features 'vectors')."""
    if vectorizer is None:
        return []
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
    """The vocabulary pack_terms packed. A NUL put at each term's end cuts the whole text, decoded once, into the
    terms with one split: decoding term by term took 6 of the 12 s that kit predict spent loading a real run's 35
    TF-IDF fold models (about 155k terms each). A vocabulary holding a NUL is cut term by term."""
    import numpy as np

    ends = np.asarray(ends, dtype=np.int64)
    if len(ends) and not (term_bytes == 0).any():
        terms = np.insert(term_bytes, ends[:-1], 0).tobytes().decode("utf-8").split("\x00")
        return dict(zip(terms, range(len(terms))))
    blob, ends = term_bytes.tobytes(), ends.tolist()
    return {blob[start:end].decode("utf-8"): column for column, (start, end) in enumerate(zip([0, *ends[:-1]], ends))}


def fold_word_ids(p: SklearnParams, data: FoldData, log) -> tuple[dict[str, list[list[int]]], KeptWords, np.ndarray]:
    """(split -> each text's vocabulary rows, the fold's KeptWords, the vocabulary's vectors [V x dim]) for the
    fold's train, valid, test and pool texts, read from the corpus (data.inputs)."""
    from kit.word_vectors import KeptWords, fold_vocabulary, read_fold_words

    texts = {"train": data.train_text, "valid": data.valid_text, "test": data.test_text, "pool": data.pool_text}
    every_text = [text for split_texts in texts.values() for text in split_texts]
    words, vectors, meta = read_fold_words(data.inputs, every_text, f"sklearn features {p.features!r}")
    vocabulary = fold_vocabulary(words, vectors)
    log(f"pooled {p.pooling} vectors of {meta['name']!r} ({meta['algorithm']}, dim {vectors.vector_size}): "
        f"{vocabulary.summary()}")
    ids, start = {}, 0
    for split, split_texts in texts.items():
        ids[split] = [vocabulary.ids(text_words) for text_words in words[start:start + len(split_texts)]]
        start += len(split_texts)
    return ids, KeptWords(vocabulary.index, Path(data.inputs["userdict"])), vocabulary.matrix


def fit_predict(
    p: SklearnParams, data: FoldData, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> FoldResult:
    from scipy.sparse import hstack

    from kit.progress import stage

    # One scikit-learn fit or transform cannot report progress from inside, so each stage logs its start and its
    # elapsed time: at full size (80k training posts) the log still shows which stage a long fold job is in.
    vectorizer = make_vectorizer(p)
    parts = []
    if vectorizer is not None:
        with stage(log, f"vectorising {len(data.train_text)} training posts ({p.features} tf-idf)"):
            parts.append(fit_tfidf(vectorizer, p, data.train_text))
        log(f"tfidf {p.features}: {parts[0].shape[1]} features from {len(data.train_text)} posts")
    pooler = words = None
    ids = dict.fromkeys(("valid", "test", "pool"))
    if uses_vectors(p):
        with stage(log, "pooling word vectors"):
            ids, words, matrix = fold_word_ids(p, data, log)
            pooler = VectorPooler.fit(p, ids["train"], matrix)
            parts.append(pooler.transform(ids["train"]))
    train_x = parts[0] if len(parts) == 1 else hstack(parts, format="csr")
    train_y, weight = data.train_y, None
    if data.train_targets is not None:  # distillation: each row once per class, weighted by its probability
        rows, train_y, weight = expanded(data.train_targets)
        train_x = train_x[rows]
        log(f"soft targets: {len(data.train_targets)} rows learnt as {len(rows)} (row, class) pairs weighted by "
            "their probabilities")
    with stage(log, f"fitting {p.estimator} on {train_x.shape[0]} x {train_x.shape[1]}"):
        if p.nb:
            estimator = fit_nb_one_vs_rest(p, train_x, train_y, data.n_classes, seed, weight)
            log(f"nb: {data.n_classes} one-vs-rest {p.estimator} on log-count-ratio features (alpha {p.nb_alpha})")
        else:
            estimator = make_estimator(p, seed).fit(train_x, train_y, sample_weight=weight)
    predictor = SklearnPredictor(p, vectorizer, estimator, data.n_classes, pooler, words)
    started = time.perf_counter()
    with stage(log, f"predicting {len(data.valid_text)} valid, {len(data.test_text)} test and {len(data.pool_text)} "
                    "pool posts"):
        valid_logits = predictor.predict(data.valid_text, ids["valid"])
        test_logits = predictor.predict(data.test_text, ids["test"])
        pool_logits = predictor.predict(data.pool_text, ids["pool"]) if data.pool_text else None
    info = {"epoch_policy": "none (convex fit, no epochs)", "n_features": int(train_x.shape[1]),
            "predict_seconds": round(time.perf_counter() - started, 3)}
    return FoldResult(valid_logits=valid_logits, test_logits=test_logits, info=info, pool_logits=pool_logits,
                      predictor=predictor)


register(Family("sklearn", SklearnParams, fit_predict, inputs=inputs, load_predictor=load_predictor,
                help="TF-IDF n-grams and/or pooled word vectors with a linear classifier", soft_targets=True))
