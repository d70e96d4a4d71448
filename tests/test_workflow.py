"""The Snakemake workflow end to end on a tiny config in a temporary folder, and dry runs of the shipped configs."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit.artifacts import Artifact
from kit.demo import make_demo

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Another competition in the same layout (train.csv, test.csv), named only through --configfile."""
    workdir = tmp_path_factory.mktemp("run")
    files = make_demo(workdir / "raw", n_train=500, n_test=120, n_unlabeled=50, seed=3)
    (workdir / "comp").mkdir()
    files["train"].rename(workdir / "comp" / "train.csv")
    files["test"].rename(workdir / "comp" / "test.csv")
    config = {
        "data": {"train": "comp/train.csv", "test": "comp/test.csv"},
        "folds": {"k": 3, "seed": 1},
        "models": {"char_lr": {"kind": "sklearn", "features": "char", "min_df": 1}},
        "ensembles": {"avg": {"method": "mean", "members": "all"}},
    }
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(workdir, "--configfile", "tiny.yaml", "-j2")
    return workdir


@pytest.mark.slow
def test_run_writes_valid_artifacts_and_a_valid_submission(tiny_run):
    test_ids = pd.read_parquet(tiny_run / "data" / "interim" / "test.parquet")["id"].tolist()
    final = pd.read_csv(tiny_run / "subs" / "final.csv", dtype=str)
    assert final.columns.tolist() == ["id", "y"]
    assert sorted(final["id"]) == sorted(test_ids) and len(test_ids) == 120
    assert set(final["y"]) <= {"-1", "0", "1"}
    sidecar = json.loads((tiny_run / "subs" / "final.json").read_text())
    assert sidecar["source"] == "ensemble.avg" and "best honest" in sidecar["reason"]
    for name in ("char_lr.raw.s0", "char_lr.cleaned.s0", "ensemble.avg"):
        artifact = Artifact.load(tiny_run / "oof" / name)
        assert artifact.manifest["fold_hash"] == sidecar["fold_hash"]
        assert artifact.oof_logits.shape == (len(artifact.ids), 3)
    report = json.loads((tiny_run / "data" / "interim" / "report.json").read_text())
    assert report["splits"]["train"]["rows_kept"] == len(Artifact.load(tiny_run / "oof" / "char_lr.raw.s0").ids)


@pytest.mark.slow
def test_scores_json_lists_every_artifact(tiny_run):
    out = subprocess.run(
        [sys.executable, "-m", "kit", "scores", "--json", "--oof-dir", str(tiny_run / "oof")],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"char_lr.raw.s0", "char_lr.cleaned.s0", "ensemble.avg"}
    for row in rows.values():
        assert {"name", "kind", "oof_macro_f1", "fold_f1_mean", "fold_f1_std", "per_class_f1", "honest_macro_f1"} <= set(row)
        assert row["oof_macro_f1"] > 0.4  # the demo's signal is learnable: chance is about 0.3
    assert rows["ensemble.avg"]["kind"] == "ensemble"


@pytest.mark.slow
def test_second_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run, "--configfile", "tiny.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "configfiles",
    [[], ["configs/competition.yaml", "configs/demo_data.yaml"]],
    ids=["default", "competition"],
)
def test_shipped_configs_plan(tmp_path, configfiles):
    args = ["--configfile", *[str(REPO / c) for c in configfiles]] if configfiles else []
    result = snakemake(tmp_path, "-n", *args)
    assert "fit_fold" in result.stdout
