"""The fault suite (issues 8 and 9): every kind of bad input, config and run, through the kit's real entry points
on tiny generated files.

FAULTS is one table. Each Fault builds its input in a fresh folder, goes through one entry point and states its
outcome:
- an error: the exit code (2 for a kit command, 1 for Snakemake) and a regex the one `error:` line must match; the
  command's log holds the same line (a `usage` fault: argparse's `kit <command>: error:` line, printed before any
  log opens), nothing printed is a traceback, nothing is left under out/ (where every
  command of the table writes) but the older files the fault lists in `kept`, and no temporary file anywhere;
- or a pass: exit 0, the exact ids of each output (an ingested split, the submission), texts and report counts.

Entry points:
- "ingest": `python -m kit ingest` with the flags rules/data.smk passes. Every file set of tests/test_data.py's
  CASES (the library-level table) runs here too, beside the cases below;
- "config": `python -m kit config --show` on the config files: the whole config parsed as the Snakefile parses it;
- "plan": `snakemake -n --configfile ...` (2 s each: a representative few);
- "command": one `python -m kit <command>` in a copy of a finished tiny run (data/, oof/, models/, subs/), damaged or added to as
  the case says;
- "workflow": the steps of one Snakemake scenario (run_scenario): a run, a second run at once in the same folder, a
  SIGKILLed fold job and the rerun, on files whose paths and column names hold quotes and `$(...)`.
Independent cases run side by side (a thread per core) while the scenario runs: about 100 CPU-seconds in all.

To add a case: append a Fault to FAULTS (or, for a file set that the library must read, a Case to
tests/test_data.py's CASES, which this suite also runs through `python -m kit ingest`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import yaml

from kit.config import DEFAULT_CLASSES
from kit.data_settings import Columns
from kit.demo import FILES, NOISE, make_demo
from tests.test_data import (
    CASES,
    HEADER,
    QUOTED,
    TEST,
    TRADITIONAL,
    TRAIN,
    TRAIN_HEADER,
    Case,
    csv_bytes,
    dig,
    files,
    ids,
    post,
    post_id,
    rows_and_dropped,
    rows_with_ids,
    train_labelled,
    unlabeled_bytes,
    with_id,
)
from tests.conftest import fit_fold_pids

pytestmark = pytest.mark.slow  # end-to-end: every case starts a process (CI runs the suite; -m "not slow" skips it)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "config.yaml"
ERROR_LINE = re.compile(r"^\d\d:\d\d:\d\d error: (.*)$")  # kit.log's form of a data or config error
USAGE_LINE = re.compile(r"^kit [\w-]+: error: (.*)$")  # argparse's form of a bad flag, before the log is opened
TEMP_FILE = re.compile(r"(^|/)\.[^/]+\.[0-9a-f]{16}\.tmp$")  # kit.artifacts.atomic_write's temporary files
STALE = "0123456789abcdef"  # the random part of a planted temporary file's name
MARKER = "pwned"  # what a crafted `$(touch pwned)` would create if a shell ran it


# ---------------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Fault:
    """One input and what the entry point must make of it (see the module docstring).

    build: writes the input under the case folder (for "command": a copy of the finished run) and returns the
    entry point's arguments: the kit command's for "ingest" and "command", the config files for "config" and
    "plan"; None for "workflow", whose outcome is a step of the scenario. error: the regex; exit_code: when not
    the entry point's usual one. kept: output file (relative to the folder) -> its `id` column exactly (or a
    function of the folder that reads the expected ids from the input), checked after an error too; texts: the
    same for the `text` column; counted: dotted key of the `report` JSON -> value; said: a regex the output or log
    must match; absent: files that must not exist afterwards (outputs, markers); prefix: a command the kit command
    runs under (a private mount namespace); needs: "mount" or "non-root", skipped with the reason otherwise;
    usage: the error is argparse's refusal of a flag (`kit <command>: error: argument ...` on stderr, no log).
    """

    name: str
    entry: str
    build: Callable[[Path], list] | None
    error: str | None = None
    exit_code: int | None = None
    kept: dict[str, list[str] | Callable[[Path], list[str]]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    counted: dict[str, object] = field(default_factory=dict)
    report: str = "out/report.json"
    said: str | None = None
    absent: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    needs: str | None = None
    usage: bool = False


def ingest_args(paths: dict[str, Path], options: dict | None = None) -> list:
    """The command line rules/data.smk runs for these files (role -> path) and ingest's keyword options, writing
    into out/."""
    options = options or {}
    columns = options.get("columns", Columns())
    args = ["ingest", "--train", paths["train"], "--test", paths["test"]]
    if "unlabeled" in paths:
        args += ["--unlabeled", paths["unlabeled"], "--out-unlabeled", "out/unlabeled.parquet"]
    return args + [
        "--classes", *options.get("classes", DEFAULT_CLASSES),
        "--column-id", columns.id, "--column-text", columns.text, "--column-label", columns.label,
        "--column-id-pattern", "null" if columns.id_pattern is None else columns.id_pattern,
        "--encoding", options.get("encoding", "auto"),
        "--conflicting-text", options.get("conflicting_text", "keep"),
        "--out-train", "out/train.parquet", "--out-test", "out/test.parquet", "--report", "out/report.json",
    ]


def relative_paths(case: Case, folder: Path) -> dict[str, Path]:
    """The case's files written under folder, as paths relative to it (the rules pass relative paths)."""
    return {role: path.relative_to(folder) for role, path in case.write(folder).items()}


def from_case(case: Case) -> Fault:
    """A file set of the library-level table, through `python -m kit ingest`."""
    return Fault(
        case.name, "ingest", lambda folder: ingest_args(relative_paths(case, folder), case.options), error=case.error,
        kept={f"out/{role}.parquet": expected for role, expected in case.kept.items()},
        texts={f"out/{role}.parquet": expected for role, expected in case.texts.items()}, counted=case.report,
    )


def ingest_into(prepare: Callable[[Path], None]) -> Callable[[Path], list]:
    """build: clean files, then prepare(folder) sets up the place of the outputs; ingest's command line."""
    def build(folder: Path) -> list:
        paths = relative_paths(Case("", files()), folder)
        prepare(folder)
        return ingest_args(paths)

    return build


def ingest_flag(flag: str, value: str) -> Callable[[Path], list]:
    """build: clean files; ingest's command line with `flag` given `value`."""
    def build(folder: Path) -> list:
        args = ingest_args(relative_paths(Case("", files()), folder))
        args[args.index(flag) + 1] = value
        return args

    return build


def old_output(folder: Path) -> None:
    """out/ holding an earlier run's train split (one row more), which a refused write must leave as it was."""
    (folder / "old").mkdir()
    (folder / "old" / "train.csv").write_bytes(csv_bytes([*TRAIN, post(3)]))
    (folder / "old" / "test.csv").write_bytes(unlabeled_bytes(TEST))
    earlier = run_kit(folder, ingest_args({"train": "old/train.csv", "test": "old/test.csv"}))
    assert earlier.returncode == 0, earlier.output
    for name in ("test.parquet", "report.json"):
        (folder / "out" / name).unlink()


def blocked_by_a_file(folder: Path) -> None:
    (folder / "out").write_text("a file where the output folder should be")


def read_only_by_permission(folder: Path) -> None:
    (folder / "out").mkdir(mode=0o555)


def stale_report_temp(folder: Path) -> None:
    (folder / "out").mkdir()
    (folder / "out" / f".report.json.{STALE}.tmp").write_text('{"half": ')


# Run inside a private mount namespace, so that no mount outlives the command: out/ bound read-only onto itself,
# or a 64 KiB tmpfs filled up before the command starts.
READ_ONLY_MOUNT = ("unshare", "--mount", "sh", "-c",
                   'mount --bind out out && mount -o remount,bind,ro out && exec "$@"', "sh")
FULL_DISK_MOUNT = ("unshare", "--mount", "sh", "-c",
                   'mkdir -p out && mount -t tmpfs -o size=64k tmpfs out && '
                   '{ dd if=/dev/zero of=out/fill bs=4k 2>/dev/null; exec "$@"; }', "sh")


def overlay(changes: dict) -> Callable[[Path], list]:
    """A config file changing the default config (configs/config.yaml) by `changes`, after it on the command line
    (Snakemake merges --configfile files in order, mappings key by key)."""
    def build(folder: Path) -> list:
        (folder / "overlay.yaml").write_text(yaml.safe_dump(changes, allow_unicode=True), encoding="utf-8")
        return [DEFAULT_CONFIG, "overlay.yaml"]

    return build


def config_text(text: str) -> Callable[[Path], list]:
    return config_bytes(text.encode("utf-8"))


def config_bytes(data: bytes) -> Callable[[Path], list]:
    def build(folder: Path) -> list:
        (folder / "broken.yaml").write_bytes(data)
        return ["broken.yaml"]

    return build


def with_config_option(build: Callable[[Path], list], *settings: str) -> Callable[[Path], list]:
    """build's config files, then `--config` with settings, as a person types them."""
    return lambda folder: [*build(folder), "--config", *settings]


def config_key(key: str) -> str:
    return rf"config key '{re.escape(key)}': "


def damaged(path: str) -> str:
    """The regex of kit.artifacts' message for a truncated or damaged output, naming it and its forcerun."""
    return (rf"^{re.escape(path)}: is truncated or damaged \(.+\); delete it and re-run snakemake, or run "
            rf"`snakemake --forcerun {re.escape(path)}`$")


def truncate(folder: Path, path: str) -> None:
    """Keep the first half of the file, as a killed copy or a full disk would."""
    payload = (folder / path).read_bytes()
    (folder / path).write_bytes(payload[: len(payload) // 2])


def hollow(folder: Path, path: str) -> None:
    """Keep the first half and the last 8 bytes (a parquet file's footer length and magic): a file damaged inside,
    which pyarrow reports as an OSError rather than as invalid."""
    payload = (folder / path).read_bytes()
    (folder / path).write_bytes(payload[: len(payload) // 2] + payload[-8:])


def json_text(text: str) -> Callable[[Path, str], None]:
    """damage: replace the file with `text`, valid JSON that is not what the file must hold."""
    return lambda folder, path: (folder / path).write_text(text)


def copied_artifact(folder: Path) -> None:
    """oof/backup_lr: a person's copy of oof/lr.raw.s0, its manifest still naming lr.raw.s0."""
    shutil.copytree(folder / EXPERIMENT, folder / "oof" / "backup_lr")


EXPERIMENT = "oof/lr.raw.s0"
ENSEMBLE = "oof/ensemble.avg"
VARIANT_FILES = ["--train", "data/variants/raw/train.parquet", "--test", "data/variants/raw/test.parquet",
                 "--variant-meta", "data/variants/raw/meta.json"]
CLASSES = ["--classes", *DEFAULT_CLASSES]


def folds_args(k: int, train: str = "data/interim/train.parquet") -> list:
    return ["folds", "--train", train, "--k", str(k), "--seed", "1", "--out", "out/folds.parquet"]


def fit_fold_args(params: dict, folds: str = "data/folds.parquet", fold: int = 0, out: str = "out/fold0.npz") -> list:
    return ["fit-fold", "--kind", "sklearn", "--params-json", json.dumps(params), *VARIANT_FILES, "--folds", folds,
            "--fold", str(fold), "--seed", "0", *CLASSES, "--workdir", f"checkpoints/{fold}", "--out", out]


def merge_args(experiment: str, folds: str, out: str) -> list:
    """kit merge of oof/<experiment>'s two fold files into out/oof.npz and out/manifest.json."""
    return ["merge", "--fold-files", f"oof/{experiment}/fold0.npz", f"oof/{experiment}/fold1.npz", "--kind", "sklearn",
            "--params-json", '{"min_df": 1}', *VARIANT_FILES, "--folds", folds, *CLASSES, "--name", experiment,
            "--model", experiment.split(".")[0], "--config-hash", "0" * 64, "--out-npz", f"{out}/oof.npz",
            "--out-manifest", f"{out}/manifest.json"]


def ensemble_args(*members: str) -> list:
    return ["ensemble", "--name", "ensemble.new", "--spec-json", '{"method": "mean"}',
            "--member-npz", *(f"{member}/oof.npz" for member in members),
            "--member-manifests", *(f"{member}/manifest.json" for member in members),
            "--out-npz", "out/oof.npz", "--out-manifest", "out/manifest.json"]


VARIANT_RAW = ["variant", "--name", "raw", "--train", "data/interim/train.parquet", "--test",
               "data/interim/test.parquet", "--out-train", "out/train.parquet", "--out-test", "out/test.parquet",
               "--meta", "out/meta.json"]
SUBMIT = ["submit", "--npz", f"{ENSEMBLE}/oof.npz", "--manifests", f"{ENSEMBLE}/manifest.json", "--choice", "auto",
          "--test", "data/interim/test.parquet", "--out", "out/final.csv", "--sidecar", "out/final.json"]


def nothing(folder: Path) -> None:
    """No change: the case is in the command line alone."""


def rare_classes(folder: Path) -> list:
    """An ingested train split whose classes have 4, 10 and 2 rows (-1, 0, 1): two of them too rare for k=5."""
    (folder / "small").mkdir()
    labels = ["-1"] * 4 + ["0"] * 10 + ["1"] * 2
    (folder / "small" / "train.csv").write_bytes(csv_bytes([post(k, label=label) for k, label in enumerate(labels)]))
    (folder / "small" / "test.csv").write_bytes(unlabeled_bytes(TEST))
    ingested = run_kit(folder / "small", ingest_args({"train": "train.csv", "test": "test.csv"}))
    assert ingested.returncode == 0, ingested.output
    return folds_args(5, "small/out/train.parquet")


def then(change: Callable[[Path], None], args: list) -> Callable[[Path], list]:
    """build: change the copied run's files, then run `args`."""
    def build(folder: Path) -> list:
        change(folder)
        return args

    return build


def damaged_run(path: str, args: list, damage: Callable[[Path, str], None] = truncate) -> Callable[[Path], list]:
    """build: damage the copied run's file at path, then run `args`."""
    return then(lambda folder: damage(folder, path), args)


def other_fold_file(folder: Path) -> None:
    """oof/lr_other.raw.s0: the same model on the same data, made with a fold file of another seed."""
    commands = [["folds", "--train", "data/interim/train.parquet", "--k", "2", "--seed", "7",
                 "--out", "data/folds_other.parquet"]]
    commands += [fit_fold_args({"min_df": 1}, "data/folds_other.parquet", fold, f"oof/lr_other.raw.s0/fold{fold}.npz")
                 for fold in (0, 1)]
    commands.append(merge_args("lr_other.raw.s0", "data/folds_other.parquet", "oof/lr_other.raw.s0"))
    for args in commands:
        outcome = run_kit(folder, args)
        assert outcome.returncode == 0, outcome.output


def second_seed_copy(folder: Path) -> None:
    """oof/lr.raw.s1: what a second seed of a deterministic model gives, the first seed's artifact under its name."""
    shutil.copytree(folder / EXPERIMENT, folder / "oof" / "lr.raw.s1")
    manifest = folder / "oof" / "lr.raw.s1" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "name": "lr.raw.s1", "seed": 1}))


# The competition's header in traditional characters, as a Big5 export writes it.
BIG5_HEADER = ["微博id", "微博發布時間", "發布人賬號", "微博中文內容", "微博圖片", "微博視頻", "情感傾向"]
MISSING_LOOKING = ["NaN", "nan", "NULL", "None", "N/A", "#N/A"]

INGEST_FAULTS = [
    Case("texts that look missing (NaN, NULL, N/A...) are texts, kept as written",
         files(test=unlabeled_bytes([post(900 + k, text) for k, text in enumerate(MISSING_LOOKING)])),
         kept={"test": ids(*range(900, 906))}, texts={"test": MISSING_LOOKING}),
    Case("labels written as floats are the integer classes, counted",
         files(train_labelled("-1.0", "0.0", "1.0", "1.0")), kept={"train": ids(0, 1, 2, 3)},
         report={**rows_and_dropped(4, 0, "train", "label_normalised"),
                 "splits.train.rules.label_normalised.by_value": {
                     "-1.0": {"label": "-1", "rows": 1}, "0.0": {"label": "0", "rows": 1},
                     "1.0": {"label": "1", "rows": 2}},
                 "splits.train.class_counts": {"-1": 1, "0": 1, "1": 2}}),
    Case("every label 1.0: normalised to 1, which leaves one class",
         files(train_labelled("1.0", "1.0", "1.0")),
         error=r"train\.csv: no train row of class\(es\) \['-1', '0'\] \(column '情感倾向'\): rows kept per class "
               r"\{'-1': 0, '0': 0, '1': 3\} of 3 read.*list only the classes it has in `classes`$"),
    Case("big5 with the competition's header and texts in traditional characters",
         files(csv_bytes([post(k, TRADITIONAL) for k in range(3)], BIG5_HEADER, encoding="big5")),
         error=r"train\.csv: does not read as Chinese text in GB18030: .*it reads as Big5 .*: set the encoding to "
               r"big5 \(data\.encoding in the config\)"),
    Case("a test id holding U+FFFD written as a character",
         files(test=rows_with_ids(post_id(900), post_id(901) + "\ufffd", encoding="utf-8")),
         error=r"test\.csv: line 3: id '\d{16}\ufffd' \(column '微博id'\) holds U\+FFFD"),
    Case("an unlabeled file in UTF-16", files(unlabeled=unlabeled_bytes(TEST, encoding="utf-16")),
         error=r"unlabeled\.csv: is UTF-16 \(it starts with a UTF-16 byte-order mark\)"),
    Case("a header naming a column twice",
         files(test=unlabeled_bytes(TEST[:1]).replace("微博图片".encode("gb18030"), "微博id".encode("gb18030"))),
         error=r"test\.csv: the header names column\(s\) \['微博id'\] more than once"),
    Case("a tab-separated file", files(test=unlabeled_bytes(TEST).replace(b",", b"\t")),
         error=r"test\.csv: no column '微博id' .*is the file tab- or semicolon-separated\?"),
    Case("header names with spaces around them",
         files(csv_bytes(TRAIN, [f" {name} " for name in TRAIN_HEADER])), kept={"train": ids(0, 1, 2)}),
    Case("a NUL inside an id is removed and counted",
         files(test=rows_with_ids(post_id(900) + "\x00", post_id(901))), kept={"test": ids(900, 901)},
         report={**rows_and_dropped(1, 0, "test", "nul_bytes"), "splits.test.rules.nul_bytes.chars": 1}),
    Case("the majority rule for one text with conflicting labels, from the command line",
         files(csv_bytes([*TRAIN, post(3, "同一条", "1"), post(4, "同一条", "1"), post(5, "同一条", "0")])),
         options={"conflicting_text": "majority"}, kept={"train": ids(0, 1, 2, 3, 4)},
         report={**rows_and_dropped(3, 1, "train", "duplicate_text_conflicting"),
                 "splits.train.rules.duplicate_text_conflicting.policy": "majority"}),
]


# Entries of the file system that are no input file (issue 20), each made as folder/special.csv; make returns the
# path to name in the config or on the command line. Opened as files, /dev/zero reads until memory runs out and a
# FIFO blocks: every one must be refused from os.stat alone, in seconds.
SPECIAL = "special.csv"


def device(path: str) -> Callable[[Path], str]:
    return lambda folder: path


def make_fifo(folder: Path) -> str:
    os.mkfifo(folder / SPECIAL)
    return SPECIAL


def make_socket(folder: Path) -> str:
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(folder / SPECIAL))  # the socket file stays after the close
    return SPECIAL


def make_loop(folder: Path) -> str:
    (folder / SPECIAL).symlink_to(f"{SPECIAL}.other")
    (folder / f"{SPECIAL}.other").symlink_to(SPECIAL)
    return SPECIAL


def make_dangling(folder: Path) -> str:
    (folder / SPECIAL).symlink_to("nowhere.csv")
    return SPECIAL


def make_folder(folder: Path) -> str:
    (folder / SPECIAL).mkdir()
    return SPECIAL


def make_sparse(folder: Path) -> str:
    """A 100 GiB file that takes no disk (truncate -s 100G): its bytes, all zero, are never written."""
    with open(folder / SPECIAL, "wb") as handle:
        handle.truncate(100 * 2**30)
    return SPECIAL


def link_to_zero(folder: Path) -> str:
    (folder / SPECIAL).symlink_to("/dev/zero")
    return SPECIAL


@dataclass(frozen=True)
class Special:
    """One such entry: the case, the data role it stands in for, what makes it, what the error says after the path,
    and that path (special.csv unless make names a device)."""

    name: str
    role: str
    make: Callable[[Path], str]
    problem: str
    shown: str = SPECIAL


SPECIAL_FILES = [
    Special("/dev/zero as train", "train", device("/dev/zero"),
            r"is a character device, not a file: a device is read without end", "/dev/zero"),
    Special("/dev/null as train (a device, and empty)", "train", device("/dev/null"),
            r"is a character device, not a file", "/dev/null"),
    Special("a named pipe (FIFO) as test", "test", make_fifo,
            r"is a named pipe \(FIFO\), not a file: opening it would wait for some program to write into it"),
    Special("a socket as unlabeled", "unlabeled", make_socket, r"is a socket, not a file"),
    Special("a symbolic link loop as train", "train", make_loop,
            r"is a symbolic link that loops \(it leads back to itself through 'special\.csv\.other'\)"),
    Special("a dangling symbolic link as test", "test", make_dangling,
            r"is a symbolic link to 'nowhere\.csv', which does not exist"),
    Special("a folder as test", "test", make_folder, r"is a folder, not a file"),
    Special("a 100 GiB sparse file as unlabeled", "unlabeled", make_sparse,
            r"is 100 GiB, more than the 2 GiB the kit reads from one file \(ingest holds a whole file in memory\); "
            r"set KIT_MAX_INPUT_GIB to raise the bound"),
    Special("a symbolic link to /dev/zero as train", "train", link_to_zero,
            r"is a character device \(a link to /dev/zero\), not a file"),
]


def special_input(role: str, make: Callable[[Path], str]) -> Callable[[Path], list]:
    """build: clean files (an unlabeled one too when role is unlabeled), the role's replaced by what make makes."""
    def build(folder: Path) -> list:
        unlabeled = unlabeled_bytes(TEST) if role == "unlabeled" else None
        paths = relative_paths(Case("", files(unlabeled=unlabeled)), folder)
        return ingest_args({**paths, role: make(folder)})

    return build


def special_data_path(role: str, make: Callable[[Path], str]) -> Callable[[Path], list]:
    """build: the default config with data.<role> naming what make makes."""
    return lambda folder: overlay({"data": {role: make(folder)}})(folder)


def special_file_faults(entry: str) -> list[Fault]:
    """SPECIAL_FILES through kit ingest (the path first in the error line) or the config check (its key first)."""
    if entry == "ingest":
        return [Fault(f"ingest of {case.name}", "ingest", special_input(case.role, case.make),
                      error=rf"^{re.escape(case.shown)}: {case.problem}") for case in SPECIAL_FILES]
    return [Fault(f"config check of {case.name}", "config", special_data_path(case.role, case.make),
                  error=config_key(f"data.{case.role}") + rf"'{re.escape(case.shown)}' {case.problem}")
            for case in SPECIAL_FILES]


FILE_FAULTS = [
    *map(from_case, CASES),
    *map(from_case, INGEST_FAULTS),
    Fault("a test file holding train posts: ingested as it is, and a warning names the shared ids", "ingest",
          lambda folder: ingest_args(relative_paths(Case("", files(test=unlabeled_bytes([TRAIN[1], TEST[1]]))), folder)),
          kept={"out/test.parquet": ids(1, 901)},
          said=rf"warning: 1 of 2 test ids are train ids too \(e\.g\. {post_id(1)}\): is data/test\.csv the test file\?"),
    Fault("an output folder that is a file", "ingest", ingest_into(blocked_by_a_file),
          error=r"^out: cannot be written \(File exists\): a file stands where a folder of the path should be"),
    Fault("a read-only output folder (a read-only bind mount)", "ingest", ingest_into(old_output),
          prefix=READ_ONLY_MOUNT, needs="mount", kept={"out/train.parquet": ids(0, 1, 2, 3)},
          error=r"^out/train\.parquet: cannot be written \(Read-only file system\): write the outputs on a writable"),
    Fault("a folder without write permission (chmod 0555)", "ingest", ingest_into(read_only_by_permission),
          needs="non-root", error=r"^out/train\.parquet: cannot be written \(Permission denied\): make the folder"),
    Fault("a full disk (a 64 KiB tmpfs, filled)", "ingest", ingest_into(nothing), prefix=FULL_DISK_MOUNT,
          needs="mount", error=r"^out/train\.parquet: cannot be written \(No space left on device\): free some disk"),
    Fault("a text column that is the id column", "ingest", ingest_flag("--column-text", Columns().id),
          error=r"'command line\.text': '微博id' is command line\.id too; the id, text and label columns are three "
                r"different columns"),
    Fault("a killed run's temporary report is removed at the next start", "ingest", ingest_into(stale_report_temp),
          said=rf"removed out/\.report\.json\.{STALE}\.tmp, a temporary file left by a killed run",
          absent=(f"out/.report.json.{STALE}.tmp",), kept={"out/test.parquet": ids(900, 901, 902)}),
    *special_file_faults("ingest"),
    Fault("an input file over a bound lowered by KIT_MAX_INPUT_GIB", "ingest", ingest_into(nothing),
          prefix=("env", "KIT_MAX_INPUT_GIB=0.0000001"),
          error=r"^data/train\.csv: is [\d.]+ (bytes|KiB), more than the 107 bytes the kit reads from one file"),
]

def alias_bomb(levels: int = 8, mappings: bool = False) -> str:
    """YAML lines (indented by 6) whose last key stands for 10**levels values: each level repeats the one before ten
    times through an alias; as mappings, through merge keys (`<<: [*a, *a...]` copies every key of each)."""
    lines = ["      l0: &l0 [x, x, x, x, x, x, x, x, x, x]" if not mappings else
             "      l0: &l0 {" + ", ".join(f"k{k}: x" for k in range(10)) + "}"]
    for level in range(1, levels + 1):
        if mappings:
            repeated = "{<<: [" + ", ".join([f"*l{level - 1}"] * 10) + "], " + f"own{level}: x}}"
        else:
            repeated = "[" + ", ".join([f"*l{level - 1}"] * 10) + "]"
        lines.append(f"      l{level}: &l{level} {repeated}")
    return "\n".join(lines) + "\n"


STACK_PARAMS = "ensembles:\n  st:\n    method: stack\n    params:\n"
BOMB_IN_PARAMS = STACK_PARAMS + alias_bomb()
LOOP_IN_PARAMS = STACK_PARAMS + "      loop: &self [1, *self]\n"
def given_twice(key: str, first: int, second: int) -> str:
    """The regex of kit.strict_yaml's message for a key given twice in broken.yaml."""
    return (rf"^broken\.yaml: line {second}: config key {re.escape(repr(key))} is given twice in one mapping "
            rf"\(lines {first} and {second}\)")


TOO_MANY = r"expands to [\d.e+]+ values, more than the 100,000 a config may hold: YAML aliases \(\*name\) repeat"


CRAFTED_LABEL = f"1'; touch {MARKER}; echo '"
# Mistakes both the config command and the plan must stop at.
CRAFTED_CLASSES = {"classes": [CRAFTED_LABEL, "0"]}
C_AS_TEXT = {"models": {"tfidf_char_lr": {"C": "4"}}}
CYCLE = {"ensembles": {"mean": {"members": ["caruana"]}, "caruana": {"members": ["mean"]}}}
CONFIG_FAULTS = [
    Fault("a class label with an apostrophe", "config", overlay({"classes": ["it's", "0"]}),
          error=config_key("classes") + r"label \"it's\" may hold only letters, digits"),
    Fault("a crafted class label", "config", overlay(CRAFTED_CLASSES), absent=(MARKER,),
          error=config_key("classes") + r"label .*touch pwned.* may hold only letters, digits"),
    Fault("a class label a command line takes for an option", "config", overlay({"classes": ["-x", "y"]}),
          error=config_key("classes") + r"'-x' starts with '-', .*only a negative number may start with '-'"),
    Fault("a column name a command line takes for an option", "config", overlay({"columns": {"text": "--out-train"}}),
          error=config_key("columns.text") + r"'--out-train' starts with '-'.*rename the column in the files"),
    Fault("a data path a command line takes for an option", "config", overlay({"data": {"train": "-train.csv"}}),
          error=config_key("data.train") + r"'-train\.csv' starts with '-'.*write it as '\./-train\.csv'"),
    Fault("a data config naming the test file only", "config", overlay({"data": {"test": "mine/test.csv"}}),
          error=config_key("data.train") + r"is still the demo's file \(data/demo/.*\) while data\.test names yours "
                                           r"\(mine/test\.csv\); set data\.train too"),
    Fault("a data config naming the train file only", "config", overlay({"data": {"train": "mine/train.csv"}}),
          error=config_key("data.test") + r"is still the demo's file .* while data\.train names yours"),
    Fault("a label column that is the text column", "config", overlay({"columns": {"label": "微博中文内容"}}),
          error=config_key("columns.label") + r"'微博中文内容' is columns\.text too"),
    Fault("variants: [clean]", "config", overlay({"variants": ["clean"]}),
          error=config_key("variants") + "unknown variant 'clean'; did you mean 'cleaned'"),
    Fault("a misspelled member in fixed weights", "config",
          overlay({"ensembles": {"fx": {"method": "fixed",
                                        "weights": {"tfidf_char_lr.raw.s0": 1, "tfidf_chr_lr.raw.s0": 1}}}}),
          error=config_key("ensembles.fx.weights") + r"names 'tfidf_chr_lr\.raw\.s0'.*'tfidf_char_lr\.raw\.s0'"),
    Fault("vote_multiround over two members", "config",
          overlay({"ensembles": {"vr": {"method": "vote_multiround",
                                        "members": ["tfidf_char_lr.raw.s0", "tiny_bert.cleaned.s0"]}}}),
          error=config_key("ensembles.vr.members") + "method 'vote_multiround' needs at least 3 members, got 2"),
    Fault("an unknown stacking estimator", "config",
          overlay({"ensembles": {"st": {"method": "stack", "estimator": "LogisticRegresion"}}}),
          error=config_key("ensembles.st.estimator") + "'LogisticRegresion' is not a scikit-learn classifier"),
    Fault("an ensemble cycle", "config", overlay(CYCLE),
          error=config_key("ensembles.mean.members") + "makes a cycle: ensemble.mean -> ensemble.caruana -> ensemble.mean"),
    Fault('C: "4"', "config", overlay(C_AS_TEXT),
          error=config_key("models.tfidf_char_lr.C") + r"must be a number \(got '4'\)"),
    Fault("C: high", "config", overlay({"models": {"tfidf_char_lr": {"C": "high"}}}),
          error=config_key("models.tfidf_char_lr.C") + r"must be a number \(got 'high'\)"),
    Fault("C: 0", "config", overlay({"models": {"tfidf_char_lr": {"C": 0}}}),
          error=config_key("models.tfidf_char_lr.C") + r"must be greater than 0 \(got 0\.0\)"),
    Fault("max_features: lots", "config", overlay({"models": {"tfidf_char_lr": {"max_features": "lots"}}}),
          error=config_key("models.tfidf_char_lr.max_features") + r"must be an integer, or null \(got 'lots'\)"),
    Fault("solver: sag4", "config", overlay({"models": {"tfidf_char_lr": {"solver": "sag4"}}}),
          error=config_key("models.tfidf_char_lr.solver") + "must be one of 'saga', 'sag'"),
    Fault("char_ngram: '1-3'", "config", overlay({"models": {"tfidf_char_lr": {"char_ngram": "1-3"}}}),
          error=config_key("models.tfidf_char_lr.char_ngram") + r"must be a list \[an integer, an integer\]"),
    Fault("min_df: 0", "config", overlay({"models": {"tfidf_char_lr": {"min_df": 0}}}),
          error=config_key("models.tfidf_char_lr.min_df") + r"must be at least 1 \(got 0\)"),
    Fault("a misspelled model kind", "config", overlay({"models": {"tfidf_char_lr": {"kind": "sklern"}}}),
          error=config_key("models.tfidf_char_lr.kind") + "unknown model kind 'sklern'"),
    Fault("a misspelled top-level key", "config", overlay({"ensemble": {}}),
          error=config_key("ensemble") + "is not a key here; did you mean 'ensembles'"),
    Fault("folds.k: 1", "config", overlay({"folds": {"k": 1}}),
          error=config_key("folds.k") + r"must be at least 2 \(got 1\)"),
    Fault("an encoding Python does not know", "config", overlay({"data": {"encoding": "utf-9"}}),
          error=config_key("data.encoding") + "'utf-9' is not a Python codec name"),
    Fault("an id pattern that is not a regular expression", "config", overlay({"columns": {"id_pattern": "[0-9"}}),
          error=config_key("columns.id_pattern") + r"'\[0-9' is not a regular expression"),
    Fault("an unknown conflicting-text policy", "config", overlay({"ingest": {"conflicting_text": "vote"}}),
          error=config_key("ingest.conflicting_text") + "must be one of 'keep', 'majority', 'drop'"),
    Fault("a final choice that does not exist", "config", overlay({"final": "best"}),
          error=config_key("final") + "'best' is not 'auto', an ensemble or an experiment"),
    Fault("a wordvec model naming no word_vectors entry", "config",
          overlay({"models": {"wv": {"kind": "wordvec", "vectors": "glove"}}}),
          error=config_key("models.wv.vectors") + r"names no word_vectors entry 'glove'; known: \['w2v'\]"),
    Fault("features: char+vectors without vectors", "config",
          overlay({"models": {"cv": {"kind": "sklearn", "features": "char+vectors"}}}),
          error=config_key("models.cv.vectors") + r"is required by features 'char\+vectors': name a word_vectors entry"),
    Fault("vectors on features that use none", "config",
          overlay({"models": {"cv": {"kind": "sklearn", "features": "char", "vectors": "w2v"}}}),
          error=config_key("models.cv.vectors") + r"applies to features with 'vectors' only \(features is 'char'"),
    Fault("pooling: bogus", "config", overlay({"models": {"w2v_lr": {"pooling": "bogus"}}}),
          error=config_key("models.w2v_lr.pooling") + r"must be one of 'mean', 'tfidf' \(got 'bogus'\)"),
    Fault("attention_dropout on a model without a transformer", "config",
          overlay({"models": {"wv": {"kind": "wordvec", "vectors": "w2v", "attention_dropout": 0.1}}}),
          error=config_key("models.wv.attention_dropout") + "applies with a backbone only"),
    Fault("attention_dropout: 1", "config", overlay({"models": {"tiny_bert": {"attention_dropout": 1}}}),
          error=config_key("models.tiny_bert.attention_dropout") + r"must be less than 1 \(got 1\.0\)"),
    Fault("word vectors of dim: 0", "config", overlay({"word_vectors": {"w2v": {"dim": 0}}}),
          error=config_key("word_vectors.w2v.dim") + r"must be at least 1 \(got 0\)"),
    Fault("seeds: [0, 0]", "config", overlay({"seeds": [0, 0]}),
          error=config_key("seeds") + r"names 0 more than once: each item may appear once$"),
    Fault("a model's variants naming one twice", "config",
          overlay({"models": {"tfidf_char_lr": {"variants": ["raw", "cleaned", "raw"]}}}),
          error=config_key("models.tfidf_char_lr.variants") + r"names 'raw' more than once"),
    Fault("a config file listing one model by a key alone, as if it changed the default's", "config",
          config_text("data: {train: a.csv, test: b.csv}\nmodels:\n  tfidf_char_lr: {C: 2.0}\n"),
          error=config_key("models.tfidf_char_lr.kind") + r"is required: .*name it exactly as its entry does .*a "
                r"config file that lists models: replaces the default matrix, so each of its entries is whole$"),
    Fault("keep_models: maybe", "config", overlay({"keep_models": "maybe"}),
          error=config_key("keep_models") + r"must be one of 'auto', 'all', 'none' \(got 'maybe'\)"),
    Fault("a pseudo teacher that does not exist", "config", overlay({"pseudo": {"pl": {"teacher": "teachr"}}}),
          error=config_key("pseudo.pl.teacher") + r"'teachr' is neither an experiment nor an ensemble; did you mean "
                                                  r"'teacher'"),
    Fault("a config file holding a list", "config", config_text("- data: {train: a.csv}\n"),
          error=r"^broken\.yaml: holds a list \(\"\[\{'data'.*\), not a mapping of config keys such as `data:`"),
    Fault("a config file in GB18030", "config", config_bytes("columns:\n  text: 微博中文内容\n".encode("gb18030")),
          error=r"^broken\.yaml: line 2: is not UTF-8 text \(byte 0xb2\); save it as UTF-8$"),
    Fault("a tab in the YAML indentation", "config", config_text("data:\n\ttrain: a.csv\n"),
          error=r"^broken\.yaml: line 2, column 1: is not valid YAML \(found character '\\t'"),
    Fault("a key given twice in a nested mapping", "config",
          config_text("data:\n  train: a.csv\n  test: b.csv\n  train: c.csv\n"),
          error=given_twice("data.train", 2, 4) + r"; YAML would keep the later value without a word: keep one of "
                                                   r"them$"),
    Fault("a top-level key given twice, lines apart", "config",
          config_text("folds:\n  k: 3\n# the matrix\nvariants: [raw]\nfolds: {k: 5}\n"),
          error=given_twice("folds", 1, 5)),
    Fault("a key given twice in a flow mapping of a model entry", "config",
          config_text("models:\n  lr: {kind: sklearn, C: 1.0, min_df: 1, C: 4.0}\n"),
          error=given_twice("models.lr.C", 2, 2)),
    Fault("a key given twice inside a stacking estimator's free-form params", "config",
          config_text(STACK_PARAMS + "      C: 1.0\n      max_iter: 100\n      C: 2.0\n"),
          error=given_twice("ensembles.st.params.C", 5, 7)),
    Fault("two merge keys in one mapping", "config",
          config_text("models:\n  a: &a {kind: sklearn}\n  b: &b {min_df: 1}\n  c:\n    <<: *a\n    <<: *b\n"),
          error=given_twice("models.c.<<", 5, 6) + r"; a mapping takes one merge key: merge several mappings with "
                                                    r"`<<: \[\*a, \*b\]`"),
    Fault("a merge key with a key beside it overriding the merged one is YAML's sharing, accepted", "config",
          config_text("data: {train: a.csv, test: b.csv}\nmodels:\n  a: &a {kind: sklearn, min_df: 2, C: 1.0}\n"
                      "  b: {<<: *a, C: 4.0}\n"),
          said=r"\n  b:\n    kind: sklearn\n(    .*\n)*?    min_df: 2\n(    .*\n)*?    C: 4\.0\n"),
    Fault("a JSON config indented with tabs (Snakemake reads it; YAML does not) is read as JSON", "config",
          config_text('{\n\t"data": {"train": "a.csv", "test": "b.csv"},\n\t"folds": {"k": 3}\n}\n'),
          said=r"\nfolds:\n  k: 3\n"),
    Fault("a key given twice in a JSON config indented with tabs", "config",
          config_text('{\n\t"folds": {"k": 3},\n\t"folds": {"k": 4}\n}\n'),
          error=r"^broken\.yaml: key 'folds' is given twice in one object; a JSON reader would keep the later value"),
    Fault("an alias bomb in a stacking estimator's params", "config", config_text(BOMB_IN_PARAMS),
          error=r"^broken\.yaml: line 9: config key 'ensembles\.st\.params\.l4': " + TOO_MANY),
    Fault("an alias bomb of mappings through merge keys", "config",
          config_text(STACK_PARAMS + alias_bomb(mappings=True)),
          error=r"^broken\.yaml: line 9: config key 'ensembles\.st\.params\.l4': " + TOO_MANY),
    Fault("an alias bomb as the classes", "config", config_text("classes:\n" + alias_bomb(6).replace("      ", "  ")),
          error=r"^broken\.yaml: line 6: config key 'classes\.l4': " + TOO_MANY),
    Fault("an alias bomb in a fixed blend's weights", "config",
          config_text("ensembles:\n  fx:\n    method: fixed\n    weights:\n" + alias_bomb(6)),
          error=r"^broken\.yaml: line 9: config key 'ensembles\.fx\.weights\.l4': " + TOO_MANY),
    Fault("an alias inside the value its anchor names (a loop)", "config",
          config_text(LOOP_IN_PARAMS),
          error=r"^broken\.yaml: line 5: config key 'ensembles\.st\.params\.loop\[1\]': holds itself"),
    Fault("params nested 40 levels deep", "config", config_text(STACK_PARAMS + "      deep: " + "[" * 40 + "]" * 40 + "\n"),
          error=r"^broken\.yaml: line 5: config key 'ensembles\.st\.params\.deep(\[0\]){29}': nests deeper than 32 "
                r"levels"),
    Fault("params nested 5000 levels deep", "config",
          config_text(STACK_PARAMS + "      deep: " + "[" * 5000 + "]" * 5000 + "\n"),
          error=r"^broken\.yaml: nests values too deeply to be read \(the kit allows 32 levels\)$"),
    Fault("a config file that is a named pipe (FIFO)", "config", lambda folder: [make_fifo(folder)],
          error=r"^special\.csv: is a named pipe \(FIFO\), not a file"),
    *special_file_faults("config"),
    Fault("the plan stops at an alias bomb in a stacking estimator's params, before Snakemake expands it", "plan",
          config_text(BOMB_IN_PARAMS), error=r"error: \S*broken\.yaml: line 9: config key 'ensembles\.st\.params\.l4': "
                                             + TOO_MANY),
    Fault("the plan stops at a key given twice", "plan",
          config_text("data:\n  train: a.csv\n  test: b.csv\n  train: c.csv\n"),
          error=r"error: \S*" + given_twice("data.train", 2, 4).removeprefix("^")),
    Fault("the plan stops at an alias that holds itself (the rules' params traced back on it)", "plan",
          config_text(LOOP_IN_PARAMS),
          error=r"error: \S*broken\.yaml: line 5: config key 'ensembles\.st\.params\.loop\[1\]': holds itself"),
    Fault("the plan stops at a named pipe as data.train", "plan", special_data_path("train", make_fifo),
          error=config_key("data.train") + r"'special\.csv' is a named pipe \(FIFO\), not a file"),
    Fault("the plan refuses a crafted class label and runs nothing", "plan", overlay(CRAFTED_CLASSES),
          absent=(MARKER,), error=config_key("classes") + r"label .*touch pwned.* may hold only"),
    Fault('the plan stops at C: "4"', "plan", overlay(C_AS_TEXT),
          error=config_key("models.tfidf_char_lr.C") + r"must be a number \(got '4'\)"),
    Fault("the plan reads --config seeds=[0, x] by the field's type and stops at x", "plan",
          with_config_option(overlay({}), "seeds=[0, x]"), error=config_key("seeds[1]") + r"must be an integer \(got 'x'\)"),
    Fault("the plan stops at a --config override of C that is not a number", "plan",
          with_config_option(overlay({}), "models={tfidf_char_lr: {C: high}}"),
          error=config_key("models.tfidf_char_lr.C") + r"must be a number \(got 'high'\)"),
    Fault("the plan refuses two --config flags (Snakemake would drop the first one's values)", "plan",
          lambda folder: [*overlay({})(folder), "--config", "seeds=[0, 1]", "--config", "final=auto"],
          error=r"error: the command line has 2 --config flags, and Snakemake would keep only the last one's values; "
                r"give them all after one flag"),
    Fault("the plan stops at an ensemble cycle", "plan", overlay(CYCLE),
          error=config_key("ensembles.mean.members") + "makes a cycle: ensemble.mean -> ensemble.caruana -> ensemble.mean"),
]

KEPT_FOLD = f"models/folds/{EXPERIMENT.removeprefix('oof/')}/fold0"
PREDICT = ["predict", "--out", "out/predictions.csv"]
STDIN_FROM_POSTS = ("sh", "-c", 'exec "$@" < posts.txt', "sh")  # the command reads posts.txt on its stdin


def fifo_posts(folder: Path) -> list:
    """build: a named pipe as --input (a blocking open would hang there)."""
    os.mkfifo(folder / "posts.fifo")
    return [*PREDICT, "--input", "posts.fifo"]


def posts_file(payload: bytes, name: str = "posts.txt", args: tuple = ("--input", "posts.txt")) -> Callable:
    """build: posts written as name, then kit predict reading them (args: --input posts.txt, or stdin)."""
    def build(folder: Path) -> list:
        (folder / name).write_bytes(payload)
        return [*PREDICT, *args]

    return build


def other_runs_source(folder: Path) -> list:
    """build: a second run folder beside the copy, and --source naming its ensemble by absolute path."""
    shutil.copytree(folder / "oof", folder / "other" / "oof")
    return [*PREDICT, "--text", "口罩", "--source", str(folder / "other" / ENSEMBLE)]


def empty_fold_folder(folder: Path) -> None:
    """A kept fold folder emptied: model files and not_kept.json gone, as a careless clean-up leaves it."""
    shutil.rmtree(folder / KEPT_FOLD)
    (folder / KEPT_FOLD).mkdir()


def not_kept_fold(folder: Path) -> None:
    """The fold folder a keep_models: none run writes: not_kept.json alone."""
    shutil.rmtree(folder / KEPT_FOLD)
    (folder / KEPT_FOLD).mkdir()
    (folder / KEPT_FOLD / "not_kept.json").write_text(json.dumps({"kept": False, "reason": "keep_models: none"}))


def model_json_says(key: str, value) -> Callable[[Path], None]:
    """The kept fold model's model.json edited: what a model written by another run would say."""
    def change(folder: Path) -> None:
        path = folder / KEPT_FOLD / "model.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))

    return change


def fold_copied_over(folder: Path) -> None:
    """Fold 1's kept folder copied over fold 0's, as a hand-made merge of two runs could leave it."""
    shutil.rmtree(folder / KEPT_FOLD)
    shutil.copytree(folder / KEPT_FOLD.replace("fold0", "fold1"), folder / KEPT_FOLD)


def pruned(folder: Path) -> None:
    """The experiment's fold models pruned by the keep_models rule (keep_models: none)."""
    outcome = run_kit(folder, ["keep-models", "--model-dirs", KEPT_FOLD, "--keep-models", "none", "--out",
                               "retention.json"])
    assert outcome.returncode == 0, outcome.output


TEXTS = "武汉加油\n口罩到了\n".encode()
WRONG_COLUMNS = 'id,text\n101,武汉加油\n102,太难过了，心疼\n103,"谣言,不要信"\n'.encode()
PREDICT_FAULTS = [
    Fault("kit predict with a kept model written by a run with another config", "command",
          then(model_json_says("config_hash", "0" * 64), [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: its identity hash \(another config made it\) '0+' differs from lr\.raw\.s0's "
                r"manifest .*: the model does not belong to this artifact; run `snakemake --forcerun"),
    Fault("kit predict with another fold's kept folder in the place of fold 0's", "command",
          then(fold_copied_over, [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: its fold \(a copy of another fold's folder\?\) 1 differs from lr\.raw\.s0's"),
    Fault("kit predict with a kept model made on another fold file", "command",
          then(model_json_says("fold_hash", "f" * 64), [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: its fold hash \(another fold file\) 'f+' differs"),
    Fault("kit predict with a fold model that keep_models pruned", "command", then(pruned, [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: the fold model of lr\.raw\.s0 was not kept \(keep_models: none keeps no fold model\);"
                rf" it was pruned, so train it again: `snakemake --forcerun {KEPT_FOLD}`"),
    Fault("kit predict on an empty file", "command", posts_file(b""),
          error=r"^posts\.txt: holds no posts; give one post per line, a CSV in the competition layout, or --text$"),
    Fault("kit predict on blank lines only, from stdin", "command", posts_file(b"\n \r\n", args=("--input", "-")),
          prefix=STDIN_FROM_POSTS, error=r"^stdin: holds no posts"),
    Fault("kit predict on a binary file", "command", posts_file(bytes(range(256)) * 4),
          error=r"^posts\.txt: .*(neither UTF-8 nor GB18030|does not read as Chinese text).*convert (the file|it) "
                r"to UTF-8"),
    Fault("kit predict on posts in Big5", "command", posts_file(((TRADITIONAL + "\n") * 3).encode("big5")),
          error=r"^posts\.txt: does not read as Chinese text in GB18030: .*it reads as Big5"),
    Fault("kit predict on UTF-16 posts from stdin", "command", posts_file(TEXTS.decode().encode("utf-16"), args=()),
          prefix=STDIN_FROM_POSTS, error=r"^stdin: is UTF-16 \(it starts with a UTF-16 byte-order mark\)"),
    Fault("kit predict on posts with a UTF-8 BOM: one post per line", "command",
          posts_file(b"\xef\xbb\xbf" + TEXTS), kept={"out/predictions.csv": ["1", "2"]}),
    Fault("kit predict on a post holding a NUL byte: removed and counted, still one post per line", "command",
          posts_file("武汉\x00加油\n口罩\n".encode()), kept={"out/predictions.csv": ["1", "2"]},
          said=r"posts\.txt: 1 NUL byte\(s\) removed"),
    Fault("kit predict on a competition CSV: its ids", "command", posts_file(unlabeled_bytes(TEST), "posts.csv",
                                                                          ("--input", "posts.csv")),
          kept={"out/predictions.csv": ids(900, 901, 902)}),
    Fault("kit predict on a competition CSV with only a header", "command",
          posts_file(unlabeled_bytes([]), "posts.csv", ("--input", "posts.csv")),
          error=r"^posts\.csv: has a header but no rows"),
    Fault("kit predict on a CSV whose header names other columns: refused, naming them, not read line by line",
          "command", posts_file(WRONG_COLUMNS, "posts.csv", ("--input", "posts.csv")),
          error=r"^posts\.csv: its first line, read as a CSV header, names the columns \['id', 'text'\]: no id column "
                r"'微博id' \(did you mean 'id'\?\) and no text column '微博中文内容'; name the file's id and text columns "
                r"with --column-id and --column-text, or pass --lines to read each line, the first too, as one post$"),
    Fault("kit predict on a CSV whose header is the competition's but for case and a word: the names it means",
          "command", posts_file("微博ID,微博内容\n101,武汉加油\n102,太难过了\n".encode(), "posts.csv",
                                ("--input", "posts.csv")),
          error=r"^posts\.csv: .*: no id column '微博id' \(did you mean '微博ID'\?\) and no text column '微博中文内容' "
                r"\(did you mean '微博内容'\?\); name the file's id and text columns"),
    Fault("kit predict --column-text naming a CSV's column when the CSV has no id column", "command",
          posts_file("label,review\n1,武汉加油\n-1,太难过了\n".encode(), "posts.csv",
                     ("--input", "posts.csv", "--column-text", "review")),
          error=r"^posts\.csv: .* names the columns \['label', 'review'\]: no id column '微博id'; name the file's id "
                r"column with --column-id"),
    Fault("kit predict on a tab-separated file with a header", "command",
          posts_file("微博id\t微博中文内容\n101\t武汉加油\n".encode(), "posts.tsv", ("--input", "posts.tsv")),
          error=r"^posts\.tsv: its first line is a tab-separated header \['微博id', '微博中文内容'\]; kit predict reads "
                r"a comma-separated CSV: convert the file, or pass --lines"),
    Fault("kit predict --column-id and --column-text naming a CSV's own columns: its ids", "command",
          posts_file(WRONG_COLUMNS, "posts.csv",
                     ("--input", "posts.csv", "--column-id", "id", "--column-text", "text")),
          kept={"out/predictions.csv": ["101", "102", "103"]}),
    Fault("kit predict on posts holding ASCII commas: still one post per line", "command",
          posts_file("武汉加油,中国加油\n今天很开心\n太难过了，心疼\n口罩,买不到\n".encode()),
          kept={"out/predictions.csv": ["1", "2", "3", "4"]}),
    Fault("kit predict --lines on a file whose first line reads as a header: every line a post", "command",
          posts_file(WRONG_COLUMNS, "posts.csv", ("--input", "posts.csv", "--lines")),
          kept={"out/predictions.csv": ["1", "2", "3", "4"]}),
    Fault("kit predict --input of a CSV without its header line: refused, not each id glued to its text", "command",
          posts_file("4457000000000000,01月01日,u,武汉加油,[],[]\n4457000000000001,01月01日,u,口罩,[],[]\n".encode(),
                     "posts.csv", ("--input", "posts.csv")),
          error=r"^posts\.csv: its lines start with an id and a comma \(line 1: '4457000000000000'\), as a CSV without "
                r"its header line"),
    Fault("kit predict --out naming a folder: refused before the models load", "command",
          then(lambda folder: (folder / "out").mkdir(), ["predict", "--text", "口罩", "--out", "out"]),
          error=r"^out: is a folder; --out takes the predictions file to write \(e\.g\. out/predictions\.csv\)$"),
    Fault("kit predict --out naming the --input file by another spelling: refused, the posts kept", "command",
          lambda folder: [*posts_file(TEXTS)(folder)[:1], "--input", "posts.txt", "--out", str(folder / "posts.txt")],
          error=r"^/.*/posts\.txt: is the --input file posts\.txt; the predictions would replace its posts: give --out "
                r"another file$"),
    Fault("kit predict --out naming the run's subs/final.csv: refused, the submission kept", "command",
          then(nothing, ["predict", "--text", "口罩", "--out", "subs/final.csv"]),
          error=r"^subs/final\.csv: is in the run's subs, which the workflow writes"),
    Fault("kit fit-fold --gpus -1: refused naming the flag", "command",
          then(nothing, [*fit_fold_args({"min_df": 1}), "--gpus", "-1"]), usage=True,
          error=r"^argument --gpus: must be 0 or more, not -1$"),
    *(Fault(f"kit predict --threads {value}: refused naming the flag", "command",
            then(nothing, [*PREDICT, "--text", "口罩", "--threads", value]), usage=True,
            error=rf"^argument --threads: must be 1 or more, not {value}$") for value in ("0", "-1")),
    Fault("kit predict --source given twice: refused, not the last one silently", "command",
          then(nothing, [*PREDICT, "--text", "口罩", "--source", "ensemble.avg", "--source", "lr.raw.s0"]), usage=True,
          error=r"^argument --source: given twice \('ensemble\.avg', then 'lr\.raw\.s0'\); it takes one value$"),
    Fault("kit predict --out given twice: refused, neither written", "command",
          then(nothing, [*PREDICT, "--text", "口罩", "--out", "out/again.csv"]), usage=True,
          error=r"^argument --out: given twice \('out/predictions\.csv', then 'out/again\.csv'\); it takes one value$"),
    Fault("kit predict --text and --input together: refused, not the file silently dropped", "command",
          lambda folder: [*posts_file(TEXTS)(folder), "--text", "口罩"],
          error=r"^--text gives the posts, so --input would be ignored: give the posts with --text or with --input, "
                r"not both$"),
    Fault("kit predict --input naming a folder", "command", then(nothing, [*PREDICT, "--input", "oof"]),
          error=r"^oof: is a folder; --input takes a file of posts"),
    Fault("kit predict --input naming a FIFO: refused without opening it", "command", fifo_posts,
          error=r"^posts\.fifo: is a (FIFO|named pipe)[^,]*, not a file"),
    Fault("kit predict --input /dev/zero: refused, never read", "command", then(nothing, [*PREDICT, "--input", "/dev/zero"]),
          error=r"^/dev/zero: is a character device[^,]*, not a file"),
    Fault("kit predict --input naming no file", "command", then(nothing, [*PREDICT, "--input", "posts.txt"]),
          error=r"^posts\.txt: no such file; --input takes a file of posts"),
    Fault("kit predict --source that is not an artifact", "command", then(nothing, [*PREDICT, "--text", "口罩",
                                                                                 "--source", "data"]),
          error=r"^oof/data/manifest\.json: missing; artifact 'data' was not built in this run folder \(known: "
                r"\['ensemble\.avg', 'lr\.raw\.s0'"),
    Fault("kit predict --source naming another run folder's artifact by its path", "command", other_runs_source,
          error=r"^/.*/other/oof/ensemble\.avg: is not in this run's oof/ \(another run's artifact\?\); run kit "
                r"predict in /.*/other, or pass --directory /.*/other --source ensemble\.avg$"),
    Fault("kit predict --source naming an artifact's file", "command",
          then(nothing, [*PREDICT, "--text", "口罩", "--source", f"{ENSEMBLE}/manifest.json"]),
          error=r"^oof/ensemble\.avg/manifest\.json: is a file; --source takes an artifact's name or its folder "
                r"\(oof/<name>\)$"),
    Fault("kit predict with a deleted fold model", "command",
          then(lambda folder: shutil.rmtree(folder / KEPT_FOLD), [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: no kept fold model of lr\.raw\.s0"),
    Fault("kit predict with an emptied fold folder (no model, no not_kept.json)", "command",
          then(empty_fold_folder, [*PREDICT, "--text", "口罩"]), error=rf"^{KEPT_FOLD}: no kept fold model"),
    Fault("kit predict with a fold model that was not kept", "command", then(not_kept_fold, [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: the fold model of lr\.raw\.s0 was not kept \(keep_models: none\); set keep_models"),
    Fault("kit predict with a truncated fold model", "command",
          damaged_run(f"{KEPT_FOLD}/tfidf_model.npz", [*PREDICT, "--text", "口罩"]),
          error=rf"^{KEPT_FOLD}: a file of the kept fold model is truncated or damaged \(tfidf_model\.npz: .+\); run "
                rf"`snakemake --forcerun {KEPT_FOLD}`$"),
    Fault("kit predict with a truncated combination.skops", "command",
          damaged_run(f"{ENSEMBLE}/combination.skops", [*PREDICT, "--text", "口罩"]),
          error=damaged(f"{ENSEMBLE}/combination.skops")),
    Fault("kit predict --source one letter off an artifact's name: the name it means", "command",
          then(nothing, [*PREDICT, "--text", "口罩", "--source", "lr.raw.s1"]),
          error=r"^oof/lr\.raw\.s1/manifest\.json: missing; artifact 'lr\.raw\.s1' was not built in this run folder "
                r"\(did you mean 'lr\.raw\.s0'\?\)$"),
    Fault("kit predict --models-dir naming no folder", "command",
          then(nothing, [*PREDICT, "--text", "口罩", "--models-dir", "kept"]),
          error=r"^kept: no such folder; --models-dir names a run's models/folds/ \(--directory names the run's "
                r"folder\)$"),
    Fault("kit predict on posts without a Chinese character: predicted, and named in a warning", "command",
          posts_file("武汉加油\n\n😀\nI love this\n".encode()), kept={"out/predictions.csv": ["1", "2", "3", "4"]},
          said=r"warning: 3 post\(s\) hold no Chinese character \(id 2, 3, 4\)"),
    Fault("kit predict --directory naming no folder", "command",
          then(nothing, [*PREDICT, "--text", "口罩", "--directory", "runs/full"]),
          error=r"^--directory runs/full: no such folder$"),
    Fault("kit predict without a final submission or --source", "command",
          then(lambda folder: shutil.rmtree(folder / "subs"), [*PREDICT, "--text", "口罩"]),
          error=r"^subs/final\.json: missing, so there is no final submission to predict with"),
    Fault("kit disagreements without a final submission", "command",
          then(lambda folder: shutil.rmtree(folder / "subs"), ["disagreements", "--out-csv", "out/d.csv"]),
          error=r"^subs/final\.json: missing, so there is no final submission whose members could disagree"),
]

COMMAND_FAULTS = [
    Fault("folds.k larger than the smallest class", "command", then(nothing, folds_args(40)),
          error=r"^class '-1' has \d+ row\(s\) in \d+ group\(s\), fewer than k=40: some fold would have none of it; "
                r"set folds\.k to \d+ or less"),
    Fault("folds.k above two classes' rows names the rarest and the k that fits every class", "command",
          rare_classes, error=r"^class '1' has 2 row\(s\) in 2 group\(s\), fewer than k=5: .*set folds\.k to 2 or less"),
    Fault("min_df above the number of training posts, at fit time", "command",
          then(nothing, fit_fold_args({"min_df": 1000})),
          error=r"TF-IDF on \d+ training posts \(features 'char', min_df 1000, .*lower the model entry's min_df"),
    Fault("a truncated ingested split read by kit variant", "command",
          damaged_run("data/interim/train.parquet", VARIANT_RAW),
          error=damaged("data/interim/train.parquet")),
    Fault("an ingested split damaged inside, read by kit folds", "command",
          damaged_run("data/interim/train.parquet", folds_args(2), hollow),
          error=damaged("data/interim/train.parquet")),
    Fault("a truncated fold file read by kit fit-fold", "command",
          damaged_run("data/folds.parquet", fit_fold_args({"min_df": 1})), error=damaged("data/folds.parquet")),
    Fault("a truncated fold npz read by kit merge", "command",
          damaged_run(f"{EXPERIMENT}/fold1.npz", merge_args("lr.raw.s0", "data/folds.parquet", "out")),
          error=damaged(f"{EXPERIMENT}/fold1.npz")),
    Fault("a truncated oof.npz read by kit ensemble", "command",
          damaged_run(f"{EXPERIMENT}/oof.npz", ensemble_args(EXPERIMENT, ENSEMBLE)),
          error=damaged(f"{EXPERIMENT}/oof.npz")),
    Fault("a truncated manifest.json read by kit ensemble", "command",
          damaged_run(f"{ENSEMBLE}/manifest.json", ensemble_args(EXPERIMENT, ENSEMBLE)),
          error=damaged(f"{ENSEMBLE}/manifest.json")),
    *(Fault(f"a manifest.json holding {text} read by kit scores", "command",
            damaged_run(f"{EXPERIMENT}/manifest.json", ["scores"], json_text(text)),
            error=damaged(f"{EXPERIMENT}/manifest.json"))
      for text in ("{}", "[]", "null")),
    Fault("a copied artifact folder under oof/ is listed apart by kit scores, not ranked twice", "command",
          then(copied_artifact, ["scores", "--agreement"]),
          said=r"\s+".join(map(re.escape, "lr.raw.s0: its folder is named backup_lr, its manifest lr.raw.s0 (a copy?); "
                                            "move it out of oof/".split()))),  # as the table's width wraps it
    Fault("kit scores --folds naming a submission CSV: not a parquet file, which it must not say to delete",
          "command", then(nothing, ["scores", "--folds", "subs/final.csv"]),
          error=r"^subs/final\.csv: is not a parquet file \(it starts with b'id,y'\); name the kit's \.parquet file, "
                r"or if the workflow wrote it, run `snakemake --forcerun subs/final\.csv`$"),
    *(Fault(f"kit scores {flag} naming a missing file", "command", then(nothing, ["scores", flag, "nope.x"]),
            error=r"^nope\.x: not found \(named on the command line\)$")
      for flag in ("--lb", "--configfile", "--folds")),
    Fault("kit lb add naming the sidecar instead of the submission", "command",
          then(nothing, ["lb", "add", "subs/final.json", "0.7"]),
          error=r"^subs/final\.json: not a submission CSV; name the CSV itself, e\.g\. subs/final\.csv$"),
    Fault("kit lb add with a score Python would read as 0.71", "command",
          then(nothing, ["lb", "add", "subs/final.csv", "0.7_1"]), error=r"score '0\.7_1' is not a number"),
    Fault("a missing member of kit ensemble", "command",
          then(lambda folder: (folder / EXPERIMENT / "oof.npz").unlink(), ensemble_args(EXPERIMENT, ENSEMBLE)),
          error=rf"^artifact {EXPERIMENT}: oof\.npz is missing$"),
    Fault("a stacker over a second seed that is an exact copy of the first: the copy is dropped, no LinAlgError",
          "command", then(second_seed_copy, [*ensemble_args(EXPERIMENT, "oof/lr.raw.s1"), "--spec-json",
                                              '{"method": "stack"}']),
          said=r"lr\.raw\.s1 is an exact duplicate of lr\.raw\.s0: dropped"),
    Fault("an ensemble over a member made with another fold file", "command",
          then(other_fold_file, ensemble_args(EXPERIMENT, "oof/lr_other.raw.s0")),
          error=r"cannot combine these artifacts: lr_other\.raw\.s0 vs lr\.raw\.s0: fold_hash differs .*: made with "
                r"another fold file.*; build every member from the same ingested data and fold file"),
    *(Fault(f"a truncated {path.split('/')[-1]} read by kit submit", "command", damaged_run(path, SUBMIT),
            error=damaged(path))
      for path in (f"{ENSEMBLE}/manifest.json", f"{ENSEMBLE}/oof.npz", "data/interim/test.parquet")),
    Fault("kit submit without the ingested test split", "command",
          then(lambda folder: (folder / "data/interim/test.parquet").unlink(), SUBMIT),
          error=r"^data/interim/test\.parquet: the ingested test split is missing; run "
                r"`snakemake data/interim/test\.parquet` \(rule ingest\) to write it$"),
]


# ---------------------------------------------------------------------------------------------------- the scenario

# Paths and a column name that a shell would run something in, were they not quoted; spaces and Chinese too.
SCENARIO_TRAIN = f"raw 比赛/train's \"$(touch {MARKER})\".csv"
SCENARIO_TEST = f"raw 比赛/test `touch {MARKER}`.csv"
SCENARIO_TEXT_COLUMN = f"内容\"; $(touch {MARKER}) '"
SCENARIO_CONFIG = {
    "data": {"train": SCENARIO_TRAIN, "test": SCENARIO_TEST},
    "columns": {"text": SCENARIO_TEXT_COLUMN},
    "folds": {"k": 2, "seed": 1},
    "variants": ["raw"],
    "models": {"lr": {"kind": "sklearn", "min_df": 1}},
    "ensembles": {"avg": {"method": "mean"}},
}
# Test rows the scenario adds to the demo's test file, each a case of its own.
LEADING_ZEROS = "0012345678901234567"
ADDED_TEST_ROWS = [
    with_id(post(901), LEADING_ZEROS + " "),  # leading zeros and the real file's trailing space
    None,  # a train id: filled in by scenario_files
    with_id(post(901), LEADING_ZEROS + " "),  # the first row again: a duplicate, kept once
    post(903, "\u200b\ufeff"),  # invisible characters only: an empty text, kept as ''
    post(904, "NaN"),
    post(905, QUOTED + "加油💪🏻😷"),
    post(906, "长" * 200_000),
    post(907, "响铃\x07和\x01控制符"),
]


def csv_ids(payload: bytes) -> list[str]:
    """The first column of a competition CSV, stripped, read with Python's csv module (not with the kit)."""
    rows = list(csv.reader(io.StringIO(payload.decode("gb18030", errors="replace"), newline="")))
    return [row[0].strip() for row in rows[1:]]


def scenario_files(workdir: Path) -> None:
    """The scenario's competition files (the demo's, with the added test rows) and its config."""
    demo = make_demo(workdir / "demo", n_train=150, n_test=50, n_unlabeled=50, seed=3)
    crafted = SCENARIO_TEXT_COLUMN.encode("gb18030")
    train = demo["train"].read_bytes().replace(HEADER[3].encode("gb18030"), crafted, 1)
    added = [row or with_id(post(902), csv_ids(train)[0]) for row in ADDED_TEST_ROWS]
    test = demo["test"].read_bytes() + csv_bytes([row[:-1] for row in added], header=None)
    test = test.replace(HEADER[3].encode("gb18030"), crafted, 1)
    for name, payload in ((SCENARIO_TRAIN, train), (SCENARIO_TEST, test)):
        (workdir / name).parent.mkdir(exist_ok=True)
        (workdir / name).write_bytes(payload)
    (workdir / "run.yaml").write_text(yaml.safe_dump(SCENARIO_CONFIG, allow_unicode=True), encoding="utf-8")


def wait_for_fold_jobs(workdir: Path, run: subprocess.Popen) -> list[int]:
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        pids = fit_fold_pids(workdir)
        if pids:
            return pids
        time.sleep(0.01)
    raise AssertionError(f"no fold job started in {workdir} (snakemake exit code {run.poll()})")


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def run_scenario(workdir: Path) -> dict[str, Outcome]:
    """Snakemake runs in one folder; each step's Outcome by the name of its Fault.

    1. The first run starts its fold jobs, which are stopped (SIGSTOP) while a second run starts in the same
       folder: that one must fail on the folder's lock. The jobs go on (SIGCONT) and the first run must finish.
    2. A run forced to redo fold 0 (--forcerun) has that fold job SIGKILLed. The temporary file a kill in the middle
       of the job's write would leave is planted beside its output; the same command again must remove it and finish.
    """
    scenario_files(workdir)
    run = ["--configfile", "run.yaml", "-j2"]
    force = ["--forcerun", f"{EXPERIMENT}/fold0.npz"]
    steps = {}

    def start(name: str, args: list[str]) -> tuple[subprocess.Popen, Path]:
        printed = workdir / f"{name}.out"  # a file, not a pipe that nobody reads while the run goes on
        with open(printed, "w", encoding="utf-8") as handle:
            return subprocess.Popen(snakemake_command(args), cwd=workdir, stdout=handle, stderr=subprocess.STDOUT,
                                    env=kit_environment()), printed

    first, first_printed = start("first", run)
    stopped = wait_for_fold_jobs(workdir, first)
    signal_all(stopped, signal.SIGSTOP)
    try:
        # The second run asks for the submission only: the first run's figure jobs (not stopped) may be writing
        # their PNGs, and Snakemake reports a DAG's half-written files before it tries the folder's lock.
        steps["two Snakemake runs at once in one folder"] = run_snakemake(workdir, [*run, "subs/final.csv"])
    finally:
        signal_all(stopped, signal.SIGCONT)
    first.wait(timeout=300)
    steps["the first of two runs finishes with valid outputs"] = outcome_of(first, first_printed, workdir)
    steps["crafted paths and column names reach the commands quoted"] = steps[
        "the first of two runs finishes with valid outputs"]

    forced, forced_printed = start("forced", [*run, *force])
    signal_all(wait_for_fold_jobs(workdir, forced), signal.SIGKILL)
    forced.wait(timeout=300)
    steps["SIGKILL of a fold job fails the run and leaves no fold file"] = outcome_of(forced, forced_printed, workdir)
    (workdir / EXPERIMENT / f".fold0.npz.{STALE}.tmp").write_bytes(b"PK\x03\x04 the first half of an npz")
    # The same command again, as its user would type it: the forced fold job and all that follows it run.
    rerun = run_snakemake(workdir, [*run, *force])
    fold_log = (workdir / "logs" / "fit" / "lr.raw.s0.fold0.log").read_text(encoding="utf-8")
    rerun_name = "the rerun after the kill removes its temporary file and submits every test id"
    steps[rerun_name] = replace(rerun, log=fold_log)
    return steps


def outcome_of(run: subprocess.Popen, printed: Path, workdir: Path) -> Outcome:
    return Outcome(run.returncode, printed.read_text(encoding="utf-8"), "", workdir, files_under(workdir))


def submitted_ids(folder: Path) -> list[str]:
    """What the submission must hold: the demo test file's ids, then the added rows' ids, each once."""
    demo_test, demo_train = (csv_ids((folder / "demo" / FILES[split]).read_bytes()) for split in ("test", "train"))
    added = [row[0].strip() if row else demo_train[0] for row in ADDED_TEST_ROWS]
    return list(dict.fromkeys(demo_test + added))


WORKFLOW_FAULTS = [
    Fault("two Snakemake runs at once in one folder", "workflow", None, exit_code=1,
          error=r"Directory cannot be locked", absent=("subs/final.csv",)),
    Fault("the first of two runs finishes with valid outputs", "workflow", None,
          said=r"(\d+) of \1 steps \(100%\) done", absent=(MARKER, f"raw 比赛/{MARKER}")),
    Fault("crafted paths and column names reach the commands quoted", "workflow", None,
          absent=(MARKER, f"raw 比赛/{MARKER}"), report="data/interim/report.json",
          counted={"columns.text": SCENARIO_TEXT_COLUMN, "splits.train.path": SCENARIO_TRAIN,
                   "splits.test.path": SCENARIO_TEST}),
    Fault("SIGKILL of a fold job fails the run and leaves no fold file", "workflow", None, exit_code=1,
          error=r"Error in rule fit_fold", absent=(f"{EXPERIMENT}/fold0.npz",)),
    Fault("the rerun after the kill removes its temporary file and submits every test id", "workflow", None,
          said=rf"removed {EXPERIMENT}/\.fold0\.npz\.{STALE}\.tmp, a temporary file left by a killed run",
          absent=(f"{EXPERIMENT}/.fold0.npz.{STALE}.tmp",), kept={"subs/final.csv": submitted_ids},
          report="data/interim/report.json",
          counted={"splits.test.rows_kept": 50 + len(ADDED_TEST_ROWS) - 1,
                   "splits.test.rules.id_whitespace.rows": 50 + 2,
                   **rows_and_dropped(2, 1, "test", "duplicate_id_identical"),
                   **rows_and_dropped(NOISE["test"]["empty_text"] + 1, 0, "test", "empty_text"),
                   "cross_split.test_ids_in_train.rows": 1}),
]

FAULTS = [*FILE_FAULTS, *CONFIG_FAULTS, *COMMAND_FAULTS, *PREDICT_FAULTS, *WORKFLOW_FAULTS]


# ---------------------------------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """What one entry point did: its exit code, what it printed, its log, and the files left in its folder."""

    returncode: int
    output: str
    log: str
    folder: Path
    files: frozenset[str]


def kit_environment() -> dict[str, str]:
    """The environment of every command: this checkout's kit first, whatever is installed."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def files_under(folder: Path) -> frozenset[str]:
    return frozenset(path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir())


def run_kit(folder: Path, args: list, prefix: tuple[str, ...] = ()) -> Outcome:
    """`python -m kit <args> --log kit.log` in folder (under prefix: a command that runs the rest)."""
    log = folder / "kit.log"
    command = [*prefix, sys.executable, "-m", "kit", *map(str, args), "--log", str(log)]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=kit_environment(), timeout=300)
    printed = result.stderr + result.stdout
    return Outcome(result.returncode, printed, log.read_text(encoding="utf-8") if log.exists() else "", folder,
                   files_under(folder))


def snakemake_command(args: list) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *map(str, args)]


def run_snakemake(folder: Path, args: list) -> Outcome:
    result = subprocess.run(snakemake_command(args), cwd=folder, capture_output=True, text=True,
                            env=kit_environment(), timeout=300)
    return Outcome(result.returncode, result.stdout + result.stderr, "", folder, files_under(folder))


def run_fault(fault: Fault, folder: Path, finished_run: Path, wait: Callable | None = None) -> Outcome:
    """Build the fault's input in folder and run its entry point there ("command": after wait(), in a copy of
    the finished run)."""
    if fault.entry == "command":
        wait()
        for part in ("data", "oof", "models", "subs"):
            shutil.copytree(finished_run / part, folder / part)
    args = fault.build(folder)
    if fault.entry == "config":
        return run_kit(folder, ["config", "--show", *args])
    if fault.entry == "plan":
        return run_snakemake(folder, ["-n", "--configfile", *args])
    return run_kit(folder, args, fault.prefix)


@cache
def unmet(needs: str | None) -> str | None:
    """Why this machine cannot run a fault that needs `needs`, or None when it can."""
    if needs == "non-root" and os.geteuid() == 0:
        return "root writes into a chmod 0555 folder anyway; CI without root runs this case"
    if needs == "mount" and (shutil.which("unshare") is None or
                             subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0):
        return "needs a private mount namespace (unshare --mount): root, or CAP_SYS_ADMIN"
    if needs == "scenario" and not Path("/proc/self/cwd").exists():
        return "the scenario finds its fold jobs through /proc (Linux)"
    return None


def skip_reason(fault: Fault) -> str | None:
    return unmet(fault.needs) or (unmet("scenario") if fault.entry in ("command", "workflow") else None)


def selected_faults(session: pytest.Session) -> list[Fault]:
    """The faults whose tests this session runs (all, unless -k or a node id picks some) and this machine can."""
    chosen = [item.callspec.params["fault"] for item in session.items
              if hasattr(item, "callspec") and isinstance(item.callspec.params.get("fault"), Fault)]
    return [fault for fault in chosen if not skip_reason(fault)]


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Future]:
    """Every selected fault run once, side by side: a thread per core, each running one entry point at a time.

    The scenario runs in a thread of its own from the start; the "command" faults (queued last) copy its folder
    once it has finished, and the "workflow" faults are its steps.
    """
    faults = sorted(selected_faults(request.session), key=lambda fault: fault.entry in ("command", "workflow"))
    results: dict[str, Future] = {}
    with ThreadPoolExecutor(max_workers=1) as own_thread, ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        workdir = tmp_path_factory.mktemp("scenario")
        if any(fault.entry in ("command", "workflow") for fault in faults):
            scenario = own_thread.submit(run_scenario, workdir)
        for fault in faults:
            if fault.entry == "workflow":
                results[fault.name] = pool.submit(lambda name: scenario.result()[name], fault.name)
            else:
                wait = scenario.result if fault.entry == "command" else None
                results[fault.name] = pool.submit(run_fault, fault, tmp_path_factory.mktemp("fault"), workdir, wait)
        yield results


def read_column(path: Path, column: str) -> list[str]:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)[column].tolist()
    return pd.read_parquet(path)[column].astype(str).tolist()


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault(fault, outcomes):
    reason = skip_reason(fault)
    if reason:
        pytest.skip(reason)
    outcome = outcomes[fault.name].result()
    shown = f"exit code {outcome.returncode}\n{outcome.output[-4000:]}"
    temporary = sorted(name for name in outcome.files if TEMP_FILE.search(name))
    assert not temporary, f"temporary files left: {temporary}\n{shown}"
    for name in fault.absent:
        assert name not in outcome.files, f"{name} exists\n{shown}"
    for name, expected in fault.kept.items():
        expected = expected(outcome.folder) if callable(expected) else expected
        assert read_column(outcome.folder / name, "id") == expected, name
    if fault.error:
        check_error(fault, outcome, shown)
        return
    assert outcome.returncode == 0, shown
    for name, expected in fault.texts.items():
        assert read_column(outcome.folder / name, "text") == expected, name
    if fault.counted:
        report = json.loads((outcome.folder / fault.report).read_text(encoding="utf-8"))
        for key, expected in fault.counted.items():
            assert dig(report, key) == expected, key
    if fault.said:
        assert re.search(fault.said, outcome.output + outcome.log), shown


def check_error(fault: Fault, outcome: Outcome, shown: str) -> None:
    """A kit command: exit 2, one `error:` line matching fault.error, the same line in its log (argparse's line for
    a usage fault: it refuses a flag before the log opens), no traceback and no output but the older files kept. Snakemake (plan, workflow): exit 1 and its output matching fault.error."""
    if fault.entry in ("plan", "workflow"):
        assert outcome.returncode == (fault.exit_code or 1), shown
        assert re.search(fault.error, outcome.output), shown
        return
    assert outcome.returncode == (fault.exit_code or 2), shown
    form = USAGE_LINE if fault.usage else ERROR_LINE
    error_lines = [line for line in outcome.output.splitlines() if form.match(line)]
    assert len(error_lines) == 1 and "Traceback" not in outcome.output, shown
    message = form.match(error_lines[0]).group(1)
    assert re.search(fault.error, message), message
    if not fault.usage:
        assert error_lines[0] in outcome.log.splitlines(), outcome.log
    written = sorted(name for name in outcome.files if name.startswith("out/") and name not in fault.kept)
    assert not written, f"outputs written despite the error: {written}"
