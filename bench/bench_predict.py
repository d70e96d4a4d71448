"""How fast `kit predict` classifies posts with a finished run's kept models, beside the fold jobs' own prediction.

The baseline is measured in the same run, by the fold jobs themselves: each fold file's meta has the seconds its
model took to predict the held-out, test (and pool) rows. kit predict loads the source's fold models once (timed
apart), then predicts the test posts one at a time (latency) and all at once (throughput), on one thread. The cold
latency is what a person waits for: `python -m kit predict --text POST` in a fresh process, start-up and imports and
model loading included (the median of --cold runs, wall and CPU seconds), with where its time goes (-X importtime
and the command's own load line). Each
experiment's models are also timed alone on the same texts as the fold jobs saw them (in the experiment's variant),
so that row compares like with like; the source's rows include cleaning and the ensemble's combination.

    python bench/bench_predict.py --run RUN_FOLDER [--source NAME] [--posts 200] [--cold 5]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"  # one core, as the target says: set before numpy loads a BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kit.artifacts import load_npz  # noqa: E402
from kit.predict import limit_threads, load_source, source_name, text_variant  # noqa: E402
from kit.variants import apply_variant  # noqa: E402


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


def cold_runs(run: Path, post: str, source: str | None, times: int) -> tuple[list[float], list[float], str]:
    """([wall seconds], [CPU seconds], the last run's log) of `kit predict --text post` in a fresh process each."""
    command = [sys.executable, "-m", "kit", "predict", "--text", post] + (["--source", source] if source else [])
    walls, cpus, log = [], [], ""
    for _ in range(times):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=run, capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode:
            sys.exit(f"kit predict failed:\n{done.stderr}")
        log = done.stderr + done.stdout
    return walls, cpus, log


def heaviest_imports(run: Path, post: str, source: str | None, top: int = 8) -> list[tuple[str, float]]:
    """The top-level packages a cold `kit predict --text` imports, by cumulative import seconds (-X importtime, which
    adds its own overhead), those of 0.05 s and more."""
    command = [sys.executable, "-X", "importtime", "-m", "kit", "predict", "--text", post]
    done = subprocess.run(command + (["--source", source] if source else []), cwd=run, capture_output=True,
                          text=True)
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
    parser.add_argument("--cold", type=int, default=5, help="fresh `kit predict --text` processes timed")
    args = parser.parse_args()
    run = Path(args.run).resolve()

    name = source_name(args.source, run / "subs" / "final.json")
    started = time.perf_counter()
    source = load_source(name, run / "oof", run / "models" / "folds")
    limit_threads(1)
    load_seconds = time.perf_counter() - started
    posts = pd.read_parquet(run / "data" / "interim" / "test.parquet")["text"].astype(str).tolist()
    started = time.perf_counter()
    source.predict(posts[:1])
    first_ms = 1000 * (time.perf_counter() - started)

    single = []
    for post in posts[1 : 1 + args.posts]:
        started = time.perf_counter()
        source.predict([post])
        single.append(1000 * (time.perf_counter() - started))
    started = time.perf_counter()
    source.predict(posts)
    batch_rate = len(posts) / (time.perf_counter() - started)

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
    rows.append((f"{name}, all {source.n_models} fold models: posts/s (batch)", fold_equivalent_rate, batch_rate))
    rows.append((f"{name}: ms per post, one at a time (median)", 1000 / fold_equivalent_rate,
                 statistics.median(single)))
    walls, cpus, cold_log = cold_runs(run, posts[0], args.source, args.cold)
    cold_wall, cold_cpu = statistics.median(walls), statistics.median(cpus)
    loaded = next((line.split("] ", 1)[-1] for line in cold_log.splitlines() if " loaded in " in line), "")
    imports = heaviest_imports(run, posts[0], args.source)
    print(f"cold `kit predict --text POST` (a fresh process, median of {len(walls)}): {cold_wall:.2f} s wall, "
          f"{cold_cpu:.2f} s CPU (target 2 s wall); runs: {', '.join(f'{wall:.2f}' for wall in walls)} s")
    print(f"  its load line: {loaded}")
    print("  heaviest imports (cumulative s): " + ", ".join(f"{package} {sec:.2f}" for package, sec in imports))
    cold_rows = [{"figure": f"cold `kit predict --text` ({name}), median of {len(walls)}: wall s",
                  "value": round(cold_wall, 2)},
                 {"figure": "the same: CPU s", "value": round(cold_cpu, 2)},
                 {"figure": "warm: one post, median ms", "value": round(statistics.median(single), 1)}]
    cold_rows += [{"figure": f"cold import of {package}: s", "value": round(sec, 2)} for package, sec in imports]

    print(f"{name}: {source.n_models} fold models loaded in {load_seconds:.2f}s; first post {first_ms:.0f} ms; "
          f"{len(single)} posts one at a time: median {statistics.median(single):.1f} ms, "
          f"p95 {np.percentile(single, 95):.1f} ms, max {max(single):.1f} ms (target 100 ms); one thread")
    width = max(len(label) for label, *_ in rows)
    print(f"{'':{width}}  {'fold jobs':>11}  {'kit predict':>11}  {'ratio':>6}")
    for label, baseline, measured in rows:
        print(f"{label:{width}}  {baseline:11.1f}  {measured:11.1f}  {measured / baseline:6.2f}")
    print("fold jobs' source rows: the sum over its fold models of the time each fold job took per post; "
          "ratio = kit predict / fold jobs (for ms, above 1 is slower)")
    from results import save

    median = statistics.median(single)
    load_now = os.getloadavg()[0]
    save("predict_cold", command="python bench/bench_predict.py --run RUN", rows=cold_rows,
         compares="one post as a person asks for it: a fresh `kit predict --text` process (start-up, imports, "
                  "models) beside the warm latency",
         summary=f"cold: {cold_wall:.2f} s wall (target 2 s: {'met' if cold_wall <= 2 else 'NOT met'}), "
                 f"{cold_cpu:.2f} s CPU; warm: {statistics.median(single):.1f} ms",
         notes=f"run folder: {run.name}; load average {load_now:.1f} on {os.cpu_count()} cores while measured "
               "(wall time grows with it, CPU time much less)")
    save("predict", command="python bench/bench_predict.py --run RUN", rows=[
        {"figure": label, "fold jobs": round(baseline, 1), "kit predict": round(measured, 1),
         "ratio": round(measured / baseline, 2)} for label, baseline, measured in rows],
         compares=f"kit predict with {name}'s kept models ({source.n_models} fold models, one thread) vs the fold "
                  "jobs' own prediction of the same posts",
         summary=f"one post: median {median:.1f} ms, max {max(single):.1f} ms (target 100 ms: "
                 f"{'met' if max(single) <= 100 else 'NOT met'}); models loaded in {load_seconds:.1f} s",
         notes=f"run folder: {run.name}; {len(single)} test posts one at a time, then all {len(posts)} at once")


if __name__ == "__main__":
    main()
