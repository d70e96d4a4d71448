"""kit.cli: every command in process on a tiny demo, naming every file it reads and writes (the wiring the rules
rely on), and the error contract at the command line."""

import json
from pathlib import Path

import pandas as pd
import pytest

from kit import cli
from kit.artifacts import Artifact

COMMANDS = {"demo", "ingest", "variant", "pool", "pseudo-rows", "corpus", "word-vectors", "folds", "build-backbone",
            "post-train", "fit-fold", "keep-models", "merge", "ensemble", "submit", "scores", "config", "eda-figures",
            "artifact-figure", "final-figure", "disagreements", "predict", "lb", "lb-figure", "adversarial", "track"}


def test_every_command_has_a_log_option_and_an_example():
    subparsers = next(action for action in cli.parser()._actions if action.dest == "command").choices
    assert set(subparsers) == COMMANDS
    for name, sub in subparsers.items():
        assert "--log" in sub._option_string_actions, name
        assert f"python -m kit {name}" in sub.description, name


def test_every_option_has_help_and_the_commands_a_person_runs_come_first():
    subparsers = next(action for action in cli.parser()._actions if action.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"kit {name} {action.option_strings or action.dest}: no help text"
    text = cli.parser().format_help()
    person, rules = text.index("commands you run:"), text.index("commands the workflow's rules run:")
    assert person < rules
    for name in cli.PERSON_COMMANDS:
        assert person < text.index(f"\n  {name} ") < rules, name
    assert rules < text.index("\n  fit-fold ")


def test_the_commands_chain_from_demo_files_to_a_submission(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = "logs/chain.log"
    classes = ["--classes", "-1", "0", "1"]
    cli.main(["demo", "--train", "demo/train.csv", "--test", "demo/test.csv", "--unlabeled", "demo/u.csv",
              "--n-train", "300", "--n-test", "60", "--n-unlabeled", "50", "--log", log])
    cli.main(["ingest", "--train", "demo/train.csv", "--test", "demo/test.csv", *classes, "--out-train", "i/train.pq",
              "--out-test", "i/test.pq", "--report", "i/report.json", "--log", log])
    assert sorted(p.name for p in (tmp_path / "i").iterdir()) == ["report.json", "test.pq", "train.pq"]
    cli.main(["variant", "--name", "cleaned", "--train", "i/train.pq", "--test", "i/test.pq", "--out-train",
              "v/train.pq", "--out-test", "v/test.pq", "--meta", "v/meta.json", "--log", log])
    cli.main(["folds", "--train", "i/train.pq", "--k", "2", "--seed", "0", "--out", "folds.parquet", "--log", log])
    params = json.dumps({"features": "char", "min_df": 1})
    experiment = ["--kind", "sklearn", "--params-json", params, "--train", "v/train.pq", "--test", "v/test.pq",
                  "--variant-meta", "v/meta.json", "--folds", "folds.parquet", *classes]
    for fold in (0, 1):
        cli.main(["fit-fold", *experiment, "--fold", str(fold), "--seed", "0", "--workdir", f"ckpt/{fold}",
                  "--out", f"oof/lr.cleaned.s0/fold{fold}.npz", "--model-dir", f"models/folds/lr/fold{fold}",
                  "--config-hash", "abc", "--log", log])
    cli.main(["merge", *experiment, "--fold-files", "oof/lr.cleaned.s0/fold0.npz", "oof/lr.cleaned.s0/fold1.npz",
              "--name", "lr.cleaned.s0", "--model", "lr", "--config-hash", "abc", "--out-npz", "oof/lr/oof.npz",
              "--out-manifest", "oof/lr/manifest.json", "--log", log])
    cli.main(["keep-models", "--model-dirs", "models/folds/lr/fold0", "models/folds/lr/fold1", "--kept",
              "--keep-models", "auto", "--out", "models/folds/lr/retention.json", "--log", log])
    retention = json.loads((tmp_path / "models/folds/lr/retention.json").read_text())
    assert retention == {"keep_models": "auto", "kept": True,
                         "folds": {"models/folds/lr/fold0": "kept", "models/folds/lr/fold1": "kept"}}
    cli.main(["ensemble", "--name", "ensemble.avg", "--spec-json", '{"method": "mean"}', "--member-npz", "oof/lr/oof.npz",
              "--member-manifests", "oof/lr/manifest.json", "--out-npz", "oof/avg/oof.npz", "--out-manifest",
              "oof/avg/manifest.json", "--out-combination", "oof/avg/combination.skops", "--log", log])
    cli.main(["submit", "--npz", "oof/lr/oof.npz", "oof/avg/oof.npz", "--manifests", "oof/lr/manifest.json",
              "oof/avg/manifest.json", "--test", "i/test.pq", "--out", "subs/final.csv", "--sidecar",
              "subs/final.json", "--log", log])
    submission = pd.read_csv("subs/final.csv", dtype=str)
    assert len(submission) == len(pd.read_parquet("i/test.pq"))
    assert json.loads((tmp_path / "subs" / "final.json").read_text())["source"] == "ensemble.avg"
    assert Artifact.load(tmp_path / "oof" / "avg").manifest["kind"] == "ensemble"
    capsys.readouterr()
    cli.main(["scores", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in rows} == {"lr.cleaned.s0", "ensemble.avg"}
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # a person in another folder names the run's
    cli.main(["scores", "--json", "--directory", str(tmp_path)])
    assert {row["name"] for row in json.loads(capsys.readouterr().out)} == {"lr.cleaned.s0", "ensemble.avg"}
    assert Path.cwd() == tmp_path / "elsewhere"  # the command came back
    monkeypatch.chdir(tmp_path)
    cli.main(["eda-figures", "--report", "i/report.json", "--variants", "cleaned", "--train-files", "v/train.pq",
              "--test-files", "v/test.pq", "--out-classes", "f/c.png", "--out-lengths", "f/l.png", "--out-duplicates",
              "f/d.png", "--log", log])
    cli.main(["artifact-figure", "--npz", "oof/avg/oof.npz", "--manifest", "oof/avg/manifest.json", "--out",
              "f/avg.png", "--log", log])
    cli.main(["final-figure", "--final", "subs/final.json", "--manifests", "oof/lr/manifest.json",
              "oof/avg/manifest.json", "--report", "i/report.json", "--out", "f/final.png", "--log", log])
    cli.main(["disagreements", "--train", "i/train.pq", "--test", "i/test.pq", "--out-csv", "f/dis.csv", "--log", log])
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["avg.png", "c.png", "d.png", "dis.csv", "final.png",
                                                                    "l.png"]
    capsys.readouterr()
    cli.main(["predict", "--text", "武汉加油！", "--source", "oof/lr", "--log", log])
    assert capsys.readouterr().out.splitlines()[0].split() == ["label", "p(-1)", "p(0)", "p(1)", "text"]
    lines = (tmp_path / log).read_text(encoding="utf-8").splitlines()
    assert any("fold 1: macro-F1" in line for line in lines)  # every command appended to the one log


def test_a_data_error_is_one_line_naming_the_file_and_exits_2(tmp_path):
    log = tmp_path / "ingest.log"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ingest", "--train", str(tmp_path / "nope.csv"), "--test", str(tmp_path / "nope_test.csv"),
                  "--out-train", "a", "--out-test", "b", "--report", "c", "--log", str(log)])
    assert exit_info.value.code == 2
    text = log.read_text(encoding="utf-8")
    assert "error:" in text and "nope.csv" in text and "Traceback" not in text


def test_a_flag_is_checked_like_its_config_key(tmp_path):
    log = tmp_path / "folds.log"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["folds", "--train", "t.pq", "--k", "1", "--out", "f.pq", "--log", str(log)])
    assert exit_info.value.code == 2
    assert "error: config key 'command line --k': must be at least 2" in log.read_text(encoding="utf-8")


def test_threads_below_one_is_refused_naming_the_flag_by_every_command_that_takes_it(capsys):
    subparsers = next(action for action in cli.parser()._actions if action.dest == "command").choices
    takers = {name for name, sub in subparsers.items() if "--threads" in sub._option_string_actions}
    assert takers == {"corpus", "word-vectors", "post-train", "fit-fold", "predict"}
    for name in sorted(takers):
        for value, says in (("0", "must be 1 or more, not 0"), ("-1", "must be 1 or more, not -1"),
                            ("two", "must be a whole number of 1 or more, not 'two'")):
            with pytest.raises(SystemExit) as exit_info:
                cli.parser().parse_args([name, "--threads", value])
            assert exit_info.value.code == 2
            assert f"kit {name}: error: argument --threads: {says}" in capsys.readouterr().err, (name, value)
    assert cli.parser().parse_args(["predict", "--threads", "3"]).threads == 3


def test_a_negative_number_of_gpus_is_refused_naming_the_flag(capsys):
    subparsers = next(action for action in cli.parser()._actions if action.dest == "command").choices
    takers = {name for name, sub in subparsers.items() if "--gpus" in sub._option_string_actions}
    assert takers >= {"fit-fold", "post-train"}
    for name in sorted(takers):
        with pytest.raises(SystemExit):
            cli.parser().parse_args([name, "--gpus", "-1"])
        assert f"kit {name}: error: argument --gpus: must be 0 or more, not -1" in capsys.readouterr().err
    assert cli.at_least(0)("0") == 0 and cli.at_least(0)("2") == 2


def test_a_flag_of_predict_that_takes_one_value_is_refused_when_given_twice(capsys):
    for flag, first, second in (("--source", "ensemble.mean", "ensemble.caruana"), ("--input", "a.csv", "b.csv"),
                                ("--out", "p.csv", "q.csv")):
        with pytest.raises(SystemExit) as exit_info:
            cli.parser().parse_args(["predict", flag, first, "--threads", "2", flag, second])
        assert exit_info.value.code == 2
        assert (f"kit predict: error: argument {flag}: given twice ({first!r}, then {second!r}); it takes one value"
                in capsys.readouterr().err)
        assert getattr(cli.parser().parse_args(["predict", flag, second]), flag.lstrip("-")) == second
    assert cli.parser().parse_args(["predict", "--text", "a", "--text", "b"]).text == ["a", "b"]  # --text repeats


def test_config_shows_the_resolved_config_and_its_reference(capsys):
    cli.main(["config"])
    shown = capsys.readouterr().out
    assert "tiny_bert:" in shown and "predict_batch_size: 128" in shown  # defaults filled in
    cli.main(["config", "--markdown"])
    assert "**`kind: transformer`**" in capsys.readouterr().out
    cli.main(["config", "--schema"])
    assert json.loads(capsys.readouterr().out)["title"] == "kit config"


def test_a_build_step_s_command_takes_its_options_from_the_declaration(monkeypatch, tmp_path):
    """StepArgs and run_step: a step's --name, --settings-json, --<role> and --out-<role> come from its BuildStep, and
    its build function gets the parsed settings and the files by role; nothing names the step."""
    import argparse
    from dataclasses import dataclass

    from kit import registry
    from kit.registry import BuildStep, register
    from kit.settings import Settings, setting

    @dataclass
    class Twice(Settings):
        times: int = setting(2, "copies", ge=1)

    calls = []

    def build(entry, settings, inputs, outputs, log, workers=1):
        calls.append((entry, settings, inputs, outputs, workers))

    registry.names(registry.BUILD_STEPS)
    monkeypatch.setattr(registry.BUILD_STEPS, "entries", dict(registry.BUILD_STEPS.entries))
    register(BuildStep("twice", Twice, "twice", build, "m:inputs", "m:outputs", wildcard="name", named=True,
                       reads={"texts": "the texts", "extra": "an optional file"},
                       writes={"copies": "the copies to write"}, many=("texts",), optional=("extra",)))
    parser = argparse.ArgumentParser()
    options = cli.StepArgs("twice")
    options(parser)
    assert options.outputs == ("out_copies",)
    assert all(action.help for action in parser._actions)
    args = parser.parse_args(["--name", "a", "--settings-json", '{"times": 3}', "--texts", "x.txt", "y.txt",
                              "--extra", "--out-copies", str(tmp_path / "c.txt")])
    cli.run_step("twice", args, print, workers=4)
    (entry, settings, inputs, outputs, workers), = calls
    assert (entry, settings, workers) == ("a", Twice(times=3), 4)
    assert inputs == {"texts": [Path("x.txt"), Path("y.txt")], "extra": None}
    assert outputs == {"copies": tmp_path / "c.txt"}
    bad = parser.parse_args(["--name", "a", "--settings-json", '{"times": 0}', "--texts", "x", "--out-copies", "c"])
    with pytest.raises(ValueError, match=r"twice\.a\.times"):
        cli.run_step("twice", bad, print)
    with pytest.raises(SystemExit):  # a step's own file is required
        parser.parse_args(["--name", "a", "--out-copies", "c"])


def test_directory_moves_the_command_into_the_run_folder_and_back_with_its_log_where_it_was_named(
        tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:  # an empty run folder: no final submission to predict with
        cli.main(["predict", "--directory", "run", "--log", "out/p.log", "--text", "口罩"])
    assert exit_info.value.code == 2 and Path.cwd() == tmp_path  # back after an error too
    assert "subs/final.json: missing" in (tmp_path / "out" / "p.log").read_text(encoding="utf-8")
    assert not (tmp_path / "run" / "out").exists()
