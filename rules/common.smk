# Helpers that expand the (model x seed x variant x fold) matrix; rules only wire files.
import os
import sys

from kit import config as kit_config
from kit import corpus as kit_corpus
from kit.hashing import canonical_json
from kit.models.transformer.config import BackboneSource
from kit.settings import from_command_line, identity, to_dict

# The whole config parsed and checked before any job is planned; a mistake stops here with its key named, in one
# line rather than Snakemake's listing of frames.
# `--config` values arrive as text (`seeds=[0, 1]` is ['0', '1']): each is read by its field's type.
try:
    CONFIG = kit_config.load(
        from_command_line(config, dict(workflow.config_settings.config)),
        files=workflow.configfiles,
    )
except ValueError as error:
    sys.exit(f"error: {error}")


wildcard_constraints:
    **kit_config.WILDCARD_PATTERNS,


EXPERIMENTS = {exp.name: exp for exp in kit_config.matrix(CONFIG)}
FOLDS = list(range(CONFIG.folds.k))
INTERIM = "data/interim"
SPLITS = ["train", "test"] + (["unlabeled"] if CONFIG.data.unlabeled else [])
PLUGINS = list(CONFIG.plugins)
# With pseudo variants, teachers label the pool: every text variant writes the pool's texts too.
POOL = "data/pool.parquet" if CONFIG.pseudo else None
POOL_TEACHERS = kit_config.pool_teachers(CONFIG)
KEPT = kit_config.kept_experiments(CONFIG)


def all_targets():
    """Every experiment and ensemble artifact, a submission per ensemble, the final one, and the report's figures
    (so that `snakemake --report report.html` works on any finished run)."""
    targets = [f"oof/{name}/manifest.json" for name in EXPERIMENTS]
    targets += [f"models/folds/{name}/retention.json" for name in EXPERIMENTS]
    targets += [f"oof/ensemble.{name}/manifest.json" for name in CONFIG.ensembles]
    targets += [f"subs/ensemble.{name}.csv" for name in CONFIG.ensembles]
    return [*targets, "subs/final.csv", *figure_targets(), *tracking_targets()]


def set_aside_earlier_runs():
    """After a successful run: move what an earlier run left here (kit.stale) to stale/, saying so."""
    from kit.stale import set_aside

    set_aside(".", log=lambda line: print(line, file=sys.stderr))


def figure_targets():
    """The report's figures: EDA, one per experiment and ensemble, the final submission and the disagreements."""
    targets = [
        f"figures/eda/{name}.png"
        for name in ("class_counts", "text_lengths", "duplicates")
    ]
    targets += [f"figures/experiments/{name}.png" for name in EXPERIMENTS]
    targets += [f"figures/ensembles/{name}.png" for name in CONFIG.ensembles]
    targets += [f"figures/adversarial/{variant}.png" for variant in text_variants()]
    return [
        *targets,
        "figures/final/final.png",
        "figures/final/disagreements.png",
        "figures/final/cv_vs_lb.png",
    ]


def text_variants():
    """The text variants the experiments read (a pseudo or augment variant reads its base's files), in the
    registry's order, so that the order of the config's keys changes no param."""
    order = kit_config.registry.names(kit_config.registry.VARIANTS)
    used = {
        kit_config.text_variant(CONFIG, exp.variant) for exp in EXPERIMENTS.values()
    }
    return [variant for variant in order if variant in used]


def variant_split_files(split):
    return [f"data/variants/{variant}/{split}.parquet" for variant in text_variants()]


def max_lens_json():
    """model -> max_len of every model entry that truncates its texts (a transformer's max_len)."""
    from kit.hashing import canonical_json

    lens = {
        name: kit_config.model_params(CONFIG, name).get("max_len")
        for name in CONFIG.models
    }
    return canonical_json({name: n for name, n in lens.items() if n})


def all_artifact_npz(wildcards):
    return [f"oof/{name}/oof.npz" for name in all_artifacts()]


def all_artifact_manifests(wildcards):
    return [f"oof/{name}/manifest.json" for name in all_artifacts()]


def all_artifacts():
    return list(EXPERIMENTS) + [f"ensemble.{name}" for name in CONFIG.ensembles]


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


def run_only(value_of):
    """A params function for what reaches a command but decides none of its numbers (a checkpoint cadence, the
    prediction batch size, the list of plugin modules to import). Snakemake re-runs a job whose params changed, but
    leaves out the params derived from its threads, resources, input or output; asking for `threads` marks this one
    so. What decides the numbers travels as a rule's `identity` param instead (kit.config's identity hashes).
    """

    def param(wildcards, threads):
        return value_of(wildcards)

    return param


def plugins_arg(wildcards=None):
    return ("--plugins " + " ".join(shell_quote(m) for m in PLUGINS)) if PLUGINS else ""


def variant_inputs(wildcards):
    """A text variant's inputs: the ingested train and test splits, and the pool when there are teachers."""
    inputs = {"train": f"{INTERIM}/train.parquet", "test": f"{INTERIM}/test.parquet"}
    return inputs | ({"pool": POOL} if POOL else {})


def variant_outputs():
    outputs = {
        "train": "data/variants/{variant}/train.parquet",
        "test": "data/variants/{variant}/test.parquet",
        "meta": "data/variants/{variant}/meta.json",
    }
    return outputs | ({"pool": "data/variants/{variant}/pool.parquet"} if POOL else {})


def pool_args(wildcards, input, output):
    return (
        f"--pool {shell_quote(input.pool)} --out-pool {shell_quote(output.pool)}"
        if POOL
        else ""
    )


def pool_inputs(wildcards):
    inputs = {"test": f"{INTERIM}/test.parquet"}
    return inputs | (
        {"unlabeled": f"{INTERIM}/unlabeled.parquet"} if CONFIG.data.unlabeled else {}
    )


def pool_unlabeled_arg(wildcards, input):
    return (
        f"--unlabeled {shell_quote(input.unlabeled)}"
        if "unlabeled" in input.keys()
        else ""
    )


def experiment_files(wildcards):
    """What a fold job and its merge read: the text variant's files, the pool when the experiment teaches, and a
    pseudo variant's rows and manifest."""
    folder = f"data/variants/{kit_config.text_variant(CONFIG, wildcards.variant)}"
    files = {
        "train": f"{folder}/train.parquet",
        "test": f"{folder}/test.parquet",
        "meta": f"{folder}/meta.json",
    }
    if experiment_name(wildcards) in POOL_TEACHERS:
        files["pool"] = f"{folder}/pool.parquet"
    kind = kit_config.variant_kind(CONFIG, wildcards.variant)
    if kind == "pseudo":
        files["pseudo_rows"] = f"data/pseudo/{wildcards.variant}/rows.parquet"
        files["pseudo_manifest"] = f"data/pseudo/{wildcards.variant}/manifest.json"
    if kind == "augment":
        files["corpus"] = "data/corpus/corpus.parquet"
        files["userdict"] = "data/corpus/userdict.txt"
        synonyms = CONFIG.augment[wildcards.variant].synonyms
        if synonyms:
            files["synonyms"] = f"models/word_vectors/{synonyms}"
    return files


def family_inputs(wildcards):
    """The workflow files the model's family reads beyond the variant's (kit.registry.Family.inputs: the corpus and
    a word_vectors folder, say), named family_<role>."""
    return {
        f"family_{role}": path
        for role, path in kit_config.model_inputs(CONFIG, wildcards.model).items()
    }


def family_inputs_arg(wildcards, input):
    roles = kit_config.model_inputs(CONFIG, wildcards.model)
    pairs = [
        shell_quote(f"{role}={getattr(input, f'family_{role}')}") for role in roles
    ]
    return f"--inputs {' '.join(pairs)}" if pairs else ""


def fold_extra_args(wildcards, input):
    args = [f"--pool {shell_quote(input.pool)}" if "pool" in input.keys() else ""]
    if "pseudo_rows" in input.keys():
        args.append(f"--pseudo-rows {shell_quote(input.pseudo_rows)}")
    if kit_config.variant_kind(CONFIG, wildcards.variant) == "augment":
        args.append(
            f"--augment-json {shell_quote(settings_json(CONFIG.augment[wildcards.variant]))}"
        )
        args.append(
            f"--corpus {shell_quote(input.corpus)} --userdict {shell_quote(input.userdict)}"
        )
        if "synonyms" in input.keys():
            args.append(f"--synonyms {shell_quote(input.synonyms)}")
    return " ".join(arg for arg in args if arg)


def merge_extra_args(wildcards, input):
    if kit_config.variant_kind(CONFIG, wildcards.variant) == "text":
        return ""
    args = f"--variant {wildcards.variant}"
    if "pseudo_manifest" in input.keys():
        args += f" --variant-manifest {shell_quote(input.pseudo_manifest)}"
    return args


def teacher_files(wildcards):
    teacher = kit_config.teacher_artifact(CONFIG, wildcards.pseudo)
    base = CONFIG.pseudo[wildcards.pseudo].base_variant
    return {
        "npz": f"oof/{teacher}/oof.npz",
        "manifest": f"oof/{teacher}/manifest.json",
        "pool": f"data/variants/{base}/pool.parquet",
    }


def pseudo_settings_json(wildcards):
    from kit.hashing import canonical_json
    from kit.settings import to_dict

    return canonical_json(to_dict(CONFIG.pseudo[wildcards.pseudo]))


def pseudo_identity(wildcards):
    """What decides a pseudo variant's rows: its settings without those at their default, so that a release adding
    a setting re-runs nothing."""
    return canonical_json(identity(CONFIG.pseudo[wildcards.pseudo]))


def model_entry(wildcards):
    return CONFIG.models[wildcards.model]


def model_params_json(wildcards):
    """The whole model entry (identity or not): what the command parses; its identity is config_hash."""
    return kit_config.model_params_json(CONFIG, wildcards.model)


def model_kind(wildcards):
    return model_entry(wildcards).kind


def model_gpus(wildcards):
    return model_entry(wildcards).run.gpu


def model_threads(wildcards):
    return model_entry(wildcards).run.threads


def backbone_source(model):
    """The `backbone: {scratch: ...}` or `{post_train: ...}` of a transformer entry; None for a hub name, a folder
    or another family."""
    backbone = getattr(CONFIG.models[model].params, "backbone", None)
    source = getattr(backbone, "backbone", None)
    return source if isinstance(source, BackboneSource) else None


def built_backbones():
    """Folder name (scratch-<hash>, post-<hash>) -> BackboneSource, for every backbone the models need built:
    theirs, and the scratch base of their post-training. One spec, one folder: entries that share it share the
    build (a post-trained backbone used by three heads is trained once).
    """
    built = {}
    for model in CONFIG.models:
        source = backbone_source(model)
        for needed in (source, source and source.base_source()):
            if needed is not None:
                built[needed.folder_name()] = needed
    return built


BACKBONES = "models/backbones"
BUILT_BACKBONES = built_backbones()


def backbone_input(wildcards):
    source = backbone_source(wildcards.model)
    return [] if source is None else f"{BACKBONES}/{source.folder_name()}"


def backbone_arg(wildcards, input):
    return f"--backbone-dir {shell_quote(input.backbone)}" if input.backbone else ""


def scratch_spec_json(wildcards):
    source = BUILT_BACKBONES[f"scratch-{wildcards.backbone_hash}"]
    return canonical_json(to_dict(source.scratch))


def post_train_source(wildcards):
    return BUILT_BACKBONES[f"post-{wildcards.backbone_hash}"]


def post_train_spec_json(wildcards):
    return canonical_json(to_dict(post_train_source(wildcards).post_train))


def post_train_identity(wildcards):
    """What decides the post-trained weights (not the checkpoint cadence)."""
    return canonical_json(identity(post_train_source(wildcards).post_train))


def post_train_base_input(wildcards):
    base = post_train_source(wildcards).base_source()
    return [] if base is None else f"{BACKBONES}/{base.folder_name()}"


def post_train_base_arg(wildcards, input):
    return f"--base-dir {shell_quote(input.base)}" if input.base else ""


def post_train_runs(wildcards):
    """The scheduling keys (ModelRun) of the model entries that fine-tune this backbone."""
    folder = post_train_source(wildcards).folder_name()
    runs = []
    for model, entry in CONFIG.models.items():
        source = backbone_source(model)
        if source is not None and source.folder_name() == folder:
            runs.append(entry.run)
    return runs


def post_train_threads(wildcards):
    """Post-training runs once for all its users: with the most threads any of them asks."""
    return max(run.threads for run in post_train_runs(wildcards))


def post_train_gpus(wildcards):
    return max(run.gpu for run in post_train_runs(wildcards))


def fold_files(wildcards):
    name = f"{wildcards.model}.{wildcards.variant}.s{wildcards.seed}"
    return [f"oof/{name}/fold{fold}.npz" for fold in FOLDS]


def fold_model_dirs(wildcards):
    name = experiment_name(wildcards)
    return [f"models/folds/{name}/fold{fold}" for fold in FOLDS]


def kept_flag(wildcards):
    """--kept when keep_models keeps this experiment's fold models (kit.config.kept_experiments)."""
    return "--kept" if experiment_name(wildcards) in KEPT else ""


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


def ensemble_identity(wildcards):
    return kit_config.ensemble_identity_hash(CONFIG, wildcards.ensemble)


def variant_identity(wildcards):
    """The code of a plugin's text variant (kit.config.code_identity); empty for the kit's own."""
    return canonical_json(
        kit_config.code_identity(kit_config.registry.VARIANTS, wildcards.variant)
    )


def final_candidates():
    """With final: auto every ensemble competes (every experiment if there is none); else the named one."""
    return kit_config.final_candidates(CONFIG)


def final_candidate_npz(wildcards):
    return [f"oof/{name}/oof.npz" for name in final_candidates()]


def final_candidate_manifests(wildcards):
    return [f"oof/{name}/manifest.json" for name in final_candidates()]


# ------------------------------------------------------------------------------- the corpus and word vectors

CORPUS = kit_corpus.FOLDER


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


def corpus_settings_json(wildcards=None):
    return settings_json(CONFIG.corpus)


def corpus_identity():
    """What decides the corpus: its settings without those at their default."""
    return canonical_json(identity(CONFIG.corpus))


def word_vectors_entry(wildcards):
    if wildcards.vectors not in CONFIG.word_vectors:
        raise ValueError(
            f"models/word_vectors/{wildcards.vectors}: the config's word_vectors has no entry "
            f"{wildcards.vectors!r} (it has {sorted(CONFIG.word_vectors)})"
        )
    return CONFIG.word_vectors[wildcards.vectors]


def word_vectors_json(wildcards):
    return settings_json(word_vectors_entry(wildcards))


def word_vectors_identity(wildcards):
    """What decides the vectors (not the probe words the log shows)."""
    return canonical_json(identity(word_vectors_entry(wildcards)))


# The leaderboard log (kit lb), adversarial validation and experiment tracking.
LEADERBOARD_LOG = "lb.csv"


def leaderboard_log(wildcards):
    """lb.csv once a score is recorded (a person writes it, no rule does); the figure notes its absence."""
    return [LEADERBOARD_LOG] if os.path.exists(LEADERBOARD_LOG) else []


def leaderboard_log_arg(wildcards, input):
    return f"--lb {shell_quote(input[0])}" if len(input) else ""


def all_artifact_figures(wildcards):
    """Each artifact's figure, in the order of all_artifacts()."""
    return [
        (
            f"figures/ensembles/{name.removeprefix('ensemble.')}.png"
            if name.startswith("ensemble.")
            else f"figures/experiments/{name}.png"
        )
        for name in all_artifacts()
    ]


def tracking_targets():
    """The MLflow log of every artifact, with tracking: mlflow (a separate rule: no fold job depends on it)."""
    return ["tracking/mlflow.json"] if CONFIG.tracking == "mlflow" else []


def tracking_uri_arg():
    uri = CONFIG.tracking_uri
    return f"--uri {shell_quote(uri)}" if uri else ""
