"""How fast `kit predict` classifies posts with a finished run's kept models, beside the fold jobs' own prediction.

The baseline is measured in the same run, by the fold jobs themselves: each fold file's meta has the seconds its
model took to predict the held-out, test (and pool) rows. kit predict loads the source's fold models once (timed
apart), then predicts the test posts one at a time (latency) and all at once (throughput), on one thread. Each
experiment's models are also timed alone on the same texts as the fold jobs saw them (in the experiment's variant),
so that row compares like with like; the source's rows include cleaning and the ensemble's combination.

    python bench/bench_predict.py --run RUN_FOLDER [--source NAME] [--posts 200]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"  # one core, as the target says: set before numpy loads a BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=".", help="a finished run folder (oof/, models/folds/, subs/final.json)")
    parser.add_argument("--source", help="an artifact name (default: the source of subs/final.csv)")
    parser.add_argument("--posts", type=int, default=200, help="test posts predicted one at a time")
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
