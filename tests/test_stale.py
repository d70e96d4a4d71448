"""kit.stale: after a run, what an earlier run left in the folder (another fold file, older figures) is moved to
stale/ with why, never deleted and never left beside this run's files unmarked."""

import json
import os
from pathlib import Path

import pandas as pd

from kit.artifacts import write_parquet
from kit.folds import fold_hash
from kit.stale import set_aside, stale_files

IDS = [f"r{i}" for i in range(6)]


def write_run(root: Path, fold_of: list[int]) -> str:
    """data/folds.parquet for IDS with these folds; returns its hash."""
    write_parquet(pd.DataFrame({"id": IDS, "label": ["0"] * 6, "fold": fold_of}), root / "data" / "folds.parquet")
    return fold_hash(IDS, pd.Series(fold_of).to_numpy())


def artifact(root: Path, name: str, fold_hash_: str, age: float = 0.0) -> None:
    folder = root / "oof" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"name": name, "fold_hash": fold_hash_}))
    (folder / "oof.npz").write_bytes(b"npz")
    subs = root / "subs"
    subs.mkdir(exist_ok=True)
    (subs / f"{name}.csv").write_text("id,y\n")
    (subs / f"{name}.json").write_text(json.dumps({"source": name, "fold_hash": fold_hash_}))
    kind, stem = ("ensembles", name.removeprefix("ensemble.")) if name.startswith("ensemble.") else ("experiments", name)
    figure = root / "figures" / kind / f"{stem}.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    figure.write_bytes(b"png")
    if age:
        stamp = (root / "oof" / name / "manifest.json").stat().st_mtime - age
        os.utime(figure, (stamp, stamp))


def test_another_fold_files_artifacts_and_older_figures_go_to_stale_with_why(tmp_path):
    current = write_run(tmp_path, [0, 1, 0, 1, 0, 1])
    artifact(tmp_path, "lr.raw.s0", current)
    artifact(tmp_path, "ensemble.avg", "0" * 64)  # an earlier run's, on another fold file
    artifact(tmp_path, "svm.raw.s0", current, age=60)  # its figure drawn before its artifact was made anew
    (tmp_path / "models" / "folds" / "ensemble.avg").mkdir(parents=True)
    found = stale_files(tmp_path)
    assert set(found) == {Path(p) for p in ["oof/ensemble.avg/manifest.json", "oof/ensemble.avg/oof.npz",
                                            "subs/ensemble.avg.csv", "subs/ensemble.avg.json",
                                            "figures/ensembles/avg.png", "figures/experiments/svm.raw.s0.png"]}
    assert found[Path("subs/ensemble.avg.csv")] == f"made on another fold file (000000000000, not {current[:12]})"
    assert found[Path("figures/experiments/svm.raw.s0.png")].startswith("older than oof/svm.raw.s0/manifest.json")
    lines = []
    target = set_aside(tmp_path, lines.append)
    assert (target / "subs" / "ensemble.avg.csv").is_file() and not (tmp_path / "oof" / "ensemble.avg").exists()
    assert json.loads((target / "why.json").read_text())["oof/ensemble.avg/oof.npz"].startswith("made on another")
    assert lines[0].startswith(f"moved 6 file(s) of an earlier run to {target}")
    assert (tmp_path / "oof" / "lr.raw.s0" / "oof.npz").is_file() and (tmp_path / "subs" / "lr.raw.s0.csv").is_file()
    assert set_aside(tmp_path, lines.append) is None and stale_files(tmp_path) == {}  # nothing left to move


def test_figures_of_the_final_submission_follow_it_and_the_leaderboard_figure_its_own_rule(tmp_path):
    current = write_run(tmp_path, [0, 1, 0, 1, 0, 1])
    artifact(tmp_path, "ensemble.avg", current)
    (tmp_path / "subs" / "final.json").write_text(json.dumps({"source": "ensemble.avg", "fold_hash": current}))
    (tmp_path / "subs" / "final.csv").write_text("id,y\n")
    final = tmp_path / "figures" / "final"
    final.mkdir(parents=True)
    for name in ("final.png", "cv_vs_lb.png"):  # both drawn before subs/final.json was written
        (final / name).write_bytes(b"png")
        stamp = (tmp_path / "subs" / "final.json").stat().st_mtime - 60
        os.utime(final / name, (stamp, stamp))
    assert set(stale_files(tmp_path)) == {Path("figures/final/final.png")}  # no lb.csv: nothing it was drawn from
    (tmp_path / "lb.csv").write_text("recorded_at,submission\n")  # a leaderboard score recorded since
    assert set(stale_files(tmp_path)) == {Path("figures/final/final.png"), Path("figures/final/cv_vs_lb.png")}


def test_a_submission_whose_artifact_is_gone_goes_too(tmp_path):
    current = write_run(tmp_path, [0, 1, 0, 1, 0, 1])
    artifact(tmp_path, "lr.raw.s0", current)
    (tmp_path / "subs" / "final.json").write_text(json.dumps({"source": "ensemble.gone", "fold_hash": current}))
    (tmp_path / "subs" / "final.csv").write_text("id,y\n")
    assert stale_files(tmp_path) == {Path("subs/final.csv"): "its artifact ensemble.gone is not in oof/",
                                     Path("subs/final.json"): "its artifact ensemble.gone is not in oof/"}


def test_a_folder_without_a_fold_file_or_with_a_damaged_one_is_left_alone(tmp_path):
    artifact(tmp_path, "lr.raw.s0", "0" * 64)
    assert stale_files(tmp_path) == {}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "folds.parquet").write_bytes(b"")  # what snakemake --touch leaves
    assert set_aside(tmp_path) is None
