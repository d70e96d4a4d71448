"""Ingest of the competition files: CSV in, three clean frames and a report of every row touched out.

The competition ships `nCoV_100k_train.labled.csv` (labeled), `nCov_10k_test.csv` and
`nCoV_900k_train.unlabled.csv`: GB18030 with a few undecodable bytes, CRLF line ends, quoted texts that hold
commas, quotes and newlines, 16-digit ids. Every value is read as a string (an id through float loses digits).

Reading (`read_table`): the bytes decode as UTF-8 (with or without BOM) when they do so strictly, else as GB18030
with each undecodable byte sequence replaced by U+FFFD and counted. Header names are stripped of surrounding
whitespace. An unreadable, empty, binary or non-CSV file, or one that lacks a required column, raises `DataError`
naming the file and the column or line.

Rules (`ingest`), applied in this order; each row is counted under the first rule that drops it, so
rows_read - sum(dropped) == rows_kept for every split:
- undecodable bytes: replaced with U+FFFD and kept; counted per split (characters and rows) with example ids.
- blank rows (every field empty, e.g. a blank line): dropped in every split.
- ids are stripped of surrounding whitespace (counted; the real test file has a trailing space on every id).
- empty id: the train / unlabeled row is dropped; in test it is a DataError naming the line.
- labels (train) are stripped of surrounding whitespace (counted); a label not in `classes` (empty included)
  drops the row, counted by its raw value.
- empty text (after stripping whitespace): the train / unlabeled row is dropped; the test row is kept with text ""
  because every test id must be predicted.
- duplicate ids: copies that agree on text (and label) keep the first copy, whose other columns (time, user...)
  are kept; copies that disagree are all dropped in train / unlabeled (no way to tell which is right) and are a
  DataError naming the id in test.
- duplicate texts under different ids (train): groups that agree on the label are kept; groups with conflicting
  labels follow `conflicting_text`: "keep" (all kept; the fold file keeps identical texts in one fold),
  "majority" (rows with the strict-majority label kept, the others dropped; no strict majority drops the group)
  or "drop" (the whole group dropped).
Kept texts are otherwise unchanged: cleaning is kit.cleaning's job. The report also gives, per split, the rows
read and kept, the train class counts and `data_hash` (sha256 over id, text and label of the kept rows), and
across splits the test ids and texts that also occur in train.

Output frames: `id`, `text` (and `label` in train, one of `classes`) as str, then the file's other columns
under their original names, in file order.
"""

from __future__ import annotations

import codecs
import difflib
import io
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from kit.artifacts import sha256_strings, write_json, write_parquet

ROLES = ("train", "test", "unlabeled")
CONFLICTING_TEXT_POLICIES = ("keep", "majority", "drop")
N_EXAMPLES = 5  # example ids per rule in the report: enough to look rows up, short enough to read in a log

# Undecodable bytes are first decoded to this noncharacter (never found in real text) so that the rows holding
# them can be found after parsing, then turned into U+FFFD; decoding straight to U+FFFD would confuse them with
# U+FFFD characters that the source really contains (the 100k unlabeled stand-in has a few).
_UNDECODABLE = "\ufdd0"
codecs.register_error("kit.data.mark_undecodable", lambda error: (_UNDECODABLE, error.end))
# The real test file has 2 undecodable bytes in 3.6M characters; a file with far more is in another encoding
# (UTF-16, Big5...) or not text, and reading on would only produce garbage.
MAX_UNDECODABLE_FRACTION = 1e-3
MIN_UNDECODABLE_TO_REFUSE = 10


@dataclass(frozen=True)
class Columns:
    """The competition's column names; another competition in the same layout may rename them.

    The other columns (time, user, images, videos) are carried through untouched when present.
    """

    id: str = "微博id"
    text: str = "微博中文内容"
    label: str = "情感倾向"  # only read in the train file; test and unlabeled files have no labels

    def required(self, role: str) -> tuple[str, ...]:
        return (self.id, self.text, self.label) if role == "train" else (self.id, self.text)


class DataError(ValueError):
    """Bad input data; the message names the file and the column, line or id at fault."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing frames elementwise has no single truth value
class Ingested:
    train: pd.DataFrame  # [n_train] id, text, label, other columns
    test: pd.DataFrame  # [n_test] id, text, other columns; every test id of the file, in file order
    unlabeled: pd.DataFrame | None  # [n_unlabeled] id, text, other columns
    report: dict  # JSON-serialisable counts of every rule, see the module docstring


# ---------------------------------------------------------------------------------------------------- reading


def _decode(path: Path, payload: bytes) -> tuple[str, str, int]:
    """(text, encoding, number of undecodable byte sequences, marked with _UNDECODABLE in text)."""
    try:
        encoding = "utf-8-sig" if payload.startswith(codecs.BOM_UTF8) else "utf-8"
        return payload.decode("utf-8-sig"), encoding, 0
    except UnicodeDecodeError:
        pass
    if _UNDECODABLE.encode("gb18030") in payload:
        raise DataError(f"{path}: holds the noncharacter U+FDD0 that ingest uses to mark undecodable bytes")
    text = payload.decode("gb18030", errors="kit.data.mark_undecodable")
    n_undecodable = text.count(_UNDECODABLE)
    if n_undecodable >= MIN_UNDECODABLE_TO_REFUSE and n_undecodable > MAX_UNDECODABLE_FRACTION * len(text):
        raise DataError(
            f"{path}: {n_undecodable} undecodable byte sequences in {len(text)} characters: "
            "the file is neither UTF-8 nor GB18030 text (UTF-16? Big5? a binary file?)"
        )
    return text, "gb18030", n_undecodable


def _parse_csv(path: Path, text: str) -> pd.DataFrame:
    """All rows of the CSV text, header included as row 0, every field a str ('' when absent)."""
    try:
        # UTF-8 bytes, not a StringIO: pandas re-encodes a text buffer in small chunks, 100x slower at 1M rows.
        # header=None: pandas would otherwise take the first column for an index when rows have one field
        # more than the header, silently shifting every column; this way that row is an error.
        return pd.read_csv(
            io.BytesIO(text.encode("utf-8")), encoding="utf-8", header=None, dtype=str, keep_default_na=False,
            skip_blank_lines=False, engine="c",
        )
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path}: is empty (no header)") from error
    except pd.errors.ParserError as error:
        raise DataError(
            f"{path}: is not a well-formed CSV (a text with an unquoted comma or quote?): {error}"
        ) from error


def _check_header(path: Path, header: list[str], role: str, columns: Columns) -> None:
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: the header names column(s) {repeated} more than once")
    for name in columns.required(role):
        if name in header:
            continue
        close = difflib.get_close_matches(name, header, n=3, cutoff=0.4)
        hint = f"; did you mean {close}?" if close else ""
        if len(header) == 1 and any(sep in header[0] for sep in ("\t", ";", "|")):
            hint += " (the header is a single column: is the file tab- or semicolon-separated?)"
        raise DataError(
            f"{path}: no column {name!r} (required for role {role!r}); the header has {header}{hint}"
        )


def read_table(path, role: str, columns: Columns = Columns()) -> pd.DataFrame:
    """One competition CSV as a frame of str columns under the file's own (stripped) header names.

    frame.attrs holds `encoding`, `undecodable` (number of byte sequences replaced by U+FFFD) and
    `undecodable_rows` (positions of the rows that hold them). The index is the row's position in the file
    (0 = first row after the header).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    path = Path(path)
    try:
        payload = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from error
    if not payload.strip(b" \t\r\n" + codecs.BOM_UTF8):
        raise DataError(f"{path}: is empty")
    if b"\x00" in payload:
        raise DataError(f"{path}: holds NUL bytes, so it is a binary file (or UTF-16), not a CSV text file")
    text, encoding, n_undecodable = _decode(path, payload)
    table = _parse_csv(path, text)
    header = [str(name).strip().replace(_UNDECODABLE, "\ufffd") for name in table.iloc[0]]
    _check_header(path, header, role, columns)
    frame = table.iloc[1:].set_axis(header, axis=1).reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{path}: has a header but no rows")
    undecodable_rows: list[int] = []
    if n_undecodable:
        marked = np.zeros(len(frame), dtype=bool)
        for name in header:
            holds = frame[name].str.contains(_UNDECODABLE, regex=False).to_numpy()
            if holds.any():
                marked |= holds
                frame[name] = frame[name].str.replace(_UNDECODABLE, "\ufffd", regex=False)
        undecodable_rows = np.flatnonzero(marked).tolist()
    frame.attrs = {"encoding": encoding, "undecodable": n_undecodable, "undecodable_rows": undecodable_rows}
    return frame


# ---------------------------------------------------------------------------------------------------- rules


@dataclass
class _Split:
    """One file being ingested: its rows as read (for line numbers) and the rule counts so far."""

    path: Path
    role: str
    columns: Columns  # to name the file's own columns in errors
    raw: pd.DataFrame
    rules: dict

    @cached_property
    def first_line(self) -> np.ndarray:
        """[n_rows] int: the file line where each row starts (the header is line 1; quoted newlines count)."""
        newlines = sum(self.raw[name].str.count("\n").to_numpy() for name in self.raw.columns)
        before = np.concatenate([[0], np.cumsum(newlines)[:-1]])
        return 2 + np.arange(len(self.raw)) + before

    def where(self, rows: pd.DataFrame) -> list[str]:
        """Up to N_EXAMPLES distinct references to rows: their ids, or 'line N' for rows without one."""
        references = dict.fromkeys(
            row_id.strip() or f"line {self.first_line[position]}"
            for position, row_id in zip(rows.index[: 2 * N_EXAMPLES], rows["id"].iloc[: 2 * N_EXAMPLES])
        )
        return list(references)[:N_EXAMPLES]

    def count(self, rule: str, frame: pd.DataFrame, touched, dropped=None, **extra) -> pd.DataFrame:
        """Record that `rule` touched the rows `touched` of frame and dropped `dropped` of them; return the rest."""
        touched = np.asarray(touched, dtype=bool)
        dropped = np.zeros(len(frame), dtype=bool) if dropped is None else np.asarray(dropped, dtype=bool)
        self.rules[rule] = {
            "rows": int(touched.sum()),
            "dropped": int(dropped.sum()),
            "examples": self.where(frame[touched]),
            **extra,
        }
        return frame[~dropped] if dropped.any() else frame


def _standardise(path: Path, raw: pd.DataFrame, role: str, columns: Columns) -> pd.DataFrame:
    """raw with the id, text (and train label) columns renamed id, text, label and moved first."""
    renames = {columns.id: "id", columns.text: "text"}
    if role == "train":
        renames[columns.label] = "label"
    others = [name for name in raw.columns if name not in renames]
    clashes = sorted(set(others) & set(renames.values()))
    if clashes:
        raise DataError(f"{path}: column(s) {clashes} clash with the names ingest gives the required columns")
    return raw.rename(columns=renames)[list(renames.values()) + others]


def _drop_blank_rows(split: _Split, frame: pd.DataFrame) -> pd.DataFrame:
    blank = np.logical_and.reduce([(frame[name] == "").to_numpy() for name in frame.columns])
    return split.count("blank_rows", frame, blank, blank)


def _strip_ids(split: _Split, frame: pd.DataFrame) -> pd.DataFrame:
    stripped = frame["id"].str.strip()
    changed = (stripped != frame["id"]).to_numpy()
    frame = frame.assign(id=stripped)
    split.count("id_whitespace", frame, changed)
    empty = (stripped == "").to_numpy()
    if split.role == "test" and empty.any():
        line = split.first_line[frame.index[empty][0]]
        raise DataError(
            f"{split.path}: line {line}: empty id in column {split.columns.id!r} ({int(empty.sum())} such rows); "
            "every test row needs an id to be predicted"
        )
    return split.count("empty_id", frame, empty, empty)


def _check_labels(split: _Split, frame: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    stripped = frame["label"].str.strip()
    changed = (stripped != frame["label"]).to_numpy()
    invalid = (~stripped.isin(classes)).to_numpy()
    by_value = {str(value): int(n) for value, n in frame["label"][invalid].value_counts(sort=True).items()}
    frame = frame.assign(label=stripped)
    split.count("label_whitespace", frame, changed)
    return split.count("invalid_label", frame, invalid, invalid, by_value=by_value)


def _check_texts(split: _Split, frame: pd.DataFrame) -> pd.DataFrame:
    empty = (frame["text"].str.strip() == "").to_numpy()
    if split.role == "test":
        frame = frame.assign(text=frame["text"].where(~empty, ""))
        return split.count("empty_text", frame, empty, action="kept with text ''")
    return split.count("empty_text", frame, empty, empty)


def _dedupe_ids(split: _Split, frame: pd.DataFrame) -> pd.DataFrame:
    content = ["text", "label"] if "label" in frame.columns else ["text"]
    repeated = frame["id"].duplicated(keep=False).to_numpy()
    versions = frame[repeated].drop_duplicates(["id", *content])["id"]
    conflicting_ids = versions[versions.duplicated()].unique()
    conflicting = frame["id"].isin(conflicting_ids).to_numpy()
    if split.role == "test" and conflicting.any():
        first = frame[conflicting].iloc[0]["id"]
        copies = frame[frame["id"] == first]
        lines = [int(split.first_line[position]) for position in copies.index]
        raise DataError(
            f"{split.path}: id {first!r} (column {split.columns.id!r}) appears on lines {lines} with different texts "
            f"({len(conflicting_ids)} such ids); a test id must have one text"
        )
    identical = repeated & ~conflicting
    extra_copies = identical & frame["id"].duplicated(keep="first").to_numpy()
    frame = split.count("duplicate_id_identical", frame, identical, extra_copies)
    conflicting = frame["id"].isin(conflicting_ids).to_numpy()
    return split.count("duplicate_id_conflicting", frame, conflicting, conflicting)


def _dedupe_texts(split: _Split, frame: pd.DataFrame, policy: str) -> pd.DataFrame:
    group_size = frame.groupby("text")["id"].transform("size").to_numpy()
    label_votes = frame.groupby(["text", "label"])["id"].transform("size").to_numpy()
    repeated = group_size > 1
    n_labels = frame.groupby("text")["label"].transform("nunique").to_numpy()
    split.count("duplicate_text_agreeing", frame, repeated & (n_labels == 1))
    conflicting = repeated & (n_labels > 1)
    dropped = {
        "keep": np.zeros(len(frame), dtype=bool),
        "majority": conflicting & (2 * label_votes <= group_size),
        "drop": conflicting,
    }[policy]
    return split.count("duplicate_text_conflicting", frame, conflicting, dropped, policy=policy)


def _ingest_split(path, role: str, columns: Columns, classes: tuple[str, ...], policy: str):
    """(kept frame with a fresh index, the split's report)."""
    path = Path(path)
    raw = read_table(path, role, columns)
    split = _Split(path=path, role=role, columns=columns, raw=raw, rules={})
    frame = _standardise(path, raw, role, columns)
    undecodable_rows = frame.index.isin(raw.attrs["undecodable_rows"])
    split.count("undecodable_bytes", frame, undecodable_rows, chars=raw.attrs["undecodable"])
    frame = _drop_blank_rows(split, frame)
    frame = _strip_ids(split, frame)
    if role == "train":
        frame = _check_labels(split, frame, classes)
    frame = _check_texts(split, frame)
    frame = _dedupe_ids(split, frame)
    if role == "train":
        frame = _dedupe_texts(split, frame, policy)
    frame = frame.reset_index(drop=True)
    hashed = [frame[name].tolist() for name in ("id", "text", "label") if name in frame.columns]
    report = {
        "path": str(path),
        "encoding": raw.attrs["encoding"],
        "rows_read": len(raw),
        "rows_kept": len(frame),
        "rows_dropped": len(raw) - len(frame),
        "rules": split.rules,
        "data_hash": sha256_strings(*hashed),
    }
    if role == "train":
        report["class_counts"] = {label: int((frame["label"] == label).sum()) for label in classes}
    return frame, report


def _shared_with_train(test: pd.DataFrame, train: pd.DataFrame, column: str) -> dict:
    """Test rows whose (non-empty) `column` value also occurs in train: a leak, or a free answer."""
    shared = test[column].isin(train[column]).to_numpy() & (test[column] != "").to_numpy()
    return {"rows": int(shared.sum()), "examples": test["id"][shared].iloc[:N_EXAMPLES].tolist()}


def ingest(
    train_path,
    test_path,
    unlabeled_path=None,
    *,
    classes=("-1", "0", "1"),
    columns: Columns = Columns(),
    conflicting_text: str = "keep",
) -> Ingested:
    """Read and check the competition's files by the rules of the module docstring; raise DataError on bad input."""
    if conflicting_text not in CONFLICTING_TEXT_POLICIES:
        raise ValueError(f"conflicting_text must be one of {CONFLICTING_TEXT_POLICIES}, got {conflicting_text!r}")
    classes = tuple(str(label).strip() for label in classes)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must be at least two distinct labels, got {classes}")
    paths = {"train": train_path, "test": test_path, "unlabeled": unlabeled_path}
    frames, splits = {}, {}
    for role, path in paths.items():
        if path is not None:
            frames[role], splits[role] = _ingest_split(path, role, columns, classes, conflicting_text)
    train, test = frames["train"], frames["test"]
    report = {
        "classes": list(classes),
        "columns": asdict(columns),
        "conflicting_text": conflicting_text,
        "splits": splits,
        "cross_split": {
            "test_ids_in_train": _shared_with_train(test, train, "id"),
            "test_texts_in_train": _shared_with_train(test, train, "text"),
        },
        "data_hash": sha256_strings([splits[role]["data_hash"] for role in splits]),
    }
    return Ingested(train=train, test=test, unlabeled=frames.get("unlabeled"), report=report)


# ---------------------------------------------------------------------------------------------------- interim files


def write_ingested(ingested: Ingested, outputs, report) -> None:
    """Each split's frame to its parquet file in outputs (split -> path) and the report to `report`, atomically.

    outputs must name exactly the splits that were ingested, so no file of an earlier run passes for this one's.
    """
    present = {split for split in ROLES if getattr(ingested, split) is not None}
    if set(outputs) != present:
        raise ValueError(f"ingest: outputs for splits {sorted(outputs)} but ingested splits {sorted(present)}")
    for split, path in outputs.items():
        write_parquet(getattr(ingested, split), Path(path))
    write_json(Path(report), ingested.report)


def read_split(path) -> pd.DataFrame:
    """One ingested split (or text variant) file; every column as str."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (was ingest run, with that split?)")
    return pd.read_parquet(path).astype(str)


def read_texts(paths) -> list[str]:
    """The `text` column of each ingested split file, concatenated in the given order."""
    return [text for path in paths for text in pd.read_parquet(path, columns=["text"])["text"].astype(str)]


# ---------------------------------------------------------------------------------------------------- report


def report_table(report: dict):
    """A rich Table of the report for logs: rows read and kept per split, then every rule that touched a row."""
    from rich.table import Table

    table = Table(title="ingest", show_lines=False)
    for name in ("split", "rule", "rows", "dropped", "examples / details"):
        table.add_column(name, justify="right" if name in ("rows", "dropped") else "left")
    for role, split in report["splits"].items():
        table.add_row(role, f"read ({split['encoding']})", str(split["rows_read"]), "", split["path"])
        for rule, entry in split["rules"].items():
            if entry["rows"]:
                details = {key: value for key, value in entry.items() if key not in ("rows", "dropped", "examples")}
                text = ", ".join(entry["examples"]) + (f"  {details}" if details else "")
                table.add_row(role, rule, str(entry["rows"]), str(entry["dropped"]), text)
        counts = split.get("class_counts")
        table.add_row(
            role, "kept", str(split["rows_kept"]), str(split["rows_dropped"]),
            f"classes {counts}" if counts else "", end_section=True,
        )
    for key, entry in report["cross_split"].items():
        if entry["rows"]:
            table.add_row("test", key, str(entry["rows"]), "", ", ".join(entry["examples"]))
    return table
