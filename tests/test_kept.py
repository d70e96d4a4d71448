"""kit.kept: fold model folders (kept, or why not) read back only into the artifact they belong to; skops loads
nothing the kit did not declare."""

import json

import numpy as np
import pytest

from kit import registry
from kit.ensemble.voting import VotePlan
from kit.kept import (COMBINATION, MODEL_JSON, NOT_KEPT_JSON, dump_skops, load_combination, load_fold_predictor,
                      load_skops, save_combination, why_not_kept, write_fold_model)
from kit.models import FoldData, FoldResult, fit_predict
from kit.registry import Family

POSTS = ["武汉加油[心]", "太难过了[泪]", "今日疫情通报", "致敬医护人员", "口罩买不到[怒]", "新增确诊病例通报"]
LABELS = np.array([2, 0, 1, 2, 0, 1])
META = {"kind": "sklearn", "fold": 0, "seed": 0, "fold_hash": "f" * 64, "data_hash": "d" * 64, "variant": "raw",
        "classes": ["-1", "0", "1"]}


@pytest.fixture(scope="module")
def fitted():
    data = FoldData(POSTS * 3, np.tile(LABELS, 3), POSTS[:2], LABELS[:2], ["加油武汉", "好难过"], 3)
    return fit_predict("sklearn", {"min_df": 1}, data, seed=0, workdir="unused", log=lambda line: None)


def manifest(**changes) -> dict:
    return {"name": "lr.raw.s0", "family": "sklearn", "fold_hash": "f" * 64, "data_hash": "d" * 64, **changes}


def test_a_kept_model_predicts_what_the_fold_job_did(fitted, tmp_path):
    assert write_fold_model(tmp_path / "fold0", fitted.predictor, META, keep=True, why_not="")
    assert json.loads((tmp_path / "fold0" / MODEL_JSON).read_text()) == META
    predictor = load_fold_predictor(tmp_path / "fold0", manifest())
    np.testing.assert_array_equal(predictor.predict(["加油武汉", "好难过"]), fitted.test_logits)
    assert [p.name for p in tmp_path.iterdir()] == ["fold0"]  # no temporary folder left beside it


def test_a_model_that_is_not_kept_says_why_and_predict_repeats_it(fitted, tmp_path):
    assert not write_fold_model(tmp_path / "fold0", fitted.predictor, META, keep=False, why_not=why_not_kept("auto"))
    saved = json.loads((tmp_path / "fold0" / NOT_KEPT_JSON).read_text())
    assert saved["kept"] is False and "keep_models: all" in saved["reason"]
    assert sorted(p.name for p in (tmp_path / "fold0").iterdir()) == [NOT_KEPT_JSON]
    with pytest.raises(ValueError, match=r"fold0: the fold model of lr.raw.s0 was not kept \(keep_models: auto"):
        load_fold_predictor(tmp_path / "fold0", manifest())


def test_a_family_without_load_predictor_is_never_kept(tmp_path, monkeypatch):
    registry.names(registry.FAMILIES)
    monkeypatch.setattr(registry.FAMILIES, "entries", dict(registry.FAMILIES.entries))
    registry.register(Family("prior", registry.family("sklearn").params, lambda *a, **k: FoldResult(None, None)))
    kept = write_fold_model(tmp_path / "fold0", object(), {**META, "kind": "prior"}, keep=True, why_not="")
    reason = json.loads((tmp_path / "fold0" / NOT_KEPT_JSON).read_text())["reason"]
    assert not kept and "model kind 'prior' cannot keep its fold models" in reason


@pytest.mark.parametrize("key", ["data_hash", "fold_hash", "family"])
def test_a_model_from_another_run_is_refused(fitted, tmp_path, key):
    write_fold_model(tmp_path / "fold0", fitted.predictor, META, keep=True, why_not="")
    with pytest.raises(ValueError, match=r"differs from lr.raw.s0's manifest .*--forcerun"):
        load_fold_predictor(tmp_path / "fold0", manifest(**{key: "other"}))


def test_a_missing_model_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="fold3: no kept fold model of lr.raw.s0"):
        load_fold_predictor(tmp_path / "fold3", manifest())


def test_skops_loads_only_declared_types(tmp_path):
    plan = VotePlan(voters=[(0, 1, 2)], log=[{"round": 1}])
    dump_skops(tmp_path / "plan.skops", {"plan": plan, "weights": np.ones(3)})
    with pytest.raises(ValueError, match=r"holds types the kit does not load: \['kit.ensemble.voting.VotePlan'\]"):
        load_skops(tmp_path / "plan.skops")
    assert load_skops(tmp_path / "plan.skops", ["kit.ensemble.voting.VotePlan"])["plan"] == plan


def test_a_combination_round_trips_with_the_types_its_method_declares(tmp_path):
    from kit.config import EnsembleEntry
    from kit.ensemble.build import Fitted

    entry = EnsembleEntry.parse_setting({"method": "vote_multiround", "class_weights": True}, "ensembles.v")
    fitted = Fitted(VotePlan(voters=[(0, 1, 2)], log=[]), np.array([1.2, 0.9, 0.8]))
    save_combination(tmp_path / COMBINATION, fitted)
    loaded = load_combination(tmp_path / COMBINATION, entry)
    assert loaded.combination == fitted.combination
    np.testing.assert_array_equal(loaded.class_weights, fitted.class_weights)
    with pytest.raises(FileNotFoundError, match="forcerun"):
        load_combination(tmp_path / "missing" / COMBINATION, entry)


def test_a_model_folder_missing_a_file_of_its_family_names_it(fitted, tmp_path):
    write_fold_model(tmp_path / "fold0", fitted.predictor, META, keep=True, why_not="")
    next(p for p in (tmp_path / "fold0").iterdir() if p.suffix == ".npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"fold0: tfidf_model.npz is missing .*--forcerun"):
        load_fold_predictor(tmp_path / "fold0", manifest())
