"""Adversarial validation: can a classifier tell a text variant's train posts from its test posts?

A character TF-IDF + logistic regression learns `is_test` in stratified folds; its out-of-fold AUC says how far the
test set has drifted from the train set (0.5: indistinguishable, so OOF scores should carry over to the test set).
The AUC comes with two intervals, both reported: the mean ± standard deviation of the K fold AUCs, and a 95%
bootstrap interval of the pooled OOF AUC (rows resampled with replacement). Beside it: the n-grams whose weights
separate the splits most (fitted once on every row), how well text length alone separates them, and the train rows
that look most like the test (their OOF probability of being a test post).

`adversarial(...)` is pure (texts in, a result out); `write_adversarial` reads the variant's files and writes the
figure, the JSON and the CSV of train rows the rule names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd


@dataclass
class AdversarialSettings:
    """The classifier and its folds. Fixed defaults: the check is a diagnostic, not a model to tune."""

    k: int = 5
    seed: int = 0
    char_ngram: tuple[int, int] = (1, 3)  # the default TF-IDF models' n-grams, so the drift is the one they see
    C: float = 1.0
    bootstrap: int = 200  # resamples of the OOF AUC: the interval's ends move by < 0.005 beyond this on 5k rows
    top: int = 20  # n-grams per side and test-like train rows listed


@dataclass
class AdversarialResult:
    auc: float  # pooled OOF AUC of is_test
    fold_auc: list[float]
    bootstrap_interval: tuple[float, float]  # 95% of the resampled pooled AUCs
    length_auc: float  # AUC of the text length alone as the score
    lengths: dict[str, dict[str, float]]  # split -> mean, median, p90 characters
    test_ngrams: list[tuple[str, float]]  # n-gram, weight: the most test-like first
    train_ngrams: list[tuple[str, float]]  # n-gram, weight: the most train-like first
    p_test: np.ndarray = field(repr=False)  # [n_train] OOF probability that each train row is a test post
    n_train: int = 0
    n_test: int = 0

    def summary(self) -> dict:
        """The JSON the rule writes (every number the report shows, the test-like rows apart)."""
        return {
            "auc": self.auc,
            "fold_auc": self.fold_auc,
            "fold_auc_mean": float(np.mean(self.fold_auc)),
            "fold_auc_std": float(np.std(self.fold_auc)),
            "bootstrap_95": list(self.bootstrap_interval),
            "interval_note": "fold_auc_mean ± fold_auc_std over the K folds; bootstrap_95: 2.5th and 97.5th "
                             "percentiles of the pooled OOF AUC over resampled rows",
            "length_auc": self.length_auc,
            "lengths": self.lengths,
            "test_ngrams": [list(pair) for pair in self.test_ngrams],
            "train_ngrams": [list(pair) for pair in self.train_ngrams],
            "n_train": self.n_train,
            "n_test": self.n_test,
        }


def auc(is_test: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_test, score))


def bootstrap_auc(is_test: np.ndarray, score: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95% interval of the AUC over `resamples` resamplings of the rows (a resample with one class only is redrawn)."""
    rng = np.random.default_rng(seed)
    values = []
    while len(values) < resamples:
        rows = rng.integers(0, len(score), len(score))
        if 0 < is_test[rows].sum() < len(rows):
            values.append(auc(is_test[rows], score[rows]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _model(settings: AdversarialSettings):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=tuple(settings.char_ngram), min_df=2,
                                 sublinear_tf=True, max_features=200_000)
    # balanced: the test split is much smaller, and an AUC-minded fit should not just learn the prior
    classifier = LogisticRegression(C=settings.C, class_weight="balanced", max_iter=1000, solver="liblinear")
    return make_pipeline(vectorizer, classifier)


def adversarial(train_texts, test_texts, settings: AdversarialSettings = AdversarialSettings(),
                log: Callable[[str], None] | None = None) -> AdversarialResult:
    """Train-vs-test separability of two lists of texts, in settings.k stratified folds; with log, a progress line
    per fit (kit/progress.py: one TF-IDF fit cannot report inside, and k + 1 of them take minutes at 110k texts)."""
    from sklearn.model_selection import StratifiedKFold

    from kit.progress import Progress

    progress = Progress(log, "adversarial fits", settings.k + 1, "fits") if log is not None else None

    texts = np.asarray([str(t) for t in train_texts] + [str(t) for t in test_texts], dtype=object)
    is_test = np.r_[np.zeros(len(train_texts), dtype=int), np.ones(len(test_texts), dtype=int)]
    oof = np.zeros(len(texts))
    fold_auc = []
    splitter = StratifiedKFold(settings.k, shuffle=True, random_state=settings.seed)
    for fit_rows, held_rows in splitter.split(texts, is_test):
        model = _model(settings).fit(texts[fit_rows], is_test[fit_rows])
        oof[held_rows] = model.predict_proba(texts[held_rows])[:, 1]
        fold_auc.append(auc(is_test[held_rows], oof[held_rows]))
        if progress is not None:
            progress.advance()
    full = _model(settings).fit(texts, is_test)
    if progress is not None:
        progress.advance()
    vectorizer, classifier = full.steps[0][1], full.steps[1][1]
    names, weights = vectorizer.get_feature_names_out(), classifier.coef_[0]
    order = np.argsort(weights)
    lengths = np.array([len(t) for t in texts])
    return AdversarialResult(
        auc=auc(is_test, oof),
        fold_auc=fold_auc,
        bootstrap_interval=bootstrap_auc(is_test, oof, settings.bootstrap, settings.seed),
        length_auc=auc(is_test, lengths),
        lengths={split: {"mean": float(lengths[is_test == flag].mean()),
                         "median": float(np.median(lengths[is_test == flag])),
                         "p90": float(np.percentile(lengths[is_test == flag], 90))}
                 for split, flag in (("train", 0), ("test", 1))},
        test_ngrams=[(str(names[i]), float(weights[i])) for i in order[::-1][:settings.top]],
        train_ngrams=[(str(names[i]), float(weights[i])) for i in order[:settings.top]],
        p_test=oof[is_test == 0],
        n_train=len(train_texts),
        n_test=len(test_texts),
    )


def test_like_rows(train: pd.DataFrame, p_test: np.ndarray) -> pd.DataFrame:
    """Every train row (id, p_test, text), the most test-like first."""
    frame = pd.DataFrame({"id": train["id"].astype(str).to_numpy(), "p_test": p_test,
                          "text": train["text"].astype(str).to_numpy()})
    return frame.sort_values("p_test", ascending=False, kind="stable").reset_index(drop=True)


def adversarial_figure(variant: str, result: AdversarialResult, train_lengths: np.ndarray,
                       test_lengths: np.ndarray, top_rows: pd.DataFrame):
    """Three panels: the fold AUCs with both intervals, the most separating n-grams, the length histograms; the
    most test-like train posts underneath."""
    from kit.figures import PAGE_WIDTH, _figure

    # Two panels a row at the report's page width, so that its labels stay readable (kit.figures.PAGE_WIDTH).
    figure, axes = _figure(1, 3, PAGE_WIDTH, 4.2, per_row=2)
    ax = axes[0, 0]
    ax.bar(range(len(result.fold_auc)), result.fold_auc, color="tab:blue")
    ax.axhline(0.5, color="grey", linestyle=":", label="0.5: indistinguishable")
    ax.axhline(result.auc, color="tab:red", label=f"pooled OOF AUC {result.auc:.3f}")
    low, high = result.bootstrap_interval
    ax.axhspan(low, high, color="tab:red", alpha=0.15, label=f"bootstrap 95% [{low:.3f}, {high:.3f}]")
    ax.set_xticks(range(len(result.fold_auc)), [f"fold {k}" for k in range(len(result.fold_auc))])
    ax.set_ylim(min(0.4, min(result.fold_auc) - 0.05), 1.0)
    mean, std = np.mean(result.fold_auc), np.std(result.fold_auc)
    ax.set_title(f"{variant}: train vs test AUC {result.auc:.3f} (folds {mean:.3f} ± {std:.3f})", fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    ax = axes[0, 1]
    shown = result.test_ngrams[:10][::-1] + result.train_ngrams[:10]
    ax.barh([repr(name) for name, _ in shown], [weight for _, weight in shown],
            color=["tab:red" if weight > 0 else "tab:green" for _, weight in shown])
    ax.set_title("n-grams that separate them (red: test-like, green: train-like)", fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    ax = axes[0, 2]
    bins = np.linspace(0, max(np.percentile(np.r_[train_lengths, test_lengths], 99), 1), 40)
    ax.hist(train_lengths, bins=bins, density=True, alpha=0.5, label=f"train (n={len(train_lengths)})")
    ax.hist(test_lengths, bins=bins, density=True, alpha=0.5, label=f"test (n={len(test_lengths)})")
    ax.set_title(f"text length (characters): AUC of length alone {result.length_auc:.3f}", fontsize=10)
    ax.legend(fontsize=8)
    lines = [f"{row.p_test:.3f}  {' '.join(row.text.split())[:70]}" for row in top_rows.head(8).itertuples()]
    figure.text(0.01, -0.01, "train posts most like the test (OOF p(test)):\n" + "\n".join(lines), fontsize=7,
                va="top")
    return figure


def write_adversarial(variant: str, train_path: Path, test_path: Path, settings: AdversarialSettings,
                      out_png: Path, out_json: Path, out_csv: Path, log: Callable[[str], None]) -> AdversarialResult:
    """Run the check on one text variant's files; write the figure, the summary JSON and every train row's p_test."""
    from kit.artifacts import atomic_write_bytes, read_parquet, write_json
    from kit.results import prepare_font, write_png

    train, test = read_parquet(train_path, columns=["id", "text"]), read_parquet(test_path, columns=["id", "text"])
    result = adversarial(train["text"].tolist(), test["text"].tolist(), settings, log)
    rows = test_like_rows(train, result.p_test)
    summary = {"variant": variant, "settings": {**settings.__dict__, "char_ngram": list(settings.char_ngram)},
               **result.summary(), "test_like_train_rows": rows.head(settings.top).to_dict(orient="records")}
    write_json(out_json, summary)
    atomic_write_bytes(Path(out_csv), rows.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    prepare_font(log)
    train_lengths = train["text"].astype(str).str.len().to_numpy()
    test_lengths = test["text"].astype(str).str.len().to_numpy()
    write_png(adversarial_figure(variant, result, train_lengths, test_lengths, rows), out_png)
    low, high = result.bootstrap_interval
    log(f"{variant}: train vs test AUC {result.auc:.4f} (bootstrap 95% [{low:.4f}, {high:.4f}]; folds "
        f"{np.mean(result.fold_auc):.4f} ± {np.std(result.fold_auc):.4f}); length alone {result.length_auc:.4f}")
    log(f"{variant}: most test-like n-grams {', '.join(repr(n) for n, _ in result.test_ngrams[:8])}")
    return result
