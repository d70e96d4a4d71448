"""Stacking: a level-2 scikit-learn classifier on the members' OOF logits (centred), trained with the same folds.

The level-2 model for fold k is fitted on the other folds' rows and predicts fold k, so each OOF row comes from a
model that never saw it; test predictions average the fold models. Fitting one model on every OOF row and
scoring those rows (what leaky public stacks do) is kept only as the naive, in-sample score beside it.
"""

from __future__ import annotations

import importlib
from typing import Sequence

import numpy as np


def stack_features(member_logits: Sequence[np.ndarray]) -> np.ndarray:
    """Level-2 features [n x M*C] float32, member-major, from M arrays of logits [n x C]: each member's logits
    centred across classes, which are also its log-probabilities centred (softmax ignores a per-row constant).
    Centring removes that redundant direction; logistic regression converges in about a quarter of the iterations
    it needs on raw log-probabilities."""
    n_rows, n_classes = member_logits[0].shape
    features = np.empty((n_rows, len(member_logits) * n_classes), dtype=np.float32)
    for m, logits in enumerate(member_logits):
        features[:, m * n_classes : (m + 1) * n_classes] = logits - logits.mean(axis=1, keepdims=True)
    return features


# Where bare names are looked up, in order; scanning all of scikit-learn (all_estimators) takes seconds.
ESTIMATOR_MODULES = (
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.neighbors",
    "sklearn.svm",
    "sklearn.tree",
    "sklearn.naive_bayes",
    "sklearn.neural_network",
    "sklearn.discriminant_analysis",
    "sklearn.dummy",
)


def resolve_estimator(name: str):
    """The scikit-learn classifier class called `name`: a bare class name such as 'LogisticRegression' (looked up in
    ESTIMATOR_MODULES) or a dotted path such as 'sklearn.ensemble.HistGradientBoostingClassifier'. A clear error,
    with near names, when there is none or when it cannot give probabilities."""
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        try:
            estimator = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            raise ValueError(f"level-2 estimator {name!r}: no class {class_name!r} in module {module_name!r}") from None
    else:
        for module_name in ESTIMATOR_MODULES:  # imported one by one: the usual names sit in the first module
            estimator = getattr(importlib.import_module(module_name), name, None)
            if isinstance(estimator, type):
                break
        else:
            import difflib

            known = []
            for module_name in ESTIMATOR_MODULES:
                module = importlib.import_module(module_name)
                known += [n for n in getattr(module, "__all__", []) if hasattr(getattr(module, n), "predict_proba")]
            near = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
            raise ValueError(
                f"level-2 estimator {name!r} is not a classifier in {', '.join(ESTIMATOR_MODULES)}"
                + (f"; did you mean {near}?" if near else "")
                + "; give a dotted path for any other (e.g. 'sklearn.ensemble.HistGradientBoostingClassifier')"
            )
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(f"level-2 estimator {name!r} has no predict_proba: stacking needs probabilities")
    return estimator


# Defaults the kit gives a level-2 estimator where scikit-learn's own fall short on stacked logits; the user's
# params win. lbfgs needs a little over its default 100 iterations on a handful of members' logits.
LEVEL2_DEFAULTS = {"LogisticRegression": {"max_iter": 1000}}


def make_estimator(name: str, params: dict | None, seed: int):
    """An unfitted level-2 model with LEVEL2_DEFAULTS under the user's params, and random_state=seed unless they
    give one."""
    estimator_class = resolve_estimator(name)
    options = {**LEVEL2_DEFAULTS.get(estimator_class.__name__, {}), **(params or {})}
    try:
        model = estimator_class(**options)
    except TypeError as error:
        raise ValueError(f"level-2 estimator {name!r}: bad params {options}: {error}") from None
    if "random_state" in model.get_params() and "random_state" not in options:
        model.set_params(random_state=seed)
    return model


def predict_probs(model, features: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba as [rows x n_classes]: a class the model never saw in training gets probability 0."""
    probs = np.zeros((len(features), n_classes), dtype=np.float32)
    probs[:, model.classes_.astype(np.int64)] = model.predict_proba(features)
    return probs


def stack(
    features: np.ndarray,
    y: np.ndarray,
    fold_of: np.ndarray,
    test_features: np.ndarray,
    n_classes: int,
    estimator: str = "LogisticRegression",
    params: dict | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted level-2 predictions: (oof_probs [n x C], test_probs [n_test x C]).

    features: [n x F] (see stack_features); y: [n]; fold_of: [n] (-1 = never held out: not fitted on, and
    predicted like the test rows, by the mean of the fold models); test_features: [n_test x F].
    """
    fold_of = np.asarray(fold_of)
    scored = fold_of >= 0
    folds = np.unique(fold_of[scored])
    if len(folds) < 2:
        raise ValueError(f"stacking needs at least 2 folds in fold_of, found {folds.tolist()}")
    oof_probs = np.zeros((len(features), n_classes), dtype=np.float32)
    test_probs = np.zeros((len(test_features), n_classes), dtype=np.float32)
    unscored = np.flatnonzero(~scored)
    with one_blas_thread():
        for fold in folds:
            train, held = np.flatnonzero(scored & (fold_of != fold)), np.flatnonzero(fold_of == fold)
            model = make_estimator(estimator, params, seed).fit(features[train], y[train])
            oof_probs[held] = predict_probs(model, features[held], n_classes)
            test_probs += predict_probs(model, test_features, n_classes) / len(folds)
            if len(unscored):
                oof_probs[unscored] += predict_probs(model, features[unscored], n_classes) / len(folds)
    return oof_probs, test_probs


def fit_in_sample(
    features: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    estimator: str = "LogisticRegression",
    params: dict | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The naive stack: one level-2 model fitted on all these rows, predicting the same rows: probs [n x C]."""
    with one_blas_thread():
        model = make_estimator(estimator, params, seed).fit(features, y)
        return predict_probs(model, features, n_classes)


def one_blas_thread():
    """A context in which BLAS runs on one thread. The level-2 features are thin (M*C columns), so a second thread
    gains little, while threads that wait on each other make a fit 4 to 30 times slower on a shared 2-core machine
    (snakemake -j2, or any other busy process). threadpoolctl comes with scikit-learn."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
