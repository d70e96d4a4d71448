"""The real competition at full size on one machine: the default workflow over 100k labelled, 900k unlabelled and 10k
test posts, with the wall time, CPU time, peak memory and disk written of each kind of job.

The competition's files are rebuilt at the chosen size from the real posts in ../shared/data (KIT_SHARED_DATA):
- train.csv: the labelled texts of ncov/processed_dev.txt (a random 20% of the real labelled file, 19,983 rows, words
  joined back; empty texts dropped), 100,000 rows at full size;
- unlabeled.csv: the texts of covid_weibo_unlabeled/covid_weibo_unlabeled_100k.csv (100k real posts of the period,
  read by the kit's own ingest), 900,000 rows at full size;
- test.csv: the real test file's texts (ncov/nCov_10k_test.csv), 10,000 rows at full size (its first rows below it).
A source of n texts gives N rows as successive seeded permutations of its rows (random.Random(SEED)): row i is a
copy of the source row at place i % n of permutation i // n, and `i // n` is its copy number. Copy 0 is the text
itself; copy k >= 1 gets one or two light character edits drawn from the same generator, each one of: delete a
character, double a character (typed twice) or swap two neighbouring characters, at a random place. So the N rows
hold about N distinct texts (the JSON records how many) and ingest, the corpus and the duplicate-aware folds do not
collapse them back to n, while the vocabulary and the label balance stay the real ones. A text under two
characters cannot always be changed and stays a duplicate, as reposts are in the real 900k file. Ids are fresh
16-digit numbers; the files are in the competition's layout and encoding (GB18030, CRLF).

The workflow is `snakemake -j2 --configfile scale.yaml` in the work folder, where scale.yaml names only the data:
the default matrix of configs/config.yaml. Each job is measured from outside, without touching the rules: a thread
samples Snakemake's process tree every SAMPLE_S seconds with psutil and follows each `python -m kit <command>`
process with its children (segmentation and tokenisation workers). Per job: wall time (first to last sample, so
within SAMPLE_S; a job shorter than SAMPLE_S may not be seen at all), CPU time (user + system of every process of
its tree at its last sample: up to SAMPLE_S of CPU after that is missed), peak resident memory (the largest sum of
RSS over its tree at one sample: forked workers' shared pages count once per worker, so it errs high) and bytes
written (write_bytes of /proc/<pid>/io, summed over its tree). Then per kind of job (the kit command): how many
jobs, their total and longest wall time, total CPU time, largest peak memory, total bytes written, and how many of
the jobs that ran over 30 s left no progress line (a `(NN%)` or `done in` line, kit/progress.py) in their log.

    python bench/bench_scale.py [--size full|tenth|hundredth] [--workdir DIR] [--jobs 2]

writes bench/results/scale.json (scale-tenth.json, scale-hundredth.json). Fold jobs are shown per experiment
(`fit-fold <experiment>`, read from the job's log path), so the model that dominates is plain. The file is rewritten
every SAVE_S seconds while the run goes on (summary "RUNNING ..."), so a run stopped early still leaves what it
measured; Ctrl-C (or SIGTERM) stops Snakemake and saves "STOPPED". The competition files are written once per work
folder and reused (delete <workdir>/comp to rebuild them). Full size takes about two hours on 2 cores;
`--size hundredth` is the smoke test.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil
import yaml

# bench/ is on the path
from shared_data import (
    DEV_TXT,
    REPO,
    SHARED_DATA,
    competition_frame,
    read_processed_dev,
)

sys.path.insert(0, str(REPO))

from results import RESULTS

from kit.demo import write_competition_csv

UNLABELED = "covid_weibo_unlabeled/covid_weibo_unlabeled_100k.csv"
TEST = "ncov/nCov_10k_test.csv"
SIZES = {
    "full": (100_000, 900_000, 10_000),
    "tenth": (10_000, 90_000, 1_000),
    "hundredth": (1_000, 9_000, 100),
}
SEED = 2020
SAMPLE_S = 0.25  # short enough to see a one-second job, cheap enough beside the jobs on a loaded machine
SAVE_S = 60.0  # how often a running bench rewrites its results file
LONG_S = 30.0  # issue 24: a job that can run longer than this must log its progress
TARGET_MIN = {"full": 90.0, "tenth": 15.0}  # issue 24: wall-clock targets on 2 cores
TARGET_RSS_MB = 6 * 1024  # issue 24: no job above 6 GB resident
LINEAR_SLACK = 1.25  # a kind of job grows worse than linearly when its CPU time grows more than 1.25x the data
PROGRESS_LINE = re.compile(r"\(\d+%\)|: done in ")


def perturbed(text: str, copy: int, rng: random.Random) -> str:
    """Copy 0: the text; copy k >= 1: one or two light character edits (module docstring)."""
    if copy == 0 or len(text) < 2:
        return text
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        if len(chars) < 2:
            break
        edit, at = rng.randrange(3), rng.randrange(len(chars) - 1)
        if edit == 0:
            del chars[at]
        elif edit == 1:
            chars.insert(at, chars[at])
        else:
            chars[at], chars[at + 1] = chars[at + 1], chars[at]
    return "".join(chars)


def resampled(frame: pd.DataFrame, rows: int, rng: random.Random) -> pd.DataFrame:
    """rows rows of frame (`text` and any other columns), copies of its rows in successive seeded permutations, each
    copy after the first lightly perturbed (module docstring)."""
    n = len(frame)
    places, copies = [], []
    for copy in range(-(-rows // n)):
        order = list(range(n))
        rng.shuffle(order)
        places += order
        copies += [copy] * n
    places, copies = places[:rows], copies[:rows]
    out = frame.iloc[places].reset_index(drop=True)
    out["text"] = [perturbed(text, copy, rng) for text, copy in zip(out["text"], copies)]
    return out


def write_competition(folder: Path, size: str) -> dict:
    """train.csv, test.csv and unlabeled.csv of the size in folder; what they hold (rows, distinct texts). Files
    written by an earlier run (held.json beside them) are kept."""
    from kit.data import read_posts

    record = folder / "held.json"
    if record.is_file():
        return json.loads(record.read_text(encoding="utf-8"))

    n_train, n_unlabeled, n_test = SIZES[size]
    rng = random.Random(SEED)
    texts, labels = read_processed_dev(SHARED_DATA / DEV_TXT)
    labelled = pd.DataFrame({"text": texts, "label": labels})
    labelled = labelled[labelled["text"] != ""].reset_index(drop=True)
    unlabelled = read_posts(SHARED_DATA / UNLABELED)[["text"]]
    test = read_posts(SHARED_DATA / TEST)[["text"]].iloc[:n_test]
    built = {
        "train": (resampled(labelled, n_train, rng), 4400000000000000, True),
        "unlabeled": (resampled(unlabelled, n_unlabeled, rng), 4600000000000000, False),
        "test": (test, 4500000000000000, False),
    }
    folder.mkdir(parents=True, exist_ok=True)
    held = {}
    for split, (frame, first_id, with_label) in built.items():
        write_competition_csv(competition_frame(frame, first_id, with_label), folder / f"{split}.csv")
        held[split] = {
            "rows": len(frame),
            "distinct_texts": int(frame["text"].nunique()),
        }
    record.write_text(json.dumps(held), encoding="utf-8")
    return held


@dataclass
class Job:
    kind: str
    log: str | None
    first: float
    last: float
    peak_rss: int = 0
    cpu: dict = field(default_factory=dict)  # pid -> user + system seconds at its last sample
    written: dict = field(default_factory=dict)  # pid -> write_bytes at its last sample


def kit_command(cmdline: list[str]) -> tuple[str, str | None] | None:
    """(kind of job, --log path) of a `python -m kit <command> ...` process; None for any other (the job's shell).
    The kind is the kit command, and for fit-fold the experiment too (logs/fit/<experiment>.fold<k>.log)."""
    if not cmdline or not Path(cmdline[0]).name.startswith("python"):
        return None
    for at in range(len(cmdline) - 2):
        if cmdline[at] == "-m" and cmdline[at + 1] == "kit":
            log = cmdline[cmdline.index("--log") + 1] if "--log" in cmdline[:-1] else None
            kind = cmdline[at + 2]
            if kind == "fit-fold" and log:
                kind = f"{kind} {Path(log).name.rsplit('.fold', 1)[0]}"
            return kind, log
    return None


def sample(root: psutil.Process, jobs: dict, now: float) -> None:
    """One look at root's process tree: every kit job's processes, their memory, CPU and bytes written."""
    try:
        processes = root.children(recursive=True)
    except psutil.Error:
        return
    for process in processes:
        try:
            found = kit_command(process.cmdline())
            if found is None:
                continue
            key = (process.pid, process.create_time())
            job = jobs.setdefault(key, Job(*found, first=now, last=now))
            job.last = now
            rss = 0
            for member in (process, *process.children(recursive=True)):
                with member.oneshot():
                    rss += member.memory_info().rss
                    times = member.cpu_times()
                    job.cpu[member.pid] = times.user + times.system
                    try:
                        job.written[member.pid] = member.io_counters().write_bytes
                    except (psutil.AccessDenied, AttributeError):
                        pass
            job.peak_rss = max(job.peak_rss, rss)
        except psutil.Error:
            continue  # the process ended between two looks


def watch(command: list[str], workdir: Path, report) -> tuple[int, float, dict]:
    """Run command in workdir while sampling it, calling report(jobs, wall seconds so far) every SAVE_S seconds;
    (exit code, wall seconds, jobs by (pid, start time)). SIGTERM stops the command as Ctrl-C does."""
    jobs: dict = {}
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=workdir)
    root = psutil.Process(process.pid)
    done = threading.Event()

    def loop() -> None:
        saved = time.monotonic()
        while not done.is_set():
            now = time.monotonic()
            sample(root, jobs, now)
            if now - saved >= SAVE_S:
                report(dict(jobs), now - started)
                saved = now
            done.wait(SAMPLE_S)

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    sampler = threading.Thread(target=loop, daemon=True)
    sampler.start()
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)  # Snakemake stops its jobs and removes their incomplete outputs
        process.wait()
        code = None
    done.set()
    sampler.join()
    return code, time.monotonic() - started, jobs


def has_progress(workdir: Path, log: str | None) -> bool:
    path = workdir / log if log else None
    return bool(path and path.is_file() and PROGRESS_LINE.search(path.read_text(encoding="utf-8", errors="replace")))


def rows_by_kind(jobs: dict, workdir: Path) -> list[dict]:
    by_kind: dict[str, list[Job]] = {}
    for job in jobs.values():
        by_kind.setdefault(job.kind, []).append(job)
    rows = []
    for kind, kind_jobs in sorted(by_kind.items(), key=lambda item: -sum(j.last - j.first for j in item[1])):
        walls = [job.last - job.first for job in kind_jobs]
        rows.append(
            {
                "job": kind,
                "jobs": len(kind_jobs),
                "wall s": round(sum(walls), 1),
                "longest s": round(max(walls), 1),
                "CPU s": round(sum(sum(job.cpu.values()) for job in kind_jobs), 1),
                "peak RSS MB": round(max(job.peak_rss for job in kind_jobs) / 2**20),
                "written MB": round(sum(sum(job.written.values()) for job in kind_jobs) / 2**20, 1),
                "over 30 s without progress": sum(
                    wall > LONG_S and not has_progress(workdir, job.log) for wall, job in zip(walls, kind_jobs)
                ),
            }
        )
    return rows


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0


def targets(rows: list[dict], wall: float, size: str, jobs: int) -> str:
    """What the run says about issue 24's targets: wall time, CPU time (and the least wall time it allows on `jobs`
    cores), the largest job, and at full size which kinds of job grew worse than linearly from the tenth."""
    parts = []
    if size in TARGET_MIN:
        limit, minutes = TARGET_MIN[size], wall / 60
        verdict = "met" if minutes <= limit else f"MISSED by {minutes - limit:.1f} min"
        parts.append(f"wall {minutes:.1f} min against {limit:.0f}: {verdict}")
    cpu = sum(row["CPU s"] for row in rows)
    parts.append(f"{cpu:,.0f} CPU-s in all, at least {cpu / jobs / 60:.1f} min on {jobs} cores")
    largest = max(rows, key=lambda row: row["peak RSS MB"])
    verdict = "met" if largest["peak RSS MB"] <= TARGET_RSS_MB else "MISSED"
    parts.append(f"largest job {largest['peak RSS MB']:,} MB ({largest['job']}) against {TARGET_RSS_MB:,}: {verdict}")
    tenth = RESULTS / "scale-tenth.json"
    if size == "full" and tenth.is_file():
        grew, tenth_cpus = {}, cpu_by_command(json.loads(tenth.read_text(encoding="utf-8"))["rows"])
        for kind, full_cpu in cpu_by_command(rows).items():
            tenth_cpu = tenth_cpus.get(kind)
            if tenth_cpu and full_cpu / tenth_cpu > 10 * LINEAR_SLACK:
                grew[kind] = full_cpu / tenth_cpu
        parts.append("CPU time per command grew at most linearly from the tenth (10x the data)" if not grew else
                     "grew worse than linearly from the tenth (10x the data): "
                     + ", ".join(f"{kind} {ratio:.1f}x" for kind, ratio in sorted(grew.items())))
    return "; ".join(parts)


def cpu_by_command(rows: list[dict]) -> dict[str, float]:
    """CPU seconds per kit command (the fit-fold rows of every experiment summed)."""
    cpu: dict[str, float] = {}
    for row in rows:
        command = row["job"].split(" ")[0]
        cpu[command] = cpu.get(command, 0.0) + row["CPU s"]
    return cpu


def summary(rows: list[dict], wall: float, state: str, size: str, jobs: int) -> str:
    silent = sum(row["over 30 s without progress"] for row in rows)
    return (f"{state} in {wall / 60:.1f} min -j{jobs}; {silent} job(s) over {LONG_S:.0f} s without a progress line; "
            + targets(rows, wall, size, jobs))


def resummarize(name: str, size: str, jobs: int, note: str | None) -> None:
    """Recompute the summary of a saved run (its rows, wall time and state) with this script's targets, keeping
    when and on what it was measured; `note` is appended to its notes (what else ran beside it, say)."""
    path = RESULTS / f"{name}.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    found = re.match(r"(.*?) in ([0-9.]+) min", saved["summary"])
    saved["summary"] = summary(saved["rows"], float(found.group(2)) * 60, found.group(1), size, jobs)
    if note:
        saved["notes"] += f"; {note}"
    path.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def rerun_rule(name: str, workdir: Path, rule: str, size: str, jobs: int) -> None:
    """Re-run `rule` alone in a finished work folder (only its own code and settings count: --rerun-triggers mtime)
    and append what its jobs measured to the saved notes."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), f"-j{jobs}", "--configfile",
               "scale.yaml", "--rerun-triggers", "mtime", "--forcerun", rule, "--until", rule]
    code, _, jobs_seen = watch(command, workdir, lambda jobs, wall: None)
    rows = rows_by_kind(jobs_seen, workdir)
    print(pd.DataFrame(rows).to_string(index=False))
    if code != 0:
        sys.exit(f"snakemake exit {code}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                            check=False)
    shown = "; ".join(f"{row['job']}: {row['CPU s']:,.0f} CPU-s, longest {row['longest s']:.0f} s, peak "
                      f"{row['peak RSS MB']:,} MB" for row in rows)
    resummarize(name, size, jobs, f"re-run alone at {commit.stdout.strip()} (--rerun-rule {rule}, "
                                  f"{time.strftime('%Y-%m-%d')}): {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--workdir", default=None, help="default: /tmp/kit-scale-<size>")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--summarize", action="store_true",
                        help="only recompute the summary (the targets) of the saved results file")
    parser.add_argument("--note", help="with --summarize: a sentence added to the saved notes")
    parser.add_argument("--rerun-rule", metavar="RULE",
                        help="re-run one rule of the finished work folder (e.g. corpus, after a change to it) under the "
                             "same sampler, and add its row to the saved notes")
    args = parser.parse_args()
    name = "scale" if args.size == "full" else f"scale-{args.size}"
    if args.summarize:
        resummarize(name, args.size, args.jobs, args.note)
        return
    if args.rerun_rule:
        rerun_rule(name, Path(args.workdir or f"/tmp/kit-scale-{args.size}"), args.rerun_rule, args.size, args.jobs)
        return
    for needed in (DEV_TXT, UNLABELED, TEST):
        if not (SHARED_DATA / needed).is_file():
            sys.exit(f"real data not found at {SHARED_DATA / needed} (set KIT_SHARED_DATA to the shared/data folder)")
    workdir = Path(args.workdir or f"/tmp/kit-scale-{args.size}")
    started = time.perf_counter()
    held = write_competition(workdir / "comp", args.size)
    print(f"competition files written in {time.perf_counter() - started:.0f}s: {held}", flush=True)
    data = {split: f"comp/{split}.csv" for split in ("train", "test", "unlabeled")}
    (workdir / "scale.yaml").write_text(yaml.safe_dump({"data": data}), encoding="utf-8")

    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), f"-j{args.jobs}", "--configfile",
               "scale.yaml"]
    from results import save

    n_train, n_unlabeled, n_test = SIZES[args.size]

    def report(jobs: dict, wall: float, state: str) -> list[dict]:
        rows = rows_by_kind(jobs, workdir)
        disk = {name: round(folder_bytes(workdir / name) / 2**20, 1) for name in ("data", "models", "oof", "logs")}
        save(name, command=f"python bench/bench_scale.py --size {args.size}", rows=rows,
             compares=f"the default workflow at {args.size} size ({n_train:,} labelled, {n_unlabeled:,} unlabelled, "
                      f"{n_test:,} test posts): each kind of job's time, memory and disk",
             summary=summary(rows, wall, state, args.size, args.jobs),
             notes=f"files: {held}; MB on disk per folder at the end: {disk}; sampled every {SAMPLE_S} s "
                   "(bench/bench_scale.py's docstring says what each column measures)")
        return rows

    code, wall, jobs = watch(command, workdir, lambda jobs, wall: report(jobs, wall, "RUNNING: so far"))
    state = {0: "finished", None: "STOPPED before the end"}.get(code, f"FAILED (exit {code})")
    rows = report(jobs, wall, state)
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"snakemake {state}, {wall / 60:.1f} min with -j{args.jobs}")
    sys.exit(0 if code == 0 else 1)


if __name__ == "__main__":
    main()
