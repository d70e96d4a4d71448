"""kit.ensemble.methods: every method declared once; its entry is checked key by key with the ensemble named."""

import importlib

import pytest

from kit import registry
from kit.config import EnsembleEntry
from kit.ensemble.methods import LEVEL2_CLASSIFIERS
from kit.ensemble.stacking import ESTIMATOR_MODULES

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
        for name in getattr(module, "__all__", []):
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, ClassifierMixin) and hasattr(cls, "predict_proba"):
                installed.add(name)
    assert set(LEVEL2_CLASSIFIERS) == installed
