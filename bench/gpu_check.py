"""GPU check: the kit's CUDA paths on a real GPU, in one script of a few minutes, ending in one summary.

On a fresh machine with an NVIDIA GPU and a CUDA build of torch already installed (sized for under 8 minutes):
    python bench/gpu_check.py            # installs the kit and what it needs, keeps that torch
    python bench/gpu_check.py --pip-args "--no-index --find-links .whl --no-build-isolation"  # offline: wheels
On a machine without a GPU, everything up to the CUDA calls (the same code, on CPU, at small sizes):
    python bench/gpu_check.py --cpu-dry-run --skip-install

Checks, in order (a failed one is reported and the rest still run):
1. install: `pip install -e .` with the installed torch pinned by a constraint, so pip can never replace it.
2. amp fp16 / amp bf16: the kit's training loop (kit.models.transformer.train) on a small scratch BERT on CUDA with
   fp16 + GradScaler, then bf16: every epoch's loss finite, the last below the first; fp16 must have kept a
   GradScaler (its state is in the checkpoint). Dry run: bf16 autocast on CPU, fp16 replaced by full precision.
3. lease gpu=1 / lease gpu=4: `snakemake -j4 --resources gpu=N` over 4 fold jobs of a scratch transformer on the one
   GPU. The lease's log lines (kit.gpu.read_lease_log) must show every job leasing the card and no two holding it
   at once, and each job's log must say it trained on cuda. With gpu=4 Snakemake starts all four together, so the
   lease alone keeps them apart: some job must have logged that it waited. Dry run: KIT_FAKE_GPU_COUNT=1, on CPU.
4. loop speed: the kit's loop against the plain loop of bench/bench_transformer.py (pad to 192, fp32), training
   and predict throughput, same model, same texts (the real test texts where KIT_SHARED_DATA has them, else the
   demo's); goal >= 1.5x training on the GPU.
The exit code is 0 when every check passed (a dry run: when every part that can run on CPU did).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from shared_data import REPO, SHARED_DATA  # bench/ is on the path

sys.path.insert(0, str(REPO))

LEASE_FOLDS = 4
TRAINING_GOAL = 1.5  # the kit's loop must train at least this many times as fast as the plain loop on the GPU


@dataclass
class Check:
    name: str
    status: str  # PASS, FAIL, DRY (ran on CPU as far as it can without CUDA), SKIP
    detail: str


@dataclass
class Sizes:
    """How big each part runs: small enough for a 2-core CPU in the dry run, big enough to time on a GPU."""

    demo_train: int
    amp_epochs: int
    lease_train: int
    speed_layers: int
    speed_hidden: int
    speed_train_rows: int
    speed_predict_rows: int
    speed_rounds: int


GPU_SIZES = Sizes(demo_train=3000, amp_epochs=4, lease_train=2000, speed_layers=4, speed_hidden=256,
                  speed_train_rows=4096, speed_predict_rows=8192, speed_rounds=3)
DRY_SIZES = Sizes(demo_train=600, amp_epochs=3, lease_train=400, speed_layers=2, speed_hidden=64,
                  speed_train_rows=256, speed_predict_rows=256, speed_rounds=1)


def install(pip_args: str) -> Check:
    """pip install -e <repo> with `torch==<installed version>` as a constraint; fails if torch changed anyway."""
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return Check("install", "FAIL", "torch is not installed: install a CUDA build of torch first")
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(f"torch=={torch_version}\n")
        command = [sys.executable, "-m", "pip", "install", "-q", "-e", str(REPO), "-c", str(constraints),
                   *shlex.split(pip_args)]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return Check("install", "FAIL", f"`{shlex.join(command)}` failed: {result.stderr.strip()[-800:]} (offline? "
                                        "bring wheels and pass --pip-args \"--no-index --find-links DIR\")")
    if importlib.metadata.version("torch") != torch_version:
        return Check("install", "FAIL", f"torch changed from {torch_version} to {importlib.metadata.version('torch')}")
    return Check("install", "PASS", f"pip install -e . with torch {torch_version} kept")


def demo_texts(folder: Path, n_train: int) -> tuple[list[str], list[int], list[str]]:
    """The demo competition written into folder/demo and ingested: train texts, class indices, test texts."""
    from kit.data import ingest
    from kit.demo import make_demo

    files = make_demo(folder / "demo", n_train=n_train, n_test=max(n_train // 4, 50), n_unlabeled=50, seed=0)
    ingested = ingest(files["train"], files["test"])
    classes = ingested.report["classes"]
    labels = [classes.index(label) for label in ingested.train["label"]]
    return ingested.train["text"].tolist(), labels, ingested.test["text"].tolist()


def train_with_amp(amp: str, device, backbone: Path, texts: list[str], labels: list[int], epochs: int,
                   workdir: Path) -> tuple[list[float], dict | None]:
    """The kit's train() with this amp setting: (each epoch's mean training loss, the GradScaler's saved state)."""
    import numpy as np
    import torch

    from kit.models.transformer import checkpoint
    from kit.models.transformer.backbone import load_backbone
    from kit.models.transformer.config import parse_config
    from kit.models.transformer.data import encode
    from kit.models.transformer.heads import TextClassifier
    from kit.models.transformer.train import CHECKPOINT, train

    config = parse_config({"backbone": str(backbone), "head": "mean", "max_len": 64, "epochs": epochs, "lr": 1e-3,
                           "batch_size": 32, "amp": amp, "checkpoint_minutes": None})
    tokenizer, bert = load_backbone(backbone, attention_dropout=config.backbone.attention_dropout)  # as a fold job
    torch.manual_seed(0)
    model = TextClassifier(bert, config.head, 3).to(device)
    token_ids = encode(tokenizer, texts, config.backbone.max_len, "train")
    outcome = train(model, config, token_ids, np.array(labels), tokenizer.pad_token_id, 0, workdir, f"gpu-check-{amp}",
                    log=lambda line: None)
    return [epoch["train_loss"] for epoch in outcome.state.history], checkpoint.load(workdir / CHECKPOINT)["scaler"]


def amp_checks(dry_run: bool, backbone: Path, texts, labels, epochs: int, tmp: Path) -> list[Check]:
    import torch

    device = torch.device("cpu" if dry_run else "cuda")
    checks = []
    for amp in ("fp16", "bf16"):
        name = f"amp {amp}"
        if not dry_run and amp == "bf16" and not torch.cuda.is_bf16_supported():
            checks.append(Check(name, "SKIP", f"{torch.cuda.get_device_name()} has no bf16"))
            continue
        setting = "off" if dry_run and amp == "fp16" else amp  # fp16 autocast and its GradScaler are CUDA-only
        started = time.perf_counter()
        losses, scaler = train_with_amp(setting, device, backbone, texts, labels, epochs, tmp / f"amp-{amp}")
        trace = " -> ".join(f"{loss:.3f}" for loss in losses)
        detail = f"loss {trace} over {epochs} epochs on {device} ({time.perf_counter() - started:.1f} s)"
        problems = []
        if not all(math.isfinite(loss) for loss in losses):
            problems.append("a loss is not finite")
        if not losses[-1] < losses[0]:
            problems.append("the loss did not fall")
        if amp == "fp16" and not dry_run:
            if scaler is None or not scaler.get("scale", 0) > 0:
                problems.append("no GradScaler state was saved")
            else:
                detail += f", GradScaler scale {scaler['scale']:g}"
        if dry_run:
            detail += "; dry run: " + ("full precision, fp16 needs CUDA" if amp == "fp16" else "CPU autocast")
        status = "FAIL" if problems else ("DRY" if dry_run else "PASS")
        checks.append(Check(name, status, "; ".join(problems + [detail])))
    return checks


def lease_check(gpu_resource: int, dry_run: bool, lease_train: int, tmp: Path) -> Check:
    """snakemake -j4 --resources gpu=<gpu_resource> over LEASE_FOLDS GPU fold jobs of a scratch transformer."""
    import yaml

    from kit.demo import make_demo
    from kit.gpu import read_lease_log, simultaneous_holds

    name = f"lease gpu={gpu_resource}"
    workdir = tmp / f"lease-gpu{gpu_resource}"
    files = make_demo(workdir / "demo", n_train=lease_train, n_test=100, n_unlabeled=50, seed=1)
    config = {
        "data": {"train": str(files["train"]), "test": str(files["test"])},
        "folds": {"k": LEASE_FOLDS, "seed": 0},
        "variants": ["raw"],
        "models": {"tiny_bert": {
            "kind": "transformer", "gpu": 1, "threads": 1, "head": "mean", "max_len": 64, "epochs": 1, "lr": 1e-3,
            "batch_size": 32,
            "backbone": {"scratch": {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128, "max_position": 64}},
        }},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {key: value for key, value in os.environ.items() if key != "SLURM_JOB_ID"}
    env.update(KIT_GPU_LOCK_DIR=str(workdir / "locks"), PYTHONPATH=str(REPO))
    if dry_run:
        env.pop("CUDA_VISIBLE_DEVICES", None)
        env["KIT_FAKE_GPU_COUNT"] = "1"
    targets = [f"oof/tiny_bert.raw.s0/fold{fold}.npz" for fold in range(LEASE_FOLDS)]
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *targets, "--configfile",
               "config.yaml", "-j4", "--resources", f"gpu={gpu_resource}"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        return Check(name, "FAIL", f"snakemake failed after {seconds:.0f} s: {result.stderr.strip()[-800:]}")

    problems, records, waited = [], [], 0
    devices_used = set()
    for fold in range(LEASE_FOLDS):
        text = (workdir / "logs" / "fit" / f"tiny_bert.raw.s0.fold{fold}.log").read_text()
        leases = read_lease_log(text)
        if len(leases) != 1 or leases[0].end is None:
            problems.append(f"fold {fold}: {len(leases)} leases, expected one that was released")
            continue
        records += leases
        devices_used.update(leases[0].devices)
        waited += "waiting for 1 free GPU(s)" in text
        trained_on = re.search(r"; device (\S+), amp (\S+)", text)
        expected = "cpu" if dry_run else "cuda"
        if trained_on is None or trained_on[1] != expected:
            problems.append(f"fold {fold} trained on {trained_on[1] if trained_on else 'an unknown device'}, "
                            f"expected {expected}")
    problems += simultaneous_holds(records)
    if gpu_resource > 1 and not waited:
        problems.append("no job waited for the card, so the lease kept nobody apart")
    spans = ", ".join(f"{record.end - record.start:.1f} s" for record in sorted(records, key=lambda r: r.start))
    detail = (f"{len(records)} fold jobs leased GPU {','.join(sorted(devices_used))} one at a time (holds: {spans}); "
              f"{waited} waited; {seconds:.0f} s")
    status = "FAIL" if problems else ("DRY" if dry_run else "PASS")
    return Check(name, status, "; ".join(problems + [detail]))


def speed_check(dry_run: bool, sizes: Sizes, texts: list[str], text_source: str, tmp: Path) -> Check:
    """The kit's loop and the plain loop of bench_transformer, alternating, each run in a fresh process."""
    import numpy as np

    from bench_transformer import LOOPS, BenchSpec, in_fresh_process
    from kit.models.transformer.backbone import build_scratch_backbone

    rng = np.random.default_rng(0)
    rows = rng.choice(len(texts), sizes.speed_train_rows + sizes.speed_predict_rows,
                      replace=len(texts) < sizes.speed_train_rows + sizes.speed_predict_rows)
    train_texts = [texts[i] for i in rows[: sizes.speed_train_rows]]
    predict_texts = [texts[i] for i in rows[sizes.speed_train_rows :]]
    labels = rng.integers(0, 3, len(train_texts))  # throughput does not depend on the labels
    backbone = build_scratch_backbone(tmp / "speed-bert", texts, layers=sizes.speed_layers, hidden=sizes.speed_hidden,
                                      heads=4, max_position=256, seed=0)
    spec = BenchSpec(str(backbone), max_len=192, batch_size=32, predict_batch_size=128, lr=1e-3, epochs=1, seed=0,
                     threads=1 if dry_run else os.cpu_count() or 1, head="mean")
    runs = {name: [] for name in LOOPS}
    for _ in range(sizes.speed_rounds):
        for name, loop in LOOPS.items():
            runs[name].append(in_fresh_process(loop, spec, ("predict", "train"), train_texts, labels, predict_texts, 3))
    best = {name: {key: max(run[key] for run in loop_runs) for key in ("train_samples_per_s", "predict_samples_per_s")}
            for name, loop_runs in runs.items()}
    training = best["kit"]["train_samples_per_s"] / best["plain"]["train_samples_per_s"]
    predicting = best["kit"]["predict_samples_per_s"] / best["plain"]["predict_samples_per_s"]
    detail = (f"training {training:.2f}x (kit {best['kit']['train_samples_per_s']:.0f}/s, plain "
              f"{best['plain']['train_samples_per_s']:.0f}/s), predict {predicting:.2f}x (kit "
              f"{best['kit']['predict_samples_per_s']:.0f}/s, plain {best['plain']['predict_samples_per_s']:.0f}/s); "
              f"{sizes.speed_layers} layers x {sizes.speed_hidden}, {len(train_texts)} train / {len(predict_texts)} "
              f"predict texts of {text_source}, best of {sizes.speed_rounds}; goal >= {TRAINING_GOAL}x training")
    if dry_run:
        return Check("loop speed", "DRY", detail + " (judged on the GPU only)")
    return Check("loop speed", "PASS" if training >= TRAINING_GOAL else "FAIL", detail)


def speed_texts(demo_train: list[str], demo_test: list[str]) -> tuple[list[str], str]:
    """The real test texts (their lengths are what a fold job meets) where the shared data is, else the demo's."""
    from bench_transformer import TEST_CSV, read_test_texts

    if (SHARED_DATA / TEST_CSV).is_file():
        return read_test_texts(SHARED_DATA), TEST_CSV
    return demo_train + demo_test, "the demo competition (no real data at KIT_SHARED_DATA)"


def guarded(name: str, step, *args) -> list[Check]:
    """Run a check step; a crash becomes a FAIL with its error (traceback on stderr) so that the others still run."""
    try:
        result = step(*args)
    except Exception as error:  # a check script reports every failure and goes on to the next check
        traceback.print_exc()
        return [Check(name, "FAIL", f"{type(error).__name__}: {error}")]
    return result if isinstance(result, list) else [result]


def describe_machine(dry_run: bool) -> str:
    import torch

    if dry_run:
        return f"CPU dry run, torch {torch.__version__}: CUDA-only parts ran on CPU or were replaced, as each says"
    return (f"{torch.cuda.get_device_name()} ({torch.cuda.device_count()} visible), torch {torch.__version__}, "
            f"CUDA {torch.version.cuda}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="no GPU: run every part that can on CPU, at small sizes")
    parser.add_argument("--skip-install", action="store_true", help="the kit and its needs are installed already")
    parser.add_argument("--pip-args", default="", help="more pip arguments, e.g. \"--no-index --find-links .whl\"")
    args = parser.parse_args(argv)
    sizes = DRY_SIZES if args.cpu_dry_run else GPU_SIZES
    started = time.perf_counter()

    checks = [] if args.skip_install else guarded("install", install, args.pip_args)
    if checks and checks[0].status == "FAIL":
        print(f"FAIL install: {checks[0].detail}", file=sys.stderr)
        return 1
    if args.cpu_dry_run:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch starts CUDA: this process stays on the CPU
    import torch

    if args.cpu_dry_run:
        torch.set_num_threads(1)  # a dry run shares a small CPU machine; two threads there spin against each other
    elif not torch.cuda.is_available():
        print(f"no CUDA device visible to torch {torch.__version__} (CUDA build: {torch.version.cuda}); on a machine "
              "without a GPU run with --cpu-dry-run", file=sys.stderr)
        return 2
    from kit.models.transformer.backbone import build_scratch_backbone

    with tempfile.TemporaryDirectory(prefix="kit-gpu-check-") as folder:
        tmp = Path(folder)
        train_texts, labels, test_texts = demo_texts(tmp, sizes.demo_train)
        backbone = build_scratch_backbone(tmp / "amp-bert", train_texts + test_texts, layers=2, hidden=128, heads=4,
                                          max_position=128, seed=0)
        checks += guarded("amp", amp_checks, args.cpu_dry_run, backbone, train_texts, labels, sizes.amp_epochs, tmp)
        for gpu_resource in (1, LEASE_FOLDS):
            checks += guarded(f"lease gpu={gpu_resource}", lease_check, gpu_resource, args.cpu_dry_run,
                              sizes.lease_train, tmp)
        texts, source = speed_texts(train_texts, test_texts)
        checks += guarded("loop speed", speed_check, args.cpu_dry_run, sizes, texts, source, tmp)

    failed = [check for check in checks if check.status == "FAIL"]
    print(f"\nGPU check summary: {describe_machine(args.cpu_dry_run)}; {time.perf_counter() - started:.0f} s")
    for check in checks:
        print(f"  {check.status:<5} {check.name:<12} {check.detail}")
    print(f"overall: {'FAIL' if failed else 'PASS'} ({len(checks) - len(failed)}/{len(checks)} checks without a "
          f"failure{'; dry run' if args.cpu_dry_run else ''})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
