"""Stacking: a level-2 scikit-learn classifier on the members' OOF logits (centred), trained with the same folds.

The level-2 model for fold k is fitted on the other folds' rows and predicts fold k, so each OOF row comes from a
model that never saw it; test predictions average the fold models. Fitting one model on every OOF row and
scoring those rows (what leaky public stacks do) is kept only as the naive, in-sample score beside it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import partial
from typing import Sequence

import numpy as np

from kit.ensemble.honest import cross_fit, hide_labels


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


@dataclass
class Stacked:
    oof_probs: np.ndarray  # [n x C] cross-fitted: fold k's rows from the model fitted without fold k
    test_probs: np.ndarray  # [n_test x C] the mean of the fold models
    in_sample_probs: np.ndarray  # [n x C] the model fitted on every scored row, on those rows (the naive score)


def stack(
    features: np.ndarray,
    y: np.ndarray,
    fold_of: np.ndarray,
    test_features: np.ndarray,
    n_classes: int,
    estimator: str = "LogisticRegression",
    params: dict | None = None,
    seed: int = 0,
) -> Stacked:
    """Cross-fitted level-2 predictions, and the in-sample ones of one model fitted on every scored row.

    features: [n x F] (see stack_features); y: [n]; fold_of: [n] (-1 = never held out: not fitted on, and
    predicted like the test rows, by the mean of the fold models); test_features: [n_test x F].
    """
    scored = fold_of >= 0
    apply = partial(predict_probs, n_classes=n_classes)

    def fit(inputs: np.ndarray, y_train: np.ndarray):
        rows = y_train >= 0
        train = (inputs, y_train) if rows.all() else (inputs[rows], y_train[rows])
        return make_estimator(estimator, params, seed).fit(*train)

    with one_blas_thread():
        full = fit(features, hide_labels(y, scored))
        folds = cross_fit(features, y, fold_of, fit, apply)
        test_probs = np.zeros((len(test_features), n_classes), dtype=np.float32)
        for model in folds.fold_params.values():
            test_probs += apply(model, test_features) / len(folds.fold_params)
        in_sample = folds.probs.copy()
        in_sample[scored] = apply(full, features)[scored]  # every row, then the scored ones: no copy of the features
    return Stacked(folds.probs, test_probs, in_sample)


def one_blas_thread():
    """A context in which BLAS runs on one thread. The level-2 features are thin (M*C columns), so a second thread
    gains little, while threads that wait on each other make a fit 4 to 30 times slower on a shared 2-core machine
    (snakemake -j2, or any other busy process). threadpoolctl comes with scikit-learn."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
