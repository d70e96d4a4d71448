# Helpers that expand the (model x seed x variant x fold) matrix; rules only wire files.
from kit import config as kit_config

# The whole config parsed and checked before any job is planned; a mistake stops here with its key named.
CONFIG = kit_config.load(config)


wildcard_constraints:
    **kit_config.WILDCARD_PATTERNS,


EXPERIMENTS = {exp.name: exp for exp in kit_config.matrix(CONFIG)}
FOLDS = list(range(CONFIG.folds.k))
INTERIM = "data/interim"
SPLITS = ["train", "test"] + (["unlabeled"] if CONFIG.data.unlabeled else [])
PLUGINS = list(CONFIG.plugins)


def all_targets():
    """Every experiment and ensemble artifact, a submission per ensemble, and the final one."""
    targets = [f"oof/{name}/manifest.json" for name in EXPERIMENTS]
    targets += [f"oof/ensemble.{name}/manifest.json" for name in CONFIG.ensembles]
    targets += [f"subs/ensemble.{name}.csv" for name in CONFIG.ensembles]
    return targets + ["subs/final.csv"]


def competition_files(wildcards):
    return {split: getattr(CONFIG.data, split) for split in SPLITS}


def interim_outputs():
    return {f"out_{split}": f"{INTERIM}/{split}.parquet" for split in SPLITS}


def unlabeled_arg(wildcards, input, output):
    if "unlabeled" not in input.keys():
        return ""
    return f"--unlabeled {shell_quote(input.unlabeled)} --out-unlabeled {shell_quote(output.out_unlabeled)}"


def shell_quote(value):
    import shlex

    return shlex.quote(str(value))


def classes_arg():
    """The labels, each quoted for the shell (kit.config allows only safe characters; quoting keeps it so)."""
    return " ".join(shell_quote(label) for label in CONFIG.classes)


def id_pattern_arg():
    """columns.id_pattern as the command line writes it (null: any printable id)."""
    pattern = CONFIG.columns.id_pattern
    return "null" if pattern is None else pattern


def plugins_arg():
    return ("--plugins " + " ".join(shell_quote(m) for m in PLUGINS)) if PLUGINS else ""


def model_entry(wildcards):
    return CONFIG.models[wildcards.model]


def model_params_json(wildcards):
    return kit_config.model_params_json(CONFIG, wildcards.model)


def model_kind(wildcards):
    return model_entry(wildcards).kind


def model_gpus(wildcards):
    return model_entry(wildcards).run.gpu


def model_threads(wildcards):
    return model_entry(wildcards).run.threads


def scratch_spec(model):
    """The `backbone: {scratch: {...}}` settings of a transformer entry, or None for a hub name or folder."""
    backbone = getattr(CONFIG.models[model].params, "backbone", None)
    source = getattr(backbone, "backbone", None)
    return getattr(source, "scratch", None)


def backbone_input(wildcards):
    if scratch_spec(wildcards.model) is None:
        return []
    return f"models/backbones/{wildcards.model}"


def backbone_arg(wildcards, input):
    return f"--backbone-dir {shell_quote(input.backbone)}" if input.backbone else ""


def backbone_spec_json(wildcards):
    from kit.hashing import canonical_json
    from kit.settings import to_dict

    return canonical_json(to_dict(scratch_spec(wildcards.model)))


def fold_files(wildcards):
    name = f"{wildcards.model}.{wildcards.variant}.s{wildcards.seed}"
    return [f"oof/{name}/fold{fold}.npz" for fold in FOLDS]


def config_hash(wildcards):
    return kit_config.experiment_config_hash(
        CONFIG, EXPERIMENTS[experiment_name(wildcards)]
    )


def experiment_name(wildcards):
    return f"{wildcards.model}.{wildcards.variant}.s{wildcards.seed}"


def ensemble_members(wildcards):
    return kit_config.ensemble_members(CONFIG, wildcards.ensemble)


def ensemble_member_npz(wildcards):
    return [f"oof/{name}/oof.npz" for name in ensemble_members(wildcards)]


def ensemble_member_manifests(wildcards):
    return [f"oof/{name}/manifest.json" for name in ensemble_members(wildcards)]


def ensemble_spec_json(wildcards):
    return kit_config.ensemble_spec_json(CONFIG, wildcards.ensemble)


def final_candidates():
    """With final: auto every ensemble competes (every experiment if there is none); else the named one."""
    final = CONFIG.final
    if final != "auto":
        return [f"ensemble.{final}" if final in CONFIG.ensembles else final]
    if CONFIG.ensembles:
        return [f"ensemble.{name}" for name in CONFIG.ensembles]
    return list(EXPERIMENTS)


def final_candidate_npz(wildcards):
    return [f"oof/{name}/oof.npz" for name in final_candidates()]


def final_candidate_manifests(wildcards):
    return [f"oof/{name}/manifest.json" for name in final_candidates()]


# ------------------------------------------------------------------------------- the corpus and word vectors

CORPUS = "data/corpus"


def corpus_inputs(wildcards):
    """The ingested splits the corpus reads: train, test and, when the config names one, the unlabelled file."""
    return {split: f"{INTERIM}/{split}.parquet" for split in SPLITS}


def corpus_unlabeled_arg(wildcards, input):
    if "unlabeled" not in input.keys():
        return ""
    return f"--unlabeled {shell_quote(input.unlabeled)}"


def settings_json(settings):
    """A typed config entry as canonical JSON: the same entry with its keys in another order gives the same text."""
    from kit.hashing import canonical_json
    from kit.settings import to_dict

    return canonical_json(to_dict(settings))


def corpus_settings_json():
    return settings_json(CONFIG.corpus)


def word_vectors_json(wildcards):
    if wildcards.vectors not in CONFIG.word_vectors:
        raise ValueError(
            f"models/word_vectors/{wildcards.vectors}: the config's word_vectors has no entry "
            f"{wildcards.vectors!r} (it has {sorted(CONFIG.word_vectors)})"
        )
    return settings_json(CONFIG.word_vectors[wildcards.vectors])
