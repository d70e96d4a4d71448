"""Submissions in the competition's format: header `id,y`, one row per test id, y a competition label.

Validation runs before anything is written: every id one the leaderboard can match (kit.data.find_id_problems: not
empty, no surrounding whitespace, no invisible or replacement character, not a header name or a spreadsheet
number), every test id exactly once, nothing else, every y a known class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kit.artifacts import Artifact, atomic_write_bytes
from kit.data import find_id_problems


class SubmissionError(ValueError):
    pass


def from_artifact(artifact: Artifact) -> pd.DataFrame:
    """DataFrame [n_test x 2] `id`, `y`: the argmax class of each test row's logits, as the competition's label."""
    predicted = artifact.test_logits.argmax(axis=1)
    return pd.DataFrame({"id": artifact.test_ids.astype(str), "y": artifact.classes.astype(str)[predicted]})


def validate(submission: pd.DataFrame, test_ids, classes, where: str = "submission") -> None:
    """Raise SubmissionError naming what is wrong: columns, an id that is not one, a missing, duplicated or foreign
    id, a bad label."""
    if list(submission.columns) != ["id", "y"]:
        raise SubmissionError(f"{where}: columns must be ['id', 'y'], got {list(submission.columns)}")
    ids = submission["id"].astype(str)
    problems = find_id_problems(ids, header=("id", "y"))
    if problems:
        _, value, problem = problems[0]
        raise SubmissionError(f"{where}: id {value!r} {problem} ({len(problems)} such id(s))")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise SubmissionError(f"{where}: {len(duplicated)} ids appear more than once, e.g. {list(duplicated[:3])}")
    expected = pd.Index(np.asarray(test_ids).astype(str))
    missing = expected.difference(ids)
    if len(missing):
        raise SubmissionError(f"{where}: {len(missing)} test ids have no prediction, e.g. {list(missing[:3])}")
    foreign = pd.Index(ids).difference(expected)
    if len(foreign):
        raise SubmissionError(f"{where}: {len(foreign)} ids are not in the test file, e.g. {list(foreign[:3])}")
    known = {str(c) for c in classes}
    bad = submission.loc[~submission["y"].astype(str).isin(known)]
    if len(bad):
        raise SubmissionError(f"{where}: row for id {bad['id'].iloc[0]} has y={bad['y'].iloc[0]!r}, not one of {sorted(known)}")


def write(submission: pd.DataFrame, path: Path, test_ids, classes) -> None:
    validate(submission, test_ids, classes, where=str(path))
    # CRLF-free UTF-8 with a plain header: what the leaderboard's checker reads.
    atomic_write_bytes(Path(path), submission.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)
