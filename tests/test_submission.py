import numpy as np
import pandas as pd
import pytest

from kit import submission
from tests.test_artifacts import make_artifact

CLASSES = ["-1", "0", "1"]


def test_from_artifact_maps_argmax_to_competition_labels():
    artifact = make_artifact(n_test=3)
    artifact.test_logits = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 5]], dtype=np.float32)
    frame = submission.from_artifact(artifact)
    assert frame.columns.tolist() == ["id", "y"]
    assert frame["y"].tolist() == ["-1", "0", "1"]
    assert frame["id"].tolist() == artifact.test_ids.tolist()


def test_written_file_has_the_competition_format(tmp_path):
    ids = ["4456068992182160", "4456424178427250"]
    frame = pd.DataFrame({"id": ids, "y": ["1", "-1"]})
    submission.write(frame, tmp_path / "s.csv", ids, CLASSES)
    assert (tmp_path / "s.csv").read_text() == "id,y\n4456068992182160,1\n4456424178427250,-1\n"
    assert submission.read(tmp_path / "s.csv")["id"].tolist() == ids


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"id": ["1", "2"], "label": ["0", "0"]}), "columns"),
        (pd.DataFrame({"id": ["1", "1", "2"], "y": ["0", "0", "0"]}), "more than once"),
        (pd.DataFrame({"id": ["1"], "y": ["0"]}), "no prediction.*'2'"),
        (pd.DataFrame({"id": ["1", "2", "3"], "y": ["0", "0", "0"]}), "not in the test file.*'3'"),
        (pd.DataFrame({"id": ["1", "2"], "y": ["0", "2"]}), "id 2 has y='2'"),
        (pd.DataFrame({"id": ["1", "2\ufffd"], "y": ["0", "0"]}), r"id '2\ufffd' holds U\+FFFD"),
        (pd.DataFrame({"id": ["\ufeff1", "2"], "y": ["0", "0"]}), r"id '\\ufeff1' holds the invisible character"),
        (pd.DataFrame({"id": ["1", "id"], "y": ["0", "0"]}), r"id 'id' is a header name"),
        (pd.DataFrame({"id": ["1", "4.46E+15"], "y": ["0", "0"]}), r"id '4\.46E\+15' is a number as a spreadsheet"),
        (pd.DataFrame({"id": ["1 ", "2"], "y": ["0", "0"]}), r"id '1 ' is empty or has whitespace around it"),
    ],
)
def test_invalid_submissions_are_refused_before_writing(tmp_path, frame, message):
    with pytest.raises(submission.SubmissionError, match=message):
        submission.write(frame, tmp_path / "s.csv", ["1", "2"], CLASSES)
    assert not (tmp_path / "s.csv").exists()
