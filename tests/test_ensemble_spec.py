"""kit.ensemble.spec: every `ensembles:` entry is checked key by key, with the ensemble and key named."""

import pytest

from kit.ensemble.spec import METHOD_KEYS, EnsembleSpec


def test_defaults_and_coercions():
    spec = EnsembleSpec.from_dict("c", {"method": "caruana", "rounds": 10, "bag_fraction": 1, "members": ["a", "b"]})
    assert spec.rounds == 10 and spec.bag_fraction == 1.0 and isinstance(spec.bag_fraction, float)
    assert spec.members == ("a", "b") and spec.objective == "f1" and not spec.class_weights
    assert EnsembleSpec.from_dict("m", {"method": "mean"}).members == "all"


@pytest.mark.parametrize("method", sorted(METHOD_KEYS))
def test_every_method_accepts_the_common_keys(method):
    entry = {"method": method, "members": ["a"], "class_weights": True, "class_weight_starts": 2, "seed": 3}
    if method == "fixed":
        entry["weights"] = {"a": 1}
    spec = EnsembleSpec.from_dict("e", entry)
    assert (spec.method, spec.members, spec.class_weights, spec.class_weight_starts, spec.seed) == (
        method, ("a",), True, 2, 3
    )


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"method": "blend"}, "ensemble 'bad': method 'blend' is not one of"),
        ("mean", "method 'mean' is not one of"),
        ({"method": "mean", "rounds": 5}, "key 'rounds' does not apply to method 'mean' \\(only to \\['caruana'\\]\\)"),
        ({"method": "caruana", "rouds": 5}, "unknown key 'rouds'"),
        ({"method": "caruana", "rounds": "5"}, "rounds must be int, got .5."),
        ({"method": "caruana", "rounds": True}, "rounds must be int, got True"),
        ({"method": "mean", "class_weights": "yes"}, "class_weights must be bool"),
        ({"method": "weighted", "objective": "auc"}, "objective 'auc'"),
        ({"method": "fixed"}, "needs weights"),
        ({"method": "fixed", "weights": {"a": "half"}}, "weights must be numbers"),
        ({"method": "stack", "params": [1]}, "params must be a mapping"),
        ({"method": "mean", "members": []}, "members must be 'all' or a list"),
    ],
)
def test_bad_entries_are_refused_with_the_ensemble_and_key_named(entry, message):
    with pytest.raises(ValueError, match=message):
        EnsembleSpec.from_dict("bad", entry)

