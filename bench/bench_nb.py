"""Naive-Bayes features (`nb: true`: NB-LR, NB-SVM) against plain TF-IDF + LR, on real labels the models never saw.

The shared held-out split of bench/shared_data.py (processed_dev.txt, 80/20 stratified and seeded). Each variant's
setting is chosen by 5-fold cross-validated macro-F1 on the 80% alone, among a few settings fixed here beforehand
(C, char 1-3 vs 1-4); only each variant's chosen setting is then fitted on the whole 80% (the kit's own fold job,
kit.models.fit_predict) and scored once on the 20%. The reference is the plain TF-IDF(char 1-3) +
LogisticRegression of shared_data.plain_baseline_f1; the kit's own plain `tfidf_char_lr` entry runs beside it. Last,
what an NB model adds as an ensemble member: the mean of the softmaxes of tfidf_char_lr and the NB variant with the
best CV score, equal weights (nothing tuned), scored once on the 20%.
Takes about 20 minutes on two busy cores.

    python bench/bench_nb.py [--folds 5] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

# bench/ is on the path
from results import save
from shared_data import LABELS, REPO, held_out_split, plain_baseline_f1

sys.path.insert(0, str(REPO))

from kit.metrics import macro_f1  # noqa: E402
from kit.models import FoldData, fit_predict  # noqa: E402
from kit.models.sklearn_family import (SklearnParams, fit_nb_one_vs_rest, fit_tfidf, make_estimator,  # noqa: E402
                                       make_vectorizer)
from kit.settings import parse  # noqa: E402

# Each variant's candidate settings (model entry keys), fixed before any score was seen. nb_alpha stays at its
# default 1: on one held-out look at char 1-3 (not used to choose), 0.1 and 0.3 lost 1-2 points.
CHAR13, CHAR14, WORD12 = {"features": "char"}, {"features": "char", "char_ngram": [1, 4]}, {"features": "word"}
VARIANTS = {
    "plain LR (kit tfidf_char_lr)": [{**CHAR13, "C": 4.0}],
    "NB-LR char": [{**CHAR13, "nb": True, "C": 4.0}, {**CHAR13, "nb": True, "C": 16.0}],
    "NB-SVM char": [{**grams, "nb": True, "estimator": "linear_svm", "C": C}
                    for grams in (CHAR13, CHAR14) for C in (0.3, 1.0)],
    "NB-LR word": [{**WORD12, "nb": True, "C": 4.0}, {**WORD12, "nb": True, "C": 16.0}],
    "NB-SVM word": [{**WORD12, "nb": True, "estimator": "linear_svm", "C": C} for C in (0.3, 1.0)],
}


def features_key(params: SklearnParams) -> tuple:
    """What decides the TF-IDF matrix: candidates sharing it share one vectorizer per fold."""
    return params.features, params.char_ngram, params.word_ngram


def cross_validated_f1(texts: list[str], y: np.ndarray, candidates: list[SklearnParams], folds: int) -> np.ndarray:
    """[len(candidates) x folds] macro-F1 of each candidate on each fold of texts (stratified, seeded), fitted as
    the kit's fold job fits it; a vectorizer is fitted once per fold for every candidate with its features."""
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros((len(candidates), folds))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42).split(texts, y)
    for k, (train_rows, valid_rows) in enumerate(split):
        train_text, valid_text = [texts[i] for i in train_rows], [texts[i] for i in valid_rows]
        matrices = {}
        for i, params in enumerate(candidates):
            if features_key(params) not in matrices:
                vectorizer = make_vectorizer(params)
                matrices[features_key(params)] = (fit_tfidf(vectorizer, params, train_text),
                                                  vectorizer.transform(valid_text))
            train_x, valid_x = matrices[features_key(params)]
            if params.nb:
                estimator = fit_nb_one_vs_rest(params, train_x, y[train_rows], len(LABELS), seed=0)
            else:
                estimator = make_estimator(params, seed=0).fit(train_x, y[train_rows])
            scores[i, k] = macro_f1(y[valid_rows], estimator.decision_function(valid_x).argmax(axis=1), len(LABELS))
            print(f"  fold {k}: {describe(params)}: {scores[i, k]:.4f}", flush=True)
    return scores


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def describe(params: SklearnParams) -> str:
    grams = f"char {params.char_ngram[0]}-{params.char_ngram[1]}" if params.features == "char" else \
        f"word {params.word_ngram[0]}-{params.word_ngram[1]}"
    return f"{grams}, C {params.C:g}" + (f", nb_alpha {params.nb_alpha:g}" if params.nb else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only this many labeled rows (quick look)")
    args = parser.parse_args()
    train, test = held_out_split(args.limit)
    index = {label: i for i, label in enumerate(LABELS)}
    train_text, test_text = train["text"].tolist(), test["text"].tolist()
    train_y, test_y = train["label"].map(index).to_numpy(), test["label"].map(index).to_numpy()
    print(f"train {len(train)} rows, held-out {len(test)} rows; settings chosen by {args.folds}-fold CV on train")

    started = time.perf_counter()
    reference = plain_baseline_f1(train, test)
    rows = [{"variant": "reference: plain TF-IDF(char 1-3) + LogisticRegression", "chosen setting": "sklearn defaults",
             "CV F1": "", "CV std": "", "held-out F1": reference, "vs reference": 0.0,
             "fit+predict s": round(time.perf_counter() - started, 1), "CV, every setting tried": ""}]
    held_out_logits = {}
    for variant, entries in VARIANTS.items():
        candidates = [parse(SklearnParams, {"min_df": 2, **entry}, f"bench.{variant}") for entry in entries]
        scores = cross_validated_f1(train_text, train_y, candidates, args.folds)
        best = int(scores.mean(axis=1).argmax())
        tried = "; ".join(f"{describe(c)}: {s:.4f}" for c, s in zip(candidates, scores.mean(axis=1)))
        print(f"{variant}: CV {tried}")
        started = time.perf_counter()
        data = FoldData(train_text, train_y, test_text, test_y, test_text, len(LABELS))
        result = fit_predict("sklearn", entries[best], data, 0, REPO, lambda message: None)
        seconds = time.perf_counter() - started
        held_out = macro_f1(test_y, result.valid_logits.argmax(axis=1), len(LABELS))
        held_out_logits[variant] = result.valid_logits
        rows.append({"variant": variant, "chosen setting": describe(candidates[best]),
                     "CV F1": float(scores[best].mean()), "CV std": float(scores[best].std()),
                     "held-out F1": held_out, "vs reference": held_out - reference, "fit+predict s": round(seconds, 1),
                     "CV, every setting tried": tried if len(candidates) > 1 else ""})
        print(f"{variant}: chose {describe(candidates[best])}; held-out {held_out:.4f} "
              f"({held_out - reference:+.4f} vs reference), fit+predict {seconds:.1f} s", flush=True)

    best_nb = max((row for row in rows if row["variant"].startswith("NB")), key=lambda row: row["CV F1"])
    kit_plain = rows[1]
    blend = (softmax(held_out_logits[kit_plain["variant"]]) + softmax(held_out_logits[best_nb["variant"]])) / 2
    blend_f1 = macro_f1(test_y, blend.argmax(axis=1), len(LABELS))
    rows.append({"variant": f"mean of {kit_plain['variant']} and {best_nb['variant']} (softmax, equal weights)",
                 "chosen setting": "", "CV F1": "", "CV std": "", "held-out F1": blend_f1,
                 "vs reference": blend_f1 - reference,
                 "fit+predict s": round(kit_plain["fit+predict s"] + best_nb["fit+predict s"], 1),
                 "CV, every setting tried": ""})
    print(f"mean with {best_nb['variant']}: held-out {blend_f1:.4f} vs {kit_plain['held-out F1']:.4f} alone")
    save("nb_features", command="python bench/bench_nb.py",
         compares=f"real labels ({len(train)} train / {len(test)} held out): NB-LR / NB-SVM (`nb: true`, one-vs-rest "
                  f"log-count ratios from the training rows) vs plain TF-IDF + LR, each setting chosen by "
                  f"{args.folds}-fold CV on train",
         rows=rows,
         summary=f"best NB by CV ({best_nb['variant']}, {best_nb['chosen setting']}): held-out "
                 f"{best_nb['held-out F1']:.4f} vs plain TF-IDF + LR {reference:.4f} ({best_nb['vs reference']:+.4f}) "
                 f"and the kit's tfidf_char_lr {kit_plain['held-out F1']:.4f}; fit+predict "
                 f"{best_nb['fit+predict s']:.0f} s vs {kit_plain['fit+predict s']:.0f} s; the two averaged "
                 f"{blend_f1:.4f}",
         notes="held-out scored once per variant, for the setting its CV chose; nb_alpha 1 (the default) throughout; "
               "fit+predict: the kit's fold job on the whole train part, vectorizing included")


if __name__ == "__main__":
    main()
