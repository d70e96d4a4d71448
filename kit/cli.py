"""`python -m kit <command>`: the command layer the Snakemake rules call. It parses arguments and calls.

Each command names every file it reads and writes (the rules pass them), and the module that owns the concept does
the reading, choosing and writing. Settings that belong to the config arrive as flags generated from their typed
definitions (kit.settings) or, for a whole entry, as canonical JSON built by rules/common.smk. Each command's
docstring has an example; kit.log gives every command the same log contract.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kit import __version__, layout
from kit.config import DEFAULT_CLASSES, Config, FoldSettings
from kit.data_settings import Columns, DataSettings, IngestSettings
from kit.pseudo import PoolSettings
from kit.log import running
from kit.runtime import set_threads, set_torch_threads
from kit.settings import add_arguments, argument_values, from_arguments, parse


# ------------------------------------------------------------------------------------------------ declaring commands
# Each command is declared once, by the decorator above its function: its name, the line `kit --help` shows, and its
# arguments, each with its help (an output file's argument says so, so that a killed run's temporary files of it are
# removed at the next start, kit.artifacts.remove_stale_temps). parser() only reads these declarations.


@dataclass(frozen=True)
class Command:
    name: str
    func: Callable
    help: str
    arguments: tuple[Callable, ...]  # each adds its arguments to the command's parser

    @property
    def outputs(self) -> tuple[str, ...]:
        """The dests of the arguments that name output files."""
        return tuple(dest for add in self.arguments for dest in getattr(add, "outputs", ()))


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, *arguments: Callable):
    """Declare the decorated function as `kit <name>`."""

    def declare(func: Callable) -> Callable:
        COMMANDS[name] = Command(name, func, help, arguments)
        return func

    return declare


def arg(*flags: str, **options) -> Callable:
    """One argparse argument, as parser.add_argument takes it (every one with help=)."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*flags, **options)

    return add


class Once(argparse.Action):
    """A flag that takes one value and has no default (kit predict's --input, --source, --out): given twice, it is
    refused, where argparse would keep the last value and drop the first without a word."""

    def __call__(self, parser, namespace, values, option_string=None):
        earlier = getattr(namespace, self.dest, None)
        if earlier is not None:
            raise argparse.ArgumentError(self, f"given twice ({earlier!r}, then {values!r}); it takes one value")
        setattr(namespace, self.dest, values)


def at_least(minimum: int) -> Callable[[str], int]:
    """argparse type of a whole number of `minimum` or more (--threads 1, --gpus 0): argparse's error names the flag
    and says what it takes."""
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of {minimum} or more, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return whole_number


def threads_arg(help: str) -> Callable:
    """--threads, declared alike by every command that computes: 0 or -1 would reach BLAS and torch as a count."""
    return arg("--threads", type=at_least(1), default=1, help=help)


def output(flag: str, **options) -> Callable:
    """An argument that names a file the command writes."""
    add = arg(flag, **options)
    add.outputs = (flag.lstrip("-").replace("-", "_"),)
    return add


def settings_args(cls, only=None, prefix: str = "") -> Callable:
    """The flags of a settings class's fields (kit.settings.add_arguments): type, default and help from the field."""

    def add(parser: argparse.ArgumentParser) -> None:
        add_arguments(parser, cls, only=only, prefix=prefix)

    return add


# The run folder of the commands a person runs on a finished run: their default paths are relative to it.
RUN_DIRECTORY = arg("--directory", metavar="DIR",
                    help="the run's folder (what snakemake --directory named): default paths, and relative paths "
                         "given, are read inside it (default: the current folder)")

# What names one experiment's data and model: shared by fit-fold and merge.
EXPERIMENT_ARGS = (
    arg("--kind", required=True, help="the model family"),
    arg("--params-json", default="{}", help="the model entry without its scheduling keys"),
    arg("--train", required=True, help="the variant's train parquet"),
    arg("--test", required=True, help="the variant's test parquet"),
    arg("--variant-meta", required=True, help="the variant's meta.json"),
    arg("--folds", required=True, help="the fold file"),
    arg("--classes", nargs="+", required=True, help="the labels in logit-column order"),
)
# The experiment's variant and, for a training-only one, its kind's files: shared by fit-fold and merge.
VARIANT_ARGS = (
    arg("--variant", help="the experiment's variant (a text variant or a training-only one)"),
    arg("--variant-kind", default="text",
        help="'text', or the variant's kind (kit.registry.VariantKind: pseudo, augment, a plugin's)"),
    arg("--variant-inputs", nargs="*", default=[], metavar="ROLE=PATH",
        help="the files the variant's kind declares, e.g. rows=data/pseudo/pl/rows.parquet"),
)
# Where a training command computes (kit.runtime.compute) and keeps its checkpoints.
COMPUTE_ARGS = (
    arg("--gpus", type=at_least(0), default=0, help="GPUs to lease (0: CPU)"),
    threads_arg("CPU threads"),
    arg("--workdir", required=True, help="checkpoints go here; a rerun resumes from them"),
)


class StepArgs:
    """The options of a build step's command, read from its declaration (kit.registry.BuildStep) when the parser is
    built: --name for a step of named entries, --settings-json, --<role> for each file it reads and --out-<role> for
    each it writes."""

    def __init__(self, step: str):
        self.step = step

    def declared(self):
        from kit.registry import build_step

        return build_step(self.step)

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(f"out_{role}" for role in self.declared().writes)

    def __call__(self, parser: argparse.ArgumentParser) -> None:
        step = self.declared()
        if step.help:
            parser.epilog = f"Build step {step.name!r} (kit.registry.BuildStep): {step.help}."
        if step.named:
            parser.add_argument("--name", required=True, help=f"the entry's name in {step.section}:")
        parser.add_argument("--settings-json", required=True,
                            help=f"the entry ({step.entry_key('NAME') if step.named else step.section}) as JSON, "
                                 "every setting it gives (the rule passes the config's)")
        for role, help in step.reads.items():
            nargs = "+" if role in step.many else "?" if role in step.optional else None
            parser.add_argument(f"--{role.replace('_', '-')}", nargs=nargs, required=role not in step.optional,
                                help=help)
        for role, help in step.writes.items():
            parser.add_argument(f"--out-{role.replace('_', '-')}", required=True, help=help)


def run_step(name: str, args, log, **options):
    """Run a build step from its command's arguments (StepArgs): its settings parsed by its declared class, its
    files by role, then its build function with options (workers, a workdir)."""
    from kit.registry import build_step, resolve

    step = build_step(name)
    entry = args.name if step.named else name
    settings = parse(step.params, json.loads(args.settings_json), step.entry_key(entry))

    def paths(value):
        if value is None:
            return None
        return [Path(path) for path in value] if isinstance(value, list) else Path(value)

    inputs = {role: paths(getattr(args, role)) for role in step.reads}
    outputs = {role: Path(getattr(args, f"out_{role}")) for role in step.writes}
    return resolve(step.build)(entry, settings, inputs, outputs, log=log, **options)


def paired(command_name: str, first: list[str], first_flag: str, second: list[str], second_flag: str
           ) -> list[tuple[Path, Path]]:
    """Two lists of files given in the same order (each artifact's oof.npz and manifest.json) as pairs of paths."""
    if len(first) != len(second):
        raise ValueError(f"{command_name}: {len(first)} {first_flag} files but {len(second)} {second_flag}")
    return list(zip(map(Path, first), map(Path, second)))


@command("demo", "write the demo competition files",
         *(output(f"--{split}", required=True, help=f"the demo's {split} CSV to write")
           for split in ("train", "test", "unlabeled")),
         arg("--n-train", type=int, default=4000, help="labelled rows"),
         arg("--n-test", type=int, default=1000, help="test rows"),
         arg("--n-unlabeled", type=int, default=4000, help="unlabelled rows"),
         arg("--seed", type=int, default=0, help="the demo is a function of its seed"),
)
def cmd_demo(args, log) -> None:
    """Write the demo competition in the real layout and encoding.

    Example: python -m kit demo --train data/demo/train.csv --test data/demo/test.csv --unlabeled data/demo/u.csv
    """
    from kit.demo import write_demo

    paths = {"train": args.train, "test": args.test, "unlabeled": args.unlabeled}
    write_demo(paths, n_train=args.n_train, n_test=args.n_test, n_unlabeled=args.n_unlabeled, seed=args.seed)
    for role, path in paths.items():
        log(f"demo {role}: {path}")


@command("ingest", "read the competition files into parquet",
         arg("--train", required=True, help="labelled CSV"),
         arg("--test", required=True, help="test CSV"),
         arg("--unlabeled", nargs="?", help="unlabelled CSV (optional)"),
         settings_args(Config, only=("classes",)),
         settings_args(DataSettings, only=("encoding",)),
         settings_args(Columns, prefix="column-"),
         settings_args(IngestSettings),
         *(output(f"--out-{split}", required=True, help=f"the ingested {split} parquet to write")
           for split in ("train", "test")),
         output("--out-unlabeled", nargs="?", help="the ingested unlabeled parquet to write (with --unlabeled)"),
         output("--report", required=True, help="the ingest report (JSON) to write"),
)
def cmd_ingest(args, log) -> None:
    """Read the competition files once, apply the documented ingest rules, write parquet and a report.

    Example: python -m kit ingest --train train.csv --test test.csv --out-train i/train.parquet --out-test i/test.parquet --report i/report.json
    """
    from kit import data

    classes = argument_values(Config, args, only=("classes",)).get("classes", DEFAULT_CLASSES)
    encoding = argument_values(DataSettings, args, only=("encoding",)).get("encoding", "auto")
    ingested = data.ingest(
        args.train, args.test, args.unlabeled, classes=classes, columns=from_arguments(Columns, args, "column-"),
        conflicting_text=from_arguments(IngestSettings, args).conflicting_text, encoding=encoding, log=log,
    )
    outputs = {"train": args.out_train, "test": args.out_test, "unlabeled": args.out_unlabeled}
    data.write_ingested(ingested, {split: path for split, path in outputs.items() if path}, args.report)
    log.rich(data.report_table(ingested.report))


@command("variant", "write one text variant",
         arg("--name", required=True, help="a registered text variant"),
         arg("--train", required=True, help="ingested train parquet"),
         arg("--test", required=True, help="ingested test parquet"),
         output("--out-train", required=True, help="the variant's train parquet to write"),
         output("--out-test", required=True, help="the variant's test parquet to write"),
         output("--meta", required=True, help="the variant's meta.json (name, data hash) to write"),
         arg("--pool", nargs="?", help="the pseudo-label pool, to write in this variant too"),
         output("--out-pool", nargs="?", help="the pool's texts in this variant (with --pool)"),
)
def cmd_variant(args, log) -> None:
    """Write one text variant (raw, cleaned, ...) of the ingested train and test texts.

    Example: python -m kit variant --name cleaned --train i/train.parquet --test i/test.parquet --out-train v/train.parquet --out-test v/test.parquet --meta v/meta.json
    """
    from kit.variants import write_variant

    write_variant(args.name, args.train, args.test, args.out_train, args.out_test, args.meta, log=log,
                  pool_in=args.pool, pool_out=args.out_pool)


@command("pool", "write the pseudo-label pool",
         arg("--test", required=True, help="ingested test parquet"),
         arg("--unlabeled", nargs="?", help="ingested unlabelled parquet (optional)"),
         settings_args(PoolSettings),
         output("--out", required=True, help="the pool (parquet) to write"),
)
def cmd_pool(args, log) -> None:
    """Write the pseudo-label pool: every test row and a seeded sample of the unlabelled ones (id, text, source).

    Example: python -m kit pool --test data/interim/test.parquet --unlabeled data/interim/unlabeled.parquet --unlabeled-rows 20000 --out data/pool.parquet
    """
    from kit.pseudo import PoolSettings, write_pool

    write_pool(args.test, args.unlabeled, from_arguments(PoolSettings, args), args.out, log=log)


@command("pseudo-rows", "pick each fold's pseudo-labelled rows", StepArgs("pseudo_rows"))
def cmd_pseudo_rows(args, log) -> None:
    """Pick each fold's pseudo-labelled rows from the teacher's fold-by-fold pool predictions; write them and a
    manifest (teacher, thresholds, rows per class per fold, the teacher's precision at that confidence).

    Example: python -m kit pseudo-rows --name pl --settings-json '{"teacher": "ensemble.mean"}' --teacher-npz oof/ensemble.mean/oof.npz --teacher-manifest oof/ensemble.mean/manifest.json --pool data/variants/cleaned/pool.parquet --out-rows data/pseudo/pl/rows.parquet --out-manifest data/pseudo/pl/manifest.json
    """
    run_step("pseudo_rows", args, log)


@command("folds", "write the one fold file",
         arg("--train", required=True, help="ingested train parquet"),
         settings_args(FoldSettings),
         output("--out", required=True, help="the fold file (parquet) to write"),
)
def cmd_folds(args, log) -> None:
    """Assign every train row to one of K stratified folds, identical cleaned texts together.

    Example: python -m kit folds --train data/interim/train.parquet --k 5 --seed 42 --out data/folds.parquet
    """
    from kit.folds import write_fold_file

    settings = from_arguments(FoldSettings, args)
    write_fold_file(args.train, settings.k, settings.seed, args.out, log=log)


@command("build-backbone", "build a small scratch BERT", StepArgs("build_backbone"))
def cmd_build_backbone(args, log) -> None:
    """Build a small BERT with a character vocabulary from the competition's own texts (nothing downloaded).

    Example: python -m kit build-backbone --settings-json '{"layers": 2, "hidden": 64, "heads": 2}' --texts i/train.parquet i/test.parquet --out-backbone models/backbones/tiny
    """
    run_step("build_backbone", args, log)


@command("corpus", "build the text corpus for representation learning", StepArgs("corpus"),
         threads_arg("processes that segment"),
)
def cmd_corpus(args, log) -> None:
    """Build the text corpus for representation learning: train + test (+ unlabelled) texts cleaned, deduplicated,
    their own words found for jieba's dictionary, segmented once.

    Example: python -m kit corpus --train i/train.parquet --test i/test.parquet --unlabeled i/unlabeled.parquet --settings-json '{"max_texts": null}' --threads 2 --out-corpus c/corpus.parquet --out-userdict c/userdict.txt --out-new-words c/new_words.tsv --out-meta c/meta.json
    """
    run_step("corpus", args, log, workers=args.threads)


@command("word-vectors", "train one word-vectors entry on the corpus", StepArgs("word_vectors"),
         threads_arg("gensim workers (1: identical vectors for a seed)"),
)
def cmd_word_vectors(args, log) -> None:
    """Train one word_vectors entry (gensim word2vec or fastText) on the corpus's words.

    Example: python -m kit word-vectors --name w2v --settings-json '{"algorithm": "word2vec"}' --corpus c/corpus.parquet --corpus-meta c/meta.json --threads 1 --out-vectors models/word_vectors/w2v.kv --out-meta models/word_vectors/w2v.json
    """
    run_step("word_vectors", args, log, workers=args.threads)


@command("post-train", "post-train a backbone on the corpus (masked language model)", StepArgs("post_train"),
         *COMPUTE_ARGS,
)
def cmd_post_train(args, log) -> None:
    """Continue masked-language-model training of a backbone on the corpus; write a save_pretrained folder.

    Example: python -m kit post-train --settings-json '{"base": "hfl/chinese-roberta-wwm-ext", "epochs": 2}' --corpus data/corpus/corpus.parquet --corpus-meta data/corpus/meta.json --gpus 1 --threads 4 --workdir checkpoints/backbones/post-abc --out-backbone models/backbones/post-abc
    """
    from kit.runtime import compute

    with compute(args.gpus, args.threads, log):
        run_step("post_train", args, log, workdir=Path(args.workdir))


def variant_files(args):
    from kit.experiment import VariantFiles

    return VariantFiles(Path(args.train), Path(args.test), Path(args.variant_meta))


@command("fit-fold", "train one fold of one experiment",
         *EXPERIMENT_ARGS,
         arg("--backbone-dir", nargs="?", help="a local model folder that replaces the entry's backbone"),
         arg("--fold", type=int, required=True, help="the fold held out (trained on every other)"),
         arg("--seed", type=int, required=True, help="the experiment's seed"),
         *COMPUTE_ARGS,
         arg("--pool", nargs="?", help="the pool's texts in this variant: predicted when the experiment teaches"),
         *VARIANT_ARGS,
         arg("--variant-json", default="{}", help="a training-only variant's entry (its kind's settings)"),
         arg("--inputs", nargs="*", default=[], metavar="ROLE=PATH",
             help="workflow files the model family reads (its declared inputs), e.g. "
             "vectors=models/word_vectors/w2v.kv corpus=data/corpus/corpus.parquet"),
         output("--out", required=True, help="the fold file (npz) to write"),
         output("--model-dir", help="the fold's model folder to write: the model, or not_kept.json saying why"),
         arg("--config-hash", default="", help="the experiment's identity hash, recorded beside the model"),
)
def cmd_fit_fold(args, log) -> None:
    """Train one model on every fold but one; write the held-out and test logits.

    Example: python -m kit fit-fold --kind sklearn --params-json '{}' --train v/train.parquet --test v/test.parquet --variant-meta v/meta.json --folds data/folds.parquet --fold 0 --seed 0 --classes -1 0 1 --workdir checkpoints/m/fold0 --out oof/m.raw.s0/fold0.npz --model-dir models/folds/m.raw.s0/fold0 --config-hash abc
    """
    from kit.experiment import training_rows
    from kit.registry import family
    from kit.runtime import compute

    additions = training_rows(args.variant_kind, args.variant, json.loads(args.variant_json),
                              role_paths(args.variant_inputs, "--variant-inputs"), args.classes)
    params = json.loads(args.params_json)
    if args.backbone_dir:
        params["backbone"] = args.backbone_dir
    with compute(args.gpus, args.threads, log, torch=family(args.kind).torch):
        from kit.experiment import run_fold

        run_fold(
            kind=args.kind, params=params, variant=variant_files(args), folds_path=Path(args.folds), fold=args.fold,
            seed=args.seed, classes=args.classes, out=Path(args.out), workdir=Path(args.workdir), log=log,
            pool=Path(args.pool) if args.pool else None, additions=additions,
            inputs=role_paths(args.inputs, "--inputs"),
            model_dir=Path(args.model_dir) if args.model_dir else None, config_hash=args.config_hash,
        )


@command("keep-models", "keep or prune an experiment's fold models (keep_models)",
         arg("--model-dirs", nargs="+", required=True, help="the experiment's fold model folders"),
         arg("--kept", nargs="?", const="true", default="false", choices=["true", "false"],
             help="true (or the flag alone): keep them; false: prune them to not_kept.json"),
         settings_args(Config, only=("keep_models",)),
         output("--out", required=True, help="retention.json to write: what was kept and pruned"),
)
def cmd_keep_models(args, log) -> None:
    """Keep or prune an experiment's fold models for `kit predict` (keep_models), without training anything.

    Example: python -m kit keep-models --model-dirs models/folds/m.raw.s0/fold0 models/folds/m.raw.s0/fold1 --keep-models auto --kept --out models/folds/m.raw.s0/retention.json
    """
    from kit.artifacts import write_json
    from kit.kept import retain_fold_models, why_not_kept

    kept = args.kept == "true"
    status = retain_fold_models([Path(p) for p in args.model_dirs], kept, why_not_kept(args.keep_models), log)
    write_json(Path(args.out), {"keep_models": args.keep_models, "kept": kept, "folds": status})


def role_paths(pairs: list[str], option: str) -> dict[str, Path]:
    """ROLE=PATH ... (--inputs, --variant-inputs) as {role: path}."""
    inputs = {}
    for pair in pairs:
        role, sep, path = pair.partition("=")
        if not sep or not role.isidentifier() or not path:
            raise ValueError(f"{option}: {pair!r} is not role=path (e.g. vectors=models/word_vectors/w2v.kv)")
        inputs[role] = Path(path)
    return inputs


@command("merge", "merge fold files into an experiment artifact",
         *EXPERIMENT_ARGS,
         arg("--fold-files", nargs="+", required=True, help="the experiment's fold<k>.npz, one per fold"),
         arg("--name", required=True, help="the experiment's name, model.variant.sSEED"),
         arg("--model", required=True, help="the model entry's name"),
         arg("--config-hash", required=True, help="hash of what decides the numbers (kit.config)"),
         *VARIANT_ARGS,
         output("--out-npz", required=True, help="the artifact's oof.npz to write"),
         output("--out-manifest", required=True, help="the artifact's manifest.json to write"),
)
def cmd_merge(args, log) -> None:
    """Merge an experiment's fold files into its artifact (oof.npz + manifest.json).

    Example: python -m kit merge --fold-files oof/m.raw.s0/fold*.npz --train v/train.parquet --test v/test.parquet --variant-meta v/meta.json --folds data/folds.parquet --name m.raw.s0 --model m --kind sklearn --params-json '{}' --config-hash abc --classes -1 0 1 --out-npz oof/m.raw.s0/oof.npz --out-manifest oof/m.raw.s0/manifest.json
    """
    from kit.experiment import merge_folds, variant_manifest

    artifact = merge_folds(
        fold_files=[Path(p) for p in args.fold_files], variant=variant_files(args), folds_path=Path(args.folds),
        classes=args.classes, name=args.name, model=args.model, kind=args.kind, params=json.loads(args.params_json),
        config_hash=args.config_hash, variant_name=args.variant,
        variant_manifest=variant_manifest(args.variant_kind, role_paths(args.variant_inputs, "--variant-inputs")),
    )
    artifact.write(Path(args.out_npz), Path(args.out_manifest))
    scores = artifact.manifest["scores"]
    log(f"{args.name}: OOF macro-F1 {scores['oof_macro_f1']:.4f} (folds {scores['fold_f1_mean']:.4f} ± "
        f"{scores['fold_f1_std']:.4f})")


@command("ensemble", "build an ensemble artifact",
         arg("--name", required=True, help="the artifact's name, ensemble.<entry>"),
         arg("--spec-json", required=True, help="the ensemble's config entry"),
         arg("--member-npz", nargs="+", required=True, help="each member artifact's oof.npz"),
         arg("--member-manifests", nargs="+", required=True, help="in the order of --member-npz"),
         output("--out-npz", required=True, help="the ensemble's oof.npz to write"),
         output("--out-manifest", required=True, help="the ensemble's manifest.json to write"),
         output("--out-combination", help="the fit on every OOF row (combination.skops), for kit predict"),
)
def cmd_ensemble(args, log) -> None:
    """Build one ensemble from member artifacts; it is an artifact too.

    Example: python -m kit ensemble --name ensemble.blend --spec-json '{"method": "mean"}' --member-npz oof/a/oof.npz oof/b/oof.npz --member-manifests oof/a/manifest.json oof/b/manifest.json --out-npz oof/ensemble.blend/oof.npz --out-manifest oof/ensemble.blend/manifest.json --out-combination oof/ensemble.blend/combination.skops
    """
    from kit.artifacts import Artifact
    from kit.ensemble.build import fit_ensemble
    from kit.kept import save_combination

    files = paired(f"ensemble {args.name}", args.member_npz, "--member-npz", args.member_manifests,
                   "--member-manifests")
    members = [Artifact.read(npz, manifest) for npz, manifest in files]
    artifact, fitted = fit_ensemble(args.name, json.loads(args.spec_json), members, log=log)
    if args.out_combination:
        save_combination(Path(args.out_combination), fitted)
    artifact.write(Path(args.out_npz), Path(args.out_manifest))
    log(f"ensemble {args.name}: OOF macro-F1 {artifact.manifest['scores']['oof_macro_f1']:.4f}, "
        f"honest {artifact.manifest['honest_macro_f1']:.4f}")


@command("submit", "write a validated submission CSV",
         arg("--npz", nargs="+", required=True, help="oof.npz of each candidate artifact"),
         arg("--manifests", nargs="+", required=True, help="manifest.json of each, in the order of --npz"),
         arg("--choice", default="auto", help="an artifact name, or 'auto' (best honest OOF F1)"),
         arg("--test", required=True, help="the ingested test parquet whose ids the submission must cover"),
         output("--out", required=True, help="the submission CSV to write"),
         output("--sidecar", required=True, help="the submission's JSON sidecar to write"),
)
def cmd_submit(args, log) -> None:
    """Write a validated submission CSV and its JSON sidecar from an artifact, or choose the final one.

    Example: python -m kit submit --npz oof/ensemble.a/oof.npz --manifests oof/ensemble.a/manifest.json --choice auto --test data/interim/test.parquet --out subs/final.csv --sidecar subs/final.json
    """
    from kit.submission import submit

    log(submit(paired("submit", args.npz, "--npz", args.manifests, "--manifests"), args.choice, Path(args.test),
               Path(args.out), Path(args.sidecar)))


@command("scores", "print the OOF scores table",
         RUN_DIRECTORY,
         arg("--oof-dir", default=layout.OOF, help="the artifacts' folder (default: %(default)s)"),
         arg("--subs-dir", default=layout.SUBS, help="the submissions' folder (default: %(default)s)"),
         arg("--configfile", nargs="*", default=None, metavar="CONFIGFILE",
             help="the run's config files, merged as snakemake --configfile does: an artifact no entry of "
             f"theirs builds is listed apart (default: {layout.RUN_CONFIG}, the config of the last run here, "
             "or else configs/config.yaml)"),
         arg("--folds", default=None,
             help=f"the run's fold file: an artifact made on another one is listed apart (default: {layout.FOLDS})"),
         arg("--json", action="store_true", help="print JSON instead of a table"),
         arg("--members", action="store_true", help="also print each ensemble's members and weights"),
         arg("--agreement", action="store_true",
             help="also print how often each pair of artifacts agrees, as a heatmap"),
         arg("--lb", default=None, help="the leaderboard log whose scores join the table (kit lb; default: "
                                         f"{layout.LEADERBOARD_LOG})"),
)
def cmd_scores(args, log) -> None:
    """Print every experiment and ensemble of the current run, best honest F1 first, in a table that fits the
    terminal (--members: each ensemble's members and weights; --agreement: a heatmap of how often each pair agrees;
    --json: everything as JSON). Artifacts made on another fold file or by no entry of the config are listed apart.

    Example: python -m kit scores --members
    """
    from kit.report import current_run, print_scores, run_config_files

    from kit import input_files

    # A file named on the command line must be there; the defaults may be missing (their check is said undone).
    for path in [*(args.configfile or []), *(path for path in (args.folds, args.lb) if path is not None)]:
        input_files.check(path)
        if not Path(path).is_file():
            where = f" in {os.getcwd()}" if args.directory and not Path(path).is_absolute() else ""
            raise FileNotFoundError(f"{path}: not found{where} (named on the command line)")
    folds = Path(args.folds or layout.FOLDS)
    run = current_run([Path(path) for path in run_config_files(args.configfile)], folds)
    print_scores(Path(args.oof_dir), Path(args.subs_dir), as_json=args.json, agreement=args.agreement,
                 members=args.members, run=run, lb_log=Path(args.lb or layout.LEADERBOARD_LOG))


@command("lb", "record or list public leaderboard scores (lb.csv)",
         RUN_DIRECTORY,
         arg("action", nargs="?", choices=["add"], help="add: record SUBMISSION's SCORE; none: list"),
         arg("submission", nargs="?", help="with add: a submission CSV the kit wrote (subs/<name>.csv)"),
         arg("score", nargs="?", help="with add: its public leaderboard score, in [0, 1]"),
         arg("--note", default="", help="with add: a note kept beside the score"),
         arg("--lb", dest="log_file", default=layout.LEADERBOARD_LOG, help="the leaderboard log (CSV)"),
)
def cmd_lb(args, log) -> None:
    """Record a submission's public leaderboard score (`add`), or list the recorded ones. Only a submission the kit
    wrote, unchanged since (its sidecar's sha256), is accepted; the log is a plain CSV (lb.csv) to keep in git, and
    a copy of each recorded CSV and its sidecar is kept in submitted/ beside it, named by the hash's head.

    Example: python -m kit lb add subs/final.csv 0.7312 --note "first try"
    """
    from kit import lb

    if args.action == "add":
        if args.submission is None or args.score is None:
            raise ValueError("lb add: give the submission and its score, e.g. `kit lb add subs/final.csv 0.7312`")
        row = lb.add(Path(args.log_file), Path(args.submission), args.score, args.note)
        honest = "unknown" if row["honest_oof_f1"] is None else f"{row['honest_oof_f1']:.4f}"
        log(f"{args.log_file}: {row['submission']} ({row['source']}, sha256 {row['sha256'][:8]}) scored "
            f"{row['lb_score']:.4f} on the leaderboard; honest OOF {honest}; a copy is kept as {row['archived']}")
        return
    if args.submission is not None:
        raise ValueError(f"lb: unexpected {args.submission!r}; `kit lb` lists, `kit lb add FILE SCORE` records")
    from rich.console import Console

    rows = lb.read_log(Path(args.log_file))
    console = Console()
    if not rows:
        console.print(f"{args.log_file}: no leaderboard scores recorded yet; `python -m kit lb add subs/final.csv "
                      "0.7312` records one")
        return
    console.print(lb.log_table(rows))
    line = lb.verdict(rows)
    if line:
        console.print(line)


@command("lb-figure", "draw the CV-vs-LB figure of the leaderboard log",
         arg("--lb", nargs="?", help="the leaderboard log (CSV); left out: none recorded yet"),
         output("--out", required=True, help="the figure (PNG) to write"),
)
def cmd_lb_figure(args, log) -> None:
    """Draw the CV-vs-LB figure: each recorded submission's honest OOF macro-F1 against its leaderboard score, with
    the rank correlation (a note when nothing is recorded yet).

    Example: python -m kit lb-figure --lb lb.csv --out figures/final/cv_vs_lb.png
    """
    from kit.lb import write_cv_vs_lb_figure

    write_cv_vs_lb_figure(Path(args.lb) if args.lb else None, Path(args.out), log)


@command("adversarial", "adversarial validation: train vs test posts of one variant",
         arg("--variant", required=True, help="the text variant's name (for the titles)"),
         arg("--train", required=True, help="the variant's train parquet"),
         arg("--test", required=True, help="the variant's test parquet"),
         arg("--k", type=int, default=5, help="folds of the train-vs-test classifier"),
         arg("--seed", type=int, default=0, help="seed of its folds and of the bootstrap"),
         output("--out-png", required=True, help="the figure to write"),
         output("--out-json", required=True, help="the AUC, its intervals, n-grams and lengths (JSON) to write"),
         output("--out-csv", required=True, help="every train row's p(test), most test-like first (CSV)"),
)
def cmd_adversarial(args, log) -> None:
    """Adversarial validation of one text variant: how well char TF-IDF + LR tells its train posts from its test
    posts (OOF AUC in folds, with the fold std and a bootstrap interval), the n-grams and lengths that separate
    them, and every train row's probability of being a test post.

    Example: python -m kit adversarial --variant raw --train data/variants/raw/train.parquet --test data/variants/raw/test.parquet --out-png figures/adversarial/raw.png --out-json figures/adversarial/raw.json --out-csv figures/adversarial/raw.test_like.csv
    """
    from kit.adversarial import AdversarialSettings, write_adversarial

    settings = AdversarialSettings(k=args.k, seed=args.seed)
    write_adversarial(args.variant, Path(args.train), Path(args.test), settings, Path(args.out_png),
                      Path(args.out_json), Path(args.out_csv), log)


@command("track", "log artifacts to MLflow (tracking: mlflow)",
         arg("--manifests", nargs="+", required=True, help="manifest.json of each artifact"),
         arg("--figures", nargs="*", default=[], help="each artifact's figure, in the order of --manifests"),
         arg("--uri", nargs="?", help="the MLflow tracking URI (default: a SQLite store under mlruns/)"),
         output("--out", required=True, help="the JSON of artifact -> MLflow run id to write"),
)
def cmd_track(args, log) -> None:
    """Log every given artifact (manifest, scores, settings, identity hash, figure) as an MLflow run; artifacts whose
    manifest is logged already are skipped.

    Example: python -m kit track --manifests oof/a/manifest.json --figures figures/experiments/a.png --out tracking/mlflow.json
    """
    from kit.tracking import log_artifacts

    if args.figures and len(args.figures) != len(args.manifests):
        raise ValueError(f"track: {len(args.manifests)} --manifests but {len(args.figures)} --figures")
    figures = [Path(p) for p in args.figures] if args.figures else [None] * len(args.manifests)
    log_artifacts([Path(p) for p in args.manifests], figures, args.uri, Path(args.out), log)


@command("eda-figures", "draw the EDA figures of the report",
         arg("--report", required=True, help="the ingest report (data/interim/report.json)"),
         arg("--variants", nargs="+", required=True, help="the text variants whose files follow, in order"),
         arg("--train-files", nargs="+", required=True, help="each variant's train parquet"),
         arg("--test-files", nargs="+", required=True, help="each variant's test parquet"),
         arg("--max-lens-json", default="{}", help="model -> max_len of the models that truncate texts"),
         *(output(f"--out-{name}", required=True, help=f"the {name} figure (PNG) to write")
           for name in ("classes", "lengths", "duplicates")),
)
def cmd_eda_figures(args, log) -> None:
    """Draw the EDA figures: class counts with the invalid labels dropped, text lengths per variant and split with
    each max_len marked, duplicates and conflicting labels.

    Example: python -m kit eda-figures --report data/interim/report.json --variants raw --train-files data/variants/raw/train.parquet --test-files data/variants/raw/test.parquet --max-lens-json '{"bert": 192}' --out-classes f/classes.png --out-lengths f/lengths.png --out-duplicates f/duplicates.png
    """
    from kit.results import write_eda_figures

    if not len(args.variants) == len(args.train_files) == len(args.test_files):
        raise ValueError(f"eda-figures: {len(args.variants)} --variants but {len(args.train_files)} --train-files and "
                         f"{len(args.test_files)} --test-files")
    files = {}
    for variant, train, test in zip(args.variants, args.train_files, args.test_files):
        files[(variant, "train")], files[(variant, "test")] = Path(train), Path(test)
    outs = {"classes": Path(args.out_classes), "lengths": Path(args.out_lengths),
            "duplicates": Path(args.out_duplicates)}
    write_eda_figures(Path(args.report), files, json.loads(args.max_lens_json), outs, log)


@command("artifact-figure", "draw an experiment's or an ensemble's figure",
         arg("--npz", required=True, help="the artifact's oof.npz"),
         arg("--manifest", required=True, help="the artifact's manifest.json"),
         output("--out", required=True, help="the figure (PNG) to write"),
)
def cmd_artifact_figure(args, log) -> None:
    """Draw one artifact's figure: an experiment's confusion matrix, fold and class F1 and training curves, or an
    ensemble's weights, naive vs honest F1, class-weight search and member agreement.

    Example: python -m kit artifact-figure --npz oof/ensemble.mean/oof.npz --manifest oof/ensemble.mean/manifest.json --out figures/ensembles/mean.png
    """
    from kit.results import write_artifact_figure

    write_artifact_figure(Path(args.npz), Path(args.manifest), Path(args.out), log)


@command("final-figure", "draw the final submission's figure",
         arg("--final", required=True, help="subs/final.json"),
         arg("--manifests", nargs="+", required=True, help="manifest.json of every final candidate"),
         arg("--report", required=True, help="the ingest report, for the train class counts"),
         output("--out", required=True, help="the figure (PNG) to write"),
)
def cmd_final_figure(args, log) -> None:
    """Draw the final submission's figure: why it was chosen (every candidate's naive and honest F1) and its class
    distribution beside the train set's.

    Example: python -m kit final-figure --final subs/final.json --manifests oof/ensemble.a/manifest.json oof/ensemble.b/manifest.json --report data/interim/report.json --out figures/final/final.png
    """
    from kit.results import write_final_figure

    write_final_figure(Path(args.final), [Path(p) for p in args.manifests], Path(args.report), Path(args.out), log)


@command("disagreements", "list the posts the final ensemble's members disagree on",
         arg("--final", default=layout.FINAL_SIDECAR, help="the final submission's sidecar (names the source)"),
         arg("--oof-dir", default=layout.OOF, help="where the artifacts are, unless --npz and --manifests list them"),
         arg("--npz", nargs="*", default=[], help="oof.npz of the artifacts (the source and its members)"),
         arg("--manifests", nargs="*", default=[], help="manifest.json of each, in the order of --npz"),
         arg("--train", default=layout.interim("train"), help="the ingested train split (OOF texts)"),
         arg("--test", default=layout.interim("test"), help="the ingested test split (test texts)"),
         arg("--top", type=int, default=20, help="posts per split (default: %(default)s)"),
         output("--out-csv", help="write every listed post, with each member's vote and probability, here"),
         output("--out-png", help="draw the top test posts' votes here"),
)
def cmd_disagreements(args, log) -> None:
    """List the test and OOF posts on which the members of the final ensemble disagree most: the text, each
    member's vote and probability, the text length against max_len (a table; --out-csv and --out-png to keep it).

    Example: python -m kit disagreements --top 20 --out-csv disagreements.csv
    """
    from kit.artifacts import discover
    from kit.disagreements import write_disagreements

    if not Path(args.final).is_file():
        raise FileNotFoundError(f"{args.final}: missing, so there is no final submission whose members could "
                                "disagree; run `snakemake -j2 subs/final.csv` first, or pass --final")
    if args.npz or args.manifests:
        files = paired("disagreements", args.npz, "--npz", args.manifests, "--manifests")
    else:
        files = [(folder / "oof.npz", folder / "manifest.json") for folder in discover(Path(args.oof_dir))]
    write_disagreements(Path(args.final), files, Path(args.train), Path(args.test), args.top,
                        Path(args.out_csv) if args.out_csv else None, Path(args.out_png) if args.out_png else None,
                        log)


@command("predict", "classify new posts with what the run kept",
         RUN_DIRECTORY,
         arg("--text", action="append", help="a post to classify (repeat for more)"),
         arg("--input", action=Once, help="a CSV in the competition layout, or one post per line ('-': stdin)"),
         arg("--lines", action="store_true",
             help="read --input as one post per line, even when its first line reads as a CSV header"),
         arg("--source", action=Once, help="an artifact of this run: its name or folder (oof/ensemble.x); default: "
             "the source of --final"),
         arg("--final", default=layout.FINAL_SIDECAR, help="the final submission's sidecar"),
         arg("--oof-dir", default=layout.OOF, help="the artifacts' folder"),
         arg("--models-dir", default=layout.FOLD_MODELS, help="the kept fold models' folder"),
         output("--out", action=Once, help="the predictions CSV to write (default: stdout, as CSV unless the posts "
                "came with --text)"),
         threads_arg("CPU threads (default: %(default)s)"),
         settings_args(Columns, prefix="column-"),
)
def cmd_predict(args, log) -> None:
    """Classify new posts with the final submission's source (or --source). With --text, each post's label, the
    class probabilities and the post itself, one line each; with --input (the competition's CSV layout, one post per
    line, or '-' for stdin) or --out, CSV: id,y and the class probabilities (p_<label>), into --out or on stdout.
    Only the models the source's weights need are loaded, from models/folds/ and the ensembles' combination.skops.

    Example: python -m kit predict --text "武汉加油！"
    """
    import shutil
    import sys
    import time

    from kit.predict import (check_out, describe_load, load_source, predictions, read_input, readable,
                             source_name, unreadable, write_predictions)

    check_out(args.out, args.input, (args.oof_dir, args.models_dir))
    given = argument_values(Columns, args, prefix="column-")  # the --column-* flags, each read and checked once
    posts = read_input(args.input, args.text, parse(Columns, given, "command line"), log, columns_given=bool(given),
                       lines=args.lines)
    warning = unreadable(posts)
    if warning:
        log(warning)
    source = load_source(source_name(args.source, Path(args.final), Path(args.oof_dir)), Path(args.oof_dir),
                         Path(args.models_dir))
    set_torch_threads(args.threads)
    log(describe_load(source))
    started = time.perf_counter()
    logits = source.predict(posts.texts)
    seconds = time.perf_counter() - started
    n_posts = len(posts.texts)
    log(f"{n_posts} post(s) in {seconds:.3f}s ({1000 * seconds / max(n_posts, 1):.1f} ms per post)")
    if args.text and not args.out:
        sys.stdout.write(readable(posts, logits, source.classes, shutil.get_terminal_size().columns))
        sys.stdout.flush()
    else:
        write_predictions(predictions(posts, logits, source.classes), args.out)


@command("config", "show the resolved config, its schema or its reference tables",
         arg("--show", nargs="*", default=["configs/config.yaml"], metavar="CONFIGFILE",
             help="config files, merged in order as snakemake --configfile does"),
         arg("--schema", action="store_true", help="print the JSON schema (kit/schema/config.schema.json)"),
         arg("--markdown", action="store_true", help="print the README's config reference tables"),
         arg("--update-readme", metavar="README", help="rewrite the config reference section of this README"),
)
def cmd_config(args, log) -> None:
    """Show the config with every default filled in, its JSON schema, or its reference tables (all generated from
    the typed definitions in kit/config.py and the registered families and methods).

    Example: python -m kit config --show configs/config.yaml
    """
    from kit import docs

    if args.schema:
        print(json.dumps(docs.schema(), indent=2, ensure_ascii=False))
    elif args.update_readme:
        changed = docs.update_readme(Path(args.update_readme))
        log(f"{args.update_readme}: config reference {'rewritten' if changed else 'already up to date'}")
    elif args.markdown:
        print(docs.reference())
    else:
        print(docs.resolved(args.show))


# What a person runs, listed first in `kit --help`; the other commands are the ones the workflow's rules run.
PERSON_COMMANDS = ("scores", "predict", "disagreements", "lb", "adversarial", "config", "demo")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kit", formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"kit {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of the commands above")
    for declared in COMMANDS.values():
        p = sub.add_parser(declared.name, description=declared.func.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=declared.func, outputs=declared.outputs)
        p.add_argument("--log", help="append plain log lines to this file")
        p.add_argument("--plugins", nargs="*", default=[], help="the config's plugin modules, imported first")
        for add in declared.arguments:
            add(p)

    def lines(names) -> str:
        return "\n".join(f"  {name:<16} {COMMANDS[name].help}" for name in names)

    top.description = (f"{__doc__.splitlines()[0]}\n\ncommands you run:\n{lines(PERSON_COMMANDS)}\n\n"
                       "commands the workflow's rules run:\n"
                       f"{lines([name for name in COMMANDS if name not in PERSON_COMMANDS])}\n\n"
                       "`kit COMMAND --help` gives a command's options and an example.")
    return top


@contextmanager
def _inside(directory: str | None):
    """Run the command in `directory` (--directory), as Snakemake's --directory does, and come back after."""
    if directory is None:
        yield
        return
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"--directory {directory}: no such folder")
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    set_threads(getattr(args, "threads", 1))
    if args.log and getattr(args, "directory", None):
        args.log = os.path.abspath(args.log)  # the log is written after the command moves into the folder
    with running(args.log) as log, _inside(getattr(args, "directory", None)):
        from kit.artifacts import remove_stale_temps
        from kit.registry import load_plugins

        for dest in args.outputs:
            if getattr(args, dest, None):
                for stale in remove_stale_temps(Path(getattr(args, dest))):
                    log(f"removed {stale}, a temporary file left by a killed run")
        load_plugins(args.plugins)
        args.func(args, log)
