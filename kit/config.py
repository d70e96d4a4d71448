"""The config: one typed object (kit.settings), parsed and checked whole at plan time, then the experiment matrix.

`load(mapping)` turns the YAML config into a `Config`: every key typed, defaulted and range-checked, every model
entry parsed by its family's settings and every ensemble entry by its method's (kit.registry), and the rules a
single entry cannot check: variants that exist, ensemble members that exist and are enough for the method, no
ensemble cycle, a final choice that exists, data paths that are files (kit.input_files). A mistake stops
`snakemake -n` with its key named. Given the config files Snakemake read, it reads them again strictly first
(kit.strict_yaml): Snakemake's plain YAML takes a key given twice and keeps aliases unexpanded, to be expanded by
whatever walks the config.

The Snakefile calls these helpers (through rules/common.smk) to expand (model x seed x variant x fold); they are
plain functions of the typed config, tested without Snakemake. Nothing here imports numpy, pandas or torch.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from kit import input_files, registry, strict_yaml
from kit.augment import AugmentSettings
from kit.corpus import CorpusSettings
from kit.data_settings import Columns, DataSettings, IngestSettings
from kit.hashing import canonical_json, sha256_json
from kit.pseudo import PoolSettings, PseudoSettings
from kit.pseudo import teacher_artifact as pseudo_teacher_artifact
from kit.settings import (Settings, coerce, fail, identity, near, parse, references, refuse_option_like,
                          setting, to_dict)
from kit.sweeps import best_of_sweep_spec, expand_sweeps, swept_models
from kit.word_vectors import WordVectorSettings

# The competition's own layout: file names as shipped, and where the demo writes its copies.
COMPETITION_FILES = {
    "train": "nCoV_100k_train.labled.csv",
    "test": "nCov_10k_test.csv",
    "unlabeled": "nCoV_900k_train.unlabled.csv",
}
DEMO_DIR = "data/demo"
DEMO_FILES = {split: f"{DEMO_DIR}/{name}" for split, name in COMPETITION_FILES.items()}
DEFAULT_CLASSES = ("-1", "0", "1")

NAME = r"[A-Za-z0-9_-]+"  # model and ensemble names: folder names and Snakemake wildcards
VARIANT_NAME = r"[a-z][a-z0-9_]*"
# Class labels reach file names, CSV cells and command lines: letters (any script), digits and - + . _ only.
CLASS_LABEL = r"[\w.+-]+"
# What a command line takes for a negative number rather than an option (argparse's own rule).
NEGATIVE_NUMBER = r"-\d+|-\d*\.\d+"
# Regexes for every wildcard: without them `oof/{exp}/fold{k}.npz` style patterns match themselves recursively.
WILDCARD_PATTERNS = {
    "model": NAME,
    "variant": VARIANT_NAME,
    "seed": r"\d+",
    "fold": r"\d+",
    "ensemble": NAME,
    "pseudo": VARIANT_NAME,
    "split": r"train|test|unlabeled",
    "artifact": rf"ensemble\.{NAME}|{NAME}\.{VARIANT_NAME}\.s\d+",
    "vectors": NAME,
    "backbone_hash": r"[0-9a-f]{16}",  # a built backbone's folder: scratch-<hash>, post-<hash>
}


@dataclass
class FoldSettings(Settings):
    k: int = setting(5, "folds: every model is trained k times, each time predicting one fold", ge=2, le=127)
    seed: int = setting(42, "seed of the fold assignment (stratified by label, duplicates kept together)", ge=0)


@dataclass
class ModelRun(Settings):
    """The keys of a model entry that steer the matrix and the scheduler, not the model."""

    kind: str = setting(help="the model family (kit.registry): sklearn, transformer, or a plugin's")
    gpu: int = setting(0, "GPUs one fold job leases (0: a CPU model)", ge=0, identity=False)
    threads: int = setting(1, "CPU threads one fold job uses", ge=1, identity=False)
    seeds: tuple[int, ...] | None = setting(None, "this model's seeds (null: the top-level seeds)", ge=0,
                                            min_items=1, unique=True, identity=False)
    variants: tuple[str, ...] | None = setting(None, "this model's text variants (null: the top-level variants)",
                                               pattern=VARIANT_NAME, min_items=1, unique=True, identity=False)


@dataclass(frozen=True)
class Dispatched:
    """An entry whose keys depend on one of them (a model's `kind`, an ensemble's `method`): the keys every such
    entry takes (`COMMON`), and the rest parsed by the settings that `REGISTRY` declares for the selector's value."""

    common: Settings
    params: Settings

    SELECTOR: ClassVar[str]
    COMMON: ClassVar[type]
    REGISTRY: ClassVar[registry.Registry]
    MISSING_HINT: ClassVar[str] = ""  # added when the selector is missing; {name} is the entry's name

    @classmethod
    def matches_setting(cls, value) -> bool:
        return isinstance(value, Mapping)

    @classmethod
    def parse_setting(cls, value: Mapping, path: str):
        if cls.SELECTOR not in value:
            raise fail(f"{path}.{cls.SELECTOR}", f"is required: one of {registry.names(cls.REGISTRY)}"
                       + cls.MISSING_HINT.format(name=path.rpartition(".")[2]))
        declared = registry.lookup(cls.REGISTRY, value[cls.SELECTOR], f"{path}.{cls.SELECTOR}")
        common_keys = set(cls.COMMON.__dataclass_fields__)
        common = parse(cls.COMMON, {k: v for k, v in value.items() if k in common_keys}, path)
        return cls(common, parse(declared.params, {k: v for k, v in value.items() if k not in common_keys}, path))

    @classmethod
    def setting_schema(cls) -> dict:
        from kit.settings import json_schema

        common = json_schema(cls.COMMON)
        choices = []
        for name in registry.names(cls.REGISTRY):
            schema = json_schema(registry.lookup(cls.REGISTRY, name).params)
            schema["properties"] = {**common["properties"], **schema["properties"], cls.SELECTOR: {"const": name}}
            schema["required"] = [cls.SELECTOR, *schema.get("required", [])]
            choices.append(schema)
        return {"oneOf": choices}

    def to_setting(self, only_identity: bool = False) -> dict:
        return {**to_dict(self.common, only_identity=only_identity),
                **to_dict(self.params, only_identity=only_identity)}


@dataclass(frozen=True)
class ModelEntry(Dispatched):
    """One `models:` entry: the scheduling keys (ModelRun) and the family's own settings, parsed by kind."""

    SELECTOR, COMMON, REGISTRY = "kind", ModelRun, registry.FAMILIES
    MISSING_HINT = ("; to change one key of a model, name it exactly as its entry does (--config and a data-only "
                    "config file merge into the entry of that name), and a config file that lists models: replaces "
                    "the default matrix, so each of its entries is whole")
    run = property(lambda self: self.common, doc="the scheduling keys (ModelRun)")
    kind = property(lambda self: self.common.kind, doc="the model family")


@dataclass
class EnsembleCommon(Settings):
    """The keys every ensemble entry takes, whatever its method."""

    method: str = setting(help="the ensemble method (kit.registry): mean, caruana, stack, ...")
    members: Literal["all"] | tuple[str, ...] = setting(
        "all", "'all' (every experiment) or a list of experiment and ensemble names", min_items=1)
    class_weights: bool = setting(False, "search per-class weights for macro-F1 on top (cross-fitted with the rest)")
    class_weight_starts: int = setting(3, "starts of the class-weight search: w = 1, then seeded random ones", ge=1)
    seed: int = setting(0, "seed of the class-weight starts, Caruana's bags and the level-2 model", ge=0)


@dataclass(frozen=True)
class EnsembleEntry(Dispatched):
    """One `ensembles:` entry: the common keys and the method's own settings, parsed by method."""

    SELECTOR, COMMON, REGISTRY = "method", EnsembleCommon, registry.METHODS
    method = property(lambda self: self.common.method, doc="the ensemble method")


@dataclass(frozen=True)
class Experiment:
    """One cell of the matrix; its name is the folder of its artifact under oof/."""

    model: str
    variant: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}.{self.variant}.s{self.seed}"


@dataclass
class Config(Settings):
    """The kit's config: what the experiment is. Threads per run, GPUs at once and executors come from the
    command line or a Snakemake profile, never from here."""

    data: DataSettings = setting(help="the competition's files")
    models: dict[str, ModelEntry] = setting(
        help="named model entries; each expands over its seeds x variants x folds", pattern=NAME, min_items=1)
    classes: tuple[int | str, ...] = setting(
        DEFAULT_CLASSES, "the labels, in logit-column order; train rows with any other label are dropped and counted",
        min_items=2)
    columns: Columns = setting(Columns(), "column names of the competition files")
    ingest: IngestSettings = setting(IngestSettings(), "ingest rules that have a choice")
    folds: FoldSettings = setting(FoldSettings(), "the one fold file every experiment shares")
    variants: tuple[str, ...] = setting(("raw", "cleaned"), "text variants every model runs on unless its entry "
                                        "narrows them", pattern=VARIANT_NAME, min_items=1, unique=True)
    seeds: tuple[int, ...] = setting((0,), "seeds every model runs with unless its entry narrows them", ge=0,
                                     min_items=1, unique=True)
    ensembles: dict[str, EnsembleEntry] = setting({}, "named ensemble entries", pattern=NAME)
    final: str = setting("auto", "subs/final.csv: an ensemble or experiment name, or auto = the ensemble or "
                                 "experiment with the best honest OOF macro-F1 (an ensemble on a tie)")
    # What `kit predict` needs is kept by default because it is cheap: on the default demo run 12.9 MB beside the
    # 18 MB of oof/, and 2.2 s of writing in all 40 fold jobs together.
    keep_models: Literal["auto", "all", "none"] = setting(
        "auto", "fold models kept in models/folds/ for `kit predict`: auto = the members of the ensembles "
                "subs/final.csv chooses from (every experiment when there is none), all, or none", identity=False)
    plugins: tuple[str, ...] = setting((), "Python modules imported first, which may register model families, "
                                           "ensemble methods, text variants and variant kinds (kit/registry.py)")
    pool: PoolSettings = setting(PoolSettings(), "the rows teachers label for pseudo variants")
    pseudo: dict[str, PseudoSettings] = setting(
        {}, "pseudo-labelled variants: each trains its students on a text variant plus pool rows its teacher "
            "labelled without seeing the fold; usable in variants: like raw and cleaned", pattern=VARIANT_NAME)
    augment: dict[str, AugmentSettings] = setting(
        {}, "augmented variants: each adds EDA copies of every fold's training rows (never of OOF or test rows)",
        pattern=VARIANT_NAME)
    corpus: CorpusSettings = setting(CorpusSettings(), "the text corpus for representation learning (built only "
                                                       "when something needs it)")
    word_vectors: dict[str, WordVectorSettings] = setting({}, "named word-vector entries, trained on the corpus",
                                                          pattern=NAME)
    # Logged after the run by its own rule (rules/tracking.smk), so switching it re-runs no fold job.
    tracking: Literal["none", "mlflow"] = setting(
        "none", "mlflow: log every experiment and ensemble (settings, identity hash, scores, figures) to MLflow "
                "(pip install -e '.[tracking]'); none: off", identity=False)
    tracking_uri: str | None = setting(None, "the MLflow tracking URI; null: a SQLite store under mlruns/ in the "
                                             "run folder", identity=False)

    def check(self, path: str) -> None:
        self.classes = tuple(str(label) for label in self.classes)
        for label in self.classes:
            if not re.fullmatch(CLASS_LABEL, label):
                raise fail("classes", f"label {label!r} may hold only letters, digits and - + . _ (labels reach "
                                      "file names, CSV cells and command lines)")
            if not re.fullmatch(NEGATIVE_NUMBER, label):
                refuse_option_like("classes", label, "only a negative number may start with '-'")
        if len(set(self.classes)) != len(self.classes):
            raise fail("classes", f"has duplicates: {list(self.classes)}")
        # A file that names only one of train and test would pair it with the demo's other file: a run that trains on
        # the synthetic posts, or predicts the demo's test ids, and writes a well-formed, worthless submission.
        kept = [role for role in ("train", "test") if is_demo_file(getattr(self.data, role), role)]
        if len(kept) == 1:
            role, other = kept[0], {"train": "test", "test": "train"}[kept[0]]
            raise fail(f"data.{role}", f"is still the demo's file ({DEMO_FILES[role]}) while data.{other} names "
                                       f"yours ({getattr(self.data, other)}); set data.{role} too")
        # A --configfile that names only train and test must not inherit the demo's unlabeled file from the defaults.
        if is_demo_file(self.data.unlabeled, "unlabeled") and not is_demo_file(self.data.train, "train"):
            self.data.unlabeled = None
        self._check_variants()
        self._check_references()
        experiments = {exp.name for exp in matrix(self)}
        for name in self.ensembles:
            self._check_ensemble(name, experiments)
        for name, entry in self.pseudo.items():
            if teacher_artifact(self, name) is None:
                raise fail(f"pseudo.{name}.teacher", f"{entry.teacher!r} is neither an experiment nor an ensemble; "
                                                     f"{near(entry.teacher, [*experiments, *self.ensembles])}")
        _refuse_cycles(self)
        if self.final != "auto" and self.final not in experiments and self.final not in self.ensembles:
            raise fail("final", f"{self.final!r} is not 'auto', an ensemble or an experiment; "
                                f"{near(self.final, [*self.ensembles, *experiments])}")

    @classmethod
    def open_keys(cls) -> dict:
        """A plugin's variant kind is a block of its own (`<kind>: {name: entry}`), like pseudo: and augment:."""
        return {kind: dict[str, registry.variant_kind(kind).params]
                for kind in registry.names(registry.VARIANT_KINDS) if not hasattr(cls, kind)}

    def _check_variants(self) -> None:
        text_variants = registry.names(registry.VARIANTS)
        known = list(text_variants)
        for kind, block in variant_blocks(self).items():
            declared = registry.variant_kind(kind)
            for name, entry in block.items():
                if not re.fullmatch(VARIANT_NAME, name):
                    raise fail(f"{kind}.{name}", f"a variant's name must match {VARIANT_NAME} (it names folders)")
                if name in known:
                    raise fail(f"{kind}.{name}", "is already the name of another variant")
                known.append(name)
                if entry.base_variant not in text_variants:
                    raise fail(f"{kind}.{name}.base_variant", f"{entry.base_variant!r} is not a text variant; "
                                                              f"{near(entry.base_variant, text_variants)}")
                if declared.check is not None:
                    registry.resolve(declared.check)(name, entry, self)
        places = [("variants", self.variants)] + [
            (f"models.{model}.variants", entry.run.variants) for model, entry in self.models.items()
        ]
        for key, variants in places:
            for variant in variants or ():
                if variant not in known:
                    raise fail(key, f"unknown variant {variant!r}; {near(variant, known)}")
        for exp in matrix(self):
            variant = self.pseudo.get(exp.variant)
            kind = self.models[exp.model].common.kind
            if variant is not None and variant.targets == "soft" and not registry.family(kind).soft_targets:
                raise fail(f"models.{exp.model}.variants", f"pseudo variant {exp.variant!r} has soft targets, which "
                           f"kind {kind!r} cannot learn; give the model hard-target variants, or use a kind that "
                           f"learns soft targets ({', '.join(soft_target_kinds())})")

    def _check_references(self) -> None:
        """A model key that names an entry of another block (`vectors: w2v`) must name one that exists."""
        for model, entry in self.models.items():
            for key, block, name in references(entry.params, f"models.{model}"):
                known = getattr(self, block)
                if name not in known:
                    raise fail(key, f"names no {block} entry {name!r}; "
                                    + (near(name, known) if known else f"add one under {block}:"))

    def _check_ensemble(self, name: str, experiments: set[str]) -> None:
        entry, path = self.ensembles[name], f"ensembles.{name}"
        members = entry.common.members
        if members != "all":
            for member in members:
                if member not in experiments and member not in self.ensembles:
                    raise fail(f"{path}.members", f"{member!r} is neither an experiment nor an ensemble; "
                                                  f"{near(member, [*experiments, *self.ensembles])} (experiments "
                                                  "are named model.variant.sSEED)")
        weights = getattr(entry.params, "weights", None)
        if entry.method == "fixed":
            named = (experiments | set(self.ensembles)) - {name} if members == "all" else set(members)
            for member in weights:
                if member not in named:
                    raise fail(f"{path}.weights", f"names {member!r}, which is not among the members; "
                                                  f"{near(member, named)}")
        n_members = len(ensemble_members(self, name))
        least = registry.method(entry.method).min_members
        if n_members < least:
            raise fail(f"{path}.members", f"method {entry.method!r} needs at least {least} members, got {n_members}")


def soft_target_kinds() -> list[str]:
    return [kind for kind in registry.names(registry.FAMILIES) if registry.family(kind).soft_targets]


def _refuse_cycles(config: Config) -> None:
    """No artifact may depend on itself: ensembles on their members, experiments of a pseudo variant on its teacher.

    So ensembles may be members of ensembles but never of themselves, and a teacher cannot be (or contain) a student
    of the variant it teaches; several rounds are possible by naming a pseudo experiment's ensemble as the next
    round's teacher.
    """
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            cycle = trail[trail.index(node):] + [node]
            first_pseudo = next((n for n in cycle if n.startswith("pseudo variant ")), None)
            key = (f"pseudo.{first_pseudo.split()[-1]}.teacher" if first_pseudo
                   else f"ensembles.{cycle[0].removeprefix('ensemble.')}.members")
            raise fail(key, f"makes a cycle: {' -> '.join(cycle)}")
        state[node] = "open"
        for dependency in _dependencies(config, node):
            visit(dependency, trail + [node])
        state[node] = "done"

    for name in config.pseudo:
        visit(f"pseudo variant {name}", [])
    for name in config.ensembles:
        visit(f"ensemble.{name}", [])


def _dependencies(config: Config, node: str) -> list[str]:
    """The nodes a node's numbers depend on: an ensemble's members, an experiment's pseudo variant, a pseudo
    variant's teacher."""
    if node.startswith("pseudo variant "):
        return [teacher_artifact(config, node.split()[-1])]
    if node.startswith("ensemble."):
        return ensemble_members(config, node.removeprefix("ensemble."))
    variant = node.split(".")[1]
    return [f"pseudo variant {variant}"] if variant in config.pseudo else []


def is_demo_file(path: str | None, role: str) -> bool:
    """Whether path names the demo's file of that role, however it is spelt (./data/demo/..., an absolute path)."""
    return path is not None and Path(path).resolve() == Path(DEMO_FILES[role]).resolve()


# ------------------------------------------------------------------------------------------------ loading


def load_yaml(path: str | Path) -> dict:
    """The YAML file's mapping, read strictly (kit.strict_yaml: no key twice in a mapping, aliases expanded to a
    bounded size) from a file that is one (kit.input_files); a ValueError naming the file, its line and the key
    otherwise."""
    input_files.check(path)
    return strict_yaml.load_yaml(path)


def record_run_config(config: Config, path: str | Path, files: Iterable[str | Path]) -> None:
    """Write the whole config (every default filled in, `--config` values included) to `path`, where `kit scores`
    reads which artifacts are of this run; a file that already says the same is left alone. A folder that cannot be
    written costs only the record: the run goes on, and `kit scores` says it checked nothing."""
    from kit.artifacts import atomic_write_bytes

    sources = ", ".join(str(file) for file in files) or "the default config"
    text = (f"# The config of the last run that started jobs in this folder ({sources}, with any --config values), "
            "every default filled in.\n# Written by the workflow; `python -m kit scores` checks artifacts against it. "
            "Edit your config files, not this.\n" + config_yaml(config))
    path = Path(path)
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return
        atomic_write_bytes(path, text.encode("utf-8"))
    except (OSError, ValueError) as error:  # ValueError: kit.artifacts.OutputError, a refused output
        print(f"warning: could not record the run's config in {path} ({error}); `kit scores` will not tell this "
              "run's artifacts from earlier runs' without --configfile", file=sys.stderr)


def config_yaml(config: Config) -> str:
    """The whole config, every default filled in, as YAML (kit config --show prints it; the run's record holds it)."""
    import yaml

    return yaml.safe_dump(to_dict(config), allow_unicode=True, sort_keys=False, width=120)


def refuse_repeated_config_flags(argv: list[str]) -> None:
    """Snakemake keeps only the last of several `--config` (or `-C`) flags and drops the others without a word, so a
    command line with more than one is refused: every KEY=VALUE goes after one flag."""
    flags = [arg for arg in argv if arg in ("--config", "-C") or arg.startswith("--config=")]
    if len(flags) > 1:
        raise ValueError(f"the command line has {len(flags)} --config flags, and Snakemake would keep only the last "
                         "one's values; give them all after one flag: --config KEY=VALUE KEY=VALUE ...")


def lists_models(path: str | Path) -> bool:
    """Whether a config file holds a top-level `models:` (the Snakefile then leaves the default matrix out). Read
    leniently: a file that is not a readable YAML mapping says no here, and load()'s strict reading names its fault
    in one line."""
    import yaml

    if input_files.problem(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            mapping = yaml.safe_load(handle)  # aliases stay shared, never expanded, and `in` reads only the keys
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return False
    return isinstance(mapping, dict) and "models" in mapping


def load(mapping: Mapping, files: Iterable[str | Path] = ()) -> Config:
    """The whole config parsed and checked; SettingsError (a ValueError) naming the key at fault.

    files: the config files the mapping was loaded from (Snakemake's `workflow.configfiles`). Snakemake reads them
    with plain YAML, which takes a key given twice silently and keeps aliases unexpanded until something walks the
    config (its own json.dumps of it, before any job); each is read again strictly here, and the mapping itself
    (with any `--config` values) is measured the same way, before anything walks it.
    The plugin modules are imported first, so that their families, methods and variants are known to the parse.
    """
    for path in files:
        load_yaml(path)
    strict_yaml.measure(mapping)
    plugins = coerce(mapping.get("plugins", ()), tuple[str, ...], "plugins") if isinstance(mapping, Mapping) else ()
    registry.load_plugins(plugins)
    swept = {}
    if isinstance(mapping, Mapping) and isinstance(mapping.get("models"), Mapping):
        swept = swept_models(mapping["models"])
        mapping = {**mapping, "models": expand_sweeps(mapping["models"])}  # a sweep: is one entry per point
    config = parse(Config, mapping, "")
    for model, points in swept.items():
        name = f"best_of_{model}"
        if name not in config.ensembles:
            experiments = [exp.name for exp in matrix(config) if exp.model in points]
            config.ensembles[name] = EnsembleEntry.parse_setting(best_of_sweep_spec(experiments), f"ensembles.{name}")
    return config


def matrix(config: Config) -> list[Experiment]:
    """Every (model x seed x variant) the config asks for, in config order."""
    experiments = []
    for model, entry in config.models.items():
        for seed in entry.run.seeds or config.seeds:
            for variant in entry.run.variants or config.variants:
                experiments.append(Experiment(model, variant, int(seed)))
    return experiments


def teacher_artifact(config: Config, pseudo: str) -> str | None:
    """The artifact name (oof/<name>/) of a pseudo variant's teacher, or None when there is none by that name."""
    teacher = config.pseudo[pseudo].teacher
    if teacher.removeprefix("ensemble.") in config.ensembles:
        return pseudo_teacher_artifact(teacher, config.ensembles)
    return teacher if teacher in {exp.name for exp in matrix(config)} else None


def pool_teachers(config: Config) -> set[str]:
    """The experiments whose fold jobs must predict the pool: every teacher, and every member of a teacher
    ensemble, however deep."""
    return member_closure(config, [teacher_artifact(config, name) for name in config.pseudo])


def member_closure(config: Config, artifacts: list[str]) -> set[str]:
    """The experiments among artifacts, and every experiment member of the ensembles among them, however deep."""
    found: set[str] = set()
    pending = list(artifacts)
    while pending:
        artifact = pending.pop()
        if artifact.startswith("ensemble."):
            pending += ensemble_members(config, artifact.removeprefix("ensemble."))
        else:
            found.add(artifact)
    return found


def final_candidates(config: Config) -> list[str]:
    """The artifacts subs/final.csv chooses from: with final: auto every ensemble and every experiment (an
    experiment that beats every ensemble honestly is the final); else the named one."""
    if config.final != "auto":
        return [f"ensemble.{config.final}" if config.final in config.ensembles else config.final]
    return [f"ensemble.{name}" for name in config.ensembles] + [exp.name for exp in matrix(config)]


def kept_experiments(config: Config) -> set[str]:
    """The experiments whose fold jobs keep their models (keep_models): all, none, or with auto the member closure
    of the ensembles final: auto chooses from (every experiment when there is no ensemble; the named final's when
    it names one). An experiment outside every ensemble can still win final: auto; its models are then not kept,
    and kit predict says to set keep_models: all, rather than every transformer's fold models filling the disk."""
    if config.keep_models == "all":
        return {exp.name for exp in matrix(config)}
    if config.keep_models == "none":
        return set()
    roots = final_candidates(config)
    if config.final == "auto" and config.ensembles:
        roots = [f"ensemble.{name}" for name in config.ensembles]
    return member_closure(config, roots)


def variant_blocks(config: Config) -> dict[str, dict[str, Settings]]:
    """kind -> {name: entry} of every registered variant kind (kit.registry.VariantKind: pseudo, augment, a
    plugin's), each the config block of the kind's name (empty for a kind registered after the config was read)."""
    blocks = {}
    for kind in registry.names(registry.VARIANT_KINDS):
        blocks[kind] = getattr(config, kind, {})
        if not isinstance(blocks[kind], dict):
            raise fail("plugins", f"a variant kind is called {kind!r}, which is already a config key of another "
                                  "meaning; register it under another name")
    return blocks


def variant_kind(config: Config, variant: str) -> str:
    """The variant kind whose block names `variant` ('pseudo', 'augment', a plugin's), or 'text' (a registered
    text variant)."""
    return next((kind for kind, block in variant_blocks(config).items() if variant in block), "text")


def variant_entry(config: Config, variant: str) -> Settings | None:
    """A training-only variant's entry (its kind's settings); None for a text variant."""
    kind = variant_kind(config, variant)
    return None if kind == "text" else getattr(config, kind)[variant]


def text_variant(config: Config, variant: str) -> str:
    """The text variant whose files an experiment of `variant` reads (itself, or a training-only variant's base)."""
    entry = variant_entry(config, variant)
    return variant if entry is None else entry.base_variant


def variant_inputs(config: Config, variant: str) -> dict[str, str]:
    """role -> path of the workflow files a fold job of `variant` reads beyond its text variant's (the kind's
    declared inputs, kit.registry.VariantKind); {} for a text variant."""
    entry = variant_entry(config, variant)
    if entry is None:
        return {}
    declared = registry.variant_kind(variant_kind(config, variant))
    return dict(registry.resolve(declared.inputs)(variant, entry)) if declared.inputs is not None else {}


def ensemble_members(config: Config, name: str) -> list[str]:
    """Artifact names of an ensemble's members: experiments, or other ensembles as `ensemble.<name>`. With
    `fixed` weights and members 'all', the members are the weights' names."""
    entry = config.ensembles[name]
    members = entry.common.members
    if members == "all":
        weights = getattr(entry.params, "weights", None)
        members = list(weights) if entry.method == "fixed" else [exp.name for exp in matrix(config)]
    return [f"ensemble.{m}" if m in config.ensembles else m for m in members]


# ------------------------------------------------------------------------------------------------ identities


def model_params(config: Config, model: str) -> dict:
    """The model entry as its family parses it (every default filled in), without the scheduling keys."""
    return to_dict(config.models[model].params)


def model_params_json(config: Config, model: str) -> str:
    """model_params as canonical JSON: the same entry saved with its keys in another order gives the same text,
    so Snakemake's params check does not re-run a finished job for it."""
    return canonical_json(model_params(config, model))


def model_inputs(config: Config, model: str) -> dict[str, str]:
    """role -> path of the workflow files a fold job of the model reads beyond its text variant's (the family's
    declared inputs, kit.registry.Family)."""
    entry = config.models[model]
    declared = registry.family(entry.kind)
    return dict(registry.resolve(declared.inputs)(entry.params)) if declared.inputs is not None else {}


def step_entries(config: Config, step: str) -> dict[str, Settings]:
    """entry -> settings of what a build step (kit.registry.BuildStep) makes for this config: its declared entries,
    else its section's (one entry named like the step for a single block such as corpus:)."""
    declared = registry.build_step(step)
    if declared.entries is not None:
        return dict(registry.resolve(declared.entries)(config))
    section = getattr(config, declared.section)
    return dict(section) if isinstance(section, dict) else {declared.name: section}


def step_inputs(config: Config, step: str, entry: str) -> dict[str, str | list[str]]:
    """role -> path (or paths) of the files a build step reads to make `entry` (kit.layout)."""
    declared = registry.build_step(step)
    entries = step_entries(config, step)
    if entry not in entries:
        raise ValueError(f"{step}: the config's {declared.section} has no entry {entry!r} (it has {sorted(entries)})")
    return dict(registry.resolve(declared.inputs)(config, entry, entries[entry]))


def ensemble_spec(config: Config, name: str) -> dict:
    return config.ensembles[name].to_setting()


def ensemble_spec_json(config: Config, name: str) -> str:
    return canonical_json(ensemble_spec(config, name))


def experiment_identity(config: Config, exp: Experiment) -> dict:
    """What decides an experiment's numbers: its family and settings (not threads, GPUs, checkpoint cadence...),
    the entries its settings name (a word_vectors entry), its variant (with a training-only variant's settings)
    and seed, the classes and the fold settings. The data itself, and a pseudo variant's rows, are hashed into the
    artifact."""
    entry = config.models[exp.model]
    variant = variant_entry(config, exp.variant)
    # An entry named by a key (word vectors) decides the numbers as much as the key itself.
    named = {key: identity(getattr(config, block)[name])
             for key, block, name in references(entry.params, "")}
    code = code_identity(registry.FAMILIES, entry.kind)
    kind = variant_kind(config, exp.variant)
    variant_code = code_identity(registry.VARIANT_KINDS, kind) if variant is not None else {}
    return {
        "kind": entry.kind,
        **({"code": code} if code else {}),
        "params": identity(entry.params),
        **({"named_entries": named} if named else {}),
        "variant": exp.variant,
        **({"variant_settings": identity(variant)} if variant is not None else {}),
        **({"variant_code": variant_code} if variant_code else {}),
        "seed": exp.seed,
        "classes": list(config.classes),
        "folds": identity(config.folds),
    }


def experiment_config_hash(config: Config, exp: Experiment) -> str:
    return sha256_json(experiment_identity(config, exp))


def ensemble_identity_hash(config: Config, name: str) -> str:
    """What decides an ensemble's numbers beyond its members' files: its entry and, for a plugin's method, the
    plugin's code."""
    entry = config.ensembles[name]
    return sha256_json({"spec": ensemble_spec(config, name), "code": code_identity(registry.METHODS, entry.method)})


def code_identity(declarations: registry.Registry, name: str) -> dict[str, str]:
    """{module: sha256 of its source} when a plugin module registered `name`, so that editing the plugin re-runs
    what it computes (and adding an unrelated plugin re-runs nothing); {} for the kit's own declarations, whose code
    changes only with the kit itself."""
    import hashlib
    import sys

    registry.lookup(declarations, name)
    module = declarations.origin.get(name, "")
    if not module or module == "kit" or module.startswith("kit."):
        return {}
    source = getattr(sys.modules.get(module), "__file__", None)
    if not source:
        return {module: "no source file"}
    return {module: hashlib.sha256(Path(source).read_bytes()).hexdigest()}


def config_schema() -> dict:
    """The JSON schema of the whole config (kit/schema/config.schema.json, for editors)."""
    from kit.settings import json_schema

    registry.names(registry.FAMILIES)  # the built-in declarations, before their schemas are read
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": "kit config", "description": Config.__doc__.split("\n\n")[0].replace("\n    ", " ")}
    return {**schema, **json_schema(Config)}

