"""How long `snakemake -n` takes to plan the default matrix, against an empty Snakefile in the same run.

Snakemake's own start (imports, plugin registry, argument parser) is a floor no workflow can go under, so the
figure that belongs to the kit is the difference: parsing rules/*.smk, validating the config, checking every model
and ensemble entry, and building the DAG of the whole (model x seed x variant x fold) matrix.
Each run plans in a fresh empty folder, so nothing is up to date and every job is listed.

    python bench/bench_plan.py [--repeats 7]
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


# What the kit may add to Snakemake's own planning (issue 14): the default matrix, and the competition's with every
# family (the demo's files stand in for the competition's, so nothing has to exist on disk).
SHARE = "kit share s"
PLANS = {
    "default matrix": ([], 0.3),
    "competition matrix": (["configs/competition.yaml", "configs/demo_data.yaml"], 0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "Snakefile"
        empty.write_text("rule all:\n    input: [],\n")
        seconds = {"empty Snakefile": []} | {name: [] for name in PLANS}
        jobs = {}
        for _ in range(args.repeats):  # interleaved, so a busy moment of the machine hits every plan alike
            seconds["empty Snakefile"].append(plan_seconds(empty, [])[0])
            for name, (files, _) in PLANS.items():
                extra = ["--configfile", *[str(REPO / f) for f in files]] if files else []
                took, stdout = plan_seconds(REPO / "Snakefile", extra)
                seconds[name].append(took)
                jobs[name] = next((line.split()[-1] for line in stdout.splitlines() if line.startswith("total")), "?")
    empty_median = statistics.median(seconds["empty Snakefile"])
    rows = [{"plan": "empty Snakefile", "jobs": 0, "median s": round(empty_median, 2),
             SHARE: "", "target s": "", "met": "", "ratio": 1.0}]
    for name, (_, target) in PLANS.items():
        median = statistics.median(seconds[name])
        share = median - empty_median
        rows.append({"plan": name, "jobs": jobs[name], "median s": round(median, 2), SHARE: round(share, 2),
                     "target s": target, "met": "yes" if share <= target else "NO",
                     "ratio": round(median / empty_median, 2)})
    print(f"{'plan':20s} {'jobs':>5s} {'median s':>9s} {'kit share':>10s} {'target':>7s} {'met':>4s} {'ratio':>6s}")
    for row in rows:
        print(f"{row['plan']:20s} {row['jobs']!s:>5s} {row['median s']:>9} {row[SHARE]!s:>10s}"
              f" {row['target s']!s:>7s} {row['met']:>4s} {row['ratio']:>6}")
    from results import save  # bench/ is on the path

    default, competition = rows[1], rows[2]
    save("plan", command="python bench/bench_plan.py", rows=rows,
         compares="`snakemake -n` of the default and the competition matrix vs an empty Snakefile, interleaved",
         summary=f"the kit adds {default[SHARE]} s (target 0.3) to the default plan and {competition[SHARE]} s "
                 "(target 0.5) to the competition's; "
                 f"Snakemake alone {rows[0]['median s']} s")


if __name__ == "__main__":
    main()
