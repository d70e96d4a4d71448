"""kit.kept: fold model folders (kept, or why not) read back only into the artifact they belong to; skops loads
nothing the kit did not declare."""

import json

import numpy as np
import pytest

from kit import registry
from kit.ensemble.voting import VotePlan
from kit.kept import (COMBINATION, MODEL_JSON, NOT_KEPT_JSON, dump_skops, load_combination, load_fold_predictor,
                      load_skops, retain_fold_models, save_combination, why_not_kept, write_fold_model)
from kit.models import FoldData, FoldResult, fit_predict
from kit.registry import Family

POSTS = ["武汉加油[心]", "太难过了[泪]", "今日疫情通报", "致敬医护人员", "口罩买不到[怒]", "新增确诊病例通报"]
LABELS = np.array([2, 0, 1, 2, 0, 1])
META = {"kind": "sklearn", "config_hash": "c" * 64, "fold": 0, "seed": 0, "fold_hash": "f" * 64, "data_hash": "d" * 64, "variant": "raw",
        "classes": ["-1", "0", "1"]}


@pytest.fixture(scope="module")
def fitted():
    data = FoldData(POSTS * 3, np.tile(LABELS, 3), POSTS[:2], LABELS[:2], ["加油武汉", "好难过"], 3)
    return fit_predict("sklearn", {"min_df": 1}, data, seed=0, workdir="unused", log=lambda line: None)


def manifest(**changes) -> dict:
    return {"name": "lr.raw.s0", "family": "sklearn", "config_hash": "c" * 64, "fold_hash": "f" * 64,
            "data_hash": "d" * 64, **changes}


def test_a_kept_model_predicts_what_the_fold_job_did(fitted, tmp_path):
    assert write_fold_model(tmp_path / "fold0", fitted.predictor, META)
    assert json.loads((tmp_path / "fold0" / MODEL_JSON).read_text()) == META
    predictor = load_fold_predictor(tmp_path / "fold0", manifest(), 0)
    np.testing.assert_array_equal(predictor.predict(["加油武汉", "好难过"]), fitted.test_logits)
    assert [p.name for p in tmp_path.iterdir()] == ["fold0"]  # no temporary folder left beside it


def test_keep_models_prunes_what_it_leaves_out_and_predict_says_why(fitted, tmp_path):
    folders = [tmp_path / "fold0", tmp_path / "fold1"]
    for folder in folders:
        write_fold_model(folder, fitted.predictor, META)
    lines = []
    assert retain_fold_models(folders, True, "", lines.append) == {str(f): "kept" for f in folders}
    assert retain_fold_models(folders, False, why_not_kept("auto"), lines.append) == {
        str(f): "pruned" for f in folders}
    saved = json.loads((folders[0] / NOT_KEPT_JSON).read_text())
    assert saved["kept"] is False and saved["pruned"] and "keep_models: all" in saved["reason"]
    assert saved["config_hash"] == META["config_hash"]  # what the model was stays on record
    assert sorted(p.name for p in folders[0].iterdir()) == [NOT_KEPT_JSON]
    with pytest.raises(ValueError, match=r"fold0: the fold model of lr.raw.s0 was not kept \(keep_models: auto.*"
                                         r"pruned, so train it again: `snakemake --forcerun .*fold0`"):
        load_fold_predictor(folders[0], manifest(), 0)
    # Keeping it again cannot bring the weights back: the retention says so and names the fix.
    assert set(retain_fold_models(folders, True, "", lines.append).values()) == {"pruned earlier"}
    assert any("an earlier run pruned it" in line and "--forcerun" in line for line in lines)


def test_keep_models_names_a_folder_that_holds_no_model_record(tmp_path):
    (tmp_path / "fold0").mkdir()
    with pytest.raises(FileNotFoundError, match=r"fold0: holds neither model.json nor not_kept.json"):
        retain_fold_models([tmp_path / "fold0"], True, "")


def test_a_family_without_load_predictor_is_never_kept(tmp_path, monkeypatch):
    registry.names(registry.FAMILIES)
    monkeypatch.setattr(registry.FAMILIES, "entries", dict(registry.FAMILIES.entries))
    registry.register(Family("prior", registry.family("sklearn").params, lambda *a, **k: FoldResult(None, None)))
    kept = write_fold_model(tmp_path / "fold0", object(), {**META, "kind": "prior"})
    reason = json.loads((tmp_path / "fold0" / NOT_KEPT_JSON).read_text())["reason"]
    assert not kept and "model kind 'prior' cannot keep its fold models" in reason


@pytest.mark.parametrize(("key", "what"), [("data_hash", "data_hash"), ("fold_hash", "fold hash"),
                                           ("family", "kind"), ("config_hash", "identity hash")])
def test_a_model_from_another_run_is_refused(fitted, tmp_path, key, what):
    write_fold_model(tmp_path / "fold0", fitted.predictor, META)
    with pytest.raises(ValueError, match=rf"fold0: its {what}.* differs from lr.raw.s0's manifest .*does not belong"
                                         r".*--forcerun"):
        load_fold_predictor(tmp_path / "fold0", manifest(**{key: "other"}), 0)


def test_a_model_folder_copied_over_another_folds_is_refused(fitted, tmp_path):
    write_fold_model(tmp_path / "fold1", fitted.predictor, META)  # fold 0's model in fold 1's place
    with pytest.raises(ValueError, match=r"fold1: its fold \(a copy of another fold's folder\?\) 0 differs"):
        load_fold_predictor(tmp_path / "fold1", manifest(), 1)


def test_a_missing_model_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="fold3: no kept fold model of lr.raw.s0"):
        load_fold_predictor(tmp_path / "fold3", manifest(), 3)


def test_skops_loads_only_declared_types(tmp_path):
    plan = VotePlan(voters=[(0, 1, 2)], log=[{"round": 1}])
    dump_skops(tmp_path / "plan.skops", {"plan": plan, "weights": np.ones(3)})
    with pytest.raises(ValueError, match=r"holds types the kit does not load: \['kit.ensemble.voting.VotePlan'\]"):
        load_skops(tmp_path / "plan.skops")
    assert load_skops(tmp_path / "plan.skops", ["kit.ensemble.voting.VotePlan"])["plan"] == plan


def test_a_combination_round_trips_with_the_types_its_method_declares(tmp_path):
    from kit.config import EnsembleEntry
    from kit.ensemble.fitted import Fitted

    entry = EnsembleEntry.parse_setting({"method": "vote_multiround", "class_weights": True}, "ensembles.v")
    fitted = Fitted(VotePlan(voters=[(0, 1, 2)], log=[]), np.array([1.2, 0.9, 0.8]))
    save_combination(tmp_path / COMBINATION, fitted)
    loaded = load_combination(tmp_path / COMBINATION, entry)
    assert loaded.combination == fitted.combination
    np.testing.assert_array_equal(loaded.class_weights, fitted.class_weights)
    with pytest.raises(FileNotFoundError, match="forcerun"):
        load_combination(tmp_path / "missing" / COMBINATION, entry)


def test_a_model_folder_missing_a_file_of_its_family_names_it(fitted, tmp_path):
    write_fold_model(tmp_path / "fold0", fitted.predictor, META)
    next(p for p in (tmp_path / "fold0").iterdir() if p.suffix == ".npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"fold0: tfidf_model.npz is missing .*--forcerun"):
        load_fold_predictor(tmp_path / "fold0", manifest(), 0)
