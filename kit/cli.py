"""`python -m kit <command>`: the thin command layer the Snakemake rules call; all file I/O starts here.

Each command's docstring has an example. Values that are not files (a model's entry, an ensemble's spec) arrive
as JSON strings, built by rules/common.smk from the validated config.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

from kit import __version__


class Log:
    """Plain timestamped lines into the rule's log file, echoed to stderr."""

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, file=sys.stderr, flush=True)
        self.file_only(line)

    def file_only(self, text: str) -> None:
        """Text into the log file only (what stderr shows already, a traceback say), ending in a newline."""
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")

    def rich(self, renderable) -> None:
        """Render a rich object (a table) to stderr and as plain text into the log."""
        from rich.console import Console

        Console(stderr=True).print(renderable)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                Console(file=handle, width=160, no_color=True).print(renderable)


class ForwardToLog(logging.Handler):
    """Library warnings (the GPU lease waiting, a job falling back to CPU) belong in the rule's log too."""

    def __init__(self, log: Log):
        super().__init__(level=logging.INFO)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        self.log(f"{record.levelname.lower()}: {record.getMessage()}")


def forward_warnings(log: Log) -> None:
    """Python warnings (scikit-learn's ConvergenceWarning, torch's) as log lines, so the rule's log holds them."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        log(f"warning: {category.__name__}: {message} ({Path(filename).name}:{lineno})")

    warnings.showwarning = show


def cmd_demo(args, log: Log) -> None:
    """Write the demo competition in the real layout and encoding.

    Example: python -m kit demo --out data/demo
    """
    from kit.demo import make_demo

    paths = make_demo(Path(args.out), n_train=args.n_train, n_test=args.n_test, n_unlabeled=args.n_unlabeled, seed=args.seed)
    for role, path in paths.items():
        log(f"demo {role}: {path}")


def cmd_ingest(args, log: Log) -> None:
    """Read the competition files once, apply the documented ingest rules, write parquet and a report.

    Example: python -m kit ingest --train train.csv --test test.csv --out data/interim --classes -1 0 1
    """
    from kit import data

    columns = data.Columns(id=args.id_column, text=args.text_column, label=args.label_column)
    ingested = data.ingest(
        args.train, args.test, args.unlabeled or None, classes=tuple(args.classes), columns=columns,
        conflicting_text=args.conflicting_text,
    )
    data.write_interim(ingested, Path(args.out))
    log.rich(data.report_table(ingested.report))


def cmd_variant(args, log: Log) -> None:
    """Write one text variant (raw, cleaned, ...) of the interim train and test texts.

    Example: python -m kit variant --name cleaned --interim data/interim --out data/variants/cleaned
    """
    from kit.artifacts import sha256_strings, write_json, write_parquet
    from kit.cleaning import apply_variant
    from kit.data import read_interim

    interim = Path(args.interim)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = {}
    for split in ("train", "test"):
        frame = read_interim(interim, split)
        keep = ["id", "text"] + (["label"] if split == "train" else [])
        frame = frame[keep].copy()
        frame["text"] = apply_variant(frame["text"].tolist(), args.name)
        frames[split] = frame
        write_parquet(frame, out / f"{split}.parquet")
        log(f"variant {args.name}: {split} {len(frame)} rows")
    train, test = frames["train"], frames["test"]
    data_hash = sha256_strings(train["id"], train["text"], train["label"], test["id"], test["text"])
    write_json(out / "meta.json", {"variant": args.name, "data_hash": data_hash})


def cmd_folds(args, log: Log) -> None:
    """Assign every train row to one of K stratified folds, identical cleaned texts together.

    Example: python -m kit folds --interim data/interim --k 5 --seed 42 --out data/folds.parquet
    """
    from kit import folds
    from kit.artifacts import write_parquet
    from kit.cleaning import clean_text
    from kit.data import read_interim

    train = read_interim(args.interim, "train")
    groups = [clean_text(text) for text in train["text"].tolist()]
    fold_of = folds.assign_folds(train["label"].to_numpy(), groups, k=args.k, seed=args.seed)
    table = train[["id", "label"]].assign(fold=fold_of)
    write_parquet(table, Path(args.out))
    log(f"folds: k={args.k} seed={args.seed} hash={folds.fold_hash(table['id'].tolist(), fold_of)[:16]}")
    log(f"rows per fold and class:\n{folds.fold_balance(table['label'].to_numpy(), fold_of)}")


def cmd_build_backbone(args, log: Log) -> None:
    """Build a small BERT with a character vocabulary from the competition's own texts (nothing downloaded).

    Example: python -m kit build-backbone --spec-json '{"layers": 2, "hidden": 64, "heads": 2}' --interim data/interim --out models/backbones/tiny
    """
    import pandas as pd

    from kit.models.transformer.backbone import build_scratch_backbone

    texts = []
    for split in ("train", "test", "unlabeled"):
        path = Path(args.interim) / f"{split}.parquet"
        if path.is_file():
            texts.extend(pd.read_parquet(path, columns=["text"])["text"].astype(str).tolist())
    spec = json.loads(args.spec_json)
    out = build_scratch_backbone(Path(args.out), texts, **spec)
    log(f"scratch backbone from {len(texts)} texts: {out}")


def cmd_fit_fold(args, log: Log) -> None:
    """Train one model on every fold but one; write the held-out and test logits.

    Example: python -m kit fit-fold --kind sklearn --params-json '{}' --variant-dir data/variants/raw --folds data/folds.parquet --fold 0 --seed 0 --classes -1 0 1 --out oof/m.raw.s0/fold0.npz
    """
    from kit.gpu import gpu_lease

    params = json.loads(args.params_json)
    if args.backbone_dir:
        params["backbone"] = args.backbone_dir
    # The lease sets CUDA_VISIBLE_DEVICES, so it must come before anything imports torch.
    with gpu_lease(args.gpus) as devices:
        log(f"devices: {'cuda ' + ','.join(devices) if devices else 'cpu'}; threads {args.threads}")
        if args.kind == "transformer":
            import torch

            torch.set_num_threads(args.threads)
        from kit.experiment import run_fold

        workdir = Path(args.workdir) if args.workdir else Path("checkpoints") / Path(args.out).parent.name / Path(args.out).stem
        run_fold(
            kind=args.kind, params=params, variant_dir=Path(args.variant_dir), folds_path=Path(args.folds),
            fold=args.fold, seed=args.seed, classes=args.classes, out=Path(args.out), workdir=workdir, log=log,
        )


def cmd_merge(args, log: Log) -> None:
    """Merge an experiment's fold files into its artifact (oof.npz + manifest.json).

    Example: python -m kit merge --fold-files oof/m.raw.s0/fold*.npz --variant-dir data/variants/raw --folds data/folds.parquet --name m.raw.s0 --model m --kind sklearn --params-json '{}' --config-hash abc --classes -1 0 1 --out oof/m.raw.s0
    """
    from kit.experiment import merge_folds

    artifact = merge_folds(
        fold_files=[Path(p) for p in args.fold_files], variant_dir=Path(args.variant_dir), folds_path=Path(args.folds),
        classes=args.classes, name=args.name, model=args.model, kind=args.kind, params=json.loads(args.params_json),
        config_hash=args.config_hash,
    )
    artifact.save(Path(args.out))
    scores = artifact.manifest["scores"]
    log(f"{args.name}: OOF macro-F1 {scores['oof_macro_f1']:.4f} (folds {scores['fold_f1_mean']:.4f} ± {scores['fold_f1_std']:.4f})")


def cmd_ensemble(args, log: Log) -> None:
    """Build one ensemble from member artifacts; it is an artifact too.

    Example: python -m kit ensemble --name ensemble.blend --spec-json '{"method": "mean"}' --members oof/a oof/b --out oof/ensemble.blend
    """
    from kit.artifacts import Artifact
    from kit.ensemble.build import build_ensemble

    members = [Artifact.load(Path(path)) for path in args.members]
    artifact = build_ensemble(args.name, json.loads(args.spec_json), members, log=log)
    artifact.save(Path(args.out))
    log(f"ensemble {args.name}: OOF macro-F1 {artifact.manifest['scores']['oof_macro_f1']:.4f}, honest {artifact.manifest['honest_macro_f1']:.4f}")


def cmd_submit(args, log: Log) -> None:
    """Write a validated submission CSV (and its JSON sidecar) from an artifact, or choose the final one.

    Example: python -m kit submit --artifacts oof/ensemble.a oof/ensemble.b --choice auto --test data/interim/test.parquet --out subs/final.csv
    """
    import pandas as pd

    from kit import submission
    from kit.artifacts import Artifact, write_json

    candidates = {Path(path).name: Path(path) for path in args.artifacts}
    chosen, reason = choose(candidates, args.choice)
    artifact = Artifact.load(candidates[chosen])
    test_ids = pd.read_parquet(args.test, columns=["id"])["id"].astype(str).to_numpy()
    frame = submission.from_artifact(artifact)
    submission.write(frame, Path(args.out), test_ids, artifact.classes)
    manifest = artifact.manifest
    write_json(
        Path(args.out).with_suffix(".json"),
        {
            "submission": str(args.out),
            "source": manifest["name"],
            "kind": manifest["kind"],
            "reason": reason,
            "scores": manifest.get("scores"),
            "honest_macro_f1": manifest.get("honest_macro_f1"),
            "members": manifest.get("members", [manifest["name"]]),
            "weights": manifest.get("weights"),
            "fold_hash": manifest.get("fold_hash"),
            "member_hashes": manifest.get("member_hashes", {manifest["name"]: manifest.get("config_hash")}),
            "predicted_distribution": frame["y"].value_counts().sort_index().to_dict(),
            "kit_version": __version__,
        },
    )
    log(f"{args.out}: {len(frame)} rows from {manifest['name']} ({reason})")


def choose(candidates: dict[str, Path], choice: str) -> tuple[str, str]:
    """The artifact to submit: the named one, or with 'auto' the best honest OOF macro-F1, ensembles first."""
    from kit.artifacts import read_json

    if choice != "auto":
        for key in (choice, f"ensemble.{choice}"):
            if key in candidates:
                return key, f"chosen by name: {choice}"
        raise ValueError(f"final choice {choice!r} is not among the built artifacts {sorted(candidates)}")
    manifests = {key: read_json(path / "manifest.json") for key, path in candidates.items()}
    ensembles = {key: m for key, m in manifests.items() if m["kind"] == "ensemble"}
    pool = ensembles or manifests
    best = max(pool, key=lambda key: pool[key]["honest_macro_f1"])
    runner_up = sorted((m["honest_macro_f1"] for k, m in pool.items() if k != best), reverse=True)
    margin = f", next {runner_up[0]:.4f}" if runner_up else ""
    kind = "ensembles" if ensembles else "experiments"
    return best, f"auto: best honest OOF macro-F1 among {len(pool)} {kind} ({pool[best]['honest_macro_f1']:.4f}{margin})"


def cmd_scores(args, log: Log) -> None:
    """Print every experiment and ensemble, best first (a rich table, or JSON with --json).

    Example: python -m kit scores --json
    """
    from rich.console import Console

    from kit.report import read_final, score_rows, scores_table

    rows = score_rows(Path(args.oof_dir))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    # A pipe or a log file gets a wide table rather than rich's 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 200)
    if not rows:
        console.print(f"no artifacts under {args.oof_dir}/ yet: run `snakemake -j2` first")
        return
    console.print(scores_table(rows, read_final(Path(args.subs_dir))))
    if args.agreement:
        from kit.artifacts import Artifact
        from kit.ensemble.build import agreement_matrix

        artifacts = [Artifact.load(Path(row["path"])) for row in rows]
        console.print("Agreement of OOF predictions (share of rows with the same argmax):")
        console.print(agreement_matrix(artifacts).round(3).to_string())


def set_threads(threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kit", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"kit {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=func.__doc__)
        p.set_defaults(func=func)
        p.add_argument("--log", help="append plain log lines to this file")
        return p

    p = command("demo", cmd_demo, "write the demo competition files")
    p.add_argument("--out", required=True)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--n-unlabeled", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)

    p = command("ingest", cmd_ingest, "read the competition files into parquet")
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--unlabeled")
    p.add_argument("--classes", nargs="+", default=["-1", "0", "1"])
    p.add_argument("--id-column", default="微博id")
    p.add_argument("--text-column", default="微博中文内容")
    p.add_argument("--label-column", default="情感倾向")
    p.add_argument("--conflicting-text", choices=["keep", "majority", "drop"], default="keep")
    p.add_argument("--out", required=True)

    p = command("variant", cmd_variant, "write one text variant")
    p.add_argument("--name", required=True)
    p.add_argument("--interim", required=True)
    p.add_argument("--out", required=True)

    p = command("folds", cmd_folds, "write the one fold file")
    p.add_argument("--interim", required=True)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True)

    p = command("build-backbone", cmd_build_backbone, "build a small scratch BERT")
    p.add_argument("--spec-json", required=True)
    p.add_argument("--interim", required=True)
    p.add_argument("--out", required=True)

    def experiment_args(p):
        """What names one experiment's data and model: shared by fit-fold and merge."""
        p.add_argument("--kind", required=True)
        p.add_argument("--params-json", default="{}")
        p.add_argument("--variant-dir", required=True)
        p.add_argument("--folds", required=True)
        p.add_argument("--classes", nargs="+", required=True)

    p = command("fit-fold", cmd_fit_fold, "train one fold of one experiment")
    experiment_args(p)
    p.add_argument("--backbone-dir", help="a local model folder that replaces the entry's backbone")
    p.add_argument("--fold", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--gpus", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workdir", help="checkpoints go here (default checkpoints/<exp>/<fold>)")
    p.add_argument("--out", required=True)

    p = command("merge", cmd_merge, "merge fold files into an experiment artifact")
    experiment_args(p)
    p.add_argument("--fold-files", nargs="+", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--config-hash", required=True)
    p.add_argument("--out", required=True)

    p = command("ensemble", cmd_ensemble, "build an ensemble artifact")
    p.add_argument("--name", required=True)
    p.add_argument("--spec-json", required=True)
    p.add_argument("--members", nargs="+", required=True)
    p.add_argument("--out", required=True)

    p = command("submit", cmd_submit, "write a validated submission CSV")
    p.add_argument("--artifacts", nargs="+", required=True)
    p.add_argument("--choice", default="auto", help="an artifact name, or 'auto' (best honest OOF F1)")
    p.add_argument("--test", required=True, help="the interim test parquet whose ids the submission must cover")
    p.add_argument("--out", required=True)

    p = command("scores", cmd_scores, "print the OOF scores table")
    p.add_argument("--oof-dir", default="oof")
    p.add_argument("--subs-dir", default="subs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--agreement", action="store_true", help="also print the agreement matrix of the artifacts")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    log = Log(args.log)
    kit_logger = logging.getLogger("kit")
    for handler in [h for h in kit_logger.handlers if isinstance(h, ForwardToLog)]:
        kit_logger.removeHandler(handler)  # main() called again in one process (tests) logs to its own file only
    kit_logger.addHandler(ForwardToLog(log))
    kit_logger.setLevel(logging.INFO)
    # Snakemake runs several jobs side by side: each BLAS gets the job's own threads, not every core.
    set_threads(getattr(args, "threads", 1))
    forward_warnings(log)
    try:
        args.func(args, log)
    except (ValueError, FileNotFoundError) as error:
        # Data and config errors already name their file and field: show them plainly, not as a traceback.
        log(f"error: {error}")
        sys.exit(2)
    except Exception:
        log.file_only(traceback.format_exc())  # a bug's traceback belongs in the rule's log, not only on stderr
        raise
