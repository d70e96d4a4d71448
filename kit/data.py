"""Ingest of the competition files: CSV in, three clean frames and a report of every row touched out.

The competition ships `nCoV_100k_train.labled.csv` (labeled), `nCov_10k_test.csv` and
`nCoV_900k_train.unlabled.csv`: GB18030 with a few undecodable bytes, CRLF line ends, quoted texts that hold
commas, quotes and newlines, 16-digit ids. Every value is read as a string (an id through float loses digits).
Anything ingest refuses is a DataError (a ValueError) whose one-line message names the file, the line, column or
id, and what to do; the CLI prints it as one `error:` line.

Encodings (`read_table`, `ingest`: `encoding`, "auto" by default) are kit.encoding's: UTF-8, else GB18030 when it
reads as plausible Chinese, or a codec named in the config, used strictly.
A path that is not a file (a folder, a device such as /dev/zero, a named pipe, a socket, a symbolic link that
loops or leads nowhere) or is larger than a bound (2 GiB, kit.input_files) is refused before it is opened.
Header names are stripped of surrounding whitespace; an empty, header-only or malformed file, or one that lacks a
required column, is refused (a header that looks garbled adds the hint to set the encoding; a first line without the
id column that holds an id by the id pattern is said to be a row of data, the header line missing).
A row with more fields than the header is refused naming its line; one with fewer (pandas would read a missing
field as '' and shift the values after it) is refused in the test file, whose every id must be predicted from its
own text, and dropped and counted in train and unlabelled (rule short_row); an empty field, `...,[],` at the end
too, is a field, and a blank line is a blank row. When the first row falls short of a header with as many empty names (a delimiter too many), the header is
named; when it has more fields, the message says the header may lack a name.
A quote left open is refused naming its line: alone it would read the rest of the file into one field; a second
one closes it and the rows between the two are read as one field's text, which the parser accepts. Such a field is
found by the lines it holds that look like rows (`lines_like_rows`: starting with an id of the file's, by the id
pattern and an id's length, 6 characters or more, and holding every field up to the text's and at most the
header's); a post's own "1,早起" or "4456068992182999,原文如下" is none, nor is any line of the real test file's or
the 100k unlabelled stand-in's posts.

Ids (every split), after stripping surrounding whitespace: an empty id drops a train / unlabeled row and is
refused in test. Refused in every split, naming the line: an id that is a header name (a second header line,
files joined with `cat`); a number as a spreadsheet writes it (4.46E+15, 4456068992182160.0: Excel keeps 15
digits); U+FFFD (an undecodable byte); an invisible or control character (zero-width space, BOM...); full-width
or compatibility characters (NFKC changes them); an id that does not match `Columns.id_pattern` (digits by
default; None accepts any printable id). Ids keep their leading zeros.

Labels (train): NFKC (full-width digits and signs become plain ones) and stripped of blank characters; when the
classes are integers, an integer however written (+1, 1.0, 01, −1 with a minus sign, hyphen or en dash) is that
integer: counted as `label_normalised` with each raw value. Any other label not in `classes` (empty included)
drops the row, counted by its raw value.
A class left with no train row, which covers an empty train split and a one-class file, is refused with the
class counts (the folds and the models would fail later, naming neither).

Texts: blank when they hold only whitespace, control, format (zero-width spaces and joiners, BOMs, direction
marks) or other characters that show nothing (`blank_characters`); a blank text drops a train / unlabeled row,
and a test row is kept with the text "" because every test id must be predicted. Kept texts are otherwise
unchanged, control characters and emoji included: cleaning is kit.cleaning's job.

Rules (`ingest`), applied in this order; each row is counted under the first rule that drops it, and the report
checks its own sums (rows_read == rows_kept + rows_dropped, rows_dropped == the rules' dropped; a RuntimeError,
a bug, when they differ):
- undecodable_bytes: replaced with U+FFFD and kept; counted per split (characters and rows) with example ids.
- nul_bytes: NUL characters removed and the rows kept; counted like undecodable bytes.
- blank_rows (every field empty, e.g. a blank line): dropped in every split.
- short_row (fewer fields than the header, its values after the missing delimiter shifted): dropped in train and
  unlabelled (refused in test, when the file is read).
- id_whitespace: ids stripped (the real test file has a trailing space on every id), the rows kept: the report's
  entry and the ingest log say so; empty_id, as above.
- label_normalised and invalid_label (train), as above.
- empty_text, as above.
- duplicate ids: copies that agree on text (and label) keep the first copy, whose other columns (time, user...)
  are kept; copies that disagree are all dropped in train / unlabeled (no way to tell which is right) and are a
  DataError naming the id in test.
- duplicate texts under different ids (train): groups that agree on the label are kept; groups with conflicting
  labels follow `conflicting_text`: "keep" (all kept; the fold file keeps identical texts in one fold),
  "majority" (rows with the strict-majority label kept, the others dropped; no strict majority drops the group)
  or "drop" (the whole group dropped).
Each rule's entry has `rows` (touched), `dropped` and up to five `examples` (ids, or "line N" for rows without
one). The report also gives, per split, the encoding read, the rows read, kept and dropped, the train class counts
and `data_hash` (sha256 over id, text and label of the kept rows), and across splits the test ids and texts that
also occur in train.

Output frames: `id`, `text` (and `label` in train, one of `classes`) as str, then the file's other columns
under their original names, in file order.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from kit import input_files
from kit.artifacts import read_parquet, sha256_strings, write_json, write_parquet
from kit.data_settings import ROW_ID_CHARS, Columns
from kit.encoding import (NUL_MARK, UNDECODABLE, DataError, check_encoding, decode_payload, looks_garbled,
                          mark_nuls)
from kit.progress import stage

ROLES = ("train", "test", "unlabeled")
CONFLICTING_TEXT_POLICIES = ("keep", "majority", "drop")
N_EXAMPLES = 5  # example ids per rule in the report: enough to look rows up, short enough to read in a log


def _quiet(message: str) -> None:
    """The log of a caller that wants no stage lines (`kit predict` reading new posts)."""

# An id that went through a number: Excel writes a 16-digit id as 4.46E+15 (keeping 15 digits), a float column
# as 4456068992182160.0. The exponent's sign is required so that a hex id like 123e456 is not taken for one.
_SPREADSHEET_NUMBER = r"[+-]?[0-9]+(\.[0-9]+)?[eE][+-][0-9]+|[0-9]+\.0+"
_INTEGER = re.compile(r"[+-]?[0-9]+(\.0*)?")  # a label that is an integer however written: 1, +1, 1.0, 1.
# What a minus looks like when typed or pasted from a word processor, and NFKC leaves as it is: MINUS SIGN (also the
# NFKC of the super- and subscript minus), HYPHEN, NON-BREAKING HYPHEN, FIGURE DASH, EN DASH. The full-width and
# small hyphen-minus are NFKC's already.
_MINUS_SIGNS = str.maketrans(dict.fromkeys("\u2212\u2010\u2011\u2012\u2013", "-"))


@dataclass(frozen=True, eq=False)  # eq=False: comparing frames elementwise has no single truth value
class Ingested:
    train: pd.DataFrame  # [n_train] id, text, label, other columns
    test: pd.DataFrame  # [n_test] id, text, other columns; every test id of the file, in file order
    unlabeled: pd.DataFrame | None  # [n_unlabeled] id, text, other columns
    report: dict  # JSON-serialisable counts of every rule, see the module docstring


# ---------------------------------------------------------------------------------------------------- characters


@cache
def blank_characters() -> str:
    """Every character that shows nothing: whitespace, control (Cc) and format (Cf: zero-width spaces and joiners,
    the BOM, direction marks, the soft hyphen) characters, variation selectors and the Hangul and Braille blanks.

    A text made only of them is empty; they are stripped from both ends of a label. The scan covers the BMP and the
    tag block, where every such character lives.
    """
    scanned = [*range(0x10000), *range(0xE0000, 0xE0080)]
    shows_nothing = [chr(c) for c in scanned if chr(c).isspace() or unicodedata.category(chr(c)) in ("Cc", "Cf")]
    return "".join(shows_nothing) + "\u034f\u115f\u1160\u3164\uffa0\u2800" + "".join(map(chr, range(0xFE00, 0xFE10)))


def id_problem(value: str, header=(), pattern: str | None = None) -> str | None:
    """Why `value` cannot be an id (a phrase that says what to do), or None when it can.

    header: the file's column names (a second header line is not a row); pattern: Columns.id_pattern.
    """
    if value.strip() != value or not value:
        return "is empty or has whitespace around it"
    visible = "".join(character for character in value if character not in blank_characters())
    if value in header or visible in header:
        return "is a header name: the file holds a second header line (files joined with `cat`?); delete that line"
    if re.fullmatch(_SPREADSHEET_NUMBER, value):
        return (
            "is a number as a spreadsheet writes it (Excel saves a 16-digit id as 4.46E+15, keeping 15 digits): "
            "the ids were saved through Excel or a float column; use the original file or export the ids as text"
        )
    if "\ufffd" in value:
        return (
            "holds U+FFFD, an undecodable byte (the file is damaged, or in another encoding than it was read as): "
            "fix the id in the file, or set the encoding"
        )
    hidden = next((character for character in value if not character.isprintable()), None)
    if hidden is not None:
        name = unicodedata.name(hidden, unicodedata.category(hidden))
        return f"holds the invisible character U+{ord(hidden):04X} ({name}); delete it from the file"
    if not unicodedata.is_normalized("NFKC", value):
        return (
            f"is written with full-width or compatibility characters (as {unicodedata.normalize('NFKC', value)!r} "
            "in plain characters); write the ids as the leaderboard does"
        )
    if pattern is not None and not re.fullmatch(pattern, value):
        return (
            f"does not match the id pattern {pattern!r} (columns.id_pattern): set the pattern your ids follow, or "
            "null for any printable id"
        )
    return None


def find_id_problems(ids: pd.Series, header=(), pattern: str | None = None) -> list[tuple[object, str, str]]:
    """(index, id, problem) for each of ids that cannot be an id (see id_problem), in order."""
    # Printable ASCII that is neither a header name nor a number's spelling and matches the pattern needs no
    # closer look: every id of the real files. The others go through id_problem one by one.
    plain = ids.str.fullmatch(r"[!-~]+") & ~ids.str.fullmatch(_SPREADSHEET_NUMBER) & ~ids.isin(header)
    if pattern is not None:
        plain &= ids.str.fullmatch(pattern)
    return [
        (index, value, problem)
        for index, value in ids[~plain.to_numpy(dtype=bool)].items()
        if (problem := id_problem(value, header, pattern))
    ]


# ---------------------------------------------------------------------------------------------------- reading


def _parse_csv(path: Path, text: str, columns: Columns) -> pd.DataFrame:
    """All rows of the CSV text, header included as row 0, every field a str ('' when absent: a row with fewer
    fields than the header is found by _short_rows)."""
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
        raise DataError(_parse_error(path, text, str(error).strip(), columns)) from error


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(the file line it starts on, its fields) for each record of the CSV text, header and blank lines included.

    Python's csv module reads as pandas does but says where each record starts; it takes 0.2 s per 100k rows, so
    it runs only to find a record that pandas names by its number (a record can span several lines).
    """
    limit = csv.field_size_limit(sys.maxsize)  # a post, or a field a stray quote opened, can pass the 131,072 default
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        start = 1
        for fields in reader:
            yield start, fields
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(limit)


def _record(text: str, number: int) -> tuple[int, list[str]]:
    """(first line, fields) of record `number` of the CSV text (0 = the header), as pandas counts records."""
    return next(itertools.islice(_records(text), number, None))


def _parse_error(path: Path, text: str, error: str, columns: Columns) -> str:
    """The one-line message for a CSV that pandas refuses, naming the file's line where pandas names a record."""
    header = [name.strip() for name in next(_records(text))[1]]
    unclosed = re.search(r"EOF inside string starting at row (\d+)", error)
    if unclosed:
        line, fields = _record(text, int(unclosed[1]))
        field = f"field {header[len(fields) - 1]!r}" if len(fields) <= len(header) else "a field"
        return (
            f"{path}: line {line}: the quote that opens {field} is never closed, so the rest of the file would be "
            'read as that one field; close the quote, or escape a quote inside a quoted field as ""'
        )
    extra = re.search(r"Expected \d+ fields in line (\d+), saw \d+", error)
    if extra:
        number = int(extra[1]) - 1  # pandas' "line" is the record's number counted from 1, the header's 0
        line, fields = _record(text, number)
        hint = f" (if every row has {len(fields)}, the header lacks a name)" if number == 1 else ""
        return (
            f"{_field_count_problem(path, line, fields, header, columns)}: a text with an unquoted comma? Quote the "
            f"field that holds the delimiter, or remove the extra one{hint}"
        )
    return f"{path}: is not a well-formed CSV (a text with an unquoted comma or quote?): {error}"


def _field_count_problem(path: Path, line: int, fields: list[str], header: list[str], columns: Columns) -> str:
    """The head of the message for a record whose number of fields is not the header's: file, line, id, counts."""
    position = header.index(columns.id) if columns.id in header else len(fields)
    of_id = f" (id {fields[position].strip()[:40]!r})" if position < len(fields) else ""
    return f"{path}: line {line}{of_id}: expected {len(header)} fields, as in the header, saw {len(fields)}"


def _short_rows(path: Path, text: str, table: pd.DataFrame, header: list[str], columns: Columns,
                role: str) -> list[int]:
    """The positions (0 = the first row after the header) of the rows with fewer fields than the header: pandas reads
    the fields they lack as '' (a missing field and an empty one read alike), and the values after the missing
    delimiter shift a column. A test row is refused (its id must be predicted from its own text); a train or
    unlabelled row is returned, to be dropped and counted (rule short_row). A header with an empty name is refused.

    Counted first: the delimiters pandas split at are the file's commas less those inside the values, (fields - 1)
    per record that is not blank when no record is short (about 50 ms per 100k rows). Only a shortfall has the
    records read again (_records) to find the short ones.
    """
    in_values = sum(int(table[name].str.count(",").sum()) for name in table.columns)
    if text.count(",") - in_values == (len(header) - 1) * len(table):
        return []
    blank = int((table == "").all(axis=1).sum())
    if text.count(",") - in_values == (len(header) - 1) * (len(table) - blank):
        return []
    short = []
    for number, (line, fields) in enumerate(_records(text)):
        if len(fields) >= len(header) or not "".join(fields).strip():
            continue
        missing = header[len(fields):]
        unnamed = [column for column, name in enumerate(header, start=1) if not name]
        if number == 1 and len(unnamed) == len(missing):
            raise DataError(
                f"{path}: line 1: the header has {len(header)} fields, its field(s) {unnamed} without a name (a "
                f"delimiter too many?), where line {line}, the first row, has {len(fields)}; remove the extra "
                "delimiter from the header"
            )
        if role != "test":
            short.append(number - 1)
            continue
        text_position = header.index(columns.text)
        shown = fields[text_position] if text_position < len(fields) else ""
        raise DataError(
            f"{_field_count_problem(path, line, fields, header, columns)}: a delimiter is missing, so the values "
            f"after it would land in the wrong columns (field {columns.text!r} would read {shown[:40]!r}, and "
            f"{', '.join(map(repr, missing))} nothing); add the missing field, empty if it has no value"
        )
    return short


def _check_header(path: Path, header: list[str], role: str, columns: Columns, encoding: str) -> None:
    # A file without its header line: its first row is read as one, and the competition's rows, `[]` in both the
    # image and the video column, would otherwise be refused for naming a column twice.
    ids = [name for name in header if columns.id_pattern is not None and re.fullmatch(columns.id_pattern, name)
           and any(char.isdigit() for char in name)]  # 'id' or 'review' may match a pattern such as \w+
    if columns.id not in header and ids:
        raise DataError(
            f"{path}: line 1 looks like a row of data, not a header (it holds {ids[0]!r}, an id by "
            "columns.id_pattern): is the header line missing? The header must name the columns "
            f"{list(columns.required(role))}"
        )
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
        if looks_garbled("".join(header)):
            hint += (
                f" (read as {encoding}: if the header looks garbled, the file is in another encoding; set it with "
                "data.encoding in the config)"
            )
        raise DataError(
            f"{path}: no column {name!r} (required for role {role!r}); the header has {header}{hint}"
        )


def _unmark(frame: pd.DataFrame, mark: str, replacement: str) -> list[int]:
    """Replace mark in every column of frame (in place); return the positions of the rows that held it."""
    marked = np.zeros(len(frame), dtype=bool)
    for name in frame.columns:
        holds = frame[name].str.contains(mark, regex=False).to_numpy()
        if holds.any():
            marked |= holds
            frame[name] = frame[name].str.replace(mark, replacement, regex=False)
    return np.flatnonzero(marked).tolist()


def _first_lines(rows: pd.DataFrame) -> np.ndarray:
    """[n_rows] int: the file line where each row of read_table's frame starts (the header is line 1; the newlines
    inside quoted fields count)."""
    newlines = sum(rows[name].str.count("\n").to_numpy() for name in rows.columns)
    before = np.concatenate([[0], np.cumsum(newlines)[:-1]])
    return 2 + np.arange(len(rows)) + before


def lines_like_rows(value: str, n_fields: int, id_position: int, looks_like_id: Callable[[str], bool],
                    min_fields: int = 2) -> list[int]:
    """The numbers (1 = the field's second line) of the lines of a field's value that look like rows of their own:
    cut at commas into min_fields to n_fields fields, the one at id_position an id. A quote left open reads the
    whole rows that follow into the field up to the next quote, each line a row (the last one cut at that quote,
    the rest of its text stuck on); real posts hold line breaks too, and a line may start with a number and a comma
    ("1,早起", "4456068992182999,原文如下"), so the caller asks for every field up to the text's (min_fields)."""
    lines = re.split(r"\r\n|\r|\n", value)[1:]
    return [
        number
        for number, line in enumerate(lines, start=1)
        if min_fields <= len(fields := line.split(",")) <= n_fields
        and id_position < len(fields)
        and looks_like_id(fields[id_position].strip())
    ]


def _check_swallowed_rows(path: Path, frame: pd.DataFrame, columns: Columns, line_end: str) -> None:
    """Raise DataError, naming the lines, when a field holds lines that look like rows of the file: a quote left
    open made pandas read them into that field (two such quotes lose the rows between them without an error).

    line_end: "\n", or "\r" in a file whose lines end in CR alone; a field that holds none is not looked into.
    """
    header = tuple(frame.columns)
    id_position = header.index(columns.id)
    id_lengths = set(frame[columns.id].str.strip().str.len().unique().tolist())

    def looks_like_id(value: str) -> bool:  # of the file's lengths, and not a count or a year (ROW_ID_CHARS)
        return (len(value) >= ROW_ID_CHARS and len(value) in id_lengths
                and id_problem(value, header, columns.id_pattern) is None)

    # A line the quote swallowed holds the fields up to the text's (the last one, its text cut at the closing quote).
    min_fields = max(2, header.index(columns.text) + 1, id_position + 2)

    found = []  # (row position, column position, numbers of the lines that look like rows)
    for column, name in enumerate(header):
        # A literal count is pandas' fastest scan of a column (a regex or `contains` takes 5x longer).
        values = frame[name]
        for position, value in values[values.str.count(line_end).to_numpy() > 0].items():
            numbers = lines_like_rows(value, len(header), id_position, looks_like_id, min_fields)
            if numbers:
                found.append((position, column, numbers))
    if not found:
        return
    position, column, numbers = min(found)
    row = frame.iloc[position]
    value = row.iloc[column]
    # The field starts after the line breaks of the fields before it in its row, and ends where a quote closed it.
    opened = int(_first_lines(frame.iloc[: position + 1])[-1]) + sum(
        row.iloc[before].count("\n") for before in range(column))
    closed = opened + value.count("\n")
    example = re.split(r"\r\n|\r|\n", value)[numbers[0]]
    of_id = f" of id {row.iloc[id_position].strip()!r}" if column != id_position else ""
    raise DataError(
        f"{path}: line {opened}: field {header[column]!r}{of_id} runs on to line {closed}, holding {len(numbers)} "
        f"line(s) that look like rows of their own (line {opened + numbers[0]}: {example[:80]!r}): the quote that "
        f"opens it is not closed on line {opened}, so the rows up to the quote on line {closed} were read as its text "
        f'({len(found)} such field(s) in the file); close or escape (as "") the quote on line {opened}'
    )


def read_table(path, role: str, columns: Columns = Columns(), encoding: str = "auto") -> pd.DataFrame:
    """One competition CSV as a frame of str columns under the file's own (stripped) header names.

    encoding: "auto" (UTF-8, else GB18030 judged for plausibility, see the module docstring) or a Python codec
    name, used strictly. frame.attrs holds `encoding` (what the file was read as), `undecodable` (byte sequences
    replaced by U+FFFD), `nul` (NUL characters removed), and `undecodable_rows` and `nul_rows` (positions of the
    rows that held them). The index is the row's position in the file (0 = first row after the header).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    check_encoding(encoding)
    path = Path(path)
    try:
        payload = input_files.read_bytes(path)
    except input_files.InputFileError as error:
        raise DataError(str(error)) from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from error
    if not payload.strip(b" \t\r\n" + codecs.BOM_UTF8):
        raise DataError(f"{path}: is empty")
    text, encoding, n_undecodable = decode_payload(path, payload, encoding)
    text, n_nul = mark_nuls(path, text)
    table = _parse_csv(path, text, columns)
    header = [str(name).strip().replace(UNDECODABLE, "\ufffd").replace(NUL_MARK, "") for name in table.iloc[0]]
    _check_header(path, header, role, columns, encoding)
    frame = table.iloc[1:].set_axis(header, axis=1).reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{path}: has a header but no rows")
    undecodable_rows = _unmark(frame, UNDECODABLE, "\ufffd") if n_undecodable else []
    nul_rows = _unmark(frame, NUL_MARK, "") if n_nul else []
    _check_swallowed_rows(path, frame, columns, "\n" if "\n" in text else "\r")
    short_rows = _short_rows(path, text, table, header, columns, role)  # after: an open quote leaves a row short
    frame.attrs = {
        "encoding": encoding,
        "undecodable": n_undecodable,
        "undecodable_rows": undecodable_rows,
        "nul": n_nul,
        "nul_rows": nul_rows,
        "short_rows": short_rows,
    }
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
        return _first_lines(self.raw)

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
    which = "every id (as in the competition's test file)" if changed.size and changed.all() else "the id"
    split.count("id_whitespace", frame, changed, action=f"spaces around {which} removed; rows kept, ids submitted "
                                                        "without them")
    empty = (stripped == "").to_numpy()
    if split.role == "test" and empty.any():
        line = split.first_line[frame.index[empty][0]]
        raise DataError(
            f"{split.path}: line {line}: empty id in column {split.columns.id!r} ({int(empty.sum())} such row(s)); "
            "every test row needs an id to be predicted"
        )
    return split.count("empty_id", frame, empty, empty)


def _check_ids(split: _Split, frame: pd.DataFrame) -> None:
    """Raise DataError naming the line of the first id that cannot be one (see id_problem)."""
    problems = find_id_problems(frame["id"], tuple(split.raw.columns), split.columns.id_pattern)
    if problems:
        position, value, problem = problems[0]
        raise DataError(
            f"{split.path}: line {split.first_line[position]}: id {value!r} (column {split.columns.id!r}) {problem} "
            f"({len(problems)} such id(s))"
        )


def normalise_label(raw: str, integer_classes: bool) -> str:
    """raw in NFKC (full-width digits and signs become plain ones) without blank characters at its ends; when the
    classes are integers, an integer however written (+1, 1.0, 01, −1 with a minus sign or a dash) as the plain
    integer."""
    label = unicodedata.normalize("NFKC", raw).strip(blank_characters())
    if integer_classes and _INTEGER.fullmatch(signed := label.translate(_MINUS_SIGNS)):
        return str(int(signed.split(".")[0]))
    return label


def _check_labels(split: _Split, frame: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    integer_classes = all(re.fullmatch(r"-?[0-9]+", label) and label == str(int(label)) for label in classes)
    as_read = frame["label"]
    normalised = {raw: normalise_label(raw, integer_classes) for raw in as_read.unique().tolist()}
    labels = as_read.map(normalised)
    invalid = (~labels.isin(classes)).to_numpy()
    changed = (labels != as_read).to_numpy() & ~invalid
    by_value = {str(value): int(n) for value, n in as_read[invalid].value_counts(sort=True).items()}
    rewritten = {
        str(raw): {"label": normalised[raw], "rows": int(n)} for raw, n in as_read[changed].value_counts().items()
    }
    frame = frame.assign(label=labels)
    split.count("label_normalised", frame, changed, by_value=rewritten)
    return split.count("invalid_label", frame, invalid, invalid, by_value=by_value)


def _check_texts(split: _Split, frame: pd.DataFrame) -> pd.DataFrame:
    empty = (frame["text"].str.strip(blank_characters()) == "").to_numpy()
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
            f"({len(conflicting_ids)} such id(s)); a test id must have one text"
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


def _check_classes(split: _Split, class_counts: dict[str, int]) -> None:
    """Raise DataError when a class has no train row: the folds and the models would fail later, less clearly."""
    missing = [label for label, n in class_counts.items() if n == 0]
    if not missing:
        return
    dropped = {rule: entry["dropped"] for rule, entry in split.rules.items() if entry["dropped"]}
    invalid = split.rules["invalid_label"]["by_value"]
    hint = f"; labels dropped as invalid: {dict(list(invalid.items())[:5])}" if invalid else ""
    raise DataError(
        f"{split.path}: no train row of class(es) {missing} (column {split.columns.label!r}): rows kept per class "
        f"{class_counts} of {len(split.raw)} read, dropped by rule {dropped}{hint}; fix the labels in the file, or "
        "list only the classes it has in `classes`"
    )


def _ingest_split(path, role: str, columns: Columns, classes: tuple[str, ...], policy: str, encoding: str,
                  log: Callable[[str], None] = _quiet):
    """(kept frame with a fresh index, the split's report). log: each stage's start and elapsed time (reading and
    checking the 900k unlabelled posts takes a while, in whole-column passes that cannot report inside)."""
    path = Path(path)
    with stage(log, f"ingest {role}: reading {path}"):
        raw = read_table(path, role, columns, encoding)
    with stage(log, f"ingest {role}: checking {len(raw)} rows"):
        return _check_split(path, raw, role, columns, classes, policy)


def _check_split(path: Path, raw: pd.DataFrame, role: str, columns: Columns, classes: tuple[str, ...], policy: str):
    split = _Split(path=path, role=role, columns=columns, raw=raw, rules={})
    frame = _standardise(path, raw, role, columns)
    for rule, key in (("undecodable_bytes", "undecodable"), ("nul_bytes", "nul")):
        split.count(rule, frame, frame.index.isin(raw.attrs[f"{key}_rows"]), chars=raw.attrs[key])
    frame = _drop_blank_rows(split, frame)
    short = frame.index.isin(raw.attrs.get("short_rows", []))
    frame = split.count("short_row", frame, short, short, action="fewer fields than the header: the values after "
                                                                  "the missing delimiter are in the wrong columns")
    frame = _strip_ids(split, frame)
    _check_ids(split, frame)
    if role == "train":
        frame = _check_labels(split, frame, classes)
    frame = _check_texts(split, frame)
    frame = _dedupe_ids(split, frame)
    if role == "train":
        frame = _dedupe_texts(split, frame, policy)
    frame = frame.reset_index(drop=True)
    rows_dropped = sum(entry["dropped"] for entry in split.rules.values())
    if len(raw) != len(frame) + rows_dropped:
        raise RuntimeError(
            f"bug in kit.data: {path}: {len(raw)} rows read, {len(frame)} kept, but the rules dropped {rows_dropped}"
        )
    hashed = [frame[name].tolist() for name in ("id", "text", "label") if name in frame.columns]
    report = {
        "path": str(path),
        "encoding": raw.attrs["encoding"],
        "rows_read": len(raw),
        "rows_kept": len(frame),
        "rows_dropped": rows_dropped,
        "rules": split.rules,
        "data_hash": sha256_strings(*hashed),
    }
    if role == "train":
        report["class_counts"] = {label: int((frame["label"] == label).sum()) for label in classes}
        _check_classes(split, report["class_counts"])
    return frame, report


def read_posts(path, columns: Columns = Columns(), encoding: str = "auto") -> pd.DataFrame:
    """Posts to classify, in the test file's layout and by the test split's rules (ids checked, a blank text kept
    as "", an id repeated with the same text once): frame `id`, `text`, then the file's other columns."""
    return _ingest_split(path, "test", columns, (), "keep", encoding)[0]


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
    encoding: str = "auto",
    log: Callable[[str], None] = _quiet,
) -> Ingested:
    """Read and check the competition's files by the rules of the module docstring; raise DataError on bad input.

    encoding: "auto" or a Python codec name for every file (see read_table). log: each split's stages, timed.
    """
    check_encoding(encoding)
    if conflicting_text not in CONFLICTING_TEXT_POLICIES:
        raise ValueError(f"conflicting_text must be one of {CONFLICTING_TEXT_POLICIES}, got {conflicting_text!r}")
    classes = tuple(str(label).strip() for label in classes)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must be at least two distinct labels, got {classes}")
    paths = {"train": train_path, "test": test_path, "unlabeled": unlabeled_path}
    frames, splits = {}, {}
    for role, path in paths.items():
        if path is not None:
            frames[role], splits[role] = _ingest_split(path, role, columns, classes, conflicting_text, encoding, log)
    train, test = frames["train"], frames["test"]
    report = {
        "classes": list(classes),
        "columns": asdict(columns),
        "conflicting_text": conflicting_text,
        "encoding": encoding,
        "splits": splits,
        "cross_split": {
            "test_ids_in_train": _shared_with_train(test, train, "id"),
            "test_texts_in_train": _shared_with_train(test, train, "text"),
        },
        "data_hash": sha256_strings([splits[role]["data_hash"] for role in splits]),
    }
    shared_ids = report["cross_split"]["test_ids_in_train"]
    if shared_ids["rows"]:
        log(f"warning: {shared_ids['rows']} of {len(test)} test ids are train ids too (e.g. "
            f"{', '.join(shared_ids['examples'][:3])}): is {test_path} the test file? Their predictions come from models "
            "that trained on those posts")
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
    return read_parquet(path).astype(str)


def read_texts(paths) -> list[str]:
    """The `text` column of each ingested split file, concatenated in the given order."""
    return [text for path in paths for text in read_parquet(path, columns=["text"])["text"].astype(str)]


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
                details = {key: value for key, value in entry.items()
                           if key not in ("rows", "dropped", "examples", "action")}
                text = "; ".join(filter(None, [entry.get("action"), ", ".join(entry["examples"]),
                                               str(details) if details else ""]))
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
