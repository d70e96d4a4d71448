"""The leaderboard log: each submission's public leaderboard score beside the honest OOF score behind it.

`lb.csv` in the run folder is a plain CSV a person can read, edit and keep in git, one row per recorded submission:

    recorded_at, submission, sha256, source, honest_oof_f1, lb_score, note

Only a submission the kit wrote is accepted (its JSON sidecar, kit.submission, names the artifact behind it), and
only unchanged: the CSV's SHA-256 must be the one the sidecar records (a sidecar written before the kit recorded it
gets it added). So each leaderboard score stays tied to the exact file that earned it and to that file's honest OOF
macro-F1, and `kit scores` and the report can set the two side by side. `kit lb add` also keeps a copy of the CSV
and its sidecar in `submitted/` beside the log, named by the hash's head (`submitted/<sha256[:12]>.csv`): a later run
rewrites `subs/final.csv`, and the file that earned a score is still there to resubmit, blend or compare.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import numpy as np

from kit import layout
from kit.artifacts import atomic_write_bytes, read_json, write_json
from kit.hashing import file_sha256, sha256_bytes, short_hash

COLUMNS = ("recorded_at", "submission", "sha256", "source", "honest_oof_f1", "lb_score", "note")
# Fewer points than this give a rank correlation that says little: no verdict below it.
MIN_POINTS = 4
# Below this Spearman correlation the OOF ranking no longer predicts the leaderboard's.
DISAGREE_BELOW = 0.5


def parse_score(text: str, where: str) -> float:
    """A leaderboard score (macro-F1): a finite number in [0, 1]; ValueError naming `where` otherwise."""
    try:
        if "_" in text:  # float() reads 0.7_1 as 0.71
            raise ValueError(text)
        score = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: score {text!r} is not a number (a macro-F1 in [0, 1], e.g. 0.7312)") from None
    if not math.isfinite(score) or not 0 <= score <= 1:
        raise ValueError(f"{where}: score {text!r} is outside [0, 1] (a macro-F1, e.g. 0.7312)")
    return score


def read_log(path: Path) -> list[dict]:
    """The rows of the log (an absent log has none); ValueError naming the file and line when it is damaged."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise ValueError(f"{path}: not a leaderboard log ({error}); restore it from git or move it aside") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    if tuple(header) != COLUMNS:
        raise ValueError(f"{path}: line 1: the header must be {','.join(COLUMNS)}, got {','.join(header)}; "
                         "restore it from git or move it aside")
    rows = []
    try:
        for values in reader:
            where = f"{path}: line {reader.line_num}"  # the file's line, also after a hand-written multi-line note
            if not values:
                continue
            if len(values) != len(COLUMNS):
                raise ValueError(f"{where}: {len(values)} fields, expected {len(COLUMNS)}")
            row = dict(zip(COLUMNS, values), line=reader.line_num)
            row["lb_score"] = parse_score(row["lb_score"], where)
            row["honest_oof_f1"] = parse_score(row["honest_oof_f1"], where) if row["honest_oof_f1"] else None
            rows.append(row)
    except csv.Error as error:
        raise ValueError(f"{path}: line {reader.line_num}: {error}; restore it from git or move it aside") from None
    return rows


def write_log(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[key] is None else row[key] for key in COLUMNS])
    atomic_write_bytes(Path(path), buffer.getvalue().encode("utf-8"))


def checked_submission(submission: Path) -> dict:
    """The sidecar of a submission the kit wrote and nobody changed since, with its `sha256` (recorded in the
    sidecar now when it had none); ValueError or FileNotFoundError naming the file otherwise."""
    submission = Path(submission)
    if not submission.is_file():
        raise FileNotFoundError(f"{submission}: missing; name a submission under subs/, e.g. subs/final.csv")
    if submission.suffix.lower() != ".csv":
        raise ValueError(f"{submission}: not a submission CSV; name the CSV itself, e.g. "
                         f"{submission.with_suffix('.csv')}")
    sidecar_path = submission.with_suffix(".json")
    if not sidecar_path.is_file():
        raise ValueError(f"{submission}: no sidecar {sidecar_path}, so the kit did not write it; record only a "
                         "submission the kit wrote (`snakemake -j2 subs/final.csv`)")
    sidecar = read_json(sidecar_path)
    if not isinstance(sidecar, dict) or "source" not in sidecar:
        raise ValueError(f"{sidecar_path}: not a submission sidecar (no 'source'); rerun `snakemake --forcerun "
                         f"{submission}`")
    digest = file_sha256(submission)
    recorded = sidecar.get("sha256")
    if recorded is None:
        write_json(sidecar_path, {**sidecar, "sha256": digest})
    elif recorded != digest:
        raise ValueError(f"{submission}: changed since the kit wrote it (sha256 {digest[:12]}, its sidecar "
                         f"{sidecar_path} records {recorded[:12]}); rerun `snakemake --forcerun {submission}`")
    return {**sidecar, "sha256": digest}


def archived(log_path: Path, sha256: str) -> Path:
    """Where `kit lb add` keeps the copy of the submission with this hash: submitted/ beside the log."""
    return Path(log_path).parent / layout.submitted(sha256)


def archive(log_path: Path, submission: Path, sidecar: dict) -> Path:
    """Copy the submission CSV and its sidecar (with the sha256) beside the log; return the CSV's copy. The copy is
    checked against the hash, so a file changed while it was read is caught rather than kept, and a copy already
    there must hold the same bytes (a second file whose hash shares the head is refused, never written over it)."""
    copy = archived(log_path, sidecar["sha256"])
    data = Path(submission).read_bytes()
    if sha256_bytes(data) != sidecar["sha256"]:
        raise ValueError(f"{submission}: changed while it was being recorded; record it again")
    if copy.is_file() and copy.read_bytes() != data:
        raise ValueError(f"{copy}: already holds another submission whose SHA-256 starts alike; move it aside")
    atomic_write_bytes(copy, data)
    write_json(copy.with_suffix(".json"), sidecar)
    return copy


def add(log_path: Path, submission: Path, score: str, note: str = "") -> dict:
    """Record `submission`'s leaderboard score in the log, keep a copy of it (archive); return the new row with
    `archived`, the copy's path.

    The same file (by hash) is recorded once: a second score for it is refused, naming the line to edit.
    """
    where = f"{log_path}: {submission}"
    lb_score = parse_score(score, where)
    rows = read_log(log_path)
    sidecar = checked_submission(submission)
    for row in rows:
        if row["sha256"] == sidecar["sha256"]:
            raise ValueError(f"{submission}: already recorded in {log_path} line {row['line']} (as "
                             f"{row['submission']}, score {row['lb_score']}); edit that line to correct it")
    row = {
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submission": str(submission),
        "sha256": sidecar["sha256"],
        "source": sidecar["source"],
        "honest_oof_f1": sidecar.get("honest_macro_f1"),
        "lb_score": lb_score,
        "note": " ".join(note.split()),  # one line in the CSV, whatever the shell passed
    }
    copy = archive(log_path, submission, sidecar)  # before the log: a row never names a copy that is not there
    write_log(log_path, [*rows, row])
    return row | {"archived": str(copy)}


def with_lb_scores(score_rows: list[dict], rows: list[dict]) -> tuple[list[dict], list[str]]:
    """(The scores table's rows (kit.report), each with `lb_score`: the latest leaderboard score logged for the very
    predictions the artifact makes now (the SHA-256 of the submission CSV they make is the one logged), or None;
    the names of the artifacts scored only for other predictions (an earlier build, another test file), whose scores
    the table leaves out and `kit lb` still lists).

    Only the artifacts named in the log are read."""
    from kit.artifacts import Artifact
    from kit.submission import predictions_sha256

    joined, earlier = [], []
    for score_row in score_rows:
        logged = [row for row in rows if row["source"] == score_row["name"]]
        digest = predictions_sha256(Artifact.load(score_row["path"])) if logged else None
        scores = [row["lb_score"] for row in logged if row["sha256"] == digest]
        joined.append({**score_row, "lb_score": scores[-1] if scores else None})
        if logged and not scores and score_row["name"] not in earlier:
            earlier.append(score_row["name"])
    return joined, earlier


def rank_correlation(cv: np.ndarray, lb: np.ndarray) -> float | None:
    """Spearman's rank correlation of [n] CV and [n] LB scores; None with fewer than 2 points or a constant side."""
    from scipy.stats import spearmanr

    cv, lb = np.asarray(cv, dtype=float), np.asarray(lb, dtype=float)
    if len(cv) < 2 or np.ptp(cv) == 0 or np.ptp(lb) == 0:
        return None
    return float(spearmanr(cv, lb).statistic)


def paired(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """([n] honest OOF F1, [n] LB score, [n] submission) of the rows that have both."""
    kept = [row for row in rows if row["honest_oof_f1"] is not None]
    return (np.array([row["honest_oof_f1"] for row in kept]), np.array([row["lb_score"] for row in kept]),
            [row["submission"] for row in kept])


def verdict(rows: list[dict]) -> str | None:
    """One line on whether the CV ranking predicts the leaderboard's, or None with too few points to say."""
    cv, lb, _ = paired(rows)
    rho = rank_correlation(cv, lb)
    if len(cv) < MIN_POINTS or rho is None:
        return None
    if rho < DISAGREE_BELOW:
        return (f"the CV and the leaderboard disagree: rank correlation {rho:.2f} over {len(cv)} submissions (below "
                f"{DISAGREE_BELOW}); the honest OOF score no longer ranks submissions as the leaderboard does")
    return f"the CV and the leaderboard agree: rank correlation {rho:.2f} over {len(cv)} submissions"


def log_table(rows: list[dict]):
    """A rich Table of the log, oldest first, that fits 80 columns."""
    from rich import box
    from rich.table import Table

    table = Table(title="Leaderboard log (lb.csv), oldest first", box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in (("submission", "left"), ("source", "left"),
                            ("OOF", "right"), ("LB", "right"), ("note", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:  # the dates, whole hashes and folders stay in the CSV: they do not fit 80 columns
        oof = "" if row["honest_oof_f1"] is None else f"{row['honest_oof_f1']:.4f}"
        name = Path(row["submission"]).stem  # subs/<artifact>.csv: its source is its name
        # The hash's head tells apart the files recorded under one name (each run rewrites subs/final.csv); it is
        # the head of the sha256 in the submission's sidecar.
        table.add_row(f"{name} {short_hash(row['sha256'])}", "" if row["source"] == name else row["source"], oof,
                      f"{row['lb_score']:.4f}", row["note"])
    return table


def cv_vs_lb_figure(rows: list[dict]):
    """The honest OOF macro-F1 (x) against the leaderboard score (y) of each recorded submission, with the rank
    correlation; a note instead when nothing is recorded yet."""
    from kit.figures import _figure, _no_data

    figure, axes = _figure(1, 1, 6.5, 5.0)
    ax = axes[0, 0]
    cv, lb, names = paired(rows)
    if not len(cv):
        _no_data(ax, "no leaderboard scores recorded yet:\npython -m kit lb add subs/final.csv 0.7312")
        return figure
    ax.scatter(cv, lb, color="tab:blue")
    for x, y, name in zip(cv, lb, names):
        ax.annotate(Path(name).stem, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    low, high = min(cv.min(), lb.min()), max(cv.max(), lb.max())
    pad = max(0.005, 0.05 * (high - low))
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linestyle=":", label="LB = CV")
    rho = rank_correlation(cv, lb)
    rho_text = "n/a" if rho is None else f"{rho:.2f}"
    title = f"CV vs leaderboard: Spearman ρ = {rho_text} over {len(cv)} submission(s)"
    if verdict(rows) and "disagree" in verdict(rows):
        title += f"\nthe CV and the leaderboard disagree (ρ < {DISAGREE_BELOW})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("honest OOF macro-F1")
    ax.set_ylabel("public leaderboard score")
    ax.legend(loc="lower right", fontsize=8)
    return figure


def write_cv_vs_lb_figure(log_path: Path | None, out: Path, log) -> None:
    """The CV-vs-LB figure of the log at log_path (None or absent: the note that nothing is recorded)."""
    from kit.results import prepare_font, write_png

    prepare_font(log)
    rows = read_log(log_path) if log_path else []
    write_png(cv_vs_lb_figure(rows), out)
    log(f"CV vs LB figure of {len(rows)} recorded submission(s): {out}" + (f"; {verdict(rows)}" if verdict(rows)
                                                                           else ""))
