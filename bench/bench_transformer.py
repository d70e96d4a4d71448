"""Benchmark: the kit's transformer loop against a plain loop, same small model, same run, on real text lengths.

Throughput (training and inference samples/s) and peak memory are measured on the real test texts
(ncov/nCov_10k_test.csv, so their length distribution), at max_len 192. The plain loop is what most public
solutions run: every text padded to max_len, fp32, shuffled batches, AdamW + warmup/linear decay, a linear
layer on the pooler. The kit's loop is kit.models.transformer.train with its defaults (length-bucketed batches,
dynamic padding, fused AdamW, multi-sample dropout, layer-wise LR decay, amp 'auto': bf16 autocast on a CPU with
bf16 instructions, fp32 on other CPUs; no dropout on the attention probabilities (attention_dropout 0, where
BERT's config says 0.1), so a CPU attends with sdpa's fused kernel; on a CPU, kernels.py's 16-bit-mask dropout);
the header says which precision and kernels its run used. Macro-F1 of both is measured on real
labels (ncov/processed_dev.txt, words joined into character strings): both train on the same rows with the same
learning rate, epochs and batch size, and are scored on the same held-out rows. The kit uses its mean-pooling
head by default (a randomly initialised pooler learns slowly), so F1 is also reported for the kit's loop with
the plain loop's pooler head, which tells the loop's effect from the head's, and with BERT's attention dropout,
which tells what turning it off costs.

Each throughput run goes in a fresh process so that its peak resident memory (CPU) is its own; on CUDA the
peak is torch's allocated-memory peak. There each phase (predict, train) runs twice and the second pass is
timed. Kit and plain runs alternate and the best of the rounds is reported, so that load from other jobs on the
machine hits both alike; samples per CPU-second of the process are given too, since they do not count the time
a busy machine kept it waiting for a core. Every figure is printed in one table with the kit/plain ratio and
saved, with the verdict, to bench/results/transformer.json (bench/results.py makes the README's benchmark section
from it). Real data is found through KIT_SHARED_DATA (default: ../shared/data beside the repository).

Example:
    python bench/bench_transformer.py              # about 9 minutes on 2 CPU cores
    python bench/bench_transformer.py --threads 1  # steadier on a machine shared with other jobs
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared_data import DEV_TXT, LABELS, REPO, SHARED_DATA, read_processed_dev  # bench/ is on the path

sys.path.insert(0, str(REPO))

TEST_CSV = "ncov/nCov_10k_test.csv"


@dataclass
class BenchSpec:
    backbone: str
    max_len: int
    batch_size: int
    predict_batch_size: int
    lr: float
    epochs: int
    seed: int
    threads: int
    head: str  # the kit's head; the plain loop always puts its linear layer on the pooler
    kit_settings: dict = field(default_factory=dict)  # more of the kit's settings than its defaults (F1 runs only)


def read_test_texts(folder: Path) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(folder / TEST_CSV, encoding="gb18030", encoding_errors="replace", dtype=str)
    return frame["微博中文内容"].fillna("").tolist()  # 37 empty texts: they still get a prediction


def read_dev(folder: Path) -> tuple[list[str], np.ndarray]:
    """Texts (jieba words joined back into characters) and class indices of processed_dev.txt."""
    texts, labels = read_processed_dev(folder / DEV_TXT)
    return texts, np.array([LABELS.index(label) for label in labels], dtype=np.int64)


def peak_memory_mib(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load(spec: BenchSpec, attention_dropout: float | None = None):
    import torch

    from kit.models.transformer.backbone import load_backbone

    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer, bert = load_backbone(spec.backbone, attention_dropout=attention_dropout)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    return tokenizer, bert, device


def kit_config(spec: BenchSpec):
    from kit.models.transformer.config import parse_config

    return parse_config({"backbone": spec.backbone, "head": spec.head, "max_len": spec.max_len,
                         "batch_size": spec.batch_size,
                         "predict_batch_size": spec.predict_batch_size, "lr": spec.lr, "epochs": spec.epochs,
                         "checkpoint_minutes": None, **spec.kit_settings})


def kit_run(spec: BenchSpec, phases: tuple[str, ...], train_text, train_y, predict_text, n_classes: int) -> dict:
    """The kit's loop running `phases` ('train', 'predict') in order; samples/s, peak memory after each, predictions."""
    from kit.models.transformer.data import encode
    from kit.models.transformer.heads import TextClassifier
    from kit.models.transformer.train import predict, resolve_amp, train

    config = kit_config(spec)
    tokenizer, bert, device = load(spec, config.backbone.attention_dropout)  # as the kit's fold job loads it
    model = TextClassifier(bert, config.head, n_classes).to(device)
    result = {}
    for phase in phases:
        if phase == "train":
            ids = encode(tokenizer, train_text, spec.max_len, "train")
            with tempfile.TemporaryDirectory() as workdir:
                cpu_started = time.process_time()
                outcome = train(model, config, ids, train_y, tokenizer.pad_token_id, spec.seed, Path(workdir),
                                "bench", log=lambda line: None)
                result["train_samples_per_cpu_s"] = outcome.samples / (time.process_time() - cpu_started)
            result["train_samples_per_s"] = outcome.samples / outcome.seconds
        else:
            ids = encode(tokenizer, predict_text, spec.max_len, "predict")
            started, cpu_started = time.perf_counter(), time.process_time()
            logits = predict(model, ids, spec.predict_batch_size, tokenizer.pad_token_id,
                             resolve_amp(config.schedule.amp, device))
            result["predict_samples_per_s"] = len(ids) / (time.perf_counter() - started)
            result["predict_samples_per_cpu_s"] = len(ids) / (time.process_time() - cpu_started)
            result["pred"] = logits.argmax(1).tolist()
        result[f"{phase}_peak_mib"] = peak_memory_mib(device)
    return result


def plain_run(spec: BenchSpec, phases: tuple[str, ...], train_text, train_y, predict_text, n_classes: int) -> dict:
    """The plain loop (pad to max_len, fp32, shuffled batches, AdamW + warmup/linear decay, linear on the pooler),
    running `phases` in order like kit_run."""
    import torch
    from torch import nn
    from transformers import get_linear_schedule_with_warmup

    tokenizer, bert, device = load(spec)

    class PlainClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert, self.dropout = bert, nn.Dropout(0.1)
            self.out = nn.Linear(bert.config.hidden_size, n_classes)

        def forward(self, input_ids, attention_mask):
            return self.out(self.dropout(self.bert(input_ids=input_ids, attention_mask=attention_mask).pooler_output))

    def padded(texts):
        encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=spec.max_len,
                            return_tensors="pt", return_token_type_ids=False)
        return encoded["input_ids"], encoded["attention_mask"]

    model = PlainClassifier().to(device)
    result = {}
    for phase in phases:
        if phase == "train":
            input_ids, attention_mask = padded(train_text)
            labels = torch.from_numpy(train_y)
            optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
            steps = spec.epochs * math.ceil(len(labels) / spec.batch_size)
            scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
            model.train()
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(spec.epochs):
                for rows in torch.randperm(len(labels)).split(spec.batch_size):
                    logits = model(input_ids[rows].to(device), attention_mask[rows].to(device))
                    nn.functional.cross_entropy(logits, labels[rows].to(device)).backward()
                    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
            result["train_samples_per_s"] = spec.epochs * len(labels) / (time.perf_counter() - started)
            result["train_samples_per_cpu_s"] = spec.epochs * len(labels) / (time.process_time() - cpu_started)
        else:
            input_ids, attention_mask = padded(predict_text)
            model.eval()
            predictions = []
            started, cpu_started = time.perf_counter(), time.process_time()
            with torch.no_grad():
                for rows in torch.arange(len(input_ids)).split(spec.predict_batch_size):
                    logits = model(input_ids[rows].to(device), attention_mask[rows].to(device))
                    predictions.append(logits.argmax(1).cpu())
            result["predict_samples_per_s"] = len(input_ids) / (time.perf_counter() - started)
            result["predict_samples_per_cpu_s"] = len(input_ids) / (time.process_time() - cpu_started)
            result["pred"] = torch.cat(predictions).tolist()
        result[f"{phase}_peak_mib"] = peak_memory_mib(device)
    return result


LOOPS = {"kit": kit_run, "plain": plain_run}


def in_fresh_process(function, *args) -> dict:
    """Run function(*args) in a spawned process, so that its peak memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-rows", type=int, default=768, help="test texts per throughput run")
    parser.add_argument("--predict-rows", type=int, default=1024, help="test texts per inference run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput runs per loop, best one reported")
    parser.add_argument("--f1-train-rows", type=int, default=2000, help="labeled dev rows to train on for F1")
    parser.add_argument("--f1-eval-rows", type=int, default=1500, help="labeled dev rows scored for F1")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the F1 runs (throughput runs: 1)")
    parser.add_argument("--lr", type=float, default=1e-3, help="a scratch model needs a high rate")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kit-head", default="mean", help="the kit's head (the plain loop uses the pooler); "
                        "F1 is also given for the kit with the pooler head ('cls'), which isolates the loop")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--f1-seeds", type=int, default=2, help="F1 runs per loop (seeds seed, seed + 1, ...)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not SHARED_DATA.is_dir():
        print(f"real data not found at {SHARED_DATA}: set KIT_SHARED_DATA to the shared/data folder", file=sys.stderr)
        return 2
    import torch

    from kit.metrics import macro_f1
    from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
    from kit.models.transformer.kernels import describe
    from kit.models.transformer.train import resolve_amp

    threads = args.threads or torch.get_num_threads()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    test_texts = read_test_texts(SHARED_DATA)
    dev_texts, dev_y = read_dev(SHARED_DATA)
    rng = np.random.default_rng(args.seed)
    throughput_rows = rng.choice(len(test_texts), args.train_rows + args.predict_rows, replace=False)
    train_texts = [test_texts[i] for i in throughput_rows[: args.train_rows]]
    predict_texts = [test_texts[i] for i in throughput_rows[args.train_rows :]]
    noise_labels = rng.integers(0, 3, args.train_rows)  # throughput does not depend on the labels
    dev_rows = rng.permutation(len(dev_texts))[: args.f1_train_rows + args.f1_eval_rows]
    f1_train, f1_eval = dev_rows[: args.f1_train_rows], dev_rows[args.f1_train_rows :]

    with tempfile.TemporaryDirectory() as tmp:
        backbone = build_scratch_backbone(Path(tmp) / "bert", test_texts + dev_texts, layers=args.layers,
                                          hidden=args.hidden, heads=args.heads, max_position=256, seed=args.seed)
        spec = BenchSpec(str(backbone), max_len=192, batch_size=32, predict_batch_size=128, lr=args.lr,
                         epochs=1, seed=args.seed, threads=threads, head=args.kit_head)
        tokens = np.minimum([len(text) + 2 for text in train_texts], 192)
        kit_amp = resolve_amp("auto", device).name
        kit_backbone = load_backbone(backbone, attention_dropout=kit_config(spec).backbone.attention_dropout)[1]
        kernels = describe(device, kit_backbone)
        header = (f"device {device.type}, torch threads {threads}, the kit's amp 'auto' here: {kit_amp}, training "
                  f"{kernels}; model: "
                  f"{args.layers} layers, hidden {args.hidden}, {args.heads} heads, character vocabulary of the test "
                  f"+ dev texts; max_len 192, batch 32 (predict 128); kit head {args.kit_head!r}, plain: linear on "
                  "the pooler")
        throughput = (f"throughput: {args.train_rows} train / {args.predict_rows} predict rows of {TEST_CSV} (about "
                      f"{tokens.mean():.0f} tokens a text, median {np.median(tokens):.0f}), 1 epoch, timed after a "
                      f"warm-up pass of each phase, best of {args.rounds} alternating rounds")
        print(header)
        print(throughput)
        runs = {name: [] for name in LOOPS}
        for _ in range(args.rounds):  # alternate, so that load from elsewhere on the machine hits both loops
            for name, loop in LOOPS.items():
                # The second pass of each phase is timed: the first pays one-off costs (fresh allocations,
                # oneDNN compiling a kernel per new shape) that a real run of thousands of steps pays once.
                phases = ("predict", "predict", "train", "train")  # predict first: its peak is its own
                runs[name].append(in_fresh_process(loop, spec, phases, train_texts, noise_labels, predict_texts, 3))
        # F1 needs no memory reading, so it runs here; several seeds, since a small model trained briefly varies.
        # name: (loop, head, kit settings); "kit/attn" trains as BERT's config says, with attention dropout 0.1.
        f1_runs = {"kit": (kit_run, args.kit_head, {}), "kit/cls": (kit_run, "cls", {}),
                   "kit/attn": (kit_run, args.kit_head, {"attention_dropout": None}), "plain": (plain_run, "cls", {})}
        if args.kit_head == "cls":
            del f1_runs["kit/cls"]
        f1_by_seed = {name: [] for name in f1_runs}
        for seed in range(args.seed, args.seed + args.f1_seeds):
            for name, (loop, head, settings) in f1_runs.items():
                seed_spec = BenchSpec(**{**spec.__dict__, "epochs": args.epochs, "seed": seed, "head": head,
                                         "kit_settings": settings})
                scored = loop(seed_spec, ("train", "predict"), [dev_texts[i] for i in f1_train], dev_y[f1_train],
                              [dev_texts[i] for i in f1_eval], 3)
                f1_by_seed[name].append(macro_f1(dev_y[f1_eval], np.array(scored["pred"]), 3))

    best = {name: {key: max(run[key] for run in runs[name]) for key in runs[name][0] if key != "pred"}
            for name in LOOPS}
    f1 = {name: float(np.mean(scores)) for name, scores in f1_by_seed.items()}
    kit, plain = best["kit"], best["plain"]

    def seeds(name: str) -> str:
        return f"{name} " + ", ".join(f"{score:.4f}" for score in f1_by_seed[name])

    table = [  # figure, kit, plain, format, note
        ("train samples/s", kit["train_samples_per_s"], plain["train_samples_per_s"], ".1f", "wall clock"),
        ("train samples/CPU-s", kit["train_samples_per_cpu_s"], plain["train_samples_per_cpu_s"], ".1f",
         "CPU time of the process"),
        ("train peak MiB", kit["train_peak_mib"], plain["train_peak_mib"], ".0f", ""),
        ("predict samples/s", kit["predict_samples_per_s"], plain["predict_samples_per_s"], ".1f", "wall clock"),
        ("predict samples/CPU-s", kit["predict_samples_per_cpu_s"], plain["predict_samples_per_cpu_s"], ".1f",
         "CPU time of the process"),
        ("predict peak MiB", kit["predict_peak_mib"], plain["predict_peak_mib"], ".0f", ""),
        ("macro-F1", f1["kit"], f1["plain"], ".4f", f"seeds: {seeds('kit')}; {seeds('plain')}"),
    ]
    if "kit/cls" in f1:
        table.append(("macro-F1, kit with pooler head", f1["kit/cls"], f1["plain"], ".4f",
                      f"tells the loop from the head; seeds: {seeds('kit/cls')}"))
    table.append(("macro-F1, kit with attention dropout", f1["kit/attn"], f1["plain"], ".4f",
                  f"BERT's 0.1 (attention_dropout: null; the kit's default is 0); seeds: {seeds('kit/attn')}"))
    memory = "peak allocated CUDA memory" if torch.cuda.is_available() else "peak resident memory of the process"
    f1_line = (f"macro-F1: mean of seeds {list(range(args.seed, args.seed + args.f1_seeds))}, {args.epochs} epochs on "
               f"{len(f1_train)} rows of {DEV_TXT}, lr {args.lr}, scored on {len(f1_eval)} other rows; "
               f"MiB = {memory} (predict runs first, then train)")
    print(f1_line)
    print(f"{'figure':<32}{'kit':>10}{'plain':>10}{'kit/plain':>11}  note")
    rows = []
    for figure, kit_value, plain_value, fmt, note in table:
        print(f"{figure:<32}{kit_value:>10{fmt}}{plain_value:>10{fmt}}{kit_value / plain_value:>10.2f}x  {note}")
        digits = int(fmt[1:-1]) or None  # None: round to an int, as ".0f" shows it
        rows.append({"figure": figure, "kit": round(kit_value, digits), "plain": round(plain_value, digits),
                     "kit/plain": f"{kit_value / plain_value:.2f}x", "note": note})
    speedup = kit["train_samples_per_s"] / plain["train_samples_per_s"]
    memory_ratios = [kit[key] / plain[key] for key in ("train_peak_mib", "predict_peak_mib")]
    met = speedup >= 3.5 and f1["kit"] >= f1["plain"] and max(memory_ratios) <= 1
    verdict = (f"training {speedup:.2f}x the plain loop's samples/s by the wall clock, "
               f"{kit['train_samples_per_cpu_s'] / plain['train_samples_per_cpu_s']:.2f}x by CPU time (target 3.5x); "
               f"peak memory train {memory_ratios[0]:.2f}x, predict {memory_ratios[1]:.2f}x; macro-F1 "
               f"{f1['kit']:.4f} vs {f1['plain']:.4f} (target: memory and F1 no worse): "
               f"{'met' if met else 'NOT met'}")
    print(f"target: {verdict}")
    from results import save  # bench/ is on the path

    path = save("transformer", command=" ".join(["python bench/bench_transformer.py", *(argv or sys.argv[1:])]),
                compares="the kit's transformer loop vs a plain fixed-padding fp32 loop, same scratch model and "
                         "real texts, alternating fresh processes", rows=rows, summary=verdict,
                notes=f"{header}; {throughput}; {f1_line}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
