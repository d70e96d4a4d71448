"""Checks for .ci/slurm: the workflow ran as SLURM jobs, each GPU fold job used the devices SLURM gave it, and the
outputs equal a local run's.

Evidence, each from its own source: Snakemake's output names the SLURM job id of every job it submitted; the
cluster's TaskProlog (written by .ci/slurm) records, for every task SLURM started, its job id, step and the
CUDA_VISIBLE_DEVICES SLURM set; the fold jobs' logs hold the kit's lease lines (kit.gpu.read_lease_log).

Example:
    python .ci/check_slurm_run.py --config .ci/slurm.yaml --slurm-run RUN --slurm-output RUN/snakemake.out \
        --task-record tasks.log --local-run LOCAL --lock-dir LOCKS
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from kit.gpu import parse_cuda_visible_devices, read_lease_log, simultaneous_holds

SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (?P<job>\d+) \(log: .*/rule_(?P<rule>\w+)/")
TASK = re.compile(r"^job=(?P<job>\d+) step=(?P<step>\S*) cuda=(?P<cuda>.*)$")
SRUN_STEP = "0"  # the plugin runs each job's command as step 0 of its allocation (`srun -n1` inside the batch step)
# When and how fast, not what: they differ between any two runs.
VOLATILE_KEYS = {"created", "seconds", "predict_seconds"}


def submitted_jobs(snakemake_output: str) -> dict[str, list[str]]:
    """SLURM job ids by rule, in submission order, from Snakemake's output."""
    jobs = defaultdict(list)
    for match in SUBMITTED.finditer(snakemake_output):
        jobs[match["rule"]].append(match["job"])
    return dict(jobs)


def task_devices(record: str) -> dict[str, list[str | None]]:
    """CUDA_VISIBLE_DEVICES of each srun-step task SLURM started, by job id (None where SLURM set none)."""
    tasks = defaultdict(list)
    for line in record.splitlines():
        if (match := TASK.match(line)) and match["step"] == SRUN_STEP:
            tasks[match["job"]].append(None if match["cuda"] == "unset" else match["cuda"])
    return dict(tasks)


def without_volatile(value):
    if isinstance(value, dict):
        return {key: without_volatile(item) for key, item in value.items() if key not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [without_volatile(item) for item in value]
    return value


def same_output(path: Path, other: Path) -> bool:
    """Equal content: every array of an .npz (fold metadata compared as JSON), JSON without timings, else bytes."""
    if path.suffix == ".npz":
        with np.load(path) as ours, np.load(other) as theirs:
            if sorted(ours.files) != sorted(theirs.files):
                return False
            for name in ours.files:
                if name == "meta":
                    if without_volatile(json.loads(str(ours[name]))) != without_volatile(json.loads(str(theirs[name]))):
                        return False
                elif not np.array_equal(ours[name], theirs[name]):
                    return False
            return True
    if path.suffix == ".json":
        return without_volatile(json.loads(path.read_text())) == without_volatile(json.loads(other.read_text()))
    return path.read_bytes() == other.read_bytes()


def outputs(run: Path) -> list[Path]:
    """The files a run wrote under oof/ and subs/, relative to the run's folder."""
    return sorted(path.relative_to(run) for folder in ("oof", "subs") for path in (run / folder).rglob("*")
                  if path.is_file())


def check(args) -> list[str]:
    """Every failed check as a sentence; [] when the run passed. Prints what it saw."""
    config = yaml.safe_load(Path(args.config).read_text())
    failures = []

    jobs = submitted_jobs(Path(args.slurm_output).read_text())
    print("SLURM jobs seen (rule: job ids):")
    for rule, ids in jobs.items():
        print(f"  {rule}: {', '.join(ids)}")
    expected_rules = {"ingest", "variant", "folds", "fit_fold", "merge_folds", "final_submission"}
    if missing := expected_rules - set(jobs):
        failures.append(f"rules that did not run as SLURM jobs: {sorted(missing)}")
    n_fold_jobs = len(config["models"]) * config["folds"]["k"] * len(config["variants"])
    if len(jobs.get("fit_fold", [])) != n_fold_jobs:
        failures.append(f"{len(jobs.get('fit_fold', []))} fold jobs were submitted to SLURM, expected {n_fold_jobs}")

    tasks = task_devices(Path(args.task_record).read_text())
    for rule, ids in jobs.items():
        for job in ids:
            if len(tasks.get(job, [])) != 1:
                failures.append(f"SLURM job {job} ({rule}) ran {len(tasks.get(job, []))} tasks in its srun step, "
                                "expected exactly 1 (the job's command must run once, whatever its GPUs)")

    print("GPU fold jobs (log: SLURM job, devices SLURM set, devices the lease took):")
    lock_dir = Path(args.lock_dir)
    for log in sorted((Path(args.slurm_run) / "logs" / "fit").glob("*.log")):
        model = log.name.split(".")[0]
        leases = read_lease_log(log.read_text())
        if len(leases) != 1 or leases[0].end is None:
            failures.append(f"{log}: {len(leases)} leases, expected one that was released")
            continue
        lease = leases[0]
        job = Path(lease.lock_dir).name.removeprefix("slurm-job-")
        slurm_devices = tasks.get(job, [None])[0]
        print(f"  {log.name}: job {job}, SLURM {slurm_devices}, lease {','.join(lease.devices)}")
        if Path(lease.lock_dir) != lock_dir / f"slurm-job-{job}" or job not in jobs.get("fit_fold", []):
            failures.append(f"{log}: lease in {lease.lock_dir}, not in the folder of one of the SLURM fold jobs")
        elif slurm_devices is None or lease.devices != parse_cuda_visible_devices(slurm_devices):
            failures.append(f"{log}: leased {lease.devices} but SLURM gave job {job} "
                            f"CUDA_VISIBLE_DEVICES={slurm_devices}")
        if len(lease.devices) != (asked := config["models"][model]["gpu"]):
            failures.append(f"{log}: leased {len(lease.devices)} GPU(s), the model asks for {asked}")

    local_leases = [lease for log in (Path(args.local_run) / "logs" / "fit").glob("*.log")
                    for lease in read_lease_log(log.read_text())]
    if len(local_leases) != n_fold_jobs:
        failures.append(f"the local run logged {len(local_leases)} leases, expected {n_fold_jobs}")
    failures += [f"local run: {clash}" for clash in simultaneous_holds(local_leases)]

    slurm_files, local_files = outputs(Path(args.slurm_run)), outputs(Path(args.local_run))
    if slurm_files != local_files:
        failures.append(f"output files differ: only SLURM {sorted(set(slurm_files) - set(local_files))}, "
                        f"only local {sorted(set(local_files) - set(slurm_files))}")
    differing = [str(path) for path in set(slurm_files) & set(local_files)
                 if not same_output(Path(args.slurm_run) / path, Path(args.local_run) / path)]
    if differing:
        failures.append(f"outputs that differ from the local run's: {sorted(differing)}")
    print(f"outputs compared with the local run: {len(slurm_files)} files under oof/ and subs/, "
          f"{len(differing)} differ")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the config both runs used")
    parser.add_argument("--slurm-run", required=True, help="working folder of the SLURM run")
    parser.add_argument("--slurm-output", required=True, help="Snakemake's output of the SLURM run")
    parser.add_argument("--task-record", required=True, help="the TaskProlog's record of the tasks SLURM started")
    parser.add_argument("--local-run", required=True, help="working folder of the local run")
    parser.add_argument("--lock-dir", required=True, help="KIT_GPU_LOCK_DIR of the SLURM run")
    failures = check(parser.parse_args(argv))
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print("SLURM check: " + ("passed" if not failures else f"{len(failures)} failure(s)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
