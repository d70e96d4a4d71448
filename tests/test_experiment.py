import json

import numpy as np
import pandas as pd
import pytest

from kit.artifacts import Artifact, load_npz, save_npz, write_json
from kit import experiment
from kit.experiment import PseudoRows, VariantFiles, merge_folds, run_fold
from kit.folds import assign_folds, fold_hash

CLASSES = ["-1", "0", "1"]
CUES = {"-1": "太难过了[泪]", "0": "今日疫情通报", "1": "武汉加油[心]"}


@pytest.fixture
def workspace(tmp_path):
    """A variant folder and a fold file as the variant and folds rules write them."""
    rng = np.random.default_rng(0)
    labels = rng.choice(CLASSES, size=90, p=[0.2, 0.5, 0.3])
    ids = [f"44{i:014d}" for i in range(90)]
    train = pd.DataFrame({"id": ids, "text": [f"{CUES[y]}第{i}条" for i, y in enumerate(labels)], "label": labels})
    test = pd.DataFrame({"id": [f"45{i:014d}" for i in range(12)], "text": [CUES[c] for c in CLASSES] * 4})
    variant = tmp_path / "variants" / "raw"
    variant.mkdir(parents=True)
    train.to_parquet(variant / "train.parquet")
    test.to_parquet(variant / "test.parquet")
    write_json(variant / "meta.json", {"variant": "raw", "data_hash": "d" * 64})
    fold_of = assign_folds(labels, train["text"].tolist(), k=3, seed=1)
    pd.DataFrame({"id": ids, "label": labels, "fold": fold_of}).to_parquet(tmp_path / "folds.parquet")
    return tmp_path


def fit_all(workspace, k=3, **extra):
    paths = []
    for fold in range(k):
        out = workspace / "oof" / "m.raw.s0" / f"fold{fold}.npz"
        run_fold(
            kind="sklearn", params={"min_df": 1}, variant=VariantFiles.in_folder(workspace / "variants" / "raw"),
            folds_path=workspace / "folds.parquet", fold=fold, seed=0, classes=CLASSES, out=out,
            workdir=workspace / "ckpt", log=lambda m: None, **extra,
        )
        paths.append(out)
    return paths


def merge(workspace, paths):
    return merge_folds(
        fold_files=paths, variant=VariantFiles.in_folder(workspace / "variants" / "raw"), folds_path=workspace / "folds.parquet",
        classes=CLASSES, name="m.raw.s0", model="m", kind="sklearn", params={"min_df": 1}, config_hash="c" * 64,
    )


def test_fold_file_holds_exactly_the_held_out_rows(workspace):
    paths = fit_all(workspace)
    folds = pd.read_parquet(workspace / "folds.parquet")
    part = load_npz(paths[1])
    assert sorted(part["valid_ids"]) == sorted(folds.loc[folds["fold"] == 1, "id"])
    assert part["valid_logits"].shape == (len(part["valid_ids"]), 3)
    assert part["test_logits"].shape == (12, 3)
    meta = json.loads(str(part["meta"]))
    assert meta["fold_hash"] == fold_hash(folds["id"].tolist(), folds["fold"].to_numpy())
    assert meta["data_hash"] == "d" * 64


def test_merge_writes_a_valid_artifact_with_oof_in_train_order(workspace):
    paths = fit_all(workspace)
    artifact = merge(workspace, paths)
    artifact.save(workspace / "oof" / "m.raw.s0")
    loaded = Artifact.load(workspace / "oof" / "m.raw.s0")
    train = pd.read_parquet(workspace / "variants" / "raw" / "train.parquet")
    assert loaded.ids.tolist() == train["id"].tolist()
    assert [CLASSES[i] for i in loaded.labels] == train["label"].tolist()
    fold1 = load_npz(paths[1])
    rows = [loaded.ids.tolist().index(i) for i in fold1["valid_ids"]]
    assert np.array_equal(loaded.oof_logits[rows], fold1["valid_logits"])
    expected_test = np.mean([load_npz(p)["test_logits"] for p in paths], axis=0)
    assert np.allclose(loaded.test_logits, expected_test, atol=1e-6)
    manifest = loaded.manifest
    assert manifest["kind"] == "experiment" and manifest["scores"]["n_folds"] == 3
    assert manifest["honest_macro_f1"] == manifest["scores"]["oof_macro_f1"] > 0.9
    assert {"fold_hash", "data_hash", "config_hash", "kit_version", "git_commit"} <= set(manifest)


def test_merge_refuses_a_missing_fold(workspace):
    paths = fit_all(workspace)
    with pytest.raises(ValueError, match=r"folds \[0, 1\] present"):
        merge(workspace, paths[:2])


def test_merge_refuses_a_fold_made_with_another_fold_file(workspace):
    paths = fit_all(workspace)
    part = load_npz(paths[0])
    meta = json.loads(str(part["meta"]))
    meta["fold_hash"] = "0" * 64
    part["meta"] = np.array(json.dumps(meta))
    save_npz(paths[0], **part)
    with pytest.raises(ValueError, match="another fold file"):
        merge(workspace, paths)


def test_unknown_label_in_the_variant_is_named(workspace):
    with pytest.raises(ValueError, match="label"):
        run_fold(
            kind="sklearn", params={}, variant=VariantFiles.in_folder(workspace / "variants" / "raw"), folds_path=workspace / "folds.parquet",
            fold=0, seed=0, classes=["0", "1"], out=workspace / "x.npz", workdir=workspace, log=lambda m: None,
        )


def test_a_teachers_folds_predict_the_pool_and_merge_keeps_each_folds(workspace):
    pool = pd.DataFrame({"id": ["p1", "p2", "p3"], "text": [CUES["-1"], CUES["0"], CUES["1"]]})
    pool.to_parquet(workspace / "pool.parquet")
    paths = fit_all(workspace, pool=workspace / "pool.parquet")
    assert load_npz(paths[0])["pool_logits"].shape == (3, 3)
    artifact = merge(workspace, paths)
    assert artifact.pool_ids.tolist() == ["p1", "p2", "p3"] and artifact.pool_logits.shape == (3, 3, 3)
    for fold, path in enumerate(paths):
        assert np.array_equal(artifact.pool_logits[fold], load_npz(path)["pool_logits"])
    assert (artifact.pool_logits.argmax(axis=2) == [0, 1, 2]).all()  # each fold's model reads the cues
    artifact.save(workspace / "oof" / "teacher")
    assert np.array_equal(Artifact.load(workspace / "oof" / "teacher").pool_logits, artifact.pool_logits)


def test_pseudo_rows_join_the_training_rows_of_their_fold_only(workspace, monkeypatch):
    rows = pd.DataFrame({"fold": [0, 0, 1], "id": ["p1", "p2", "p3"], "text": ["甲", "乙", "丙"],
                         "label": ["1", "-1", "0"], "confidence": [0.95, 0.97, 0.99]})
    rows.to_parquet(workspace / "rows.parquet")
    seen = {}

    def spy(kind, params, data, seed, workdir, log):
        seen[len(seen)] = list(data.train_text)
        return real_fit_predict(kind, params, data, seed=seed, workdir=workdir, log=log)

    real_fit_predict = experiment.fit_predict
    monkeypatch.setattr(experiment, "fit_predict", spy)
    paths = fit_all(workspace, additions=PseudoRows(workspace / "rows.parquet", tuple(CLASSES)))
    assert seen[0][-2:] == ["甲", "乙"] and "丙" not in seen[0]
    assert seen[1][-1:] == ["丙"] and not {"甲", "乙"} & set(seen[1])
    assert not {"甲", "乙", "丙"} & set(seen[2])
    meta = json.loads(str(load_npz(paths[0])["meta"]))
    assert meta["training_rows_added"] == {"pseudo_rows": 2, "pseudo_rows_per_class": {"-1": 1, "0": 0, "1": 1}}
    held_out = load_npz(paths[0])["valid_ids"]
    assert not {"p1", "p2", "p3"} & set(held_out.tolist())  # the OOF rows stay as they are


def test_a_fold_job_always_writes_its_model_with_the_experiments_identity(workspace):
    from kit.kept import load_fold_predictor

    lines = []
    meta = run_fold(kind="sklearn", params={"min_df": 1}, variant=VariantFiles.in_folder(workspace / "variants" / "raw"),
                    folds_path=workspace / "folds.parquet", fold=0, seed=0, classes=CLASSES,
                    out=workspace / "f0.npz", workdir=workspace / "ckpt", log=lines.append,
                    model_dir=workspace / "models" / "fold0", config_hash="c" * 64)
    assert any("fold 0: model written to" in line for line in lines)
    manifest = {"name": "m.raw.s0", "family": "sklearn", "config_hash": "c" * 64, "fold_hash": meta["fold_hash"],
                "data_hash": "d" * 64}
    predictor = load_fold_predictor(workspace / "models" / "fold0", manifest, 0)
    test = pd.read_parquet(workspace / "variants" / "raw" / "test.parquet")["text"].tolist()
    assert np.array_equal(predictor.predict(test), load_npz(workspace / "f0.npz")["test_logits"])
