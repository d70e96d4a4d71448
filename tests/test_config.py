"""kit.config: the schema with its defaults, the checks a schema cannot say, the matrix and the config hash."""

import subprocess
import sys

import pytest

from kit import config as kit_config

REPO_CONFIGS = kit_config.SCHEMA_PATH.parents[2] / "configs"


def minimal(**extra) -> dict:
    return {"data": {"train": "train.csv", "test": "test.csv"}, "models": {"lr": {"kind": "sklearn"}}, **extra}


def test_defaults_are_filled_and_classes_become_strings():
    config = kit_config.validate(minimal(classes=[-1, 0, 1]))
    assert config["classes"] == ["-1", "0", "1"]
    assert config["folds"] == {"k": 5, "seed": 42}
    assert config["models"]["lr"]["gpu"] == 0
    assert config["final"] == "auto"


def test_matrix_expands_models_seeds_variants_with_entry_overrides():
    config = kit_config.validate(
        minimal(
            seeds=[0, 1],
            models={"lr": {"kind": "sklearn"}, "bert": {"kind": "transformer", "backbone": "hfl/chinese-roberta-wwm-ext", "variants": ["cleaned"], "seeds": [7]}},
        )
    )
    names = [exp.name for exp in kit_config.matrix(config)]
    assert names == ["lr.raw.s0", "lr.cleaned.s0", "lr.raw.s1", "lr.cleaned.s1", "bert.cleaned.s7"]


@pytest.mark.parametrize(
    "broken, field",
    [
        ({"data": {"train": "a.csv"}}, "test"),
        ({"models": {"lr": {"kind": "xgboost"}}}, "kind"),
        ({"folds": {"k": 1}}, "k"),
        ({"models": {"bad.name": {"kind": "sklearn"}}}, "bad.name"),
        ({"classes": ["0", "0", "1"]}, "classes"),
        ({"ensembles": {"e": {"method": "mean", "members": ["nope.raw.s0"]}}}, "nope.raw.s0"),
        ({"final": "missing"}, "final"),
        ({"ensembles": {"e": {"method": "caruana", "rounds": 5, "estimator": "SVC"}}}, "ensemble 'e'.*estimator"),
        ({"models": {"lr": {"kind": "sklearn", "estimator": "xgb"}}}, "model 'lr'.*estimator"),
        ({"models": {"bert": {"kind": "transformer", "backbone": "x", "head": "gru"}}}, "model 'bert'.*head"),
    ],
)
def test_invalid_configs_name_the_field(broken, field):
    with pytest.raises(ValueError, match=field if ".*" in field else field.replace(".", r"\.")):
        kit_config.validate(minimal(**broken))


def test_other_competition_does_not_inherit_the_demo_unlabeled_file():
    config = minimal()
    config["data"]["unlabeled"] = kit_config.DEMO_FILES["unlabeled"]
    assert kit_config.validate(config)["data"]["unlabeled"] is None


def test_ensemble_members_resolve_experiments_and_ensembles():
    config = kit_config.validate(
        minimal(
            ensembles={"a": {"method": "mean", "members": "all"}, "b": {"method": "mean", "members": ["a", "lr.raw.s0"]}}
        )
    )
    assert kit_config.ensemble_members(config, "a") == ["lr.raw.s0", "lr.cleaned.s0"]
    assert kit_config.ensemble_members(config, "b") == ["ensemble.a", "lr.raw.s0"]


def test_config_hash_changes_with_what_determines_the_numbers():
    config = kit_config.validate(minimal())
    base = kit_config.experiment_config_hash(config, "lr", "raw", 0)
    assert base == kit_config.experiment_config_hash(config, "lr", "raw", 0)
    assert base != kit_config.experiment_config_hash(config, "lr", "raw", 1)
    config["models"]["lr"]["C"] = 2.0
    assert base != kit_config.experiment_config_hash(config, "lr", "raw", 0)


@pytest.mark.parametrize("name", ["config.yaml", "competition.yaml"])
def test_shipped_configs_validate(name):
    config = kit_config.validate(kit_config.load_yaml(REPO_CONFIGS / name))
    assert kit_config.matrix(config)


def test_validating_the_default_config_loads_neither_numpy_nor_pandas():
    """The Snakefile validates at plan time: numpy and pandas would add 0.2-0.7 s to every `snakemake -n`."""
    code = (
        "import sys; from kit import config; config.validate(config.load_yaml(sys.argv[1]));"
        "print(sorted({'numpy', 'pandas', 'torch', 'sklearn'} & set(sys.modules)))"
    )
    config_file = str(REPO_CONFIGS / "config.yaml")
    out = subprocess.run([sys.executable, "-c", code, config_file], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
