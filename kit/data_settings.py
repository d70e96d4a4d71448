"""The settings of the competition's files and of their ingest (kit/data.py): apart from it so that planning reads
them without pandas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kit import input_files
from kit.settings import Settings, fail, refuse_option_like, setting


@dataclass
class DataSettings(Settings):
    train: str = setting(help="labelled training CSV (relative to the working directory, or absolute)")
    test: str = setting(help="test CSV: every id in it gets a prediction")
    unlabeled: str | None = setting(None, "optional unlabelled CSV in the test file's layout")
    encoding: str = setting("auto", "auto: UTF-8, else GB18030 when it reads as plausible Chinese; or a Python codec "
                                    "name (big5, utf-16...), then used strictly")

    def check(self, path: str) -> None:
        for name in ("train", "test", "unlabeled"):
            value = getattr(self, name)
            refuse_option_like(f"{path}.{name}", value, f"write it as './{value}'")
            # A device, a pipe or a looping link is refused here, at plan time, not when ingest would hang on it.
            problem = input_files.problem(value) if value else None
            if problem:
                raise fail(f"{path}.{name}", f"{value!r} {problem}")
        if self.encoding != "auto":
            try:
                "".encode(self.encoding)
            except LookupError:
                raise fail(f"{path}.encoding", f"{self.encoding!r} is not a Python codec name (e.g. gb18030, big5, "
                                               "utf-8) nor 'auto'") from None


# Ids this long or longer can mark a row's start inside a field (kit.data), or in a file of posts (kit predict): a
# shorter number followed by a comma ("1,早起", "2020,武汉") starts many a line of a post.
ROW_ID_CHARS = 6


@dataclass
class Columns(Settings):
    """The competition's column names; another competition in the same layout may rename them. The other columns
    (time, user, images, videos) are carried through untouched when present."""

    id: str = setting("微博id", "id column of every file")
    text: str = setting("微博中文内容", "text column of every file")
    label: str = setting("情感倾向", "label column of the training file")
    # The competition's ids are digits: a pattern stops a header line, an Excel-mangled number or a shifted column
    # from being read as an id.
    id_pattern: str | None = setting(r"\d+", "every id must match this regular expression in full; null accepts any "
                                             "printable id")

    def check(self, path: str) -> None:
        roles = ("id", "text", "label")
        for index, name in enumerate(roles):
            refuse_option_like(f"{path}.{name}", getattr(self, name), "rename the column in the files")
            for earlier in roles[:index]:
                if getattr(self, name) == getattr(self, earlier):
                    raise fail(f"{path}.{name}", f"{getattr(self, name)!r} is {path}.{earlier} too; the id, text and "
                                                 "label columns are three different columns")
        refuse_option_like(f"{path}.id_pattern", self.id_pattern, f"write it as '(?:{self.id_pattern})'")
        if self.id_pattern is not None:
            try:
                re.compile(self.id_pattern)
            except re.error as error:
                raise fail(f"{path}.id_pattern", f"{self.id_pattern!r} is not a regular expression: {error}") from None

    def required(self, role: str) -> tuple[str, ...]:
        return (self.id, self.text, self.label) if role == "train" else (self.id, self.text)


@dataclass
class IngestSettings(Settings):
    conflicting_text: Literal["keep", "majority", "drop"] = setting(
        "keep", "identical train texts with different labels: keep all, keep the strict majority, or drop all")
