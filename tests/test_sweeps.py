"""kit.sweeps: a sweep: entry becomes ordinary model entries (a grid, or seeded draws), each an experiment with its
own name and hash; a bad sweep is an error naming its key."""

import pytest

from kit import config as kit_config
from kit.sweeps import expand_sweeps, sweep_points

BASE = {"kind": "sklearn", "features": "char", "C": 4.0}


def test_a_grid_is_every_combination_in_place_and_named_after_its_values():
    models = {"first": BASE, "lr": {**BASE, "sweep": {"C": [0.25, 1.0], "char_ngram": [[1, 3], [1, 4]]}},
              "last": BASE}
    expanded = expand_sweeps(models)
    assert list(expanded) == ["first", "lr--C0p25--char_ngram1-3", "lr--C0p25--char_ngram1-4",
                              "lr--C1--char_ngram1-3", "lr--C1--char_ngram1-4", "last"]
    assert expanded["lr--C1--char_ngram1-4"] == {**BASE, "C": 1.0, "char_ngram": [1, 4]}
    assert models["lr"]["sweep"]  # the input is not changed


def test_draws_are_seeded_and_within_their_distributions():
    sweep = {"C": {"log_uniform": [0.01, 1.0]}, "min_df": {"int_uniform": [1, 3]},
             "estimator": {"choice": ["logreg", "linear_svm"]}, "count": 6, "seed": 3}
    points = sweep_points(sweep, "models.m.sweep")
    assert points == sweep_points(dict(sweep), "models.m.sweep")
    assert points != sweep_points({**sweep, "seed": 4}, "models.m.sweep")
    assert len(points) == 6
    assert all(0.01 <= p["C"] <= 1.0 and p["min_df"] in (1, 2, 3) and p["estimator"] in ("logreg", "linear_svm")
               for p in points)


@pytest.mark.parametrize("sweep, words", [
    ({"C": 1.0}, "'models.m.sweep.C': a grid value is a non-empty list"),
    ({"C": [1.0], "count": 2}, "count and seed belong to a sweep with distributions"),
    ({"C": {"log_uniform": [0.1, 1.0]}}, "'models.m.sweep.count': a sweep with distributions needs count"),
    ({"C": {"normal": [0, 1]}, "count": 2}, "'models.m.sweep.C': a distribution is one of"),
    ({"C": {"log_uniform": [0, 1]}, "count": 2}, "log_uniform needs low > 0"),
    ({"C": {"uniform": [2, 1]}, "count": 2}, "takes [low, high] with low < high"),
    ({"estimator": {"choice": ["logreg"]}, "count": 2}, "two points are both named 'm--estimatorlogreg'"),
])
def test_a_bad_sweep_names_its_key(sweep, words):
    with pytest.raises(ValueError) as error:
        expand_sweeps({"m": {**BASE, "sweep": sweep}})
    assert words in str(error.value)


def test_the_config_expands_a_sweep_into_experiments_with_their_own_hashes():
    picker = {"method": "caruana", "rounds": 1, "members": ["lr--C1.raw.s0", "lr--C4.raw.s0"]}
    config = kit_config.load({"data": {"train": "t.csv", "test": "s.csv"}, "variants": ["raw"],
                              "models": {"lr": {**BASE, "sweep": {"C": [1.0, 4.0]}}},
                              "ensembles": {"best_lr": picker}})
    experiments = kit_config.matrix(config)
    assert [exp.name for exp in experiments] == ["lr--C1.raw.s0", "lr--C4.raw.s0"]
    hashes = {kit_config.experiment_config_hash(config, exp) for exp in experiments}
    assert len(hashes) == 2
    assert config.models["lr--C4"].params.C == 4.0
    assert kit_config.ensemble_members(config, "best_lr") == ["lr--C1.raw.s0", "lr--C4.raw.s0"]  # the honest pick


def test_the_editors_schema_accepts_a_sweep_and_refuses_an_unknown_distribution():
    jsonschema = pytest.importorskip("jsonschema", reason="the dev extra: pip install -e '.[dev]'")
    from kit import docs

    config = {"data": {"train": "t.csv", "test": "s.csv"},
              "models": {"lr": {**BASE, "sweep": {"C": {"log_uniform": [0.1, 10.0]}, "count": 3, "seed": 1}},
                         "svm": {**BASE, "sweep": {"C": [0.1, 1.0]}}}}
    jsonschema.validate(config, docs.schema())
    config["models"]["lr"]["sweep"] = {"C": {"normal": [0, 1]}, "count": 3}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, docs.schema())


def test_a_sweep_of_four_values_is_four_experiments_and_an_honest_best_of_sweep_row():
    config = kit_config.load({"data": {"train": "t.csv", "test": "s.csv"}, "variants": ["raw"],
                              "models": {"tfidf_char_lr": {**BASE, "sweep": {"C": [0.5, 1.0, 4.0, 16.0]}}}})
    points = [exp.name for exp in kit_config.matrix(config)]
    assert points == [f"tfidf_char_lr--C{c}.raw.s0" for c in ("0p5", "1", "4", "16")]
    pick = config.ensembles["best_of_tfidf_char_lr"]
    assert pick.method == "caruana" and pick.params.rounds == 1 and pick.params.objective == "f1"
    assert kit_config.ensemble_members(config, "best_of_tfidf_char_lr") == points
    # The pick is fitted on OOF rows, so it is cross-fitted: its honest score beside the naive best-of-sweep one.
    from kit.ensemble.build import build_ensemble
    from tests.test_ensemble_build import experiments

    members = experiments(strengths=(0.6, 1.0, 1.4, 1.8))
    spec = {**pick.to_setting(), "members": [member.name for member in members]}
    manifest = build_ensemble("ensemble.best_of_tfidf_char_lr", spec, members, log=lambda line: None).manifest
    assert "cross_fit" in manifest and manifest["honest_macro_f1"] <= manifest["scores"]["oof_macro_f1"] + 1e-9
    assert max(manifest["weights"].values()) == 1.0  # one pick: the single best point
