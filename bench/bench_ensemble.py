"""Benchmark of the ensemble methods at competition scale: 50 experiments x 100k OOF rows x 3 classes.

Synthetic members of varying quality share part of their noise (as models trained on the same texts do).
Each ensemble is built as the pipeline builds it (guardrails, the fit on every OOF row, the honest cross-fit over
5 folds, the test predictions, the manifest), timed, and its peak of extra memory traced against the size of the
members' logits (OOF and test). Run: python bench/bench_ensemble.py  (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.artifacts import Artifact  # noqa: E402
from kit.ensemble.build import build_ensemble  # noqa: E402
from kit.ensemble.weights import class_weight_search  # noqa: E402
from kit.metrics import softmax  # noqa: E402

CLASS_SHARES = (0.17, 0.57, 0.26)  # the Weibo labels -1 / 0 / 1 are about this unbalanced
SPECS = {
    "mean": {"method": "mean"},
    "mean+class_weights": {"method": "mean", "class_weights": True},
    "caruana (25 rounds)": {"method": "caruana", "rounds": 25},
    "caruana+class_weights": {"method": "caruana", "rounds": 25, "class_weights": True},
    "weighted (f1)": {"method": "weighted", "objective": "f1"},
    "stack (LogisticRegression)": {"method": "stack"},
    "vote_hard": {"method": "vote_hard"},
    "vote_multiround": {"method": "vote_multiround"},
}


def synthetic_members(n_members: int, n_rows: int, n_test: int, n_folds: int, seed: int) -> list[Artifact]:
    """Members whose logits point at each row's evident class with a per-member strength, scaled by how clear the
    row is, plus noise shared by all members and their own. The evident class is the label except on 10% of rows
    (annotators disagree), so no ensemble can be perfect, as on the real data."""
    rng = np.random.default_rng(seed)
    n_classes, n_all = len(CLASS_SHARES), n_rows + n_test
    y = rng.choice(n_classes, size=n_all, p=CLASS_SHARES)
    evident = np.where(rng.random(n_all) < 0.1, rng.integers(0, n_classes, n_all), y)
    signal = np.eye(n_classes, dtype=np.float32)[evident] * rng.uniform(0.2, 1.0, (n_all, 1)).astype(np.float32)
    shared = rng.standard_normal((n_all, n_classes), dtype=np.float32)
    fold_of = rng.permutation(np.arange(n_rows) % n_folds).astype(np.int8)
    ids = np.array([f"r{i}" for i in range(n_rows)])
    test_ids = np.array([f"t{i}" for i in range(n_test)])
    members = []
    for m in range(n_members):
        strength, shared_part = rng.uniform(1.5, 3.0), rng.uniform(0.3, 0.8)
        own = rng.standard_normal((n_all, n_classes), dtype=np.float32)
        logits = strength * signal + np.sqrt(shared_part) * shared + np.sqrt(1 - shared_part) * own
        members.append(
            Artifact(
                ids=ids,
                labels=y[:n_rows].astype(np.int64),
                fold_of=fold_of,
                oof_logits=logits[:n_rows].astype(np.float32),
                test_ids=test_ids,
                test_logits=logits[n_rows:].astype(np.float32),
                classes=np.array(["-1", "0", "1"]),
                manifest={"name": f"exp{m:02d}", "kind": "experiment", "fold_hash": "bench"},
            )
        )
    return members


def measure(run) -> tuple[float, int, object]:
    """(seconds, peak bytes traced above what was allocated before, result) of run()."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    return seconds, tracemalloc.get_traced_memory()[1] - before, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--test-rows", type=int, default=10_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    members = synthetic_members(args.members, args.rows, args.test_rows, args.folds, args.seed)
    logit_bytes = sum(m.oof_logits.nbytes + m.test_logits.nbytes for m in members)
    print(
        f"{args.members} members x {args.rows} OOF rows (+{args.test_rows} test) x 3 classes; "
        f"logits {logit_bytes / 2**20:.0f} MiB; {args.folds} folds"
    )
    probs = softmax(members[0].oof_logits)
    # Imported before tracing starts: a first import's module objects would count as the method's memory.
    import scipy.optimize  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    tracemalloc.start()

    header = f"{'method':<32} {'seconds':>8} {'naive F1':>9} {'honest F1':>10} {'peak MiB':>9} {'peak/logits':>12}"
    print(header)
    print("-" * len(header))
    seconds, peak, _ = measure(lambda: class_weight_search(probs, members[0].labels, 3))
    print(
        f"{f'class_weight_search ({args.rows} rows)':<32} {seconds:8.2f} {'':>9} {'':>10} {peak / 2**20:9.1f} "
        f"{peak / logit_bytes:12.2f}"
    )
    for label, spec in SPECS.items():
        seconds, peak, artifact = measure(lambda: build_ensemble(label, spec, members, log=lambda line: None))
        manifest = artifact.manifest
        print(
            f"{label:<32} {seconds:8.2f} {manifest['scores']['oof_macro_f1']:9.4f} "
            f"{manifest['honest_macro_f1']:10.4f} {peak / 2**20:9.1f} {peak / logit_bytes:12.2f}"
        )
    tracemalloc.stop()
    best_member = manifest["best_member"]
    print(f"best single member: {best_member['name']} {best_member['oof_macro_f1']:.4f}")
    # ru_maxrss is KiB on Linux: the whole process, inputs and interpreter included.
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"process peak RSS {max_rss / 2**20:.0f} MiB = {max_rss / logit_bytes:.1f} x the logits "
        f"(traced peaks above are extra allocations beyond the inputs)"
    )


if __name__ == "__main__":
    main()
