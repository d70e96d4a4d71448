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


def manifest(kind: str, honest: float) -> dict:
    return {"kind": kind, "honest_macro_f1": honest}


def test_auto_takes_the_best_honest_score_of_ensembles_and_experiments_alike():
    manifests = {
        "a.raw.s0": manifest("experiment", 0.70),
        "ensemble.mean": manifest("ensemble", 0.71),
        "ensemble.stack": manifest("ensemble", 0.74),
        "ensemble.vote": manifest("ensemble", 0.73),
    }
    chosen, reason = submission.choose(manifests, "auto")
    assert chosen == "ensemble.stack"
    assert reason == "auto: best honest OOF macro-F1 among 3 ensembles and 1 experiments (0.7400, next 0.7300)"
    manifests["a.raw.s0"] = manifest("experiment", 0.80)  # one model beats every ensemble honestly
    chosen, reason = submission.choose(manifests, "auto")
    assert chosen == "a.raw.s0" and reason.endswith("(0.8000, next 0.7400); a single experiment beat every ensemble")
    manifests["a.raw.s0"] = manifest("experiment", 0.74)  # a tie: the ensemble
    assert submission.choose(manifests, "auto")[0] == "ensemble.stack"


def test_auto_falls_back_to_experiments_and_a_name_is_taken_as_given():
    experiments = {"a.raw.s0": manifest("experiment", 0.61), "b.raw.s0": manifest("experiment", 0.66)}
    assert submission.choose(experiments, "auto")[0] == "b.raw.s0"
    both = {**experiments, "ensemble.mean": manifest("ensemble", 0.70)}
    assert submission.choose(both, "a.raw.s0") == ("a.raw.s0", "chosen by name: a.raw.s0")
    assert submission.choose(both, "mean")[0] == "ensemble.mean"
    with pytest.raises(ValueError, match="final choice 'nope' is not among the built artifacts"):
        submission.choose(both, "nope")
