"""`python -m kit <command>`: the command layer the Snakemake rules call. It parses arguments and calls.

Each command names every file it reads and writes (the rules pass them), and the module that owns the concept does
the reading, choosing and writing. Settings that belong to the config arrive as flags generated from their typed
definitions (kit.settings) or, for a whole entry, as canonical JSON built by rules/common.smk. Each command's
docstring has an example; kit.log gives every command the same log contract.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kit import __version__
from kit.config import DEFAULT_CLASSES, Config, FoldSettings
from kit.corpus import CorpusSettings
from kit.data_settings import Columns, DataSettings, IngestSettings
from kit.word_vectors import WordVectorSettings
from kit.pseudo import PoolSettings
from kit.log import running
from kit.runtime import set_threads, set_torch_threads
from kit.settings import add_arguments, argument_values, from_arguments, parse


def cmd_demo(args, log) -> None:
    """Write the demo competition in the real layout and encoding.

    Example: python -m kit demo --train data/demo/train.csv --test data/demo/test.csv --unlabeled data/demo/u.csv
    """
    from kit.demo import write_demo

    paths = {"train": args.train, "test": args.test, "unlabeled": args.unlabeled}
    write_demo(paths, n_train=args.n_train, n_test=args.n_test, n_unlabeled=args.n_unlabeled, seed=args.seed)
    for role, path in paths.items():
        log(f"demo {role}: {path}")


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


def cmd_variant(args, log) -> None:
    """Write one text variant (raw, cleaned, ...) of the ingested train and test texts.

    Example: python -m kit variant --name cleaned --train i/train.parquet --test i/test.parquet --out-train v/train.parquet --out-test v/test.parquet --meta v/meta.json
    """
    from kit.variants import write_variant

    write_variant(args.name, args.train, args.test, args.out_train, args.out_test, args.meta, log=log,
                  pool_in=args.pool, pool_out=args.out_pool)


def cmd_pool(args, log) -> None:
    """Write the pseudo-label pool: every test row and a seeded sample of the unlabelled ones (id, text, source).

    Example: python -m kit pool --test data/interim/test.parquet --unlabeled data/interim/unlabeled.parquet --unlabeled-rows 20000 --out data/pool.parquet
    """
    from kit.pseudo import PoolSettings, write_pool

    write_pool(args.test, args.unlabeled, from_arguments(PoolSettings, args), args.out, log=log)


def cmd_pseudo_rows(args, log) -> None:
    """Pick each fold's pseudo-labelled rows from the teacher's fold-by-fold pool predictions; write them and a
    manifest (teacher, thresholds, rows per class per fold, the teacher's precision at that confidence).

    Example: python -m kit pseudo-rows --name pl --settings-json '{"teacher": "ensemble.mean"}' --teacher-npz oof/ensemble.mean/oof.npz --teacher-manifest oof/ensemble.mean/manifest.json --pool data/variants/cleaned/pool.parquet --out-rows data/pseudo/pl/rows.parquet --out-manifest data/pseudo/pl/manifest.json
    """
    from kit.pseudo import PseudoSettings, write_pseudo_rows
    from kit.settings import parse

    settings = parse(PseudoSettings, json.loads(args.settings_json), f"pseudo.{args.name}")
    write_pseudo_rows(args.name, settings, Path(args.teacher_npz), Path(args.teacher_manifest), Path(args.pool),
                      Path(args.out_rows), Path(args.out_manifest), log=log)


def cmd_folds(args, log) -> None:
    """Assign every train row to one of K stratified folds, identical cleaned texts together.

    Example: python -m kit folds --train data/interim/train.parquet --k 5 --seed 42 --out data/folds.parquet
    """
    from kit.folds import write_fold_file

    settings = from_arguments(FoldSettings, args)
    write_fold_file(args.train, settings.k, settings.seed, args.out, log=log)


def cmd_build_backbone(args, log) -> None:
    """Build a small BERT with a character vocabulary from the competition's own texts (nothing downloaded).

    Example: python -m kit build-backbone --spec-json '{"layers": 2, "hidden": 64, "heads": 2}' --texts i/train.parquet i/test.parquet --out models/backbones/tiny
    """
    from kit.data import read_texts
    from kit.models.transformer.backbone import build_scratch_backbone

    texts = read_texts(args.texts)
    out = build_scratch_backbone(Path(args.out), texts, **json.loads(args.spec_json))
    log(f"scratch backbone from {len(texts)} texts: {out}")


def cmd_corpus(args, log) -> None:
    """Build the text corpus for representation learning: train + test (+ unlabelled) texts cleaned, deduplicated,
    their own words found for jieba's dictionary, segmented once.

    Example: python -m kit corpus --train i/train.parquet --test i/test.parquet --unlabeled i/unlabeled.parquet --settings-json '{"max_texts": null}' --threads 2 --out-corpus c/corpus.parquet --out-userdict c/userdict.txt --out-new-words c/new_words.tsv --out-meta c/meta.json
    """
    from kit.corpus import CorpusFiles, build_corpus

    inputs = {"train": Path(args.train), "test": Path(args.test)}
    if args.unlabeled:
        inputs["unlabeled"] = Path(args.unlabeled)
    settings = parse(CorpusSettings, json.loads(args.settings_json), "corpus")
    outputs = CorpusFiles(Path(args.out_corpus), Path(args.out_userdict), Path(args.out_new_words), Path(args.out_meta))
    build_corpus(inputs, settings, outputs, workers=args.threads, log=log)


def cmd_word_vectors(args, log) -> None:
    """Train one word_vectors entry (gensim word2vec or fastText) on the corpus's words.

    Example: python -m kit word-vectors --name w2v --settings-json '{"algorithm": "word2vec"}' --corpus c/corpus.parquet --corpus-meta c/meta.json --threads 1 --out models/word_vectors/w2v
    """
    from kit.word_vectors import build_word_vectors

    settings = parse(WordVectorSettings, json.loads(args.settings_json), f"word_vectors.{args.name}")
    build_word_vectors(args.name, settings, Path(args.corpus), Path(args.corpus_meta), Path(args.out),
                       workers=args.threads, log=log)


def cmd_post_train(args, log) -> None:
    """Continue masked-language-model training of a backbone on the corpus; write a save_pretrained folder.

    Example: python -m kit post-train --spec-json '{"base": "hfl/chinese-roberta-wwm-ext", "epochs": 2}' --corpus data/corpus/corpus.parquet --corpus-meta data/corpus/meta.json --gpus 1 --threads 4 --workdir checkpoints/backbones/post-abc --out models/backbones/post-abc
    """
    from kit.models.transformer.config import PostTrainSpec
    from kit.runtime import compute
    from kit.settings import parse

    spec = parse(PostTrainSpec, json.loads(args.spec_json), "post_train")
    with compute(args.gpus, args.threads, log):
        from kit.models.transformer.post_train import run_post_train

        run_post_train(spec, Path(args.base_dir) if args.base_dir else None, Path(args.corpus), Path(args.corpus_meta),
                       Path(args.out), Path(args.workdir), log=log)


def variant_files(args):
    from kit.experiment import VariantFiles

    return VariantFiles(Path(args.train), Path(args.test), Path(args.variant_meta))


def cmd_fit_fold(args, log) -> None:
    """Train one model on every fold but one; write the held-out and test logits.

    Example: python -m kit fit-fold --kind sklearn --params-json '{}' --train v/train.parquet --test v/test.parquet --variant-meta v/meta.json --folds data/folds.parquet --fold 0 --seed 0 --classes -1 0 1 --workdir checkpoints/m/fold0 --out oof/m.raw.s0/fold0.npz --model-dir models/folds/m.raw.s0/fold0 --config-hash abc
    """
    from kit.runtime import compute

    additions = None
    if args.pseudo_rows:
        from kit.experiment import PseudoRows

        additions = PseudoRows(Path(args.pseudo_rows), tuple(args.classes))
    elif args.augment_json:
        from kit.augment import AugmentRows, AugmentSettings

        settings = parse(AugmentSettings, json.loads(args.augment_json), "augment")
        additions = AugmentRows(settings, Path(args.corpus), Path(args.userdict),
                                Path(args.synonyms) if args.synonyms else None)
    params = json.loads(args.params_json)
    if args.backbone_dir:
        params["backbone"] = args.backbone_dir
    with compute(args.gpus, args.threads, log, torch=args.kind in ("transformer", "wordvec")):
        from kit.experiment import run_fold

        run_fold(
            kind=args.kind, params=params, variant=variant_files(args), folds_path=Path(args.folds), fold=args.fold,
            seed=args.seed, classes=args.classes, out=Path(args.out), workdir=Path(args.workdir), log=log,
            pool=Path(args.pool) if args.pool else None, additions=additions, inputs=family_inputs(args.inputs),
            model_dir=Path(args.model_dir) if args.model_dir else None, config_hash=args.config_hash,
        )


def cmd_keep_models(args, log) -> None:
    """Keep or prune an experiment's fold models for `kit predict` (keep_models), without training anything.

    Example: python -m kit keep-models --model-dirs models/folds/m.raw.s0/fold0 models/folds/m.raw.s0/fold1 --keep-models auto --kept --out models/folds/m.raw.s0/retention.json
    """
    from kit.artifacts import write_json
    from kit.kept import retain_fold_models, why_not_kept

    status = retain_fold_models([Path(p) for p in args.model_dirs], args.kept, why_not_kept(args.keep_models), log)
    write_json(Path(args.out), {"keep_models": args.keep_models, "kept": args.kept, "folds": status})


def family_inputs(pairs: list[str]) -> dict[str, Path]:
    """--inputs role=path ... as {role: path}."""
    inputs = {}
    for pair in pairs:
        role, sep, path = pair.partition("=")
        if not sep or not role.isidentifier() or not path:
            raise ValueError(f"fit-fold --inputs: {pair!r} is not role=path (e.g. vectors=models/word_vectors/w2v)")
        inputs[role] = Path(path)
    return inputs


def cmd_merge(args, log) -> None:
    """Merge an experiment's fold files into its artifact (oof.npz + manifest.json).

    Example: python -m kit merge --fold-files oof/m.raw.s0/fold*.npz --train v/train.parquet --test v/test.parquet --variant-meta v/meta.json --folds data/folds.parquet --name m.raw.s0 --model m --kind sklearn --params-json '{}' --config-hash abc --classes -1 0 1 --out-npz oof/m.raw.s0/oof.npz --out-manifest oof/m.raw.s0/manifest.json
    """
    from kit.artifacts import read_json
    from kit.experiment import merge_folds

    artifact = merge_folds(
        fold_files=[Path(p) for p in args.fold_files], variant=variant_files(args), folds_path=Path(args.folds),
        classes=args.classes, name=args.name, model=args.model, kind=args.kind, params=json.loads(args.params_json),
        config_hash=args.config_hash, variant_name=args.variant,
        variant_manifest=read_json(args.variant_manifest) if args.variant_manifest else None,
    )
    artifact.write(Path(args.out_npz), Path(args.out_manifest))
    scores = artifact.manifest["scores"]
    log(f"{args.name}: OOF macro-F1 {scores['oof_macro_f1']:.4f} (folds {scores['fold_f1_mean']:.4f} ± "
        f"{scores['fold_f1_std']:.4f})")


def cmd_ensemble(args, log) -> None:
    """Build one ensemble from member artifacts; it is an artifact too.

    Example: python -m kit ensemble --name ensemble.blend --spec-json '{"method": "mean"}' --member-npz oof/a/oof.npz oof/b/oof.npz --member-manifests oof/a/manifest.json oof/b/manifest.json --out-npz oof/ensemble.blend/oof.npz --out-manifest oof/ensemble.blend/manifest.json --out-combination oof/ensemble.blend/combination.skops
    """
    from kit.artifacts import Artifact
    from kit.ensemble.build import fit_ensemble
    from kit.kept import save_combination

    if len(args.member_npz) != len(args.member_manifests):
        raise ValueError(f"ensemble {args.name}: {len(args.member_npz)} --member-npz files but "
                         f"{len(args.member_manifests)} --member-manifests")
    members = [Artifact.read(npz, manifest) for npz, manifest in zip(args.member_npz, args.member_manifests)]
    artifact, fitted = fit_ensemble(args.name, json.loads(args.spec_json), members, log=log)
    if args.out_combination:
        save_combination(Path(args.out_combination), fitted)
    artifact.write(Path(args.out_npz), Path(args.out_manifest))
    log(f"ensemble {args.name}: OOF macro-F1 {artifact.manifest['scores']['oof_macro_f1']:.4f}, "
        f"honest {artifact.manifest['honest_macro_f1']:.4f}")


def cmd_submit(args, log) -> None:
    """Write a validated submission CSV and its JSON sidecar from an artifact, or choose the final one.

    Example: python -m kit submit --npz oof/ensemble.a/oof.npz --manifests oof/ensemble.a/manifest.json --choice auto --test data/interim/test.parquet --out subs/final.csv --sidecar subs/final.json
    """
    from kit.submission import submit

    if len(args.npz) != len(args.manifests):
        raise ValueError(f"submit: {len(args.npz)} --npz files but {len(args.manifests)} --manifests")
    log(submit(list(zip(map(Path, args.npz), map(Path, args.manifests))), args.choice, Path(args.test),
               Path(args.out), Path(args.sidecar)))


def cmd_scores(args, log) -> None:
    """Print every experiment and ensemble of the current run, best honest F1 first, in a table that fits the
    terminal (--members: each ensemble's members and weights; --agreement: a heatmap of how often each pair agrees;
    --json: everything as JSON). Artifacts made on another fold file or by no entry of the config are listed apart.

    Example: python -m kit scores --members
    """
    from kit.report import current_run, print_scores

    run = current_run([Path(path) for path in args.configfile], Path(args.folds))
    print_scores(Path(args.oof_dir), Path(args.subs_dir), as_json=args.json, agreement=args.agreement,
                 members=args.members, run=run, lb_log=Path(args.lb))


def cmd_lb(args, log) -> None:
    """Record a submission's public leaderboard score (`add`), or list the recorded ones. Only a submission the kit
    wrote, unchanged since (its sidecar's sha256), is accepted; the log is a plain CSV (lb.csv) to keep in git.

    Example: python -m kit lb add subs/final.csv 0.7312 --note "first try"
    """
    from kit import lb

    if args.action == "add":
        if args.submission is None or args.score is None:
            raise ValueError("lb add: give the submission and its score, e.g. `kit lb add subs/final.csv 0.7312`")
        row = lb.add(Path(args.log_file), Path(args.submission), args.score, args.note)
        honest = "unknown" if row["honest_oof_f1"] is None else f"{row['honest_oof_f1']:.4f}"
        log(f"{args.log_file}: {row['submission']} ({row['source']}, sha256 {row['sha256'][:8]}) scored "
            f"{row['lb_score']:.4f} on the leaderboard; honest OOF {honest}")
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


def cmd_lb_figure(args, log) -> None:
    """Draw the CV-vs-LB figure: each recorded submission's honest OOF macro-F1 against its leaderboard score, with
    the rank correlation (a note when nothing is recorded yet).

    Example: python -m kit lb-figure --lb lb.csv --out figures/final/cv_vs_lb.png
    """
    from kit.lb import write_cv_vs_lb_figure

    write_cv_vs_lb_figure(Path(args.lb) if args.lb else None, Path(args.out), log)


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


def cmd_artifact_figure(args, log) -> None:
    """Draw one artifact's figure: an experiment's confusion matrix, fold and class F1 and training curves, or an
    ensemble's weights, naive vs honest F1, class-weight search and member agreement.

    Example: python -m kit artifact-figure --npz oof/ensemble.mean/oof.npz --manifest oof/ensemble.mean/manifest.json --out figures/ensembles/mean.png
    """
    from kit.results import write_artifact_figure

    write_artifact_figure(Path(args.npz), Path(args.manifest), Path(args.out), log)


def cmd_final_figure(args, log) -> None:
    """Draw the final submission's figure: why it was chosen (every candidate's naive and honest F1) and its class
    distribution beside the train set's.

    Example: python -m kit final-figure --final subs/final.json --manifests oof/ensemble.a/manifest.json oof/ensemble.b/manifest.json --report data/interim/report.json --out figures/final/final.png
    """
    from kit.results import write_final_figure

    write_final_figure(Path(args.final), [Path(p) for p in args.manifests], Path(args.report), Path(args.out), log)


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
        if len(args.npz) != len(args.manifests):
            raise ValueError(f"disagreements: {len(args.npz)} --npz files but {len(args.manifests)} --manifests")
        files = list(zip(map(Path, args.npz), map(Path, args.manifests)))
    else:
        files = [(folder / "oof.npz", folder / "manifest.json") for folder in discover(Path(args.oof_dir))]
    write_disagreements(Path(args.final), files, Path(args.train), Path(args.test), args.top,
                        Path(args.out_csv) if args.out_csv else None, Path(args.out_png) if args.out_png else None,
                        log)


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

    from kit.predict import (describe_load, load_source, predictions, read_input, readable,
                             source_name, write_predictions)

    posts = read_input(args.input, args.text, from_arguments(Columns, args, "column-"), log)
    source = load_source(source_name(args.source, Path(args.final)), Path(args.oof_dir), Path(args.models_dir))
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


# The arguments that name a command's output files: a killed run's temporary files of these are removed at the
# next start (kit.artifacts.remove_stale_temps).
OUTPUTS = {
    "demo": ("train", "test", "unlabeled"),
    "ingest": ("out_train", "out_test", "out_unlabeled", "report"),
    "variant": ("out_train", "out_test", "meta", "out_pool"),
    "pool": ("out",),
    "pseudo-rows": ("out_rows", "out_manifest"),
    "folds": ("out",),
    "corpus": ("out_corpus", "out_userdict", "out_new_words", "out_meta"),
    "post-train": ("out",),
    "fit-fold": ("out", "model_dir"),
    "keep-models": ("out",),
    "merge": ("out_npz", "out_manifest"),
    "ensemble": ("out_npz", "out_manifest", "out_combination"),
    "submit": ("out", "sidecar"),
    "eda-figures": ("out_classes", "out_lengths", "out_duplicates"),
    "artifact-figure": ("out",),
    "final-figure": ("out",),
    "disagreements": ("out_csv", "out_png"),
    "predict": ("out",),
    "lb-figure": ("out",),
    "adversarial": ("out_png", "out_json", "out_csv"),
    "track": ("out",),
}


# What a person runs, listed first in `kit --help`; the other commands are the ones the workflow's rules run.
PERSON_COMMANDS = ("scores", "predict", "disagreements", "lb", "adversarial", "config", "demo")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kit", formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"kit {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of the commands above")
    listed: dict[str, str] = {}

    def command(name, func, help_text):
        listed[name] = help_text
        p = sub.add_parser(name, description=func.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func, outputs=OUTPUTS.get(name, ()))
        p.add_argument("--log", help="append plain log lines to this file")
        p.add_argument("--plugins", nargs="*", default=[], help="the config's plugin modules, imported first")
        return p

    p = command("demo", cmd_demo, "write the demo competition files")
    for split in ("train", "test", "unlabeled"):
        p.add_argument(f"--{split}", required=True, help=f"the demo's {split} CSV to write")
    p.add_argument("--n-train", type=int, default=4000, help="labelled rows")
    p.add_argument("--n-test", type=int, default=1000, help="test rows")
    p.add_argument("--n-unlabeled", type=int, default=4000, help="unlabelled rows")
    p.add_argument("--seed", type=int, default=0, help="the demo is a function of its seed")

    p = command("ingest", cmd_ingest, "read the competition files into parquet")
    p.add_argument("--train", required=True, help="labelled CSV")
    p.add_argument("--test", required=True, help="test CSV")
    p.add_argument("--unlabeled", help="unlabelled CSV (optional)")
    add_arguments(p, Config, only=("classes",))
    add_arguments(p, DataSettings, only=("encoding",))
    add_arguments(p, Columns, prefix="column-")
    add_arguments(p, IngestSettings)
    for split in ("train", "test", "unlabeled"):
        p.add_argument(f"--out-{split}", required=split != "unlabeled", help=f"the ingested {split} parquet to write")
    p.add_argument("--report", required=True, help="the ingest report (JSON) to write")

    p = command("variant", cmd_variant, "write one text variant")
    p.add_argument("--name", required=True, help="a registered text variant")
    p.add_argument("--train", required=True, help="ingested train parquet")
    p.add_argument("--test", required=True, help="ingested test parquet")
    p.add_argument("--out-train", required=True, help="the variant's train parquet to write")
    p.add_argument("--out-test", required=True, help="the variant's test parquet to write")
    p.add_argument("--meta", required=True, help="the variant's meta.json (name, data hash) to write")
    p.add_argument("--pool", help="the pseudo-label pool, to write in this variant too")
    p.add_argument("--out-pool", help="the pool's texts in this variant (with --pool)")

    p = command("pool", cmd_pool, "write the pseudo-label pool")
    p.add_argument("--test", required=True, help="ingested test parquet")
    p.add_argument("--unlabeled", help="ingested unlabelled parquet (optional)")
    add_arguments(p, PoolSettings)
    p.add_argument("--out", required=True, help="the pool (parquet) to write")

    p = command("pseudo-rows", cmd_pseudo_rows, "pick each fold's pseudo-labelled rows")
    p.add_argument("--name", required=True, help="the pseudo variant")
    p.add_argument("--settings-json", required=True, help="its pseudo: entry")
    p.add_argument("--teacher-npz", required=True, help="the teacher artifact's oof.npz (its per-fold pool logits)")
    p.add_argument("--teacher-manifest", required=True, help="the teacher artifact's manifest.json")
    p.add_argument("--pool", required=True, help="the pool's texts in the base variant")
    p.add_argument("--out-rows", required=True, help="each fold's pseudo-labelled rows (parquet) to write")
    p.add_argument("--out-manifest", required=True, help="the variant's manifest (teacher, rows per class) to write")

    p = command("folds", cmd_folds, "write the one fold file")
    p.add_argument("--train", required=True, help="ingested train parquet")
    add_arguments(p, FoldSettings)
    p.add_argument("--out", required=True, help="the fold file (parquet) to write")

    p = command("build-backbone", cmd_build_backbone, "build a small scratch BERT")
    p.add_argument("--spec-json", required=True, help="the entry's backbone.scratch settings")
    p.add_argument("--texts", nargs="+", required=True, help="ingested parquet files whose texts make the vocabulary")
    p.add_argument("--out", required=True, help="the save_pretrained folder to write")

    p = command("corpus", cmd_corpus, "build the text corpus for representation learning")
    p.add_argument("--train", required=True, help="ingested train parquet")
    p.add_argument("--test", required=True, help="ingested test parquet")
    p.add_argument("--unlabeled", help="ingested unlabelled parquet (optional)")
    p.add_argument("--settings-json", default="{}", help="the config's corpus: block")
    p.add_argument("--threads", type=int, default=1, help="processes that segment")
    p.add_argument("--out-corpus", required=True, help="the corpus parquet (text, words, source) to write")
    p.add_argument("--out-userdict", required=True, help="jieba's user dictionary to write")
    p.add_argument("--out-new-words", required=True, help="the readable table of the corpus's own words to write")
    p.add_argument("--out-meta", required=True, help="the corpus's meta.json to write")

    p = command("word-vectors", cmd_word_vectors, "train one word-vectors entry on the corpus")
    p.add_argument("--name", required=True, help="the entry's name in word_vectors:")
    p.add_argument("--settings-json", default="{}", help="the entry")
    p.add_argument("--corpus", required=True, help="the corpus parquet")
    p.add_argument("--corpus-meta", required=True, help="the corpus's meta.json (its hash)")
    p.add_argument("--threads", type=int, default=1, help="gensim workers (1: identical vectors for a seed)")
    p.add_argument("--out", required=True, help="the folder to write (gensim's files and meta.json)")

    p = command("post-train", cmd_post_train, "post-train a backbone on the corpus (masked language model)")
    p.add_argument("--spec-json", required=True, help="the entry's backbone.post_train settings")
    p.add_argument("--base-dir", help="the built scratch folder, when the base is {scratch: ...}")
    p.add_argument("--corpus", required=True, help="the corpus parquet (text, words, source)")
    p.add_argument("--corpus-meta", required=True, help="the corpus's meta.json (its corpus_hash is recorded)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs to lease (0: CPU)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument("--workdir", required=True, help="checkpoints go here; a rerun resumes from them")
    p.add_argument("--out", required=True, help="the save_pretrained folder to write")

    def experiment_args(p):
        """What names one experiment's data and model: shared by fit-fold and merge."""
        p.add_argument("--kind", required=True, help="the model family")
        p.add_argument("--params-json", default="{}", help="the model entry without its scheduling keys")
        p.add_argument("--train", required=True, help="the variant's train parquet")
        p.add_argument("--test", required=True, help="the variant's test parquet")
        p.add_argument("--variant-meta", required=True, help="the variant's meta.json")
        p.add_argument("--folds", required=True, help="the fold file")
        p.add_argument("--classes", nargs="+", required=True, help="the labels in logit-column order")

    p = command("fit-fold", cmd_fit_fold, "train one fold of one experiment")
    experiment_args(p)
    p.add_argument("--backbone-dir", help="a local model folder that replaces the entry's backbone")
    p.add_argument("--fold", type=int, required=True, help="the fold held out (trained on every other)")
    p.add_argument("--seed", type=int, required=True, help="the experiment's seed")
    p.add_argument("--gpus", type=int, default=0, help="GPUs to lease (0: CPU)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument("--workdir", required=True, help="checkpoints go here; a rerun resumes from them")
    p.add_argument("--pool", help="the pool's texts in this variant: predicted when the experiment teaches")
    p.add_argument("--pseudo-rows", help="a pseudo variant's rows: fold k's join fold k's training rows")
    p.add_argument("--augment-json", help="an augment variant's entry: EDA copies of the fold's training rows")
    p.add_argument("--corpus", help="with --augment-json: the corpus parquet (the texts' words)")
    p.add_argument("--userdict", help="with --augment-json: the corpus's jieba dictionary")
    p.add_argument("--synonyms", help="with --augment-json: the word-vectors folder the synonyms come from")
    p.add_argument("--inputs", nargs="+", default=[], metavar="ROLE=PATH",
                   help="workflow files the model family reads (its declared inputs), e.g. "
                        "vectors=models/word_vectors/w2v corpus=data/corpus/corpus.parquet")
    p.add_argument("--out", required=True, help="the fold file (npz) to write")
    p.add_argument("--model-dir", help="the fold's model folder to write: the model, or not_kept.json saying why")
    p.add_argument("--config-hash", default="", help="the experiment's identity hash, recorded beside the model")

    p = command("keep-models", cmd_keep_models, "keep or prune an experiment's fold models (keep_models)")
    p.add_argument("--model-dirs", nargs="+", required=True, help="the experiment's fold model folders")
    p.add_argument("--kept", action="store_true", help="keep them (else prune them to not_kept.json)")
    add_arguments(p, Config, only=("keep_models",))
    p.add_argument("--out", required=True, help="retention.json to write: what was kept and pruned")

    p = command("merge", cmd_merge, "merge fold files into an experiment artifact")
    experiment_args(p)
    p.add_argument("--fold-files", nargs="+", required=True, help="the experiment's fold<k>.npz, one per fold")
    p.add_argument("--name", required=True, help="the experiment's name, model.variant.sSEED")
    p.add_argument("--model", required=True, help="the model entry's name")
    p.add_argument("--config-hash", required=True, help="hash of what decides the numbers (kit.config)")
    p.add_argument("--variant", help="the experiment's variant when it is a pseudo or augment variant")
    p.add_argument("--variant-manifest", help="that variant's manifest (a pseudo variant's teacher and rows)")
    p.add_argument("--out-npz", required=True, help="the artifact's oof.npz to write")
    p.add_argument("--out-manifest", required=True, help="the artifact's manifest.json to write")

    p = command("ensemble", cmd_ensemble, "build an ensemble artifact")
    p.add_argument("--name", required=True, help="the artifact's name, ensemble.<entry>")
    p.add_argument("--spec-json", required=True, help="the ensemble's config entry")
    p.add_argument("--member-npz", nargs="+", required=True, help="each member artifact's oof.npz")
    p.add_argument("--member-manifests", nargs="+", required=True, help="in the order of --member-npz")
    p.add_argument("--out-npz", required=True, help="the ensemble's oof.npz to write")
    p.add_argument("--out-manifest", required=True, help="the ensemble's manifest.json to write")
    p.add_argument("--out-combination", help="the fit on every OOF row (combination.skops), for kit predict")

    p = command("submit", cmd_submit, "write a validated submission CSV")
    p.add_argument("--npz", nargs="+", required=True, help="oof.npz of each candidate artifact")
    p.add_argument("--manifests", nargs="+", required=True, help="manifest.json of each, in the order of --npz")
    p.add_argument("--choice", default="auto", help="an artifact name, or 'auto' (best honest OOF F1)")
    p.add_argument("--test", required=True, help="the ingested test parquet whose ids the submission must cover")
    p.add_argument("--out", required=True, help="the submission CSV to write")
    p.add_argument("--sidecar", required=True, help="the submission's JSON sidecar to write")

    p = command("scores", cmd_scores, "print the OOF scores table")
    p.add_argument("--oof-dir", default="oof", help="the artifacts' folder (default: %(default)s)")
    p.add_argument("--subs-dir", default="subs", help="the submissions' folder (default: %(default)s)")
    p.add_argument("--configfile", nargs="*", default=["configs/config.yaml"], metavar="CONFIGFILE",
                   help="the run's config files, merged as snakemake --configfile does: an artifact no entry of "
                        "theirs builds is listed apart (default: %(default)s)")
    p.add_argument("--folds", default="data/folds.parquet",
                   help="the run's fold file: an artifact made on another one is listed apart (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--members", action="store_true", help="also print each ensemble's members and weights")
    p.add_argument("--agreement", action="store_true",
                   help="also print how often each pair of artifacts agrees, as a heatmap")
    p.add_argument("--lb", default="lb.csv", help="the leaderboard log whose scores join the table (kit lb)")

    p = command("lb", cmd_lb, "record or list public leaderboard scores (lb.csv)")
    p.add_argument("action", nargs="?", choices=["add"], help="add: record SUBMISSION's SCORE; none: list")
    p.add_argument("submission", nargs="?", help="with add: a submission CSV the kit wrote (subs/<name>.csv)")
    p.add_argument("score", nargs="?", help="with add: its public leaderboard score, in [0, 1]")
    p.add_argument("--note", default="", help="with add: a note kept beside the score")
    p.add_argument("--lb", dest="log_file", default="lb.csv", help="the leaderboard log (CSV)")

    p = command("lb-figure", cmd_lb_figure, "draw the CV-vs-LB figure of the leaderboard log")
    p.add_argument("--lb", help="the leaderboard log (CSV); left out: none recorded yet")
    p.add_argument("--out", required=True, help="the figure (PNG) to write")

    p = command("adversarial", cmd_adversarial, "adversarial validation: train vs test posts of one variant")
    p.add_argument("--variant", required=True, help="the text variant's name (for the titles)")
    p.add_argument("--train", required=True, help="the variant's train parquet")
    p.add_argument("--test", required=True, help="the variant's test parquet")
    p.add_argument("--k", type=int, default=5, help="folds of the train-vs-test classifier")
    p.add_argument("--seed", type=int, default=0, help="seed of its folds and of the bootstrap")
    p.add_argument("--out-png", required=True, help="the figure to write")
    p.add_argument("--out-json", required=True, help="the AUC, its intervals, n-grams and lengths (JSON) to write")
    p.add_argument("--out-csv", required=True, help="every train row's p(test), most test-like first (CSV)")

    p = command("track", cmd_track, "log artifacts to MLflow (tracking: mlflow)")
    p.add_argument("--manifests", nargs="+", required=True, help="manifest.json of each artifact")
    p.add_argument("--figures", nargs="*", default=[], help="each artifact's figure, in the order of --manifests")
    p.add_argument("--uri", help="the MLflow tracking URI (default: a SQLite store under mlruns/)")
    p.add_argument("--out", required=True, help="the JSON of artifact -> MLflow run id to write")

    p = command("eda-figures", cmd_eda_figures, "draw the EDA figures of the report")
    p.add_argument("--report", required=True, help="the ingest report (data/interim/report.json)")
    p.add_argument("--variants", nargs="+", required=True, help="the text variants whose files follow, in order")
    p.add_argument("--train-files", nargs="+", required=True, help="each variant's train parquet")
    p.add_argument("--test-files", nargs="+", required=True, help="each variant's test parquet")
    p.add_argument("--max-lens-json", default="{}", help="model -> max_len of the models that truncate texts")
    for name in ("classes", "lengths", "duplicates"):
        p.add_argument(f"--out-{name}", required=True, help=f"the {name} figure (PNG) to write")

    p = command("artifact-figure", cmd_artifact_figure, "draw an experiment's or an ensemble's figure")
    p.add_argument("--npz", required=True, help="the artifact's oof.npz")
    p.add_argument("--manifest", required=True, help="the artifact's manifest.json")
    p.add_argument("--out", required=True, help="the figure (PNG) to write")

    p = command("final-figure", cmd_final_figure, "draw the final submission's figure")
    p.add_argument("--final", required=True, help="subs/final.json")
    p.add_argument("--manifests", nargs="+", required=True, help="manifest.json of every final candidate")
    p.add_argument("--report", required=True, help="the ingest report, for the train class counts")
    p.add_argument("--out", required=True, help="the figure (PNG) to write")

    p = command("disagreements", cmd_disagreements, "list the posts the final ensemble's members disagree on")
    p.add_argument("--final", default="subs/final.json", help="the final submission's sidecar (names the source)")
    p.add_argument("--oof-dir", default="oof", help="where the artifacts are, unless --npz and --manifests list them")
    p.add_argument("--npz", nargs="*", default=[], help="oof.npz of the artifacts (the source and its members)")
    p.add_argument("--manifests", nargs="*", default=[], help="manifest.json of each, in the order of --npz")
    p.add_argument("--train", default="data/interim/train.parquet", help="the ingested train split (OOF texts)")
    p.add_argument("--test", default="data/interim/test.parquet", help="the ingested test split (test texts)")
    p.add_argument("--top", type=int, default=20, help="posts per split (default: %(default)s)")
    p.add_argument("--out-csv", help="write every listed post, with each member's vote and probability, here")
    p.add_argument("--out-png", help="draw the top test posts' votes here")

    p = command("predict", cmd_predict, "classify new posts with what the run kept")
    p.add_argument("--text", action="append", help="a post to classify (repeat for more)")
    p.add_argument("--input", help="a CSV in the competition layout, or one post per line ('-': stdin)")
    p.add_argument("--source", help="an artifact name or folder (oof/ensemble.x); default: the source of --final")
    p.add_argument("--final", default="subs/final.json", help="the final submission's sidecar")
    p.add_argument("--oof-dir", default="oof", help="the artifacts' folder")
    p.add_argument("--models-dir", default="models/folds", help="the kept fold models' folder")
    p.add_argument("--out", help="the predictions CSV to write (default: stdout, as CSV unless the posts came with "
                                 "--text)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default: %(default)s)")
    add_arguments(p, Columns, prefix="column-")

    p = command("config", cmd_config, "show the resolved config, its schema or its reference tables")
    p.add_argument("--show", nargs="*", default=["configs/config.yaml"], metavar="CONFIGFILE",
                   help="config files, merged in order as snakemake --configfile does")
    p.add_argument("--schema", action="store_true", help="print the JSON schema (kit/schema/config.schema.json)")
    p.add_argument("--markdown", action="store_true", help="print the README's config reference tables")
    p.add_argument("--update-readme", metavar="README", help="rewrite the config reference section of this README")
    def lines(names) -> str:
        return "\n".join(f"  {name:<16} {listed[name]}" for name in names)

    top.description = (f"{__doc__.splitlines()[0]}\n\ncommands you run:\n{lines(PERSON_COMMANDS)}\n\n"
                       "commands the workflow's rules run:\n"
                       f"{lines([name for name in listed if name not in PERSON_COMMANDS])}\n\n"
                       "`kit COMMAND --help` gives a command's options and an example.")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    set_threads(getattr(args, "threads", 1))
    with running(args.log) as log:
        from kit.artifacts import remove_stale_temps
        from kit.registry import load_plugins

        for dest in args.outputs:
            if getattr(args, dest, None):
                for stale in remove_stale_temps(Path(getattr(args, dest))):
                    log(f"removed {stale}, a temporary file left by a killed run")
        load_plugins(args.plugins)
        args.func(args, log)
