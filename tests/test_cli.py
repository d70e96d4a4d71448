"""kit.cli: every command in process on a tiny demo (the wiring the rules rely on), the log contract (plain lines,
data errors as one line and exit 2, bugs as a traceback in the log too, Python warnings as log lines)."""

import json
import os
import warnings

import pandas as pd
import pytest

from kit import cli
from kit.artifacts import Artifact

COMMANDS = {"demo", "ingest", "variant", "folds", "build-backbone", "fit-fold", "merge", "ensemble", "submit", "scores"}


def test_every_command_has_a_log_option_and_an_example():
    subparsers = next(action for action in cli.parser()._actions if action.dest == "command").choices
    assert set(subparsers) == COMMANDS
    for name, sub in subparsers.items():
        assert "--log" in sub._option_string_actions, name
        assert f"python -m kit {name}" in sub.description, name


def test_the_commands_chain_from_demo_files_to_a_submission(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = "logs/chain.log"
    classes = ["--classes", "-1", "0", "1"]
    cli.main(["demo", "--out", "demo", "--n-train", "300", "--n-test", "60", "--n-unlabeled", "50", "--log", log])
    cli.main(["ingest", "--train", "demo/nCoV_100k_train.labled.csv", "--test", "demo/nCov_10k_test.csv",
              "--out", "interim", *classes, "--log", log])
    cli.main(["variant", "--name", "cleaned", "--interim", "interim", "--out", "variants/cleaned", "--log", log])
    cli.main(["folds", "--interim", "interim", "--k", "2", "--seed", "0", "--out", "folds.parquet", "--log", log])
    params = json.dumps({"features": "char", "min_df": 1})
    experiment = ["--kind", "sklearn", "--params-json", params, "--variant-dir", "variants/cleaned",
                  "--folds", "folds.parquet", *classes]
    for fold in (0, 1):
        cli.main(["fit-fold", *experiment, "--fold", str(fold), "--seed", "0", "--out", f"oof/lr.cleaned.s0/fold{fold}.npz",
                  "--log", log])
    cli.main(["merge", *experiment, "--fold-files", "oof/lr.cleaned.s0/fold0.npz", "oof/lr.cleaned.s0/fold1.npz",
              "--name", "lr.cleaned.s0", "--model", "lr", "--config-hash", "abc", "--out", "oof/lr.cleaned.s0",
              "--log", log])
    cli.main(["ensemble", "--name", "ensemble.avg", "--spec-json", '{"method": "mean"}', "--members", "oof/lr.cleaned.s0",
              "--out", "oof/ensemble.avg", "--log", log])
    cli.main(["submit", "--artifacts", "oof/lr.cleaned.s0", "oof/ensemble.avg", "--test", "interim/test.parquet",
              "--out", "subs/final.csv", "--log", log])
    submission = pd.read_csv("subs/final.csv", dtype=str)
    assert len(submission) == len(pd.read_parquet("interim/test.parquet"))
    assert Artifact.load(tmp_path / "oof" / "ensemble.avg").manifest["kind"] == "ensemble"
    capsys.readouterr()
    cli.main(["scores", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in rows} == {"lr.cleaned.s0", "ensemble.avg"}
    lines = (tmp_path / log).read_text(encoding="utf-8").splitlines()
    assert any("fold 1: macro-F1" in line for line in lines)  # every command appended to the one log


def test_a_data_error_is_one_line_naming_the_file_and_exits_2(tmp_path):
    log = tmp_path / "ingest.log"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ingest", "--train", str(tmp_path / "nope.csv"), "--test", str(tmp_path / "nope_test.csv"),
                  "--out", str(tmp_path / "interim"), "--log", str(log)])
    assert exit_info.value.code == 2
    text = log.read_text(encoding="utf-8")
    assert "error:" in text and "nope.csv" in text and "Traceback" not in text


def test_a_bug_leaves_its_traceback_in_the_log_and_is_raised(tmp_path, monkeypatch):
    def broken(args, log):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_folds", broken)
    log = tmp_path / "folds.log"
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["folds", "--interim", "x", "--out", "y", "--log", str(log)])
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "RuntimeError: a bug" in text


def test_python_warnings_become_log_lines(tmp_path):
    log = cli.Log(str(tmp_path / "job.log"))
    with warnings.catch_warnings():  # restores warnings.showwarning afterwards
        warnings.simplefilter("always")
        cli.forward_warnings(log)
        warnings.warn("lbfgs failed to converge", RuntimeWarning)
    assert "warning: RuntimeWarning: lbfgs failed to converge (test_cli.py:" in (tmp_path / "job.log").read_text()


def test_set_threads_caps_every_blas(monkeypatch):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(name, "8")
    cli.set_threads(1)
    assert {os.environ[name] for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")} == {"1"}
