"""The real data the benchmarks read: one setting for where it is, one reader for its labeled file.

KIT_SHARED_DATA names the shared/data folder (default: ../shared/data beside the repository), as for the tests.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KIT_SHARED_DATA", REPO.parent / "shared" / "data"))
DEV_TXT = "ncov/processed_dev.txt"
LABELS = ("-1", "0", "1")


def read_processed_dev(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels) of processed_dev.txt: `__label__<y> word word ...` per line, the jieba words joined back
    into character strings (the character models read them so); a line without a valid label stops with its number."""
    texts, labels = [], []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        label, _, words = line.partition(" ")
        if not label.startswith("__label__") or label.removeprefix("__label__") not in LABELS:
            raise ValueError(f"{path}: line {line_no} has no __label__{{-1,0,1}} prefix")
        labels.append(label.removeprefix("__label__"))
        texts.append("".join(words.split()))
    return texts, labels
