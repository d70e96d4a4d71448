"""The config: validated against kit/schema/config.schema.yaml, then expanded into the experiment matrix.

The Snakefile calls these helpers (through rules/common.smk) to expand (model x seed x variant x fold); they are
plain functions of the config dict so they can be tested without Snakemake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).with_name("schema") / "config.schema.yaml"
DEMO_DIR = "data/demo"
DEMO_FILES = {
    "train": f"{DEMO_DIR}/nCoV_100k_train.labled.csv",
    "test": f"{DEMO_DIR}/nCov_10k_test.csv",
    "unlabeled": f"{DEMO_DIR}/nCoV_900k_train.unlabled.csv",
}
# Regexes for every wildcard: without them `oof/{exp}/fold{k}.npz` style patterns match themselves recursively.
WILDCARD_PATTERNS = {
    "model": r"[A-Za-z0-9_-]+",
    "variant": r"[a-z0-9_]+",
    "seed": r"\d+",
    "fold": r"\d+",
    "ensemble": r"[A-Za-z0-9_-]+",
    "split": r"train|test|unlabeled",
}


@dataclass(frozen=True)
class Experiment:
    """One cell of the matrix; its name is the folder of its artifact under oof/."""

    model: str
    variant: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}.{self.variant}.s{self.seed}"


def load_yaml(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def validate(config: dict) -> dict:
    """Validate in place against the schema, filling defaults, then apply the rules a schema cannot say.

    Raises ValueError naming the field at fault. (jsonschema directly rather than snakemake.utils.validate, which
    imports pandas to check for a data frame: a quarter of a second on every `snakemake -n`.)
    """
    import jsonschema

    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def fill_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    schema = load_yaml(SCHEMA_PATH)
    validator = jsonschema.validators.extend(base, {"properties": fill_defaults})(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        field = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ValueError(f"config field {field!r} does not match {SCHEMA_PATH.name}: {error.message}")
    return normalise(config)


def normalise(config: dict) -> dict:
    config["classes"] = [str(label) for label in config["classes"]]
    if len(set(config["classes"])) != len(config["classes"]):
        raise ValueError(f"config field 'classes' has duplicates: {config['classes']}")
    data = config["data"]
    # A --configfile that names only train and test must not inherit the demo's unlabeled file from the defaults.
    if data.get("unlabeled") == DEMO_FILES["unlabeled"] and data["train"] != DEMO_FILES["train"]:
        data["unlabeled"] = None
    from kit.models import check_params

    for model, entry in config["models"].items():
        check_params(entry["kind"], model_params(config, model), where=f"model {model!r}")
    experiments = {exp.name for exp in matrix(config)}
    from kit.ensemble.spec import EnsembleSpec

    for name, entry in config.get("ensembles", {}).items():
        EnsembleSpec.from_dict(name, entry)
        members = entry.get("members", "all")
        if members != "all":
            unknown = [m for m in members if m not in experiments and m not in config["ensembles"]]
            if unknown:
                raise ValueError(
                    f"ensemble {name!r}: members {unknown} are neither experiments nor ensembles; "
                    f"experiments are named model.variant.sSEED, e.g. {sorted(experiments)[:3]}"
                )
            if name in members:
                raise ValueError(f"ensemble {name!r} lists itself as a member")
    final = config.get("final", "auto")
    if final != "auto" and final not in experiments and final not in config.get("ensembles", {}):
        raise ValueError(f"config field 'final' is {final!r}: not 'auto', an ensemble or an experiment")
    return config


def matrix(config: dict) -> list[Experiment]:
    """Every (model x seed x variant) the config asks for, in config order."""
    experiments = []
    for model, entry in config["models"].items():
        for seed in entry.get("seeds", config["seeds"]):
            for variant in entry.get("variants", config["variants"]):
                experiments.append(Experiment(model, variant, int(seed)))
    return experiments


def model_params(config: dict, model: str) -> dict:
    """The model entry as the family sees it: without the keys that only steer scheduling."""
    return {k: v for k, v in config["models"][model].items() if k not in {"kind", "gpu", "seeds", "variants", "threads"}}


def variants_in_use(config: dict) -> list[str]:
    return sorted({exp.variant for exp in matrix(config)})


def ensemble_members(config: dict, name: str) -> list[str]:
    """Artifact names of an ensemble's members: experiments, or other ensembles as `ensemble.<name>`."""
    members = config["ensembles"][name].get("members", "all")
    if members == "all":
        return [exp.name for exp in matrix(config)]
    return [f"ensemble.{m}" if m in config["ensembles"] else m for m in members]


def experiment_config_hash(config: dict, model: str, variant: str, seed: int) -> str:
    """What determines an experiment's numbers: its model entry, variant, seed, classes and fold settings."""
    import hashlib
    import json

    payload = {"model": config["models"][model], "variant": variant, "seed": seed, "classes": config["classes"], "folds": config["folds"]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
