"""kit.ensemble.methods: every method declared once; its entry is checked key by key with the ensemble named."""

import importlib

import numpy as np
import pytest

from kit import registry
from kit.config import EnsembleEntry
from kit.ensemble.methods import LEVEL2_CLASSIFIERS
from kit.ensemble.stacking import ESTIMATOR_MODULES
from kit.metrics import macro_f1

METHODS = registry.names(registry.METHODS)


def parse(entry, name="e"):
    return EnsembleEntry.parse_setting(entry, f"ensembles.{name}")


def test_defaults_and_coercions():
    entry = parse({"method": "caruana", "rounds": 10, "bag_fraction": 1, "members": ["a", "b"]})
    assert entry.params.rounds == 10 and entry.params.bag_fraction == 1.0
    assert isinstance(entry.params.bag_fraction, float)
    assert entry.common.members == ("a", "b") and entry.params.objective == "f1" and not entry.common.class_weights
    assert parse({"method": "mean"}).common.members == "all"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_accepts_the_common_keys(method):
    entry = {"method": method, "members": ["a"], "class_weights": True, "class_weight_starts": 2, "seed": 3}
    if method == "fixed":
        entry["weights"] = {"a": 1}
    common = parse(entry).common
    assert (common.method, common.members, common.class_weights, common.class_weight_starts, common.seed) == (
        method, ("a",), True, 2, 3)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"method": "blend"}, r"'ensembles\.bad\.method': unknown ensemble method 'blend'"),
        ({"members": "all"}, r"'ensembles\.bad\.method': is required"),
        ({"method": "mean", "rounds": 5}, r"'ensembles\.bad\.rounds': is not a key here"),
        ({"method": "caruana", "rouds": 5}, r"'ensembles\.bad\.rouds': is not a key here; did you mean 'rounds'"),
        ({"method": "caruana", "rounds": "5"}, r"'ensembles\.bad\.rounds': must be an integer"),
        ({"method": "caruana", "rounds": True}, r"'ensembles\.bad\.rounds': must be an integer"),
        ({"method": "caruana", "bag_fraction": 1.5}, r"'ensembles\.bad\.bag_fraction': must be at most 1"),
        ({"method": "mean", "class_weights": "yes"}, r"'ensembles\.bad\.class_weights': must be true or false"),
        ({"method": "weighted", "objective": "auc"}, r"'ensembles\.bad\.objective': must be one of 'f1', 'logloss'"),
        ({"method": "fixed"}, r"'ensembles\.bad\.weights': is required"),
        ({"method": "fixed", "weights": {"a": "half"}}, r"'ensembles\.bad\.weights\.a': must be a number"),
        ({"method": "fixed", "weights": {"a": 0}}, r"'ensembles\.bad\.weights': must give at least one member"),
        ({"method": "stack", "params": [1]}, r"'ensembles\.bad\.params': must be a mapping"),
        ({"method": "stack", "estimator": "NoSuchClassifier"}, r"'ensembles\.bad\.estimator': 'NoSuchClassifier'"),
        ({"method": "mean", "members": []}, r"'ensembles\.bad\.members': needs at least 1"),
        ({"method": "vote_multiround", "n_voters": 4, "candidates": 3}, r"'ensembles\.bad\.candidates': must be at"),
    ],
)
def test_bad_entries_are_refused_with_the_ensemble_and_key_named(entry, message):
    with pytest.raises(ValueError, match=message):
        parse(entry, "bad")


def test_the_level2_names_checked_at_plan_time_are_scikit_learns_classifiers():
    """The list that spares plan time a scikit-learn import must match the installed scikit-learn."""
    from sklearn.base import ClassifierMixin

    installed = set()
    for module_name in ESTIMATOR_MODULES:
        module = importlib.import_module(module_name)
        for name in (n for n in dir(module) if not n.startswith("_")):
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, ClassifierMixin) and hasattr(cls, "predict_proba"):
                installed.add(name)
    assert set(LEVEL2_CLASSIFIERS) == installed


# ------------------------------------------------------------------------------------------------ stack


def stack_cross_fit(logits, y, fold_of, **entry):
    """(cross-fitted OOF probs, probs of the fit on every row) of the stack method over member logits [M x n x C],
    as kit.ensemble.build runs it."""
    from kit.ensemble.build import MemberLogits
    from kit.ensemble.honest import cross_fit, cross_fit_scope, hide_labels
    from kit.registry import resolve

    method = registry.method("stack")
    parsed = parse({"method": "stack", **entry}).params
    stack = MemberLogits(list(logits))

    def fit(inputs, y_train):
        return resolve(method.fit)(parsed, [], inputs, y_train, 0)

    def apply(model, inputs):
        return resolve(method.apply)(parsed, model, inputs)

    with cross_fit_scope(stack, fold_of):
        full = fit(stack, hide_labels(y, fold_of >= 0))
        return cross_fit(stack, y, fold_of, fit, apply).probs, apply(full, stack)


def test_a_stack_folds_predictions_come_from_the_other_folds():
    # A prior-only level-2 model predicts the class shares of its training rows: easy to compute by hand.
    y = np.array([0, 0, 1, 1, 1, 2])
    fold_of = np.array([0, 0, 0, 1, 1, 1])
    oof, full = stack_cross_fit(np.zeros((1, 6, 3)), y, fold_of, estimator="DummyClassifier",
                                params={"strategy": "prior"})
    assert np.allclose(oof[:3], [0, 2 / 3, 1 / 3])  # fold 0 sees fold 1's labels 1, 1, 2
    assert np.allclose(oof[3:], [2 / 3, 1 / 3, 0])  # fold 1 sees fold 0's labels 0, 0, 1
    assert np.allclose(full, [1 / 3, 1 / 2, 1 / 6])  # the model on all six rows, which predicts the test rows


def test_a_memorising_level_one_model_does_not_make_the_stacked_oof_near_perfect():
    # The level-1 "model" memorised the labels of the rows it trained on: its outputs are codes unique to each row,
    # which a flexible level-2 model can learn by heart. In-sample that looks perfect; cross-fitted it is chance.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    fold_of = np.arange(600) % 5
    logits = rng.normal(scale=3.0, size=(1, 600, 3)).astype(np.float32)
    oof, in_sample = stack_cross_fit(logits, y, fold_of, estimator="sklearn.tree.DecisionTreeClassifier")
    assert macro_f1(y, in_sample.argmax(axis=1), 3) > 0.99
    assert macro_f1(y, oof.argmax(axis=1), 3) < 0.45
    assert macro_f1(y, stack_cross_fit(logits, y, fold_of)[0].argmax(axis=1), 3) < 0.45


def test_stacking_a_useful_member_keeps_its_skill():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 900)
    logits = (2.0 * np.eye(3)[y] + rng.normal(size=(2, 900, 3))).astype(np.float32)
    oof, full = stack_cross_fit(logits, y, np.arange(900) % 3)
    member = macro_f1(y, logits[0].argmax(axis=1), 3)
    assert macro_f1(y, oof.argmax(axis=1), 3) > member - 0.02
    assert np.allclose(full.sum(axis=1), 1, atol=1e-5) and oof.dtype == np.float32
