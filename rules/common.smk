# Helpers that expand the (model x seed x variant x fold) matrix; rules only wire files.
import os
import sys

from kit import config as kit_config
from kit import layout
from kit.hashing import canonical_json
from kit.models.transformer.config import backbone_source
from kit.settings import from_command_line, identity, to_dict, yaml_text

# The whole config parsed and checked before any job is planned; a mistake stops here with its key named, in one
# line rather than Snakemake's listing of frames.
# `--config` values arrive as text (`seeds=[0, 1]` is ['0', '1']): each is read by its field's type.
try:
    kit_config.refuse_repeated_config_flags(sys.argv)
    CONFIG = kit_config.load(
        from_command_line(config, dict(workflow.config_settings.config)),
        files=workflow.configfiles,
    )
except ValueError as error:
    sys.exit(f"error: {error}")
# A folder's first plan records its config; a run that starts jobs records its own (onstart, in the Snakefile), so a
# dry run or --lint after a run leaves the record of the run alone.
if workflow.is_main_process and not os.path.exists(layout.RUN_CONFIG):
    kit_config.record_run_config(CONFIG, layout.RUN_CONFIG, workflow.configfiles)


wildcard_constraints:
    **kit_config.WILDCARD_PATTERNS,


EXPERIMENTS = {exp.name: exp for exp in kit_config.matrix(CONFIG)}
FOLDS = list(range(CONFIG.folds.k))
SPLITS = ["train", "test"] + (["unlabeled"] if CONFIG.data.unlabeled else [])
PLUGINS = list(CONFIG.plugins)
# With pseudo variants, teachers label the pool: every text variant writes the pool's texts too.
POOL = layout.POOL if CONFIG.pseudo else None
POOL_TEACHERS = kit_config.pool_teachers(CONFIG)
KEPT = kit_config.kept_experiments(CONFIG)


def all_targets():
    """Every experiment and ensemble artifact, a submission per ensemble, the final one, and the report's figures
    (so that `snakemake --report report.html` works on any finished run)."""
    targets = [layout.artifact_files(name)["manifest"] for name in all_artifacts()]
    targets += [layout.retention(name) for name in EXPERIMENTS]
    targets += [
        layout.submission(f"ensemble.{name}")["csv"] for name in CONFIG.ensembles
    ]
    final = layout.submission("final")["csv"]
    return [*targets, final, *figure_targets(), *tracking_targets()]


def record_run_config():
    """When a run starts jobs (onstart; never a dry run, nor a cluster job's own Snakemake): its whole config into
    layout.RUN_CONFIG, which `kit scores` checks artifacts against."""
    kit_config.record_run_config(CONFIG, layout.RUN_CONFIG, workflow.configfiles)


def set_aside_earlier_runs():
    """After a successful run: move what an earlier run left here (kit.stale) to stale/, saying so."""
    from kit.stale import set_aside

    set_aside(".", log=lambda line: print(line, file=sys.stderr))


def figure_targets():
    """The report's figures: EDA, one per experiment and ensemble, the final submission and the disagreements."""
    targets = [layout.eda_figure(name) for name in layout.EDA_FIGURES]
    targets += [layout.artifact_figure(name) for name in all_artifacts()]
    targets += [layout.adversarial_files(variant)["png"] for variant in text_variants()]
    finals = ("final", "disagreements", "cv_vs_lb")
    return [*targets, *(layout.final_figure(name) for name in finals)]


def text_variants():
    """The text variants the experiments read (a pseudo or augment variant reads its base's files), in the
    registry's order, so that the order of the config's keys changes no param."""
    order = kit_config.registry.names(kit_config.registry.VARIANTS)
    used = {
        kit_config.text_variant(CONFIG, exp.variant) for exp in EXPERIMENTS.values()
    }
    return [variant for variant in order if variant in used]


def variant_split_files(split):
    return [layout.variant_files(variant)[split] for variant in text_variants()]


def max_lens_json():
    """model -> max_len of every model entry that truncates its texts (a transformer's max_len)."""
    from kit.hashing import canonical_json

    lens = {
        name: kit_config.model_params(CONFIG, name).get("max_len")
        for name in CONFIG.models
    }
    return canonical_json({name: n for name, n in lens.items() if n})


def artifact_files(names, role):
    """The npz or manifest (role) of each artifact named, in order."""
    return [layout.artifact_files(name)[role] for name in names]


def all_artifact_npz(wildcards):
    return artifact_files(all_artifacts(), "npz")


def all_artifact_manifests(wildcards):
    return artifact_files(all_artifacts(), "manifest")


def all_artifacts():
    return list(EXPERIMENTS) + [f"ensemble.{name}" for name in CONFIG.ensembles]


# A file a command may or may not get (the unlabelled split, the pool, a built backbone) is a list of one path or
# none, so every command line is written whole (`--unlabeled {input.unlabeled:q}`) and the option takes 0 or 1 value.


def competition_files(wildcards):
    """The competition's CSVs; unlabeled is none when the config names no unlabelled file."""
    return {
        split: [getattr(CONFIG.data, split)] if split in SPLITS else []
        for split in ("train", "test", "unlabeled")
    }


def interim_outputs():
    return {f"out_{split}": layout.interim(split) for split in SPLITS}


def optional_output(role):
    """A params function: the output called role when the rule has one (the unlabelled split only with an
    unlabelled file), else none. Derived from the outputs, so Snakemake leaves it out of its params comparison.
    """

    def param(wildcards, output):
        return getattr(output, role, [])

    return param


def role_paths(prefix):
    """A params function: `role=path` for each input named <prefix><role> (what a fold job reads beyond its
    variant's files), for the command's ROLE=PATH option. Derived from the inputs, so never compared.
    """

    def param(wildcards, input):
        return [
            f"{name.removeprefix(prefix)}={path}"
            for name, path in input.items()
            if name.startswith(prefix)
        ]

    return param


CLASSES = list(CONFIG.classes)
# columns.id_pattern as the command line writes it (null: any printable id).
ID_PATTERN = yaml_text(CONFIG.columns.id_pattern)


def run_only(value_of):
    """A params function for what reaches a command but decides none of its numbers (a checkpoint cadence, the
    prediction batch size, the list of plugin modules to import). Snakemake re-runs a job whose params changed, but
    leaves out the params derived from its threads, resources, input or output; asking for `threads` marks this one
    so. What decides the numbers travels as a rule's `identity` param instead (kit.config's identity hashes).
    """

    def param(wildcards, threads):
        return value_of(wildcards)

    return param


def plugin_modules(wildcards):
    """The config's plugin modules: every command that may meet a plugin's declaration imports them first."""
    return PLUGINS


def variant_inputs(wildcards):
    """A text variant's inputs: the ingested train and test splits, and the pool when there are teachers."""
    inputs = {"train": layout.interim("train"), "test": layout.interim("test")}
    return inputs | {"pool": [POOL] if POOL else []}


def variant_outputs():
    return layout.variant_files("{variant}", pool=bool(POOL))


def pool_inputs(wildcards):
    return {
        "test": layout.interim("test"),
        "unlabeled": [layout.interim("unlabeled")] if CONFIG.data.unlabeled else [],
    }


def experiment_files(wildcards):
    """What a fold job and its merge read: the text variant's files, the pool when the experiment teaches (none
    otherwise), and the files the variant's kind declares (kit.registry.VariantKind.inputs: a pseudo variant's
    rows, an augmented one's corpus), named variant_<role>."""
    files = layout.variant_files(
        kit_config.text_variant(CONFIG, wildcards.variant), pool=True
    )
    if experiment_name(wildcards) not in POOL_TEACHERS:
        files["pool"] = []
    declared = kit_config.variant_inputs(CONFIG, wildcards.variant)
    return files | {f"variant_{role}": path for role, path in declared.items()}


def family_inputs(wildcards):
    """The workflow files the model's family reads beyond the variant's (kit.registry.Family.inputs: the corpus, a
    word vectors' .kv and .json, a built backbone), named family_<role>."""
    return {
        f"family_{role}": path
        for role, path in kit_config.model_inputs(CONFIG, wildcards.model).items()
    }


def variant_kind(wildcards):
    """'text', or the kind of a training-only variant (pseudo, augment, a plugin's)."""
    return kit_config.variant_kind(CONFIG, wildcards.variant)


def variant_settings_json(wildcards):
    """A training-only variant's whole entry ({} for a text variant); its identity is in config_hash."""
    entry = kit_config.variant_entry(CONFIG, wildcards.variant)
    return "{}" if entry is None else settings_json(entry)


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


# Scheduling. With more ready jobs than cores, Snakemake starts the highest priority first. A run's longest chain is
# corpus -> backbone -> post-training -> the torch models' fold jobs (the slowest of all), so the build steps go
# first, then those fold jobs, and the linear models fill the cores around them: started in Snakemake's own order,
# post-training waited 3.5 minutes behind linear fold jobs (bench/bench_scale.py --size tenth).
BUILD_PRIORITY = 2


def fold_priority(wildcards):
    """1 for a torch family's fold job (kit.registry.Family.torch), else 0."""
    return int(kit_config.registry.family(model_kind(wildcards)).torch)


# ------------------------------------------------------------------------------------------------ build steps
# The corpus, word vectors, built and post-trained backbones and pseudo rows are build steps (kit.registry.BuildStep):
# each rule reads its files, log, settings and identity from the step's declaration through these helpers.

BUILD_STEPS = kit_config.registry.names(kit_config.registry.BUILD_STEPS)
STEP_ENTRIES = {step: kit_config.step_entries(CONFIG, step) for step in BUILD_STEPS}


def build_step(step):
    return kit_config.registry.build_step(step)


def step_pattern(step):
    """The entry as the step's file patterns write it: its wildcard, or the step's name for a step of one entry."""
    wildcard = build_step(step).wildcard
    return step if wildcard is None else f"{{{wildcard}}}"


def step_entry(step, wildcards):
    """(entry, settings) of the job's entry, named by the step's wildcard."""
    declared = build_step(step)
    entry = step if declared.wildcard is None else wildcards[declared.wildcard]
    if entry not in STEP_ENTRIES[step]:
        wanted = ", ".join(
            kit_config.registry.resolve(declared.outputs)(entry).values()
        )
        raise ValueError(
            f"{wanted}: the config's {declared.section} has no entry {entry!r} to make it from "
            f"(it has {sorted(STEP_ENTRIES[step])})"
        )
    return entry, STEP_ENTRIES[step][entry]


def step_inputs(step):
    """An input function: the files the step reads for the job's entry, by role."""

    def inputs(wildcards):
        return kit_config.step_inputs(CONFIG, step, step_entry(step, wildcards)[0])

    return inputs


def step_outputs(step):
    """The files the step writes, by role, its save_pretrained folders as directory()."""
    declared = build_step(step)
    outputs = kit_config.registry.resolve(declared.outputs)(step_pattern(step))
    return {
        role: directory(path) if role in declared.folders else path
        for role, path in outputs.items()
    }


def step_log(step):
    declared = build_step(step)
    if declared.log is not None:
        return kit_config.registry.resolve(declared.log)(step_pattern(step))
    return layout.log(step, None if declared.wildcard is None else step_pattern(step))


def step_settings(step):
    """A run_only param: the job's whole entry as canonical JSON, what the command parses."""
    return run_only(lambda wildcards: settings_json(step_entry(step, wildcards)[1]))


def step_identity(step):
    """What decides the step's output: its entry without the fields at their default or marked identity=False, so
    that a release adding a setting re-runs nothing."""

    def param(wildcards):
        return canonical_json(identity(step_entry(step, wildcards)[1]))

    return param


def settings_json(settings):
    """A typed config entry as canonical JSON: the same entry with its keys in another order gives the same text."""
    return canonical_json(to_dict(settings))


def post_train_runs(wildcards):
    """The scheduling keys (ModelRun) of the model entries that fine-tune this backbone (hybrid wordvec ones too)."""
    folder = layout.post_trained(wildcards.backbone_hash)
    runs = []
    for entry in CONFIG.models.values():
        source = backbone_source(entry.params)
        if source is not None and source.folder_name() == folder:
            runs.append(entry.run)
    return runs


def post_train_threads(wildcards):
    """Post-training runs once for all its users: with the most threads any of them asks."""
    return max(run.threads for run in post_train_runs(wildcards))


def post_train_gpus(wildcards):
    return max(run.gpu for run in post_train_runs(wildcards))


def fold_files(wildcards):
    return [layout.fold_file(experiment_name(wildcards), fold) for fold in FOLDS]


def fold_model_dirs(wildcards):
    return [layout.fold_model(experiment_name(wildcards), fold) for fold in FOLDS]


def kept(wildcards):
    """Whether keep_models keeps this experiment's fold models (kit.config.kept_experiments)."""
    return yaml_text(experiment_name(wildcards) in KEPT)


def config_hash(wildcards):
    return kit_config.experiment_config_hash(
        CONFIG, EXPERIMENTS[experiment_name(wildcards)]
    )


def experiment_name(wildcards):
    return f"{wildcards.model}.{wildcards.variant}.s{wildcards.seed}"


def ensemble_members(wildcards):
    return kit_config.ensemble_members(CONFIG, wildcards.ensemble)


def ensemble_member_npz(wildcards):
    return artifact_files(ensemble_members(wildcards), "npz")


def ensemble_member_manifests(wildcards):
    return artifact_files(ensemble_members(wildcards), "manifest")


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
    return artifact_files(final_candidates(), "npz")


def final_candidate_manifests(wildcards):
    return artifact_files(final_candidates(), "manifest")


# The leaderboard log (kit lb), adversarial validation and experiment tracking.


def leaderboard_log(wildcards):
    """lb.csv once a score is recorded (a person writes it, no rule does); the figure notes its absence."""
    return [layout.LEADERBOARD_LOG] if os.path.exists(layout.LEADERBOARD_LOG) else []


def all_artifact_figures(wildcards):
    """Each artifact's figure, in the order of all_artifacts()."""
    return [layout.artifact_figure(name) for name in all_artifacts()]


def tracking_targets():
    """The MLflow log of every artifact, with tracking: mlflow (a separate rule: no fold job depends on it)."""
    return [layout.TRACKING] if CONFIG.tracking == "mlflow" else []


# The MLflow tracking URI, none for the default store.
TRACKING_URI = [CONFIG.tracking_uri] if CONFIG.tracking_uri else []
