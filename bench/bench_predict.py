"""How fast `kit predict` classifies posts with a finished run's kept models, beside the fold jobs' own prediction
and beside the kit before numpy prediction.

The baseline is measured in the same run, by the fold jobs themselves: each fold file's meta has the seconds its
model took to predict the held-out, test (and pool) rows. kit predict loads the source's fold models once (timed
apart), then predicts the test posts one at a time (latency) and all at once (throughput), on one thread. Each
experiment's models are also timed alone on the same texts as the fold jobs saw them (in the experiment's variant),
so that row compares like with like; the source's rows include cleaning and the ensemble's combination.

The cold latency is what a person waits for: `python -m kit predict --text POST` in a fresh process, start-up,
imports and model loading included (the median of --cold runs, wall and CPU seconds), with where its time goes
(-X importtime). It is measured for this checkout and for the kit at --baseline (its kit/ unpacked by git archive:
every kept model on torch), fresh processes alternating, so both see the same machine load. Warm, the same source
is timed in this process with its kept transformer models as loaded now (kit.models.transformer.kept: numpy for a
few posts, torch for a batch), on torch (the baseline's path) and on numpy alone: one post at a time, and --batch
posts at once (train and test posts), alternating rounds.

    python bench/bench_predict.py --run RUN_FOLDER [--source NAME] [--posts 200] [--batch 2000] [--cold 5]
        [--baseline REV]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"  # one core, as the target says: set before numpy loads a BLAS

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kit.artifacts import load_npz  # noqa: E402
from kit.models.transformer import kept  # noqa: E402
from kit.predict import Source, load_source, source_name, text_variant  # noqa: E402
from kit.variants import apply_variant  # noqa: E402
from results import save  # noqa: E402

# The kit before kept transformer models predicted through numpy (every one on torch): the cold baseline.
BASELINE = "86d8913"


def fold_job_rate(run: Path, experiment: str, folds: list[int]) -> tuple[float, int]:
    """(rows per second per fold model, rows) as the experiment's fold jobs predicted them (their meta)."""
    seconds, rows = 0.0, 0
    for fold in folds:
        part = load_npz(run / "oof" / experiment / f"fold{fold}.npz")
        meta = json.loads(str(part["meta"]))
        if "predict_seconds" not in meta["info"]:
            sys.exit(f"{experiment} fold {fold}: its meta has no predict_seconds (a fold file of an older kit)")
        seconds += meta["info"]["predict_seconds"]
        rows += len(part["valid_ids"]) + len(part["test_ids"]) + len(part.get("pool_ids", []))
    return rows / max(seconds, 1e-9), rows


def cold_command(post: str, source: str | None) -> list[str]:
    return [sys.executable, "-m", "kit", "predict", "--text", post] + (["--source", source] if source else [])


def cold_run(run: Path, command: list[str], kit_root: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one fresh `kit predict` process importing the kit from kit_root."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=run, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100", "PYTHONPATH": str(kit_root)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"kit predict ({kit_root}) failed:\n{done.stderr}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done.stdout


def cold_runs(run: Path, post: str, source: str | None, times: int, kits: dict[str, Path]) -> dict[str, dict]:
    """{kit: {"wall": [s], "cpu": [s], "out": its last stdout}} of `times` fresh `kit predict --text post` processes
    for each kit (a folder holding its kit/), alternating so that each sees the same load."""
    results = {name: {"wall": [], "cpu": [], "out": ""} for name in kits}
    for _ in range(times):
        for name, root in kits.items():
            wall, cpu, out = cold_run(run, cold_command(post, source), root)
            results[name]["wall"].append(wall)
            results[name]["cpu"].append(cpu)
            results[name]["out"] = out
    return results


def unpack_kit(revision: str, into: Path) -> Path:
    """The kit/ package of a git revision of this repository, unpacked under `into` (for PYTHONPATH)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "kit"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def on_torch(source: Source, models_dir: Path) -> Source:
    """The same source with every kept transformer model loaded by torch, as the kit before numpy prediction did."""
    from kit.models.transformer.fold import load_predictor

    nodes = {}
    for name, node in source.nodes.items():
        if node.entry is None and node.manifest.get("family") == "transformer":
            node = dataclasses.replace(node, folds=[load_predictor(models_dir / name / f"fold{meta['fold']}")
                                                    for meta in node.manifest["folds"]])
        nodes[name] = node
    return dataclasses.replace(source, nodes=nodes)


def timed(predict, texts: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of predict(texts)."""
    wall, cpu = time.perf_counter(), time.process_time()
    predict(texts)
    return time.perf_counter() - wall, time.process_time() - cpu


def heaviest_imports(run: Path, post: str, source: str | None, top: int = 8) -> list[tuple[str, float]]:
    """The top-level packages a cold `kit predict --text` of this checkout imports, by cumulative import seconds
    (-X importtime, which adds its own overhead), those of 0.05 s and more."""
    command = cold_command(post, source)
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=run, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if not name.startswith("  ") and cumulative.strip().isdigit():  # top level only: no double counting
                package = name.strip().split(".")[0]
                seconds[package] = seconds.get(package, 0.0) + int(cumulative) / 1e6
    return [item for item in sorted(seconds.items(), key=lambda item: -item[1])[:top] if item[1] >= 0.05]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=".", help="a finished run folder (oof/, models/folds/, subs/final.json)")
    parser.add_argument("--source", help="an artifact name (default: the source of subs/final.csv)")
    parser.add_argument("--posts", type=int, default=200, help="test posts predicted one at a time")
    parser.add_argument("--batch", type=int, default=2000, help="train and test posts predicted at once")
    parser.add_argument("--cold", type=int, default=5, help="fresh `kit predict --text` processes timed per kit")
    parser.add_argument("--baseline", default=BASELINE, help="the git revision whose kit the cold start is compared "
                                                             "with (default: %(default)s, before numpy prediction)")
    args = parser.parse_args()
    run = Path(args.run).resolve()
    from kit.runtime import set_torch_threads

    name = source_name(args.source, run / "subs" / "final.json", run / "oof")
    started = time.perf_counter()
    source = load_source(name, run / "oof", run / "models" / "folds")
    load_seconds = time.perf_counter() - started
    torch_source = on_torch(source, run / "models" / "folds")
    set_torch_threads(1)
    posts = pd.read_parquet(run / "data" / "interim" / "test.parquet")["text"].astype(str).tolist()
    train = pd.read_parquet(run / "data" / "interim" / "train.parquet")["text"].astype(str).tolist()
    batch = (posts + train)[: args.batch]
    started = time.perf_counter()
    source.predict(posts[:1])
    first_ms = 1000 * (time.perf_counter() - started)
    torch_source.predict(posts[:1])

    single, single_torch = [], []
    for post in posts[1 : 1 + args.posts]:
        single.append(1000 * timed(source.predict, [post])[0])
        single_torch.append(1000 * timed(torch_source.predict, [post])[0])
    def numpy_alone(texts: list[str]) -> np.ndarray:
        thresholds = kept.TORCH_LOADED_TEXTS, kept.BULK_TEXTS
        kept.TORCH_LOADED_TEXTS = kept.BULK_TEXTS = len(texts) + 1
        try:
            return source.predict(texts)
        finally:
            kept.TORCH_LOADED_TEXTS, kept.BULK_TEXTS = thresholds

    same = np.abs(numpy_alone(posts) - torch_source.predict(posts)).max()
    rounds = {"now": [], "torch": [], "numpy": []}
    for _ in range(3):  # alternating rounds, the best of each: the machine's load changes between them
        rounds["now"].append(timed(source.predict, batch))
        rounds["torch"].append(timed(torch_source.predict, batch))
        rounds["numpy"].append(timed(numpy_alone, batch))
    batch_rate = {path: len(batch) / min(wall for wall, _ in times) for path, times in rounds.items()}
    batch_cpu_rate = {path: len(batch) / min(cpu for _, cpu in times) for path, times in rounds.items()}

    rows, fold_seconds_per_post = [], 0.0
    for node in (node for node in source.nodes.values() if node.entry is None):
        folds = [meta["fold"] for meta in node.manifest["folds"]]
        job_rate, _ = fold_job_rate(run, node.name, folds)
        fold_seconds_per_post += len(folds) / job_rate
        texts = apply_variant(posts, text_variant(node.manifest))
        started = time.perf_counter()
        for predictor in node.folds:
            predictor.predict(texts)
        predict_rate = len(texts) * len(node.folds) / (time.perf_counter() - started)
        rows.append((f"{node.name}: posts/s per fold model (batch)", job_rate, predict_rate))
    fold_equivalent_rate = 1 / fold_seconds_per_post
    rows.append((f"{name}, all {source.n_models} fold models: posts/s (batch of {len(batch)})", fold_equivalent_rate,
                 batch_rate["now"]))
    rows.append((f"{name}: ms per post, one at a time (median)", 1000 / fold_equivalent_rate,
                 statistics.median(single)))

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        kits = {"before": unpack_kit(args.baseline, Path(folder)), "now": REPO}
        cold = cold_runs(run, posts[0], args.source, args.cold, kits)
    load_after = os.getloadavg()[0]
    wall = {kit: statistics.median(cold[kit]["wall"]) for kit in kits}
    cpu = {kit: statistics.median(cold[kit]["cpu"]) for kit in kits}
    if cold["before"]["out"] != cold["now"]["out"]:
        sys.exit(f"the two kits print different answers:\n{cold['before']['out']}\n{cold['now']['out']}")
    imports = heaviest_imports(run, posts[0], args.source)
    for kit in kits:
        print(f"cold `kit predict --text POST`, kit {kit}: median of {args.cold}: {wall[kit]:.2f} s wall, "
              f"{cpu[kit]:.2f} s CPU; runs: {', '.join(f'{w:.2f}' for w in cold[kit]['wall'])} s")
    print(f"  load average {load_before:.1f} before, {load_after:.1f} after (2 cores: wall grows with it)")
    print("  heaviest imports now (cumulative s): " + ", ".join(f"{package} {sec:.2f}" for package, sec in imports))
    warm, warm_torch = statistics.median(single), statistics.median(single_torch)
    print(f"warm, one post (median of {len(single)}): {warm:.1f} ms numpy, {warm_torch:.1f} ms torch; "
          f"batch of {len(batch)}: " + ", ".join(f"{path} {batch_rate[path]:.0f} posts/s wall, "
                                                 f"{batch_cpu_rate[path]:.0f} posts/CPU-s" for path in rounds)
          + f"; largest logit difference, numpy vs torch: {same:.1e}")

    def row(figure: str, before: float, now: float, digits: int = 2) -> dict:
        return {"figure": figure, "before": round(before, digits), "now": round(now, digits),
                "now / before": round(now / before, 2)}

    cold_rows = [row(f"cold `kit predict --text` ({name}), median of {args.cold}: wall s", wall["before"],
                     wall["now"]),
                 row("the same: CPU s", cpu["before"], cpu["now"]),
                 row(f"warm: one post, median of {len(single)}, ms", warm_torch, warm, 1),
                 row(f"warm: a batch of {len(batch)} posts, posts/s (best of 3)", batch_rate["torch"],
                     batch_rate["now"], 0),
                 row("the same: posts per CPU second", batch_cpu_rate["torch"], batch_cpu_rate["now"], 0),
                 row("the same batch through numpy alone: posts/s", batch_rate["torch"], batch_rate["numpy"], 0),
                 row("the same: posts per CPU second", batch_cpu_rate["torch"], batch_cpu_rate["numpy"], 0)]
    cold_rows += [{"figure": f"cold import of {package} now: s", "before": "", "now": round(sec, 2),
                   "now / before": ""} for package, sec in imports]
    met = "met" if wall["now"] <= 2 else "NOT met"
    save("predict_cold", command="python bench/bench_predict.py --run RUN", rows=cold_rows,
         compares=f"one post as a person asks for it: a fresh `kit predict --text` process (start-up, imports, "
                  f"models) now vs the kit at {args.baseline} (every kept model on torch), alternating; warm one-post "
                  "latency and batch throughput as kit predict loads kept transformer models now (numpy for a few "
                  "posts, torch for a batch) vs on torch, and numpy alone",
         summary=f"cold: {wall['now']:.2f} s wall (target 2 s: {met}), {cpu['now']:.2f} s CPU, against "
                 f"{wall['before']:.2f} s and {cpu['before']:.2f} s before; warm {warm:.1f} ms vs {warm_torch:.1f} "
                 f"ms; batch {batch_rate['now']:.0f} vs {batch_rate['torch']:.0f} posts/s (numpy alone "
                 f"{batch_rate['numpy']:.0f})",
         notes=f"run folder: {run.name}, source {name}; load average {load_before:.1f} before and {load_after:.1f} "
               f"after the cold runs on {os.cpu_count()} cores (wall time grows with it, CPU time much less); "
               f"one thread; numpy and torch logits differ by at most {same:.1e}")

    print(f"{name}: {source.n_models} fold models loaded in {load_seconds:.2f}s; first post {first_ms:.0f} ms; "
          f"{len(single)} posts one at a time: median {warm:.1f} ms, p95 {np.percentile(single, 95):.1f} ms, "
          f"max {max(single):.1f} ms (target 100 ms); one thread")
    width = max(len(label) for label, *_ in rows)
    print(f"{'':{width}}  {'fold jobs':>11}  {'kit predict':>11}  {'ratio':>6}")
    for label, baseline, measured in rows:
        print(f"{label:{width}}  {baseline:11.1f}  {measured:11.1f}  {measured / baseline:6.2f}")
    print("fold jobs' source rows: the sum over its fold models of the time each fold job took per post; "
          "ratio = kit predict / fold jobs (for ms, above 1 is slower)")
    save("predict", command="python bench/bench_predict.py --run RUN", rows=[
        {"figure": label, "fold jobs": round(baseline, 1), "kit predict": round(measured, 1),
         "ratio": round(measured / baseline, 2)} for label, baseline, measured in rows],
         compares=f"kit predict with {name}'s kept models ({source.n_models} fold models, one thread) vs the fold "
                  "jobs' own prediction of the same posts",
         summary=f"one post: median {warm:.1f} ms, max {max(single):.1f} ms (target 100 ms: "
                 f"{'met' if max(single) <= 100 else 'NOT met'}); models loaded in {load_seconds:.1f} s",
         notes=f"run folder: {run.name}; {len(single)} test posts one at a time, then {len(batch)} train and test "
               "posts at once")


if __name__ == "__main__":
    main()
