from kit.report import score_rows, scores_table
from tests.test_artifacts import make_artifact


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


def test_rows_sorted_by_honest_f1_not_by_the_flattering_one(tmp_path):
    save(tmp_path, "a.raw.s0", "experiment", 0.70)
    save(tmp_path, "ensemble.greedy", "ensemble", 0.80, honest=0.69, method="caruana", members=["a.raw.s0"])
    save(tmp_path, "ensemble.mean", "ensemble", 0.72, method="mean", members=["a.raw.s0"])
    rows = score_rows(tmp_path)
    assert [r["name"] for r in rows] == ["ensemble.mean", "a.raw.s0", "ensemble.greedy"]
    greedy = rows[2]
    assert greedy["oof_macro_f1"] == 0.80 and greedy["honest_macro_f1"] == 0.69
    assert greedy["per_class_f1"] == {"-1": 0.5, "0": 0.6, "1": 0.7}


def test_table_marks_the_final_submission(tmp_path):
    from rich.console import Console

    save(tmp_path, "a.raw.s0", "experiment", 0.70)
    save(tmp_path, "ensemble.mean", "ensemble", 0.72, method="mean", members=["a.raw.s0"], weights={"a.raw.s0": 1.0})
    console = Console(width=200, record=True)
    console.print(scores_table(score_rows(tmp_path), final={"source": "ensemble.mean"}))
    text = console.export_text()
    assert "ensemble.mean  ← final" in text
    assert "a.raw.s0×1.00" in text
    assert "0.7200" in text and "F1[-1]" in text


def test_empty_folder_gives_no_rows(tmp_path):
    assert score_rows(tmp_path / "missing") == []
