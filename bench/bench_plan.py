"""How long `snakemake -n` takes to plan the default matrix, against an empty Snakefile in the same run.

Snakemake's own start (imports, plugin registry, argument parser) is a floor no workflow can go under, so the
figure that belongs to the kit is the difference: parsing rules/*.smk, validating the config, checking every model
and ensemble entry, and building the DAG of the whole (model x seed x variant x fold) matrix.
Each run plans in a fresh empty folder, so nothing is up to date and every job is listed.

    python bench/bench_plan.py [--repeats 7] [--configfile FILE ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def plan_seconds(snakefile: Path, extra: list[str]) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "snakemake", "-n", "-s", str(snakefile), "-d", workdir, *extra]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--configfile", nargs="+", default=[], help="plan these configs instead of the default")
    args = parser.parse_args()
    extra = ["--configfile", *[str(Path(c).resolve()) for c in args.configfile]] if args.configfile else []

    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "Snakefile"
        empty.write_text("rule all:\n    input: [],\n")
        baseline, kit = [], []
        for _ in range(args.repeats):  # interleaved, so a busy moment of the machine hits both alike
            baseline.append(plan_seconds(empty, [])[0])
            seconds, stdout = plan_seconds(REPO / "Snakefile", extra)
            kit.append(seconds)
    jobs = next((line.split()[-1] for line in stdout.splitlines() if line.startswith("total")), "?")
    empty_median, kit_median = statistics.median(baseline), statistics.median(kit)
    print(f"empty Snakefile:  median {empty_median:.2f}s  (min {min(baseline):.2f}s) over {args.repeats} runs")
    print(f"kit, {jobs} jobs: median {kit_median:.2f}s  (min {min(kit):.2f}s)")
    print(f"the kit's share: +{kit_median - empty_median:.2f}s, ratio {kit_median / empty_median:.2f}x the empty plan")


if __name__ == "__main__":
    main()
