"""kit.data: the real files, then one small generated file set per kind of input, good and bad, with its outcome.

CASES is the table of those file sets: each holds the bytes of its files and what ingest must make of them (an
error's words, or the exact ids kept and the rules counted), so a fault suite can run the same cases through
`python -m kit ingest` and Snakemake.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import kit.data
import kit.encoding
from kit.artifacts import sha256_strings
from kit.settings import parse
from kit.data import (
    Columns,
    DataError,
    blank_characters,
    ingest,
    lines_like_rows,
    normalise_label,
    read_split,
    read_table,
    report_table,
    write_ingested,
)

HEADER = ["微博id", "微博发布时间", "发布人账号", "微博中文内容", "微博图片", "微博视频"]
TRAIN_HEADER = HEADER + ["情感倾向"]
CLASSES = ("-1", "0", "1")
TRADITIONAL = "武漢加油，醫護人員辛苦了，大家一起努力，疫情終將過去。謝謝你們的付出"  # 30 Chinese characters, all in Big5


def post_id(number: int) -> str:
    return str(4456068992182160 + number)


def post(number: int, text: str | None = None, label: str | None = None) -> list[str]:
    """One train row, labelled -1, 0, 1 by number unless told; drop the label (row[:-1]) for test and unlabeled."""
    text = f"武汉加油，第{number}条微博" if text is None else text
    label = CLASSES[number % 3] if label is None else label
    return [post_id(number), "01月01日 23:38", f"user{number}", text, "[]", "[]", label]


def csv_bytes(rows, header=TRAIN_HEADER, encoding="gb18030", newline="\r\n") -> bytes:
    """rows as the competition writes them (GB18030, CRLF, minimal quoting); header=None writes rows only."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(([header] if header else []) + list(rows))
    return buffer.getvalue().encode(encoding)


def unlabeled_bytes(rows, **options) -> bytes:
    """rows without their label column, as a test or unlabeled file."""
    return csv_bytes([row[:-1] for row in rows], header=HEADER, **options)


TRAIN = [post(k) for k in range(3)]
TEST = [post(900 + k) for k in range(3)]


def files(train=None, test=None, unlabeled=None) -> dict[str, bytes]:
    """Train and test files (three clean rows each unless given) and an optional unlabeled file."""
    chosen = {
        "train": csv_bytes(TRAIN) if train is None else train,
        "test": unlabeled_bytes(TEST) if test is None else test,
    }
    return chosen if unlabeled is None else {**chosen, "unlabeled": unlabeled}


@dataclass(frozen=True)
class Case:
    """One generated file set and what ingest must make of it.

    files: role -> bytes of the file; options: ingest's keyword arguments; error: a regex that the one-line
    DataError message must match; kept and texts: role -> the exact ids and texts kept; report: dotted keys into the
    report ("splits.train.rules.empty_text.dropped") -> the value they must have.
    """

    name: str
    files: dict[str, bytes]
    options: dict = field(default_factory=dict)
    error: str | None = None
    kept: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    report: dict[str, object] = field(default_factory=dict)
    folder: str = "data"

    def write(self, root: Path) -> dict[str, Path]:
        """The files under root/folder as train.csv, test.csv, unlabeled.csv; role -> path."""
        folder = root / self.folder
        folder.mkdir(parents=True)
        paths = {role: folder / f"{role}.csv" for role in self.files}
        for role, path in paths.items():
            path.write_bytes(self.files[role])
        return paths


def dig(report: dict, dotted: str):
    value = report
    for key in dotted.split("."):
        value = value[key]
    return value


def rows_and_dropped(rows: int, dropped: int, split: str, rule: str) -> dict:
    return {f"splits.{split}.rules.{rule}.rows": rows, f"splits.{split}.rules.{rule}.dropped": dropped}


def ids(*numbers: int) -> list[str]:
    return [post_id(number) for number in numbers]


def with_id(row: list[str], new_id: str) -> list[str]:
    return [new_id, *row[1:]]


def with_text(row: list[str], text: str) -> list[str]:
    return [row[0], *row[1:3], text, *row[4:]]


ASCII_HEADER = ["id", "text", "label"]
ASCII_COLUMNS = Columns(id="id", text="text", label="label")
ASCII_TRAIN = csv_bytes([[post_id(k), f"武汉加油{k}", CLASSES[k % 3]] for k in range(3)], ASCII_HEADER)
BIG5_ROWS = [[post_id(k), f"{TRADITIONAL}{k}", CLASSES[k % 3]] for k in range(3)]
QUOTED = '带逗号,引号"和\r\n换行的微博'
JAPANESE = "日本語のテキストです。東京は晴れています。明日も晴れるでしょう。"
ALL_TRAIN = {"train": ids(0, 1, 2)}
ALL_TEST = {"test": ids(900, 901, 902)}


def undecodable(payload: bytes) -> bytes:
    """payload with each X turned into 0x80 and each Y into 0xFF, bytes that no GB18030 text holds."""
    return payload.replace(b"X", b"\x80").replace(b"Y", b"\xff")


def rows_with_ids(*new_ids: str, **options) -> bytes:
    """A test file whose rows carry new_ids."""
    return unlabeled_bytes([with_id(post(900 + k), new_id) for k, new_id in enumerate(new_ids)], **options)


def train_labelled(*labels: str) -> bytes:
    return csv_bytes([post(k, label=label) for k, label in enumerate(labels)])


def quote_opened(payload: bytes, *after: str) -> bytes:
    """payload with a quote that nothing closes put after each of the given texts (written `,user3,` and the like):
    the field that follows starts with it."""
    for text in after:
        payload = payload.replace(text.encode("gb18030"), text.encode("gb18030") + b'"', 1)
    return payload


MULTILINE_POSTS = [  # line breaks in real posts, lines that start with numbers and commas among them
    "武汉加油\r\n1,2,3 一起努力",
    "2020,1,23 封城\r\n2020,2,1 复工推迟\r\n",
    f"转发 {post_id(5)}\r\n{post_id(5)}，原文",
    f"{post_id(6)}\r\n{post_id(6)} 说：\r\n加油",
]


CASES = [
    # --- encodings that read
    Case("utf-8 with a BOM", files(csv_bytes(TRAIN, encoding="utf-8-sig")), kept=ALL_TRAIN,
         report={"splits.train.encoding": "utf-8-sig"}),
    Case("utf-8 without a BOM", files(csv_bytes(TRAIN, encoding="utf-8")), kept=ALL_TRAIN,
         report={"splits.train.encoding": "utf-8"}),
    Case("gb18030 with two undecodable bytes in one text, as the real test file",
         files(test=undecodable(unlabeled_bytes([post(900, "复制X这段话Y"), *TEST[1:]]))),
         kept=ALL_TEST, texts={"test": ["复制\ufffd这段话\ufffd", TEST[1][3], TEST[2][3]]},
         report={"splits.test.encoding": "gb18030", "splits.test.rules.undecodable_bytes.chars": 2,
                 **rows_and_dropped(1, 0, "test", "undecodable_bytes")}),
    Case("traditional characters in gb18030 are plausible",
         files(csv_bytes([with_text(TRAIN[0], TRADITIONAL), *TRAIN[1:]])), kept=ALL_TRAIN,
         report={"splits.train.encoding": "gb18030"}),
    Case("big5 read with the encoding set to big5",
         files(csv_bytes(BIG5_ROWS, ASCII_HEADER, encoding="big5"),
               csv_bytes([[post_id(9), TRADITIONAL]], ASCII_HEADER[:2], encoding="big5")),
         options={"columns": ASCII_COLUMNS, "encoding": "big5"}, kept={"train": ids(0, 1, 2), "test": ids(9)},
         texts={"test": [TRADITIONAL]}, report={"splits.train.encoding": "big5"}),
    Case("CR line ends", files(csv_bytes(TRAIN, newline="\r")), kept=ALL_TRAIN),
    Case("a path with spaces and Chinese", files(), kept=ALL_TRAIN, folder="my data 比赛 数据"),
    # --- encodings refused
    Case("utf-16 with a BOM", files(test=unlabeled_bytes(TEST, encoding="utf-16")),
         error=r"test\.csv: is UTF-16 \(it starts with a UTF-16 byte-order mark\); re-save it as UTF-8"),
    Case("utf-16 without a BOM", files(test=unlabeled_bytes(TEST, encoding="utf-16-le")),
         error=r"test\.csv: is UTF-16 \(\d+ NUL bytes, all at odd offsets\); re-save it as UTF-8"),
    Case("big5 with an ASCII header", files(csv_bytes(BIG5_ROWS, ASCII_HEADER, encoding="big5")),
         options={"columns": ASCII_COLUMNS},
         error=r"train\.csv: does not read as Chinese text in GB18030: only 15% of its 99 Chinese characters .*"
               r"it reads as Big5 .*: set the encoding to big5 \(data\.encoding in the config\)"),
    Case("big5 with a Chinese header and no Chinese text",
         files(csv_bytes([[post_id(k), "ok", CLASSES[k]] for k in range(3)], ["編號", "內容", "標籤"], encoding="big5")),
         options={"columns": Columns(id="编号", text="内容", label="标签")},
         error=r"train\.csv: no column '编号'.*\(read as gb18030: if the header looks garbled, the file is in another "
               r"encoding; set it with data\.encoding in the config\)"),
    Case("shift-jis", files(ASCII_TRAIN, csv_bytes([[post_id(9), JAPANESE]], ["id", "text"], encoding="shift_jis")),
         options={"columns": ASCII_COLUMNS},
         error=r"test\.csv: does not read as Chinese text in GB18030: only 0% .*set the encoding to the file's own"),
    Case("a gb18030 file with one utf-8 row", files(csv_bytes(TRAIN) + csv_bytes([post(3)], None, encoding="utf-8")),
         error=r"train\.csv: mixes encodings: line 1 is not UTF-8, but 1 line\(s\) holding Chinese are \(first: "
               r"line 5\); files joined with `cat`\?"),
    Case("a utf-8 file with one gb18030 row", files(csv_bytes(TRAIN, encoding="utf-8") + csv_bytes([post(3)], None)),
         error=r"train\.csv: mixes encodings: line 5 is not UTF-8, but 4 line\(s\) holding Chinese are "
               r"\(first: line 1\)"),
    Case("binary garbage", files(test=np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()),
         error=r"test\.csv: \d+ undecodable byte sequences in \d+ characters: the file is neither UTF-8 nor GB18030"),
    Case("a block of NULs", files(test=unlabeled_bytes(TEST) + b"\x00" * 512),
         error=r"test\.csv: holds 512 NUL characters in \d+: a binary file"),
    Case("an encoding that does not fit", files(), options={"encoding": "utf-8"},
         error=r"train\.csv: line 1: bytes b2 are not utf-8 \(invalid start byte\); set the file's real encoding"),
    Case("gb18030 set meets an undecodable byte", files(test=undecodable(unlabeled_bytes([post(900, "坏X字节")]))),
         options={"encoding": "gb18030"}, error=r"test\.csv: line 2: bytes 80 are not gb18030"),
    # --- empty and malformed files
    Case("empty file", files(test=b""), error=r"test\.csv: is empty"),
    Case("a BOM and a line end only", files(test=b"\xef\xbb\xbf\r\n"), error=r"test\.csv: is empty"),
    Case("header only", files(test=unlabeled_bytes([])), error=r"test\.csv: has a header but no rows"),
    Case("renamed text column", files(csv_bytes(TRAIN, [*TRAIN_HEADER[:3], "微博内容", *TRAIN_HEADER[4:]])),
         error=r"train\.csv: no column '微博中文内容' \(required for role 'train'\).*did you mean \['微博内容', .*\]\?$"),
    Case("a test file without its header line", files(test=unlabeled_bytes(TEST).split(b"\r\n", 1)[1]),
         error=r"test\.csv: line 1 looks like a row of data, not a header \(it holds '4456068992183060', an id by "
               r"columns\.id_pattern\): is the header line missing\? The header must name the columns \['微博id', "
               r"'微博中文内容'\]$"),
    Case("a train file without its header line, ids in another column",
         files(csv_bytes([["1", "很好", "a1", "5"], ["0", "太差", "a2", "1"]], None)),
         options={"classes": ("0", "1"),
                  "columns": Columns(id="review_id", text="review", label="label", id_pattern=r"[ab]\d")},
         error=r"train\.csv: line 1 looks like a row of data, not a header \(it holds 'a1', .*The header must name the "
               r"columns \['review_id', 'review', 'label'\]$"),
    Case("no label column in train", files(unlabeled_bytes(TRAIN)),
         error=r"train\.csv: no column '情感倾向' \(required for role 'train'\)"),
    Case("a row with an extra field, after a quoted line break", files(csv_bytes([post(0, "第一行\r\n第二行"), *TRAIN[1:],
                                                                               post(3) + ["多出来的字段"]])),
         error=r"train\.csv: line 6 \(id '4456068992182163'\): expected 7 fields, as in the header, saw 8: a text with "
               r"an unquoted comma\? Quote the field that holds the delimiter, or remove the extra one$"),
    Case("a header one name short", files(test=csv_bytes([row[:-1] for row in TEST], HEADER[:-1])),
         error=r"test\.csv: line 2 \(id '4456068992183060'\): expected 5 fields, as in the header, saw 6: .*remove "
               r"the extra one \(if every row has 6, the header lacks a name\)$"),
    Case("a row one field short", files(test=unlabeled_bytes([*TEST, [*post(903)[:1], *post(903)[2:]]])),
         error=r"test\.csv: line 5 \(id '4456068992183063'\): expected 6 fields, as in the header, saw 5: a delimiter "
               r"is missing, so the values after it would land in the wrong columns \(field '微博中文内容' would read "
               r"'\[\]', and '微博视频' nothing\); add the missing field, empty if it has no value$"),
    Case("a train row without its label field, after a blank line: dropped and counted, not read shifted",
         files(csv_bytes([*TRAIN, []]) + csv_bytes([post(3)[:-1]], None)),
         kept=ALL_TRAIN, report={**rows_and_dropped(1, 1, "train", "short_row"),
                                 "splits.train.rules.short_row.examples": ids(3)}),
    Case("an unlabelled row a field short: dropped and counted",
         files(unlabeled=unlabeled_bytes([post(950), [*post(951)[:1], *post(951)[2:]], post(952)])),
         kept={"unlabeled": ids(950, 952)}, report=rows_and_dropped(1, 1, "unlabeled", "short_row")),
    Case("a header that ends in a delimiter", files(test=unlabeled_bytes(TEST).replace(b"\r\n", b",\r\n", 1)),
         error=r"test\.csv: line 1: the header has 7 fields, its field\(s\) \[7\] without a name \(a delimiter too "
               r"many\?\), where line 2, the first row, has 6; remove the extra delimiter from the header$"),
    Case("a header with a delimiter too many before the label, which left every label empty",
         files(csv_bytes(TRAIN, [*TRAIN_HEADER[:-1], "", TRAIN_HEADER[-1]])),
         error=r"train\.csv: line 1: the header has 8 fields, its field\(s\) \[7\] without a name"),
    Case("empty last fields, quoted or not, and a blank line are no short rows",
         files(test=unlabeled_bytes([TEST[0], [*TEST[1][:5], "", "-"], TEST[2]]).replace(b"[],[]\r\n", b'[],""\r\n', 1)
               + b"\r\n"),
         kept=ALL_TEST, report=rows_and_dropped(1, 1, "test", "blank_rows")),
    Case("two quotes left open: the rows between them would be one row's text",
         files(test=quote_opened(unlabeled_bytes([post(900 + k) for k in range(8)]), ",user903,", ",user907,")),
         error=r"test\.csv: line 5: field '微博中文内容' of id '4456068992183063' runs on to line 9, holding 4 line\(s\) "
               r"that look like rows of their own \(line 6: '4456068992183064,01月01日 23:38,user904,武汉加油，第904条微博,"
               r"\[\],\[\]'\): the quote that opens it is not closed on line 5, so the rows up to the quote on line 9 "
               r"were read as its text \(1 such field\(s\) in the file\); close or escape \(as \"\"\) the quote on line 5$"),
    Case("two quotes left open in train, after quoted line breaks, the first in the time column",
         files(quote_opened(csv_bytes([post(0, MULTILINE_POSTS[0]), *(post(k) for k in range(1, 6))]),
                            f"{post_id(2)},", ",user4,")),
         error=r"train\.csv: line 5: field '微博发布时间' of id '4456068992182162' runs on to line 7, holding 2 "
               r"line\(s\) .*\(line 6: '4456068992182163,01月01日 23:38,user3,武汉加油，第3条微博,\[\],\[\],-1'\).*"
               r"close or escape \(as \"\"\) the quote on line 5$"),
    Case("a quote left open in the id column, the row before the next quote's",
         files(test=quote_opened(unlabeled_bytes([post(900 + k) for k in range(4)]), "\r\n", ",user901,")),
         error=r"test\.csv: line 2: field '微博id' runs on to line 3, holding 1 line\(s\) .*\(line 3: "
               r"'4456068992183061,01月01日 23:38,user901,武汉加油，第901条微博'\)"),
    Case("one quote left open, after a quoted line break: the error names its line",
         files(test=quote_opened(unlabeled_bytes([post(900, "第一行\r\n第二行"), post(901), post(902)]), ",user902,")),
         error=r"test\.csv: line 5: the quote that opens field '微博中文内容' is never closed, so the rest of the file "
               r"would be read as that one field; close the quote, or escape a quote inside a quoted field as \"\"$"),
    # --- ids
    Case("leading zeros and a trailing space are ids as written",
         files(csv_bytes([with_id(TRAIN[0], "0012345678901234567 "), *TRAIN[1:]])),
         kept={"train": ["0012345678901234567", *ids(1, 2)]}, report=rows_and_dropped(1, 0, "train", "id_whitespace")),
    Case("every test id ends in a space, as in the competition's test file: stripped, and the report says so",
         files(test=rows_with_ids(*(post_id(900 + k) + " " for k in range(3)))), kept={"test": ids(900, 901, 902)},
         report={**rows_and_dropped(3, 0, "test", "id_whitespace"),
                 "splits.test.rules.id_whitespace.action": "spaces around every id (as in the competition's test "
                                                           "file) removed; rows kept, ids submitted without them"}),
    Case("an empty train id drops the row", files(csv_bytes([*TRAIN, with_id(post(3), "  ")])), kept=ALL_TRAIN,
         report={**rows_and_dropped(1, 1, "train", "empty_id"), "splits.train.rules.empty_id.examples": ["line 5"]}),
    Case("an empty test id", files(test=unlabeled_bytes([post(900, "第一行\r\n第二行"), with_id(post(901), "")])),
         error=r"test\.csv: line 4: empty id in column '微博id' \(1 such row\(s\)\); every test row needs an id"),
    Case("a test id with an undecodable byte", files(test=undecodable(rows_with_ids(post_id(900), post_id(901) + "X"))),
         error=r"test\.csv: line 3: id '\d{16}\ufffd' \(column '微博id'\) holds U\+FFFD, an undecodable byte"),
    Case("a test id with a zero-width space", files(test=rows_with_ids(post_id(900), post_id(901) + "\u200b")),
         error=r"test\.csv: line 3: id '\d{16}\\u200b' .*U\+200B \(ZERO WIDTH SPACE\); delete it"),
    Case("a test id with a BOM", files(test=rows_with_ids("\ufeff" + post_id(900), encoding="utf-8")),
         error=r"test\.csv: line 2: id '\\ufeff\d{16}' .*U\+FEFF \(ZERO WIDTH NO-BREAK SPACE\)"),
    Case("two utf-8 test files joined with cat",
         files(test=unlabeled_bytes(TEST[:1], encoding="utf-8-sig") + unlabeled_bytes(TEST[1:], encoding="utf-8-sig")),
         error=r"test\.csv: line 3: id '\\ufeff微博id' \(column '微博id'\) is a header name: .*joined with `cat`"),
    Case("two gb18030 train files joined with cat", files(csv_bytes(TRAIN) + csv_bytes([post(3)])),
         error=r"train\.csv: line 5: id '微博id' .*is a header name"),
    Case("an ASCII header line without an id pattern",
         files(ASCII_TRAIN + csv_bytes([], ASCII_HEADER)),
         options={"columns": Columns(id="id", text="text", label="label", id_pattern=None)},
         error=r"train\.csv: line 5: id 'id' .*is a header name"),
    Case("ids saved through Excel", files(csv_bytes([with_id(row, "4.45607E+15") for row in TRAIN])),
         error=r"train\.csv: line 2: id '4\.45607E\+15' .*Excel saves a 16-digit id as 4\.46E\+15.*\(3 such id\(s\)\)"),
    Case("ids written as floats without an id pattern", files(test=rows_with_ids(post_id(900) + ".0")),
         options={"columns": Columns(id_pattern=None)},
         error=r"test\.csv: line 2: id '\d{16}\.0' .*as a spreadsheet writes it"),
    Case("full-width digits in an id", files(test=rows_with_ids("４４５６")),
         error=r"test\.csv: line 2: id '４４５６' .*full-width .*'4456'"),
    Case("an id off the pattern", files(test=rows_with_ids("abc-1")),
         error=r"test\.csv: line 2: id 'abc-1' .*does not match the id pattern '\\\\d\+' \(columns\.id_pattern\)"),
    Case("any printable id without an id pattern", files(test=rows_with_ids("abc-1", "微博_7", "123e456")),
         options={"columns": Columns(id_pattern=None)}, kept={"test": ["abc-1", "微博_7", "123e456"]}),
    # --- labels
    Case("labels written as numbers, full-width or padded are the integer class",
         files(train_labelled("-1.0", "+0", "１", " 1\u200b", "0")), kept={"train": ids(0, 1, 2, 3, 4)},
         report={**rows_and_dropped(4, 0, "train", "label_normalised"),
                 "splits.train.rules.label_normalised.by_value": {
                     "-1.0": {"label": "-1", "rows": 1}, "+0": {"label": "0", "rows": 1},
                     "１": {"label": "1", "rows": 1}, " 1\u200b": {"label": "1", "rows": 1}},
                 "splits.train.class_counts": {"-1": 1, "0": 2, "1": 2}}),
    Case("-1 written with a minus sign, a hyphen or an en dash is the class -1, counted like full-width digits",
         files(train_labelled("\u22121", "0", "1", "\u20101", "\u20131", "－1")),
         kept={"train": ids(0, 1, 2, 3, 4, 5)},
         report={**rows_and_dropped(4, 0, "train", "label_normalised"),
                 "splits.train.rules.label_normalised.by_value": {
                     "\u22121": {"label": "-1", "rows": 1}, "\u20101": {"label": "-1", "rows": 1},
                     "\u20131": {"label": "-1", "rows": 1}, "－1": {"label": "-1", "rows": 1}},
                 "splits.train.class_counts": {"-1": 4, "0": 1, "1": 1}}),
    Case("invalid labels drop the row, counted by raw value",
         files(train_labelled("-1", "0", "1", "-", "·", "4", "1.5", "", "-")), kept=ALL_TRAIN,
         report={**rows_and_dropped(6, 6, "train", "invalid_label"),
                 "splits.train.rules.invalid_label.by_value": {"-": 2, "·": 1, "4": 1, "1.5": 1, "": 1}}),
    Case("no train row kept", files(train_labelled("1.5", "1.5", "1.5")),
         error=r"train\.csv: no train row of class\(es\) \['-1', '0', '1'\] \(column '情感倾向'\): rows kept per class "
               r"\{'-1': 0, '0': 0, '1': 0\} of 3 read, dropped by rule \{'invalid_label': 3\}; labels dropped as "
               r"invalid: \{'1\.5': 3\}"),
    Case("a class without a train row", files(train_labelled("0", "1", "0", "1")),
         error=r"train\.csv: no train row of class\(es\) \['-1'\].*list only the classes it has in `classes`"),
    Case("a train file of one class", files(train_labelled("0", "0", "0")),
         error=r"train\.csv: no train row of class\(es\) \['-1', '1'\]"),
    Case("other classes and columns",
         files(csv_bytes([["pos", "很好", "a1", "5"], ["neg", "太差", "a2", "1"]], ["label", "review", "review_id", "x"]),
               csv_bytes([["还行", "b1", "3"]], ["review", "review_id", "x"])),
         options={"classes": ("neg", "pos"),
                  "columns": Columns(id="review_id", text="review", label="label", id_pattern=r"[ab]\d")},
         kept={"train": ["a1", "a2"], "test": ["b1"]}),
    # --- texts
    Case("empty, whitespace and invisible texts drop train rows and keep test rows as ''",
         files(csv_bytes([*TRAIN, *(post(3 + k, text) for k, text in enumerate(["", " \u3000\r\n", "\u200b\ufeff"]))]),
               unlabeled_bytes([*TEST, post(903, "\ufeff\u200d"), post(904, "")])),
         kept={"train": ids(0, 1, 2), "test": ids(900, 901, 902, 903, 904)},
         texts={"test": [*(row[3] for row in TEST), "", ""]},
         report={**rows_and_dropped(3, 3, "train", "empty_text"), **rows_and_dropped(2, 0, "test", "empty_text"),
                 "splits.test.rules.empty_text.examples": ids(903, 904)}),
    Case("a NUL in one text is removed and counted",
         files(test=unlabeled_bytes([post(900, "有个\x00在这里"), *TEST[1:]])), kept=ALL_TEST,
         texts={"test": ["有个在这里", TEST[1][3], TEST[2][3]]},
         report={**rows_and_dropped(1, 0, "test", "nul_bytes"), "splits.test.rules.nul_bytes.chars": 1}),
    Case("quoted newlines, quotes, commas, control characters, emoji and a 200k-character post are kept",
         files(test=unlabeled_bytes([post(900, QUOTED), post(901, "响铃\x07和\x01控制符"), post(902, "加油💪🏻😷"),
                                     post(903, "长" * 200_000)])),
         kept={"test": ids(900, 901, 902, 903)},
         texts={"test": [QUOTED, "响铃\x07和\x01控制符", "加油💪🏻😷", "长" * 200_000]}),
    Case("posts holding a line that starts with a short id and a comma, in a file of short ids, are no rows left open",
         files(test=unlabeled_bytes([with_id(post(900, "今天的三件事:\r\n1,早起\r\n2,跑步"), "1"),
                                     with_id(post(901), "2"), with_id(post(902), "3")])),
         kept={"test": ["1", "2", "3"]}),
    Case("a post holding a line that starts with another post's id and a comma is no row left open",
         files(test=unlabeled_bytes([post(900, f"转发自\r\n{post_id(1)},原文如下"), post(901)])),
         kept={"test": ids(900, 901)}),
    Case("posts whose lines start with numbers and commas are no rows left open",
         files(test=unlabeled_bytes([post(903 + k, text) for k, text in enumerate(MULTILINE_POSTS)])),
         kept={"test": ids(903, 904, 905, 906)}, texts={"test": MULTILINE_POSTS}),
    Case("a test file with a label column keeps it as another column", files(test=csv_bytes(TEST)), kept=ALL_TEST,
         report={"splits.test.rows_kept": 3}),
    # --- duplicates
    Case("duplicate ids: identical copies kept once, conflicting ones dropped",
         files(csv_bytes([*TRAIN, post(3), post(4, label="1"), post(3), post(4, label="-1")])),
         kept={"train": ids(0, 1, 2, 3)},
         report={**rows_and_dropped(2, 1, "train", "duplicate_id_identical"),
                 **rows_and_dropped(2, 2, "train", "duplicate_id_conflicting")}),
    Case("duplicate test ids with identical texts kept once", files(test=unlabeled_bytes([*TEST, TEST[0]])),
         kept=ALL_TEST, report=rows_and_dropped(2, 1, "test", "duplicate_id_identical")),
    Case("a test id with two texts", files(test=unlabeled_bytes([*TEST, with_text(TEST[0], "另一条")])),
         error=rf"test\.csv: id '{post_id(900)}' \(column '微博id'\) appears on lines \[2, 5\] with different texts"),
    Case("ids and texts shared by train and test are counted",
         files(test=unlabeled_bytes([TRAIN[1], with_text(TEST[0], TRAIN[0][3]), TEST[1]])),
         kept={"test": ids(1, 900, 901)},
         report={"cross_split.test_ids_in_train": {"rows": 1, "examples": ids(1)},
                 "cross_split.test_texts_in_train.rows": 2}),
    Case("blank lines are dropped in every split", files(test=unlabeled_bytes([TEST[0], [""] * 7, TEST[1]]) + b"\r\n"),
         kept={"test": ids(900, 901)}, report=rows_and_dropped(2, 2, "test", "blank_rows")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case, tmp_path):
    paths = case.write(tmp_path)
    arguments = (paths["train"], paths["test"], paths.get("unlabeled"))
    if case.error:
        with pytest.raises(DataError) as caught:
            ingest(*arguments, **case.options)
        message = str(caught.value)
        assert "\n" not in message, message
        assert message.startswith(str(paths["train"].parent)), message
        assert caught.match(case.error)
        return
    result = ingest(*arguments, **case.options)
    for role, expected in case.kept.items():
        assert getattr(result, role)["id"].tolist() == expected
    for role, expected in case.texts.items():
        assert getattr(result, role)["text"].tolist() == expected
    for key, expected in case.report.items():
        assert dig(result.report, key) == expected, key
    for split in result.report["splits"].values():
        assert split["rows_read"] == split["rows_kept"] + split["rows_dropped"]


# ---------------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_test_file_loads_every_row_with_exact_ids(shared_data, tmp_path):
    train = tmp_path / "train.csv"
    train.write_bytes(csv_bytes(TRAIN))
    result = ingest(train, shared_data / "ncov" / "nCov_10k_test.csv")
    lines = (shared_data / "ncov" / "processed_uncut_test.txt").read_text(encoding="utf-8").splitlines()
    reference_ids, reference_texts = zip(*(line.split("__", 1) for line in lines))
    test = result.test
    assert len(test) == 10_000
    assert test["id"].tolist() == list(reference_ids)
    test_rules = result.report["splits"]["test"]["rules"]
    assert test_rules["undecodable_bytes"] == {"rows": 1, "dropped": 0, "examples": ["4460631988548260"], "chars": 2}
    assert test_rules["empty_text"]["rows"] == 37 and test_rules["empty_text"]["dropped"] == 0
    assert test_rules["id_whitespace"]["rows"] == 10_000  # every id of the real file ends in a space
    assert test_rules["nul_bytes"]["rows"] == 0
    assert result.report["splits"]["test"]["encoding"] == "gb18030"
    # The reference wrote empty texts as 'nan' and decoded the undecodable byte 0x80 as '€' (cp936).
    differing = [
        (ours, theirs) for ours, theirs in zip(test["text"], reference_texts) if ours != theirs and theirs != "nan"
    ]
    assert len(differing) == 1 and differing[0][0].count("\ufffd") == 2
    assert differing[0][0].replace("\ufffd", "€") == differing[0][1]
    assert (test["text"] == "").sum() == 37
    assert list(test.columns) == ["id", "text", *HEADER[1:3], *HEADER[4:]]


@pytest.mark.realdata
def test_unlabeled_stand_in_keeps_genuine_replacement_characters(shared_data, tmp_path):
    path = shared_data / "covid_weibo_unlabeled" / "covid_weibo_unlabeled_100k.csv"
    frame = read_table(path, "unlabeled")
    assert len(frame) == 100_000
    assert frame.attrs["encoding"] == "gb18030" and frame.attrs["undecodable"] == frame.attrs["nul"] == 0
    assert frame["微博中文内容"].str.count("\ufffd").sum() == 4  # written in the file, not introduced by decoding
    train = tmp_path / "train.csv"
    train.write_bytes(csv_bytes(TRAIN))
    unlabeled = ingest(train, shared_data / "ncov" / "nCov_10k_test.csv", path).report["splits"]["unlabeled"]
    assert unlabeled["rows_kept"] == 100_000  # every id passes the id check; no text is blank


# ---------------------------------------------------------------------------------------------------- rules


def test_clean_files_come_through_unchanged(tmp_path):
    rows = [*TRAIN, post(3)]
    rows[1] = with_text(rows[1], '带逗号,引号"和\r\n换行的微博')
    (tmp_path / "train.csv").write_bytes(csv_bytes(rows))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    lines = []
    result = ingest(tmp_path / "train.csv", tmp_path / "test.csv", log=lines.append)
    assert [line.split(":")[0] for line in lines if ": done in " in line] == [
        "ingest train", "ingest train", "ingest test", "ingest test"]  # reading, then checking, each timed
    assert "ingest train: checking 4 rows ..." in lines
    train = result.train
    assert list(train.columns) == ["id", "text", "label", *HEADER[1:3], *HEADER[4:]]
    assert train.values.tolist() == [[r[0], r[3], r[6], r[1], r[2], r[4], r[5]] for r in rows]
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in train.dtypes)  # pandas 2: object, 3: str
    split = result.report["splits"]["train"]
    assert split["rows_read"] == split["rows_kept"] == 4
    assert all(entry["rows"] == 0 for entry in split["rules"].values())
    assert split["class_counts"] == {"-1": 2, "0": 1, "1": 1}
    assert split["data_hash"] == sha256_strings(train["id"], train["text"], train["label"])
    json.dumps(result.report)


def test_encodings_read_alike(tmp_path):
    expected = None
    for encoding in ("gb18030", "utf-8-sig", "utf-8"):
        (tmp_path / f"{encoding}.csv").write_bytes(csv_bytes(TRAIN, encoding=encoding))
        frame = read_table(tmp_path / f"{encoding}.csv", "train")
        assert frame.attrs["encoding"] == encoding
        if expected is None:
            expected = frame
        pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize(
    "policy, kept",
    [
        ("keep", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ("majority", [0, 1, 2, 3, 4, 5, 7, 10]),
        ("drop", [0, 1, 2, 3, 10]),
    ],
)
def test_duplicate_texts_follow_the_conflicting_text_policy(tmp_path, policy, kept):
    # A agrees; B has a strict majority for "1" (3 of 4); C is a 1-1 tie.
    texts_labels = [("A", "1"), ("A", "1"), ("B", "1"), ("B", "1"), ("B", "0"), ("B", "1"), ("C", "1"), ("C", "0")]
    rows = [post(k, text=f"重复的微博{text}", label=label) for k, (text, label) in enumerate(texts_labels, start=2)]
    rows = [post(0), post(1), *rows, post(10, label="-1")]
    (tmp_path / "train.csv").write_bytes(csv_bytes(rows))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    result = ingest(tmp_path / "train.csv", tmp_path / "test.csv", conflicting_text=policy)
    rules = result.report["splits"]["train"]["rules"]
    agreeing, conflicting = rules["duplicate_text_agreeing"], rules["duplicate_text_conflicting"]
    assert (agreeing["rows"], agreeing["dropped"]) == (2, 0)
    assert conflicting["rows"] == 6 and conflicting["dropped"] == 11 - len(kept)
    assert conflicting["policy"] == policy
    assert result.train["id"].tolist() == ids(*kept)


def test_replacement_characters_written_in_the_file_are_not_counted(tmp_path):
    (tmp_path / "train.csv").write_bytes(csv_bytes([post(0, text="原文就有\ufffd这个字符"), *TRAIN[1:]]))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    result = ingest(tmp_path / "train.csv", tmp_path / "test.csv")
    assert result.report["splits"]["train"]["rules"]["undecodable_bytes"]["chars"] == 0
    assert result.train["text"].iloc[0] == "原文就有\ufffd这个字符"


def test_undecodable_bytes_and_nuls_are_found_in_any_column(tmp_path):
    rows = [post(0, text="复制这段话XbdtVXY后打开"), post(1), post(2)]
    rows[2][2] = "用户X\x00"
    (tmp_path / "train.csv").write_bytes(csv_bytes(rows).replace(b"X", b"\x80").replace(b"Y", b"\xff"))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    result = ingest(tmp_path / "train.csv", tmp_path / "test.csv")
    rules = result.report["splits"]["train"]["rules"]
    assert rules["undecodable_bytes"] == {"rows": 2, "dropped": 0, "examples": ids(0, 2), "chars": 4}
    assert rules["nul_bytes"] == {"rows": 1, "dropped": 0, "examples": ids(2), "chars": 1}
    assert result.train["text"].tolist() == ["复制这段话\ufffdbdtV\ufffd\ufffd后打开", rows[1][3], rows[2][3]]
    assert result.train["发布人账号"].iloc[2] == "用户\ufffd"


def test_every_dropped_row_is_counted_once(tmp_path):
    rows = [*TRAIN, post(3, label="-"), post(4, text=""), with_id(post(5), ""), post(0), post(6, label="1"),
            post(6, label="0"), post(20, text=TRAIN[0][3], label="1"), post(9)]
    (tmp_path / "train.csv").write_bytes(csv_bytes(rows))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    split = ingest(tmp_path / "train.csv", tmp_path / "test.csv", conflicting_text="drop").report["splits"]["train"]
    dropped = sum(entry["dropped"] for entry in split["rules"].values())
    assert split["rows_read"] - dropped == split["rows_kept"] == 3
    assert split["rows_dropped"] == dropped == 8


def test_a_rule_that_drops_rows_without_counting_them_is_a_bug(tmp_path, monkeypatch):
    monkeypatch.setattr(kit.data, "_dedupe_ids", lambda split, frame: frame.iloc[1:])
    (tmp_path / "train.csv").write_bytes(csv_bytes(TRAIN))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    bug = r"bug in kit\.data: .*train\.csv: 3 rows read, 2 kept, but the rules dropped 0"
    with pytest.raises(RuntimeError, match=bug):
        ingest(tmp_path / "train.csv", tmp_path / "test.csv")


@pytest.mark.parametrize(
    "raw, integer_classes, label",
    [("1", True, "1"), ("+1", True, "1"), ("1.0", True, "1"), ("1.", True, "1"), ("-0", True, "0"),
     ("－１", True, "-1"), ("\u3000-1\u200b", True, "-1"), ("\u22121", True, "-1"), ("\u20131.0", True, "-1"),
     ("\u207b1", True, "-1"), ("\u2212", True, "\u2212"), ("\u2212x", False, "\u2212x"), ("1.5", True, "1.5"),
     ("1e0", True, "1e0"), ("١", True, "١"), ("1.0", False, "1.0"), (" ｐｏｓ ", False, "pos")],
)
def test_labels_are_normalised_to_the_class_they_write(raw, integer_classes, label):
    assert normalise_label(raw, integer_classes) == label


def test_lines_like_rows_start_with_an_id_and_hold_a_row_s_fields_or_fewer():
    def looks_like_id(value):
        return value.isdigit() and len(value) == 16

    value = "\r\n".join([
        "心疼,[],[]",  # the field's own first line, never a row of its own
        f"{post_id(1)},t,u,心疼,[],[]",  # a whole row
        "1,2,3",  # numbers, not an id of the file
        f"{post_id(2)}，全角逗号",  # no delimiter after the id
        f"{post_id(3)},t,u,",  # a row cut at the quote that closed the field
        f"{post_id(4)},t,u,a,b,c,d",  # more fields than a row has
    ])
    assert lines_like_rows(value, 6, 0, looks_like_id) == [1, 4]
    assert lines_like_rows(f"好\r{post_id(1)}\nx,{post_id(2)},y", 3, 1, looks_like_id) == [2]  # CR, LF, a later id
    assert lines_like_rows(f"{post_id(1)},t,u,心疼,[],[]", 6, 0, looks_like_id) == []


def test_records_say_the_line_each_starts_on_and_leave_the_csv_field_limit_as_it_was():
    limit = csv.field_size_limit()
    text = 'id,text\r\n1,"two\r\nlines"\r\n\r\n2,' + "长" * 200_000 + '\r3,"open\r\n4,x\r\n'
    records = list(kit.data._records(text))
    assert [(line, len(fields)) for line, fields in records] == [(1, 2), (2, 2), (4, 0), (5, 2), (6, 2)]
    assert records[-1][1] == ["3", "open\r\n4,x\r\n"]  # a quote left open reads on to the end
    assert csv.field_size_limit() == limit
    assert kit.data._record(text, 3) == (5, ["2", "长" * 200_000])


def test_blank_characters_are_whitespace_and_what_shows_nothing():
    blank = blank_characters()
    assert all(character in blank for character in " \t\r\n\u3000\x00\x07\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164")
    assert not any(character in blank for character in "a微0_-·。\ufffd")


def test_the_common_characters_are_the_level_1_sets():
    flags = kit.encoding._char_flags()
    assert np.count_nonzero(flags & kit.encoding._COMMON_SIMPLIFIED) == 3755
    assert np.count_nonzero(flags & kit.encoding._COMMON_TRADITIONAL) == 5401
    assert flags[ord("的")] & kit.encoding._COMMON_SIMPLIFIED and not flags[ord("們")] & kit.encoding._COMMON_SIMPLIFIED


def test_bad_arguments_are_value_errors(tmp_path):
    (tmp_path / "train.csv").write_bytes(csv_bytes(TRAIN))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    with pytest.raises(ValueError, match="conflicting_text"):
        ingest(tmp_path / "train.csv", tmp_path / "test.csv", conflicting_text="vote")
    with pytest.raises(ValueError, match="role"):
        read_table(tmp_path / "train.csv", "dev")
    with pytest.raises(ValueError, match=r"encoding 'gb-2312' is neither 'auto' nor a Python text codec"):
        ingest(tmp_path / "train.csv", tmp_path / "test.csv", encoding="gb-2312")
    with pytest.raises(ValueError, match=r"encoding 'base64' is neither"):
        read_table(tmp_path / "train.csv", "train", encoding="base64")
    with pytest.raises(ValueError, match=r"'columns\.id_pattern': '\[0-9' is not a regular expression"):
        parse(Columns, {"id_pattern": "[0-9"}, "columns")


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv: cannot be read"):
        read_table(tmp_path / "nowhere.csv", "test")


# ---------------------------------------------------------------------------------------------------- outputs


def test_ingested_splits_round_trip_to_the_declared_files(tmp_path):
    rows = [post(k) for k in range(6)]
    for role, payload in files(csv_bytes(rows), unlabeled_bytes(rows), unlabeled_bytes(rows)).items():
        (tmp_path / f"{role}.csv").write_bytes(payload)
    with_unlabeled = ingest(tmp_path / "train.csv", tmp_path / "test.csv", tmp_path / "unlabeled.csv")
    outputs = {split: tmp_path / "out" / f"{split}.parquet" for split in ("train", "test", "unlabeled")}
    write_ingested(with_unlabeled, outputs, tmp_path / "out" / "report.json")
    for split, path in outputs.items():
        pd.testing.assert_frame_equal(read_split(path), getattr(with_unlabeled, split))
    assert json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8")) == with_unlabeled.report
    with pytest.raises(ValueError, match="outputs for splits.*ingested splits"):
        write_ingested(ingest(tmp_path / "train.csv", tmp_path / "test.csv"), outputs, tmp_path / "report.json")


def test_report_table_shows_the_rules_that_touched_rows(tmp_path):
    (tmp_path / "train.csv").write_bytes(csv_bytes([*TRAIN, post(3, label="-")]))
    (tmp_path / "test.csv").write_bytes(unlabeled_bytes(TEST))
    result = ingest(tmp_path / "train.csv", tmp_path / "test.csv")
    console = Console(record=True, width=200)
    console.print(report_table(result.report))
    text = console.export_text()
    assert "invalid_label" in text and post_id(3) in text and "duplicate_id_identical" not in text
