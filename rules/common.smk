# Helpers that expand the (model x seed x variant x fold) matrix; rules only wire files.
import json
import os

from kit import config as kit_config

# The schema with its defaults, then the checks a schema cannot say (each model and ensemble entry).
kit_config.validate(config)


wildcard_constraints:
    **kit_config.WILDCARD_PATTERNS,
    artifact=r"ensemble\.[A-Za-z0-9_-]+|[A-Za-z0-9_-]+\.[a-z0-9_]+\.s\d+",


EXPERIMENTS = {exp.name: exp for exp in kit_config.matrix(config)}
FOLDS = list(range(config["folds"]["k"]))
INTERIM = "data/interim"
SPLITS = ["train", "test"] + (["unlabeled"] if config["data"].get("unlabeled") else [])


def all_targets():
    """Every experiment and ensemble artifact, a submission per ensemble, and the final one."""
    targets = [f"oof/{name}/manifest.json" for name in EXPERIMENTS]
    targets += [f"oof/ensemble.{name}/manifest.json" for name in config["ensembles"]]
    targets += [f"subs/ensemble.{name}.csv" for name in config["ensembles"]]
    return targets + ["subs/final.csv"]


def competition_files(wildcards):
    return {split: config["data"][split] for split in SPLITS}


def unlabeled_arg(wildcards, input):
    return f"--unlabeled {input.unlabeled}" if "unlabeled" in input.keys() else ""


def classes_arg():
    return " ".join(f"'{label}'" for label in config["classes"])


def model_entry(wildcards):
    return config["models"][wildcards.model]


def model_params_json(wildcards):
    return json.dumps(
        kit_config.model_params(config, wildcards.model), ensure_ascii=False
    )


def model_kind(wildcards):
    return model_entry(wildcards)["kind"]


def model_gpus(wildcards):
    return model_entry(wildcards)["gpu"]


def model_threads(wildcards):
    return model_entry(wildcards)["threads"]


def scratch_spec(model):
    """The `backbone: {scratch: {...}}` block of a transformer entry, or None for a hub name or folder."""
    backbone = config["models"][model].get("backbone")
    return backbone.get("scratch") if isinstance(backbone, dict) else None


def backbone_input(wildcards):
    if scratch_spec(wildcards.model) is None:
        return []
    return f"models/backbones/{wildcards.model}/config.json"


def backbone_arg(wildcards, input):
    return f"--backbone-dir {os.path.dirname(input.backbone)}" if input.backbone else ""


def backbone_spec_json(wildcards):
    return json.dumps(scratch_spec(wildcards.model))


def fold_files(wildcards):
    name = f"{wildcards.model}.{wildcards.variant}.s{wildcards.seed}"
    return [f"oof/{name}/fold{fold}.npz" for fold in FOLDS]


def config_hash(wildcards):
    return kit_config.experiment_config_hash(
        config, wildcards.model, wildcards.variant, int(wildcards.seed)
    )


def ensemble_member_dirs(wildcards):
    return [
        f"oof/{name}"
        for name in kit_config.ensemble_members(config, wildcards.ensemble)
    ]


def ensemble_member_files(wildcards):
    dirs = ensemble_member_dirs(wildcards)
    return [f"{d}/manifest.json" for d in dirs] + [f"{d}/oof.npz" for d in dirs]


def ensemble_spec_json(wildcards):
    return json.dumps(config["ensembles"][wildcards.ensemble], ensure_ascii=False)


def final_candidates(wildcards=None):
    """With final: auto every ensemble competes (every experiment if there is none); else the named one."""
    final = config["final"]
    if final != "auto":
        return [
            f"oof/ensemble.{final}" if final in config["ensembles"] else f"oof/{final}"
        ]
    if config["ensembles"]:
        return [f"oof/ensemble.{name}" for name in config["ensembles"]]
    return [f"oof/{name}" for name in EXPERIMENTS]


def final_candidate_files(wildcards):
    return [f"{d}/manifest.json" for d in final_candidates()] + [
        f"{d}/oof.npz" for d in final_candidates()
    ]
