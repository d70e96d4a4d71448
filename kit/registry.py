"""Registries: a model family, an ensemble method, a text variant, a kind of training-only variant or a build step
declares itself once; the builders, the rules and the commands look it up.

Each declaration names its settings (a kit.settings dataclass: the keys its config entry takes, with types,
defaults, ranges and help) and its implementation as a callable or a "module:function" string imported only when
a job needs it, so the Snakefile can check every entry at plan time without numpy, pandas or torch.

The kit's own declarations live beside their implementations (kit/models/sklearn_family.py, ...) and register when
first looked up. A user's own plug in from their modules, named in the config's `plugins:`: the Snakefile and every
command the rules run import them first, so a family, method or variant of theirs is known at plan time and in the
job alike, without editing kit/. A module in the working directory is importable as it is.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Literal

# The kit's own declarations, imported on the first lookup (each module calls register() at import).
BUILTIN_MODULES = (
    "kit.models.sklearn_family",
    "kit.models.transformer",
    "kit.models.wordvec",
    "kit.ensemble.methods",
    "kit.variants",
    "kit.pseudo",
    "kit.augment",
    "kit.corpus",
    "kit.word_vectors",
)


@dataclass(frozen=True)
class Family:
    """A model family: `kind: <kind>` in a model entry; one fold job calls fit_predict(params, data, seed, workdir,
    log) -> kit.models.FoldResult, where params is an instance of `params`.

    inputs(params) -> {role: path}: the workflow files a fold job reads beyond its text variant's (the corpus, a
    word_vectors entry's files), as the rules name them; the rules make them the job's inputs and pass them as
    `--inputs role=path`, and fit_predict finds them in FoldData.inputs. None: no such files. Called at plan time,
    so it must not import numpy, pandas or torch.

    load_predictor(folder) -> an object with predict(texts) -> logits [n x C] float32 reads back what the fold's
    FoldResult.predictor saved into folder; a family without one cannot keep its fold models for `kit predict`.

    torch: whether its fold jobs use torch, which kit.runtime.compute then loads after the GPU lease with the job's
    threads.

    soft_targets: fit_predict learns FoldData.train_targets (probabilities) when they are given, so its models may
    train on a soft pseudo variant (distillation); the config refuses the variant for any other family.
    """

    kind: str
    params: type
    fit_predict: Callable | str
    help: str = ""
    inputs: Callable | str | None = None
    load_predictor: Callable | str | None = None
    torch: bool = False
    soft_targets: bool = False


@dataclass(frozen=True)
class Method:
    """An ensemble method: `method: <name>` in an ensemble entry.

    fit(params, names, prob_stack [M x n x C], y [n], seed) -> what was fitted; apply(params, fitted, prob_stack)
    -> probs [n x C]. fit learns only from the rows labelled >= 0: a cross-fit hides the held-out fold's labels as
    -1. fitted=True when fit learns from the OOF rows, so the builder cross-fits it for the honest score; False
    when fit only reads the settings (a mean), so no row can flatter it.
    """

    name: str
    params: type
    fitted: bool
    fit: Callable | str
    apply: Callable | str
    min_members: int = 1
    help: str = ""
    # What fit and apply read: the members' probabilities (a float32 stack), or their logits as they are (a view
    # that copies nothing, for a method that needs no probabilities, such as stacking).
    inputs: Literal["probs", "logits"] = "probs"
    # What `kit predict` may load back from an ensemble's combination.skops besides numpy's and scikit-learn's
    # types (skops refuses any other): dotted type names, or a function of the entry's params that returns them.
    fitted_types: tuple[str, ...] | Callable = ()


@dataclass(frozen=True)
class Variant:
    """A text variant: a name in `variants:`; transform(text) -> the text a model sees, for train and test alike."""

    name: str
    transform: Callable[[str], str] | str
    help: str = ""


@dataclass(frozen=True)
class VariantKind:
    """A kind of training-only variant: the config's block `<name>:` holds its named entries, each parsed by
    `params` (a Settings dataclass with a `base_variant`: the text variant whose files its experiments read, train
    on and predict), and each entry's name is a variant usable in `variants:` like raw and cleaned.

    inputs(name, settings) -> {role: path}: the workflow files (kit.layout) a fold job of such a variant reads; the
    fold rule makes them its inputs and passes them as `--variant-inputs role=path`. None: no files. Called at plan
    time, so it must not import numpy, pandas or torch.

    rows(name, settings, inputs {role: Path}, classes) -> a kit.experiment.TrainingRows: the rows the variant adds to
    one fold's training set (never to its held-out or test rows), built inside the fold job.

    manifest: the role of inputs whose JSON the experiment's manifest records as `variant_manifest` (a pseudo
    variant's teacher and rows), or None.

    check(name, settings, config) raises a kit.settings.SettingsError for what one entry alone cannot check (a name
    of another block, a count that must match the classes); None: nothing to check.
    """

    name: str
    params: type
    rows: Callable | str
    inputs: Callable | str | None = None
    manifest: str | None = None
    check: Callable | str | None = None
    help: str = ""


@dataclass(frozen=True)
class BuildStep:
    """A build step: one rule, and the `kit` command it runs, that makes workflow files from others once per entry:
    the corpus, word vectors, a built or post-trained backbone, a pseudo variant's rows. The rules and the CLI read
    everything below from the declaration, so a step is threaded through by name nowhere.

    name: the rule's name; its command is `kit <name with - for _>`.
    params: the Settings dataclass of one entry: the command parses its --settings-json with it, and what is not
    identity=False in it is the rule's `identity` param (a setting added at its default re-runs nothing).
    section: the config key it reads, for messages (`corpus`, `word_vectors`, `pseudo`, `backbone.scratch`).
    entries(config) -> {entry: settings}: what it builds, by the name its files carry; None: the section's entries
    (one entry named like the step when the section is a single block).
    wildcard: the Snakemake wildcard that names an entry in its files' patterns; None: the step builds one entry.
    named: the command takes --name (the entry's name in its section), not only a name its files carry (a hash).
    inputs(config, entry, settings) -> {role: path, or a list of paths}: the files it reads (kit.layout); an empty list
    for a file it may go without. Called at plan time, so it must not import numpy, pandas or torch.
    outputs(entry) -> {role: path}: the files it writes (kit.layout), `entry` a wildcard's pattern in the rule;
    folders: the roles that are save_pretrained folders (the rule declares them as directory()).
    log(entry) -> its log file; None: kit.layout.log(name, entry), or log(name) for a step of one entry.
    reads, writes: role -> the help of its command's --<role> and --out-<role> options (the roles of inputs and
    outputs); many: the roles that take several files; optional: those that may be absent.
    build(entry, settings, inputs {role: Path, [Path] or None}, outputs {role: Path}, log, **options): the work,
    in the job (options: what the command adds, such as workers).
    """

    name: str
    params: type
    section: str
    build: Callable | str
    inputs: Callable | str
    outputs: Callable | str
    reads: dict = field(default_factory=dict)
    writes: dict = field(default_factory=dict)
    entries: Callable | str | None = None
    wildcard: str | None = None
    named: bool = False
    many: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    log: Callable | str | None = None
    help: str = ""

    def entry_key(self, entry: str) -> str:
        """The config key of an entry, for messages: `word_vectors.w2v`, or the section of a step without names."""
        return f"{self.section}.{entry}" if self.named else self.section


@dataclass
class Registry:
    what: str  # 'model kind', 'ensemble method', 'text variant': for error messages
    key: Literal["kind", "name"]
    entries: dict = field(default_factory=dict)
    origin: dict = field(default_factory=dict)  # name -> the module that registered it


FAMILIES = Registry("model kind", "kind")
METHODS = Registry("ensemble method", "name")
VARIANTS = Registry("text variant", "name")
VARIANT_KINDS = Registry("variant kind", "name")
BUILD_STEPS = Registry("build step", "name")
_BY_TYPE = {Family: FAMILIES, Method: METHODS, Variant: VARIANTS, VariantKind: VARIANT_KINDS, BuildStep: BUILD_STEPS}
# Variant names become parts of folder names and Snakemake wildcards; kinds and methods are config values.
NAME_PATTERN = {"model kind": r"[A-Za-z][A-Za-z0-9_]*", "ensemble method": r"[A-Za-z][A-Za-z0-9_]*",
                "text variant": r"[a-z][a-z0-9_]*", "variant kind": r"[a-z][a-z0-9_]*",
                "build step": r"[a-z][a-z0-9_]*"}
_builtins_loaded = False


def register(declaration: Family | Method | Variant | VariantKind | BuildStep) -> None:
    """Add a declaration; a taken name is refused, since two meanings for one name would mix incompatible files.

    Registering the same declaration again (a module imported twice) changes nothing.
    """
    from kit.settings import Settings

    registry = _BY_TYPE[type(declaration)]
    name = getattr(declaration, registry.key)
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN[registry.what], name):
        raise ValueError(f"{registry.what} name {name!r} must match {NAME_PATTERN[registry.what]} (it becomes part "
                         "of file names, wildcards and config keys)")
    if name in registry.entries and registry.entries[name] != declaration:
        raise ValueError(f"{registry.what} {name!r} is already registered")
    implementations = ("fit_predict", "fit", "apply", "transform", "load_predictor", "rows", "build", "outputs",
                       "entries", "log")
    if isinstance(declaration, (Family, VariantKind, BuildStep)):  # a Method's `inputs` is what it reads
        implementations += ("inputs", "check")
    for attribute in implementations:
        target = getattr(declaration, attribute, None)
        optional = (attribute in ("load_predictor", "check", "entries", "log")
                    or (attribute == "inputs" and not isinstance(declaration, BuildStep))) and target is None
        if attribute in type(declaration).__dataclass_fields__ and not optional and not (
                callable(target) or (isinstance(target, str) and ":" in target)):
            raise ValueError(f"{registry.what} {name!r}: {attribute} must be a callable or 'module:function', "
                             f"got {target!r}")
    params = getattr(declaration, "params", Settings)
    if not (isinstance(params, type) and issubclass(params, Settings)):
        raise ValueError(f"{registry.what} {name!r}: params must be a kit.settings.Settings dataclass, got {params!r}")
    if isinstance(declaration, VariantKind) and "base_variant" not in params.__dataclass_fields__:
        raise ValueError(f"{registry.what} {name!r}: its params need a base_variant (the text variant it builds on)")
    if isinstance(declaration, BuildStep):
        _check_step(declaration)
    registry.entries[name] = declaration
    registry.origin.setdefault(name, sys._getframe(1).f_globals.get("__name__", ""))


def _check_step(step: BuildStep) -> None:
    """A step's roles must be names its command's options can carry, its special roles among them."""
    for role in (*step.reads, *step.writes):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", role):
            raise ValueError(f"build step {step.name!r}: role {role!r} must match [a-z][a-z0-9_]* (it becomes an option)")
    for attribute, roles in (("many", step.reads), ("optional", step.reads), ("folders", step.writes)):
        unknown = set(getattr(step, attribute)) - set(roles)
        if unknown:
            raise ValueError(f"build step {step.name!r}: {attribute} names roles it does not declare: {sorted(unknown)}")
    if step.named and step.wildcard is None:
        raise ValueError(f"build step {step.name!r}: named entries need a wildcard that names them in its files")


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def names(registry: Registry) -> list[str]:
    """The registered names: the kit's own in BUILTIN_MODULES order, then plugins' as registered, whatever order
    the modules were imported in (the README's reference and the schema are made from this list)."""
    _load_builtins()

    def rank(name: str) -> int:
        origin = registry.origin.get(name, "")
        return BUILTIN_MODULES.index(origin) if origin in BUILTIN_MODULES else len(BUILTIN_MODULES)

    return sorted(registry.entries, key=rank)


def lookup(registry: Registry, name: str, path: str = ""):
    """The declaration called name; a ValueError naming the config key, with the near names, when there is none."""
    _load_builtins()
    if name in registry.entries:
        return registry.entries[name]
    close = difflib.get_close_matches(str(name), list(registry.entries), n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    from kit.settings import SettingsError

    where = f"config key {path!r}: " if path else ""
    raise SettingsError(f"{where}unknown {registry.what} {name!r}; {hint}known: {sorted(registry.entries)} "
                     f"(a plugin module listed in `plugins:` may register more)")


def family(kind: str, path: str = "") -> Family:
    return lookup(FAMILIES, kind, path)


def method(name: str, path: str = "") -> Method:
    return lookup(METHODS, name, path)


def variant(name: str, path: str = "") -> Variant:
    return lookup(VARIANTS, name, path)


def variant_kind(name: str, path: str = "") -> VariantKind:
    return lookup(VARIANT_KINDS, name, path)


def build_step(name: str, path: str = "") -> BuildStep:
    return lookup(BUILD_STEPS, name, path)


def resolve(target: Callable | str) -> Callable:
    """A callable, or the function a "module:function" string names (imported now)."""
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def load_plugins(modules) -> None:
    """Import the user's plugin modules (which call register()); the working directory is importable."""
    if not modules:
        return
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"config key 'plugins': cannot import plugin module {module!r} ({error}); put it in the "
                             f"working directory or on PYTHONPATH") from None
    for name in BUILD_STEPS.entries:
        origin = BUILD_STEPS.origin.get(name)
        if origin in modules:
            raise ValueError(f"config key 'plugins': module {origin!r} registers build step {name!r}, but a build "
                             "step needs its own rule in rules/, which a plugin cannot add; a plugin adds a model "
                             "family, an ensemble method, a text variant or a variant kind")
