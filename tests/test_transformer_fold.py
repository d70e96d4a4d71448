"""kit.models.transformer.fold: fit_predict end to end, the epoch policies, resume after a kill, fold models."""

import json

import numpy as np
import pytest
import torch

from kit.models import FoldData, fit_predict
from kit.models.transformer.backbone import build_scratch_backbone
from kit.models.transformer.config import parse_config
from kit.models.transformer.data import encode
from kit.models.transformer.fold import load_fold_model, load_predictor, run_fold
from kit.models.transformer.train import BEST_WEIGHTS, CHECKPOINT, predict, resolve_amp

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy(toy_texts):
    return toy_texts(n_classes=3)


@pytest.fixture(scope="module")
def data(toy) -> FoldData:
    train_text, train_y = toy(64, seed=0)
    valid_text, valid_y = toy(20, seed=1)
    test_text, _ = toy(15, seed=2)
    return FoldData(train_text, train_y, valid_text, valid_y, test_text + [""], n_classes=3)


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory, toy):
    return build_scratch_backbone(tmp_path_factory.mktemp("bb") / "bert", [toy.vocab],
                                  layers=2, hidden=32, heads=2, max_position=64)


def params(backbone_dir, **overrides) -> dict:
    return {"backbone": str(backbone_dir), "lr": 3e-3, "epochs": 2, "batch_size": 8, "max_len": 24, **overrides}


def test_fit_predict_end_to_end_through_the_family_registry(backbone_dir, data, tmp_path):
    lines = []
    result = fit_predict("transformer", params(backbone_dir, head="bigru"), data, seed=0, workdir=tmp_path,
                         log=lines.append)
    assert result.valid_logits.shape == (20, 3) and result.test_logits.shape == (16, 3)
    assert result.valid_logits.dtype == np.float32
    info = result.info
    assert (info["epoch_policy"], info["chosen_epoch"], info["epochs_run"]) == ("fixed", 2, 2)
    assert info["optimizer_steps"] == 16 and info["resumed_from"] is None
    assert info["amp"] == resolve_amp("auto", torch.device("cpu")).name
    assert [record["epoch"] for record in info["history"]] == [1, 2]
    assert info["config"]["head"] == "bigru"
    assert any("held-out fold macro-F1" in line for line in lines)
    assert any(line.startswith("predicting test: 16/16 (100%)") for line in lines)
    assert not (tmp_path / CHECKPOINT).exists()  # checkpoints go after success
    again = fit_predict("transformer", params(backbone_dir, head="bigru"), data, seed=0, workdir=tmp_path / "again",
                        log=lambda line: None)
    assert np.array_equal(again.test_logits, result.test_logits)  # a CPU run repeats under the same seed


def test_inner_early_stopping_reports_its_split_and_chosen_epoch(backbone_dir, data, tmp_path):
    config = params(backbone_dir, epochs=3, epoch_policy="inner_early_stopping", inner_fraction=0.25)
    info = fit_predict("transformer", config, data, seed=0, workdir=tmp_path, log=lambda line: None).info
    assert info["epoch_policy"] == "inner_early_stopping"
    stratified_size = sum(round(0.25 * count) for count in np.bincount(data.train_y))
    assert info["inner_size"] == stratified_size and info["train_rows"] == 64 - stratified_size
    scores = [record["inner_macro_f1"] for record in info["history"]]
    assert info["chosen_epoch"] == 1 + int(np.argmax(scores)) and info["inner_macro_f1"] == max(scores)


class Killed(Exception):
    pass


def kill_after(step: int):
    def on_step(done: int) -> None:
        if done == step:
            raise Killed

    return on_step


@pytest.mark.parametrize(
    "overrides, kill_step, resumed_from",
    [  # bf16 (the CPU default where the CPU multiplies bf16) and fp32 both resume to identical weights
        # 8 steps an epoch; checkpoints at steps 3, 6, 8 (epoch end), 9: a kill at 11 resumes at epoch 2, batch 1.
        ({"adversarial": "fgm", "head": "textcnn", "amp": "bf16", "checkpoint_every_steps": 3}, 11,
         {"epoch": 1, "batch": 1}),
        # 3 steps of 2 batches an epoch; checkpoints at steps 2, 3 (epoch end), 4: a kill at 5 resumes at
        # epoch 2, batch 2, and the best epoch's weights (best.pt) must survive the kill too.
        ({"epochs": 3, "epoch_policy": "inner_early_stopping", "inner_fraction": 0.25, "patience": 2,
          "grad_accum": 2, "amp": "off", "checkpoint_every_steps": 2}, 5, {"epoch": 1, "batch": 2}),
    ],
)
def test_a_killed_run_resumes_to_the_same_logits(backbone_dir, data, tmp_path, overrides, kill_step, resumed_from):
    config = params(backbone_dir, **overrides)
    straight = fit_predict("transformer", config, data, seed=1, workdir=tmp_path / "straight", log=lambda line: None)
    with pytest.raises(Killed):
        run_fold(parse_config(config), data, seed=1, workdir=tmp_path / "killed", log=lambda line: None,
                 on_step=kill_after(kill_step))
    assert (tmp_path / "killed" / CHECKPOINT).is_file()
    resumed = fit_predict("transformer", config, data, seed=1, workdir=tmp_path / "killed", log=lambda line: None)
    assert resumed.info["resumed_from"] == resumed_from
    assert np.array_equal(resumed.valid_logits, straight.valid_logits)
    assert np.array_equal(resumed.test_logits, straight.test_logits)
    assert resumed.info["history"] == straight.info["history"]
    assert not (tmp_path / "killed" / CHECKPOINT).exists() and not (tmp_path / "killed" / BEST_WEIGHTS).exists()


def test_a_kept_fold_model_predicts_what_the_fold_did(backbone_dir, data, tmp_path):
    config = params(backbone_dir, head="layer_fusion", epochs=1, keep_checkpoints=True, attention_dropout=0.25)
    result = fit_predict("transformer", config, data, seed=0, workdir=tmp_path / "work", log=lambda line: None)
    assert (tmp_path / "work" / CHECKPOINT).is_file()
    (tmp_path / "kept").mkdir()
    result.predictor.save(tmp_path / "kept")
    # The fold trained with the entry's attention dropout, not the backbone folder's 0.1.
    assert json.loads((tmp_path / "kept" / "config.json").read_text())["attention_probs_dropout_prob"] == 0.25
    model, tokenizer, loaded = load_fold_model(tmp_path / "kept")
    assert loaded.head.head == "layer_fusion"
    ids = encode(tokenizer, data.test_text, loaded.backbone.max_len, "test_text")
    logits = predict(model, ids, 8, tokenizer.pad_token_id, resolve_amp(loaded.schedule.amp, torch.device("cpu")))
    np.testing.assert_allclose(logits, result.test_logits, atol=1e-6)
    reloaded = load_predictor(tmp_path / "kept")
    np.testing.assert_array_equal(reloaded.predict(data.test_text), result.test_logits)  # same batches: same sums
    assert reloaded.predict(data.test_text[:1]).argmax(1) == result.test_logits[:1].argmax(1)


def test_bad_inputs_fail_before_training(backbone_dir, data, tmp_path):
    bad_labels = FoldData(data.train_text, np.where(data.train_y == 2, 3, data.train_y), data.valid_text,
                          data.valid_y, data.test_text, n_classes=3)
    with pytest.raises(ValueError, match="outside 0..2"):
        fit_predict("transformer", params(backbone_dir), bad_labels, seed=0, workdir=tmp_path, log=print)
    with pytest.raises(ValueError, match="max_len"):
        fit_predict("transformer", params(backbone_dir, max_len=100), data, seed=0, workdir=tmp_path, log=print)
    not_text = FoldData(data.train_text, data.train_y, data.valid_text, data.valid_y, data.test_text[:3] + [None],
                        n_classes=3)
    with pytest.raises(ValueError, match="test_text: row 3"):
        fit_predict("transformer", params(backbone_dir), not_text, seed=0, workdir=tmp_path, log=print)
