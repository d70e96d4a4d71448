"""kit.disagreements: posts ranked by how the members' votes split, then by how far their probabilities spread; the
final ensemble's members found from the manifests; a table, a CSV and a figure."""

import numpy as np
import pandas as pd
import pytest

from kit.artifacts import Artifact, write_json
from kit.disagreements import (disagreement_rows, most_disagreed, shortest_max_len, vote_split, voters,
                               write_disagreements)
from kit.log import Log

CLASSES = np.array(["-1", "0", "1"])


def test_a_split_vote_ranks_above_a_unanimous_one_and_spread_breaks_ties():
    prob_stack = np.array([
        # row 0: unanimous; row 1: 2 vs 1, close; row 2: 2 vs 1, far apart; row 3: unanimous but spread
        [[0.8, 0.1, 0.1], [0.4, 0.35, 0.25], [0.9, 0.05, 0.05], [0.9, 0.05, 0.05]],
        [[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.9, 0.05, 0.05], [0.5, 0.3, 0.2]],
        [[0.8, 0.1, 0.1], [0.3, 0.4, 0.3], [0.05, 0.05, 0.9], [0.6, 0.2, 0.2]],
    ])
    votes, minority, spread = vote_split(prob_stack)
    assert votes[:, 2].tolist() == [0, 0, 2]
    np.testing.assert_allclose(minority, [0, 1 / 3, 1 / 3, 0])
    assert most_disagreed(minority, spread, top=4).tolist() == [2, 1, 3, 0]
    assert most_disagreed(minority, spread, top=2).tolist() == [2, 1]


def artifact(name, oof_logits, test_logits, labels, manifest=None):
    n = len(labels)
    return Artifact(ids=np.array([f"{i}" for i in range(n)]), labels=np.asarray(labels), fold_of=np.zeros(n, np.int8),
                    oof_logits=np.asarray(oof_logits, np.float32), test_ids=np.array(["t0", "t1"]),
                    test_logits=np.asarray(test_logits, np.float32), classes=CLASSES,
                    manifest={"name": name, "kind": "experiment", "fold_hash": "f", **(manifest or {})})


@pytest.fixture
def members():
    agree = [[3.0, 0, 0], [0, 3.0, 0]]
    return [artifact("a.raw.s0", agree, [[3.0, 0, 0], [0, 0, 3.0]], [0, 1]),
            artifact("b.raw.s0", agree, [[0, 3.0, 0], [0, 0, 3.0]], [0, 1], {"params": {"max_len": 12}})]


def test_rows_hold_the_text_each_vote_and_whether_max_len_cuts_it(members):
    final = artifact("ensemble.e", [[2.0, 0, 0], [0, 2.0, 0]], [[1.0, 0.9, 0], [0, 0, 2.0]], [0, 1],
                     {"kind": "ensemble"})
    texts = {"test": pd.Series({"t0": "先抑后扬：开始很难过，最后很感动", "t1": "加油"}),
             "train": pd.Series({"0": "难过", "1": "通报"})}
    frame = disagreement_rows(final, members, texts, max_len=12, top=1)
    test, oof = frame[frame["split"] == "test"].iloc[0], frame[frame["split"] == "oof"].iloc[0]
    assert (test["id"], test["final"], test["vote:a.raw.s0"], test["vote:b.raw.s0"]) == ("t0", "-1", "-1", "0")
    assert test["minority_share"] == 0.5 and test["length"] == 16 and test["cut"]  # 16 characters > 12 - 2
    assert test["vote_split"] == "1-1"
    assert test["label"] == "" and oof["label"] == "-1" and not oof["cut"]


def test_the_voters_are_the_final_ensembles_members_or_every_experiment():
    manifests = {"a": {"kind": "experiment"}, "b": {"kind": "experiment", "params": {"max_len": 64}},
                 "ensemble.x": {"kind": "ensemble", "members": ["b", "ensemble.y"]},
                 "ensemble.y": {"kind": "ensemble", "members": ["a", "b"]}}
    assert voters("ensemble.x", manifests) == ["b", "ensemble.y"]
    assert voters("a", manifests) == ["a", "b"]
    assert shortest_max_len(["ensemble.x"], manifests) == 64 and shortest_max_len(["a"], manifests) is None


def test_the_command_writes_a_csv_and_a_figure_and_logs_the_tables(members, tmp_path):
    final = artifact("ensemble.e", [[2.0, 0, 0], [0, 2.0, 0]], [[1.0, 0.9, 0], [0, 0, 2.0]], [0, 1],
                     {"kind": "ensemble", "members": ["a.raw.s0", "b.raw.s0"]})
    files = []
    for item in (*members, final):
        item.save(tmp_path / item.name)
        files.append((tmp_path / item.name / "oof.npz", tmp_path / item.name / "manifest.json"))
    write_json(tmp_path / "final.json", {"source": "ensemble.e"})
    pd.DataFrame({"id": ["t0", "t1"], "text": ["今天好难过", "加油"]}).to_parquet(tmp_path / "test.parquet")
    pd.DataFrame({"id": ["0", "1"], "text": ["难过", "通报"], "label": ["-1", "0"]}).to_parquet(tmp_path / "train.parquet")
    log = Log(tmp_path / "d.log")
    frame = write_disagreements(tmp_path / "final.json", files, tmp_path / "train.parquet", tmp_path / "test.parquet",
                                5, tmp_path / "d.csv", tmp_path / "d.png", log)
    assert pd.read_csv(tmp_path / "d.csv", dtype=str)["id"].tolist() == frame["id"].tolist() == ["t0", "t1", "0", "1"]
    assert (tmp_path / "d.png").read_bytes().startswith(b"\x89PNG")
    logged = (tmp_path / "d.log").read_text(encoding="utf-8")
    assert "Members disagree most on these test posts" in logged and "1=a.raw.s0" in logged and "今天好难过" in logged
    assert "split: members per class" in " ".join(logged.split())
    write_json(tmp_path / "final.json", {"source": "ensemble.gone"})
    with pytest.raises(ValueError, match="its source 'ensemble.gone' is not among the artifacts given"):
        write_disagreements(tmp_path / "final.json", files, tmp_path / "train.parquet", tmp_path / "test.parquet", 5,
                            None, None, log)
