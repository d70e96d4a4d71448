"""kit.results: the figure commands read a run's files (ingest report, variants, artifacts, final sidecar) and
write PNGs; without a CJK font they still draw and say so once."""

import matplotlib
import numpy as np
import pandas as pd

from kit import figures, results
from kit.artifacts import Artifact, write_json
from kit.ensemble.build import build_ensemble

CLASSES = np.array(["-1", "0", "1"])
REPORT = {
    "conflicting_text": "keep",
    "splits": {
        "train": {"class_counts": {"-1": 2, "0": 3, "1": 1},
                  "rules": {"invalid_label": {"rows": 2, "dropped": 2, "by_value": {"4": 1, "·": 1}},
                            "duplicate_text_conflicting": {"rows": 4, "dropped": 0}}},
        "test": {"rules": {"duplicate_id_identical": {"rows": 2, "dropped": 1}}},
    },
    "cross_split": {"test_ids_in_train": {"rows": 0}, "test_texts_in_train": {"rows": 3}},
}


def is_png(path) -> bool:
    return path.read_bytes().startswith(b"\x89PNG")


def experiment(name, seed, history=None) -> Artifact:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 60)
    logits = (2 * np.eye(3)[y] + rng.normal(size=(60, 3))).astype(np.float32)
    folds = [{"fold": k, "info": {"history": history or []}} for k in range(3)]
    return Artifact(ids=np.array([f"r{i}" for i in range(60)]), labels=y, fold_of=(np.arange(60) % 3).astype(np.int8),
                    oof_logits=logits, test_ids=np.array(["t0", "t1"]), test_logits=logits[:2], classes=CLASSES,
                    manifest={"name": name, "kind": "experiment", "fold_hash": "f", "folds": folds,
                              "scores": {"fold_f1": [0.6, 0.7, 0.65], "per_class_f1": [0.5, 0.8, 0.7]}})


def test_eda_counts_read_the_ingest_report():
    class_counts, invalid, dropped, duplicates = results.eda_counts(REPORT)
    assert class_counts == {"-1": 2, "0": 3, "1": 1} and invalid == {"4": 1, "·": 1}
    assert dropped == {"train": {"invalid_label": 2, "duplicate_text_conflicting": 0},
                       "test": {"duplicate_id_identical": 1}}
    assert duplicates["train"] == {"same text, conflicting labels": 4}
    assert duplicates["test"] == {"same id, same content (copies dropped)": 2, "test id also in train": 0,
                                  "test text also in train": 3}


def test_the_eda_figures_are_written(tmp_path):
    write_json(tmp_path / "report.json", REPORT)
    files = {}
    for variant in ("raw", "cleaned"):
        for split in ("train", "test"):
            files[(variant, split)] = tmp_path / f"{variant}_{split}.parquet"
            pd.DataFrame({"id": ["1", "2"], "text": ["武汉加油", "今天" * 100]}).to_parquet(files[(variant, split)])
    outs = {name: tmp_path / f"{name}.png" for name in ("classes", "lengths", "duplicates")}
    lines = []
    results.write_eda_figures(tmp_path / "report.json", files, {"bert": 96}, outs, lines.append)
    assert all(is_png(path) for path in outs.values())
    assert any("EDA figures" in line for line in lines)


def test_an_experiments_and_an_ensembles_figures_are_written(tmp_path):
    members = [experiment("a.raw.s0", 0, [{"epoch": 1, "train_loss": 0.9}]), experiment("b.raw.s0", 1)]
    members[1].labels = members[0].labels
    ensemble = build_ensemble("ensemble.c", {"method": "caruana", "rounds": 5, "class_weights": True}, members,
                              log=lambda line: None)
    for artifact in (members[0], ensemble):
        artifact.save(tmp_path / artifact.name)
        results.write_artifact_figure(tmp_path / artifact.name / "oof.npz", tmp_path / artifact.name / "manifest.json",
                                      tmp_path / f"{artifact.name}.png", log=lambda line: None)
        assert is_png(tmp_path / f"{artifact.name}.png")


def test_the_final_figure_reads_the_sidecar_and_the_candidates(tmp_path):
    for name, naive, honest in (("ensemble.a", 0.7, 0.66), ("ensemble.b", 0.68, 0.64)):
        write_json(tmp_path / f"{name}.json", {"name": name, "kind": "ensemble", "classes": list(CLASSES),
                                               "scores": {"oof_macro_f1": naive}, "honest_macro_f1": honest})
    write_json(tmp_path / "final.json", {"source": "ensemble.a", "reason": "auto", "predicted_distribution":
                                         {"-1": 1, "0": 5, "1": 2}})
    write_json(tmp_path / "report.json", REPORT)
    results.write_final_figure(tmp_path / "final.json", [tmp_path / "ensemble.a.json", tmp_path / "ensemble.b.json"],
                               tmp_path / "report.json", tmp_path / "final.png", log=lambda line: None)
    assert is_png(tmp_path / "final.png")


def test_without_a_cjk_font_the_figures_still_draw_and_say_so_once(tmp_path, monkeypatch, recwarn):
    monkeypatch.setattr(figures, "chinese_font", lambda: None)
    monkeypatch.setattr(results, "chinese_font", lambda: None)
    lines = []
    results.prepare_font(lines.append)
    assert len(lines) == 1 and "apt-get install fonts-wqy-microhei" in lines[0]
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):  # no CJK glyphs
        figure = figures.disagreement_figure(["今天好难过"], ["#1"], ["a"], np.array([[0.9]]), np.array([[0]]),
                                             list(CLASSES))
        results.write_png(figure, tmp_path / "boxes.png")
    assert is_png(tmp_path / "boxes.png") and not [w for w in recwarn if "Glyph" in str(w.message)]
