"""kit.lb: the leaderboard log. Only unchanged submissions the kit wrote are recorded; bad input is one `error:`
line naming the file; `kit scores` shows the LB column and says when the CV and the leaderboard disagree."""

import csv
import json

import pandas as pd
import pytest

from kit import cli, lb, submission
from kit.artifacts import Artifact, write_parquet
from tests.test_artifacts import make_artifact

# artifact -> honest OOF macro-F1; four submissions whose leaderboard order is the reverse of their CV order
HONEST = {"a.raw.s0": 0.60, "b.raw.s0": 0.62, "c.raw.s0": 0.64, "d.raw.s0": 0.66}


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A run folder with four artifacts under oof/ and a kit-written submission of each under subs/."""
    monkeypatch.chdir(tmp_path)
    for seed, (name, honest) in enumerate(HONEST.items()):
        artifact = make_artifact(name=name, n_test=4)
        for row in range(4):  # the seed in base 3 down the rows: each submission's bytes differ
            artifact.test_logits[row, (seed // 3 ** row) % 3] += 10
        artifact.manifest |= {"honest_macro_f1": honest, "scores": {"oof_macro_f1": honest}}
        artifact.save(tmp_path / "oof" / name)
    write_parquet(pd.DataFrame({"id": make_artifact(n_test=4).test_ids}), tmp_path / "test.parquet")
    for name in HONEST:
        submission.submit([(tmp_path / "oof" / name / "oof.npz", tmp_path / "oof" / name / "manifest.json")], name,
                          tmp_path / "test.parquet", tmp_path / "subs" / f"{name}.csv",
                          tmp_path / "subs" / f"{name}.json")
    return tmp_path


def kit(*argv):
    cli.main(list(argv))


def error_line(capsys, *argv) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        kit(*argv)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and " error: " in lines[0], lines
    return lines[0]


def test_add_records_the_hash_source_and_honest_score_and_lb_lists_them(run, capsys):
    kit("lb", "add", "subs/b.raw.s0.csv", "0.7312", "--note", "first\ntry")
    rows = list(csv.DictReader(open(run / "lb.csv", encoding="utf-8")))
    sidecar = json.loads((run / "subs" / "b.raw.s0.json").read_text())
    assert len(rows) == 1
    assert rows[0] | {"recorded_at": ""} == {
        "recorded_at": "", "submission": "subs/b.raw.s0.csv", "sha256": sidecar["sha256"], "source": "b.raw.s0",
        "honest_oof_f1": "0.62", "lb_score": "0.7312", "note": "first try"}
    capsys.readouterr()
    kit("lb")
    out = capsys.readouterr().out
    assert "subs/b.raw.s0.csv" in out.replace(" ", "").replace("│", "").replace("\n", "") or "b.raw.s0" in out
    assert "0.7312" in out and "0.6200" in out and "first try" in out
    assert sidecar["sha256"][:8] in out  # tells apart the files recorded under one name
    assert max(len(line) for line in out.splitlines()) <= 80


def test_add_keeps_a_copy_of_the_recorded_file_that_outlives_a_rerun(run, capsys):
    original = (run / "subs" / "b.raw.s0.csv").read_bytes()
    sidecar = json.loads((run / "subs" / "b.raw.s0.json").read_text())
    capsys.readouterr()
    kit("lb", "add", "subs/b.raw.s0.csv", "0.7312")
    copy = run / "submitted" / f"{sidecar['sha256'][:12]}.csv"
    assert str(copy.relative_to(run)) in capsys.readouterr().err
    (run / "subs" / "b.raw.s0.csv").write_text("id,y\n")  # a later run rewrites the submission
    assert copy.read_bytes() == original
    assert json.loads(copy.with_suffix(".json").read_text()) == sidecar
    assert lb.archived(run / "lb.csv", sidecar["sha256"]) == copy


def test_a_copy_is_never_overwritten_by_another_file_whose_hash_starts_alike(run, capsys):
    sidecar = json.loads((run / "subs" / "a.raw.s0.json").read_text())
    taken = lb.archived(run / "lb.csv", sidecar["sha256"])
    taken.parent.mkdir()
    taken.write_text("id,y\n1,0\n")
    line = error_line(capsys, "lb", "add", "subs/a.raw.s0.csv", "0.7")
    assert f"{taken.relative_to(run)}: already holds another submission" in line
    assert taken.read_text() == "id,y\n1,0\n" and not (run / "lb.csv").exists()


def test_a_file_changed_while_it_is_recorded_leaves_no_row_and_no_copy(run, monkeypatch):
    checked = lb.checked_submission

    def then_edited(submission):
        sidecar = checked(submission)
        submission.write_text("id,y\n1,0\n")
        return sidecar

    monkeypatch.setattr(lb, "checked_submission", then_edited)
    with pytest.raises(ValueError, match="subs/a.raw.s0.csv: changed while it was being recorded"):
        lb.add(run / "lb.csv", run / "subs" / "a.raw.s0.csv", "0.7")
    assert not (run / "lb.csv").exists() and not (run / "submitted").exists()


def test_a_sidecar_without_a_hash_gets_one(run):
    path = run / "subs" / "a.raw.s0.json"
    sidecar = json.loads(path.read_text())
    expected = sidecar.pop("sha256")
    path.write_text(json.dumps(sidecar))
    lb.add(run / "lb.csv", run / "subs" / "a.raw.s0.csv", "0.7")
    assert json.loads(path.read_text())["sha256"] == expected


@pytest.mark.parametrize("score, words", [("abc", "score 'abc' is not a number"), ("1.5", "outside [0, 1]"),
                                          ("nan", "outside [0, 1]"), ("-0.2", "outside [0, 1]")])
def test_a_score_that_is_not_a_macro_f1_is_refused(run, capsys, score, words):
    line = error_line(capsys, "lb", "add", "subs/a.raw.s0.csv", score)
    assert words in line and "subs/a.raw.s0.csv" in line
    assert not (run / "lb.csv").exists()


def test_a_missing_foreign_or_edited_submission_is_refused(run, capsys):
    assert "subs/none.csv: missing" in error_line(capsys, "lb", "add", "subs/none.csv", "0.7")
    (run / "mine.csv").write_text("id,y\n1,0\n")
    assert "mine.csv: no sidecar mine.json, so the kit did not write it" in error_line(
        capsys, "lb", "add", "mine.csv", "0.7")
    with open(run / "subs" / "c.raw.s0.csv", "a") as handle:
        handle.write("4500000000000099,1\n")
    line = error_line(capsys, "lb", "add", "subs/c.raw.s0.csv", "0.7")
    assert "subs/c.raw.s0.csv: changed since the kit wrote it" in line and "--forcerun subs/c.raw.s0.csv" in line


def test_the_same_file_is_recorded_once(run, capsys):
    kit("lb", "add", "subs/a.raw.s0.csv", "0.7")
    line = error_line(capsys, "lb", "add", "subs/a.raw.s0.csv", "0.71")
    assert "already recorded in lb.csv line 2" in line


@pytest.mark.parametrize("text, words", [
    ("when,what\n", "lb.csv: line 1: the header must be"),
    (",".join(lb.COLUMNS) + "\n2026-12-07,subs/a.csv,abc,a,0.6,high,\n", "lb.csv: line 2: score 'high'"),
    (",".join(lb.COLUMNS) + "\n2026-12-07,subs/a.csv\n", "lb.csv: line 2: 2 fields, expected 7"),
    (",".join(lb.COLUMNS) + "\n2026-12-07,subs/a.csv,abc,a,,0.7,\n2026-12-07,subs/b.csv,abd,b,x,0.7,\n",
     "lb.csv: line 3: score 'x' is not a number"),
    (",".join(lb.COLUMNS) + '\n2026-12-07,subs/a.csv,abc,a,,0.7,"two\nlines"\n2026-12-07,subs/b.csv,abd,b,,2,\n',
     "lb.csv: line 4: score '2' is outside [0, 1]"),
])
def test_a_damaged_log_is_one_error_naming_it(run, capsys, text, words):
    (run / "lb.csv").write_text(text)
    assert words in error_line(capsys, "lb")
    assert words in error_line(capsys, "lb", "add", "subs/a.raw.s0.csv", "0.7")


def test_a_log_saved_by_a_spreadsheet_with_a_bom_reads_as_written(run):
    kit("lb", "add", "subs/a.raw.s0.csv", "0.7")
    written = lb.read_log(run / "lb.csv")
    (run / "lb.csv").write_bytes(b"\xef\xbb\xbf" + (run / "lb.csv").read_bytes())
    assert lb.read_log(run / "lb.csv") == written


def test_an_lb_score_is_shown_only_beside_the_predictions_it_scored(run, capsys):
    kit("lb", "add", "subs/a.raw.s0.csv", "0.7312")
    folder = run / "oof" / "a.raw.s0"
    scored = Artifact.load(folder)
    rebuilt = Artifact.load(folder)
    rebuilt.test_logits[0] = rebuilt.test_logits[0][::-1].copy()  # a rebuild that predicts one test post otherwise
    rebuilt.manifest |= {"created": "later"}
    rebuilt.save(folder)
    capsys.readouterr()
    kit("scores")
    out = capsys.readouterr().out
    assert "0.7312" not in out
    assert "LB left out for a.raw.s0: the leaderboard scored other predictions" in " ".join(out.split())
    scored.manifest |= {"created": "later still", "honest_macro_f1": 0.6000001}  # the same predictions, rebuilt
    scored.save(folder)
    kit("scores")
    out = capsys.readouterr().out
    assert "0.7312" in out and "left out" not in out


def test_scores_show_the_lb_column_and_say_when_cv_and_lb_disagree(run, capsys):
    for name, score in zip(HONEST, ("0.74", "0.73", "0.72")):
        kit("lb", "add", f"subs/{name}.csv", score)
    capsys.readouterr()
    kit("scores")
    out = capsys.readouterr().out
    assert "LB" in out and "0.7400" in out and "disagree" not in out  # three points: no verdict yet
    kit("lb", "add", "subs/d.raw.s0.csv", "0.71")
    capsys.readouterr()
    kit("scores")
    out = capsys.readouterr().out
    assert "the CV and the leaderboard disagree: rank correlation -1.00 over 4 submissions" in out
    kit("scores", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert {row["name"]: row["lb_score"] for row in rows} == dict(zip(HONEST, (0.74, 0.73, 0.72, 0.71)))


def test_agreeing_ranks_give_no_warning():
    rows = [{"honest_oof_f1": cv, "lb_score": cv + 0.1, "submission": f"s{i}"}
            for i, cv in enumerate((0.6, 0.61, 0.62, 0.63))]
    assert lb.verdict(rows).startswith("the CV and the leaderboard agree: rank correlation 1.00")
    assert lb.rank_correlation([0.6, 0.6], [0.7, 0.8]) is None


def test_the_cv_vs_lb_figure_draws_with_and_without_scores(run):
    kit("lb-figure", "--out", "f/empty.png")
    kit("lb", "add", "subs/a.raw.s0.csv", "0.7")
    kit("lb-figure", "--lb", "lb.csv", "--out", "f/one.png")
    assert (run / "f" / "empty.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "f" / "one.png").read_bytes()[:4] == b"\x89PNG"


def test_lb_reads_the_log_of_the_run_folder_that_directory_names(run, capsys, monkeypatch):
    kit("lb", "add", "subs/a.raw.s0.csv", "0.7")
    monkeypatch.chdir(run.parent)
    capsys.readouterr()
    kit("lb", "--directory", run.name)
    assert "0.7000" in capsys.readouterr().out
