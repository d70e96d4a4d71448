import json

import numpy as np
import pytest
from rich.console import Console

from kit.report import (CurrentRun, agreement_heatmap, members_table, print_scores, render_scores, score_rows,
                        short_names, split_current)
from tests.test_artifacts import make_artifact

# The default run's names: the longest experiment and ensemble names a user sees.
EXPERIMENTS = ["tfidf_char_lr.raw.s0", "tfidf_char_lr.cleaned.s0", "tfidf_char_lr.pl.s0", "tfidf_word_lr.raw.s0",
               "tfidf_word_lr.cleaned.s0", "tfidf_char_svm.raw.s0", "tfidf_char_svm.cleaned.s0",
               "tiny_bert.cleaned.s0", "w2v_lr.cleaned.s0"]
ENSEMBLES = ["ensemble.teacher", "ensemble.mean", "ensemble.caruana", "ensemble.stack_lr", "ensemble.vote",
             "ensemble.rank_mean"]


def save(tmp_path, name, kind, oof, honest=None, **extra):
    artifact = make_artifact(name=name)
    artifact.manifest.update(
        kind=kind,
        classes=["-1", "0", "1"],
        scores={"oof_macro_f1": oof, "fold_f1_mean": oof, "fold_f1_std": 0.01, "per_class_f1": [0.5, 0.6, 0.7], "accuracy": 0.8, "n_folds": 5},
        honest_macro_f1=oof if honest is None else honest,
        **extra,
    )
    artifact.save(tmp_path / name)


def default_run(tmp_path):
    """Fifteen artifacts named as the default run's; a single experiment scores above the final ensemble."""
    for index, name in enumerate(EXPERIMENTS):
        save(tmp_path, name, "experiment", 0.60 + index / 1000, method="sklearn")
    save(tmp_path, "tiny_bert.cleaned.s0", "experiment", 0.6804, method="transformer")
    weights = {name: 0.0 for name in EXPERIMENTS}
    weights.update({"tiny_bert.cleaned.s0": 0.92, "tfidf_char_lr.cleaned.s0": 0.08})
    for index, name in enumerate(ENSEMBLES):
        save(tmp_path, name, "ensemble", 0.70 - index / 100, honest=0.6797 - index / 100, method="caruana",
             members=EXPERIMENTS, weights=weights)
    return {"source": "ensemble.teacher", "reason": "auto: best honest OOF macro-F1 among 6 ensembles (0.6797, "
                                                    "next 0.6697)"}


def rendered(tmp_path, width, final, **kwargs):
    console = Console(width=width, record=True, color_system=None)
    rows, others = split_current(score_rows(tmp_path), kwargs.pop("run", CurrentRun()))
    render_scores(rows, final, console, others)
    return console.export_text(), rows


def test_rows_sorted_by_honest_f1_not_by_the_flattering_one(tmp_path):
    save(tmp_path, "a.raw.s0", "experiment", 0.70)
    save(tmp_path, "ensemble.greedy", "ensemble", 0.80, honest=0.69, method="caruana", members=["a.raw.s0"])
    save(tmp_path, "ensemble.mean", "ensemble", 0.72, method="mean", members=["a.raw.s0"])
    rows = score_rows(tmp_path)
    assert [r["name"] for r in rows] == ["ensemble.mean", "a.raw.s0", "ensemble.greedy"]
    greedy = rows[2]
    assert greedy["oof_macro_f1"] == 0.80 and greedy["honest_macro_f1"] == 0.69
    assert greedy["per_class_f1"] == {"-1": 0.5, "0": 0.6, "1": 0.7}


@pytest.mark.parametrize("width", [80, 120, 200])
def test_every_name_whole_and_every_score_readable_at_any_width(tmp_path, width):
    final = default_run(tmp_path)
    text, rows = rendered(tmp_path, width, final)
    lines = text.splitlines()
    assert max(len(line) for line in lines if not line.startswith(("★", "   ", "not shown", "honest F1:"))) <= width
    for row in rows:
        line = next(line for line in lines if f" {row['name']} " in f" {line} ")
        assert f"{row['honest_macro_f1']:.4f}" in line, line
    assert "…" not in text.split("★ final")[0]
    assert "★ final: ensemble.teacher" in text
    if width == 80:
        assert "not shown at 80 columns" in text and "F1[-1]" not in text.split("not shown")[0]
    if width == 200:
        assert "not shown" not in text and "F1[-1]" in text and "folds μ±σ" in text


def test_caption_says_why_a_higher_single_experiment_is_not_the_final(tmp_path):
    final = default_run(tmp_path)
    text, rows = rendered(tmp_path, 200, final)
    text = " ".join(text.split())
    assert rows[0]["name"] == "tiny_bert.cleaned.s0"
    assert "tiny_bert.cleaned.s0 scores higher (0.6804, +0.0007" in text
    assert "it was not among the candidates when subs/final.csv was chosen" in text


def test_names_too_long_for_the_terminal_are_shortened_uniquely_with_a_legend(tmp_path):
    for name in ("a_very_long_model_name_number_one.cleaned.s0", "a_very_long_model_name_number_one.cleaned.s1",
                 "a_very_long_model_name_number_two.cleaned.s0"):
        save(tmp_path, name, "experiment", 0.6)
    text, _ = rendered(tmp_path, 40, None)
    assert "a_very_long_model_name_number_one.cleaned.s1" in text  # in the legend
    shortened = short_names(["abcdefghij.s0", "abcdefghij.s1", "abcdefghik.s0"], 8)
    assert len(set(shortened.values())) == 3 and all(len(short) <= 8 for short in shortened.values())
    assert short_names(["ab.s0", "ab.s0x"], 4) == {"ab.s0": "a…s0", "ab.s0x": "a…0x"}


def test_members_and_weights_have_their_own_view(tmp_path):
    default_run(tmp_path)
    rows = score_rows(tmp_path)
    numbers = {row["name"]: index for index, row in enumerate(rows, start=1)}
    console = Console(width=80, record=True, color_system=None)
    console.print(members_table(rows, numbers, 80))
    text = console.export_text()
    assert f"#{numbers['tiny_bert.cleaned.s0']} tiny_bert.cleaned.s0" in text and "0.92" in text
    assert "+7 at weight 0" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_agreement_is_a_compact_heatmap_keyed_by_the_table_numbers(tmp_path):
    default_run(tmp_path)
    rows = score_rows(tmp_path)
    numbers = {row["name"]: index for index, row in enumerate(rows, start=1)}
    matrix = np.full((len(rows), len(rows)), 0.9)
    np.fill_diagonal(matrix, 1.0)
    console = Console(width=80, record=True, color_system=None)
    console.print(agreement_heatmap(rows, matrix, numbers, 80))
    lines = console.export_text().splitlines()
    assert len(lines) == len(rows) + 3  # title, header, one line per artifact, range
    assert all(len(line) <= 80 for line in lines)
    assert "90" in lines[3] and "·" in lines[2]


def test_artifacts_of_another_fold_file_or_config_are_apart_and_unranked(tmp_path):
    save(tmp_path, "a.raw.s0", "experiment", 0.60, config_hash="h-a")
    save(tmp_path, "old.raw.s0", "experiment", 0.90, config_hash="h-old")  # its entry was removed from the config
    save(tmp_path, "b.raw.s0", "experiment", 0.95, config_hash="h-b", fold_hash="other")  # another fold file
    save(tmp_path, "c.raw.s0", "experiment", 0.92, config_hash="h-c-before")  # its entry changed since
    save(tmp_path, "ensemble.mean", "ensemble", 0.70, method="mean", members=["a.raw.s0", "b.raw.s0"])
    run = CurrentRun(artifacts={"a.raw.s0": "h-a", "b.raw.s0": "h-b", "c.raw.s0": "h-c",
                                "ensemble.mean": None}, members={"ensemble.mean": ["a.raw.s0", "b.raw.s0"]},
                     fold_hash="abc", config_files=["configs/config.yaml"])
    current, others = split_current(score_rows(tmp_path), run)
    assert [row["name"] for row in current] == ["a.raw.s0"]
    why = {row["name"]: reason for row, reason in others}
    assert why["b.raw.s0"].startswith("made on another fold file")
    assert why["old.raw.s0"].startswith("no entry of the config")
    assert why["c.raw.s0"].startswith("its config entry changed")
    assert why["ensemble.mean"] == "member b.raw.s0 is not of this run"
    text, _ = rendered(tmp_path, 120, {"source": "a.raw.s0", "reason": "chosen by name: a"}, run=run)
    ranked, apart = text.split("Not of this run (not ranked among it)")
    assert "old.raw.s0" not in ranked and "b.raw.s0" not in ranked
    assert "old.raw.s0: no entry of the config" in apart and "b.raw.s0: made on another fold file" in apart


def test_json_marks_what_is_not_of_this_run(tmp_path, capsys):
    save(tmp_path, "a.raw.s0", "experiment", 0.60)
    save(tmp_path, "old.raw.s0", "experiment", 0.90)
    print_scores(tmp_path, tmp_path, as_json=True, run=CurrentRun(artifacts={"a.raw.s0": None}))
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["a.raw.s0", "old.raw.s0"]
    assert "not_of_this_run" not in rows[0] and rows[1]["not_of_this_run"].startswith("no entry")


def test_empty_folder_gives_no_rows(tmp_path):
    assert score_rows(tmp_path / "missing") == []


def test_a_leaderboard_score_stands_beside_the_honest_one(tmp_path):
    final = default_run(tmp_path)
    rows = [{**row, "lb_score": 0.7312 if row["name"] == "ensemble.teacher" else None} for row in score_rows(tmp_path)]
    console = Console(width=120, record=True, color_system=None)
    render_scores(rows, final, console)
    text = console.export_text()
    header = next(line for line in text.splitlines() if " name " in line)
    assert header.index("honest F1") < header.index("LB") < header.index("OOF F1")
    assert "0.7312" in next(line for line in text.splitlines() if " ensemble.teacher " in line)


def test_scores_check_against_the_config_snakemake_last_planned_with_here_else_the_folders_own(
        tmp_path, monkeypatch):
    from kit import layout
    from kit.report import run_config_files

    monkeypatch.chdir(tmp_path)
    assert run_config_files(None) == []
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "config.yaml").write_text("{}")
    assert run_config_files(None) == ["configs/config.yaml"]  # a folder's own, from before the record
    (tmp_path / "logs").mkdir()
    (tmp_path / layout.RUN_CONFIG).write_text("{}")
    assert run_config_files(None) == [layout.RUN_CONFIG]
    assert run_config_files(["mine.yaml"]) == ["mine.yaml"]


def test_a_check_left_out_is_said_under_the_table(tmp_path, monkeypatch):
    from kit.report import current_run

    save(tmp_path, "a.raw.s0", "experiment", 0.60)
    run = current_run([], tmp_path / "data" / "folds.parquet")
    assert run.artifacts is None and run.fold_hash is None
    console = Console(width=100, record=True, color_system=None)
    print_scores(tmp_path, tmp_path, run=run, console=console)
    text = " ".join(console.export_text().split())
    assert "not checked against a config: no logs/run_config.yaml or configs/config.yaml here" in text
    assert f"not checked against a fold file: {tmp_path / 'data' / 'folds.parquet'} not found" in text
    missing = current_run([tmp_path / "gone.yaml"], tmp_path / "data" / "folds.parquet")
    assert missing.unchecked[0] == f"not checked against a config: {tmp_path / 'gone.yaml'} not found"
    (tmp_path / "old.yaml").write_text("data: {train: a.csv, test: b.csv}\nmodels: {lr: {kind: sklearn, "
                                       "renamed_key: 1}}\n")  # a record an older kit wrote, say
    old = current_run([tmp_path / "old.yaml"], tmp_path / "data" / "folds.parquet")
    assert old.artifacts is None
    assert any("old.yaml does not load (config key 'models.lr.renamed_key'" in line for line in old.unchecked)


def test_a_piped_table_fits_columns_when_it_is_set(tmp_path, monkeypatch, capsys):
    final = default_run(tmp_path)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "final.json").write_text(json.dumps(final))
    monkeypatch.setenv("COLUMNS", "80")
    print_scores(tmp_path, tmp_path / "subs")  # capsys: stdout is not a terminal
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80 and any("ensemble.teacher" in line for line in lines)
    monkeypatch.delenv("COLUMNS")
    print_scores(tmp_path, tmp_path / "subs")
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) > 80  # a log file gets the whole table


def test_the_spread_over_folds_outlasts_the_kind_on_a_narrow_terminal(tmp_path):
    """folds μ±σ tells a real gap from noise; the kind column goes first (at 70 columns only one of them fits)."""
    from kit.report import fitted_table

    default_run(tmp_path)
    rows = score_rows(tmp_path)
    for width in range(60, 131, 5):
        _, columns, _, _ = fitted_table(rows, {row["name"]: i for i, row in enumerate(rows)}, width)
        headers = [column.header for column in columns]
        assert "kind" not in headers or "folds μ±σ" in headers, width
        if width == 70:
            assert "folds μ±σ" in headers and "kind" not in headers
