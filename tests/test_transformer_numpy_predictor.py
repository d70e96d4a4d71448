"""kit.models.transformer.numpy_predictor: a fold model kept as fold jobs keep it predicts through numpy what torch
predicts (to 1e-5), without importing torch; what numpy cannot compute (bf16, another architecture, a head.pt that
is not plain tensors, a damaged file) is None, for torch."""

import json
import shutil

import numpy as np
import pytest
import torch

from kit.models.transformer.fold import load_predictor as load_torch_predictor
from kit.models.transformer.numpy_predictor import (NumpyPredictor, load_numpy_predictor, read_torch_state,
                                                    torch_predicts_fp32)
from tests.conftest import BERT_TEXTS, write_kept_fold_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("head", ["bigru", "textcnn", "cls"])
def test_a_kept_model_predicts_through_numpy_what_torch_predicts(kept_bert, tmp_path, head):
    folder = write_kept_fold_model(kept_bert, tmp_path / head, head)
    ours, theirs = load_numpy_predictor(folder), load_torch_predictor(folder)
    assert isinstance(ours, NumpyPredictor)
    logits = ours.predict(BERT_TEXTS)
    assert logits.dtype == np.float32 and logits.shape == (len(BERT_TEXTS), 3)
    np.testing.assert_allclose(logits, theirs.predict(BERT_TEXTS), rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.predict(BERT_TEXTS[2:3]), logits[2:3], rtol=0, atol=1e-6)  # alone as in a batch
    assert ours.predict([]).shape == (0, 3)


def test_what_numpy_cannot_compute_is_not_loaded_here(kept_bert, tmp_path):
    assert load_numpy_predictor(write_kept_fold_model(kept_bert, tmp_path / "bf16", "mean", amp="bf16")) is None
    kept = write_kept_fold_model(kept_bert, tmp_path / "kept", "mean")
    for name, change in [("roberta", lambda f: edit_json(f / "config.json", model_type="roberta")),
                         ("relu", lambda f: edit_json(f / "config.json", hidden_act="relu")),
                         ("head_weights", lambda f: torch.save({"head": {"extra": torch.ones(2)}, "classifier": {}},
                                                               f / "head.pt")),
                         ("no_head", lambda f: (f / "head.pt").unlink()),
                         ("damaged", lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 64))]:
        folder = tmp_path / name
        shutil.copytree(kept, folder)
        change(folder)
        assert load_numpy_predictor(folder) is None, name


def edit_json(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_head_pt_is_read_as_torch_reads_it_and_only_when_it_holds_tensors(tmp_path):
    state = {"head": {"rnn.weight_ih_l0": torch.randn(6, 4), "layer_logits": torch.arange(3.0)},
             "classifier": {"weight": torch.randn(5, 8)[:, ::2], "bias": torch.zeros(3, dtype=torch.float64)}}
    torch.save(state, tmp_path / "head.pt")
    read = read_torch_state(tmp_path / "head.pt")
    for part in state:
        assert set(read[part]) == set(state[part])
        for name, tensor in state[part].items():
            assert read[part][name].dtype == tensor.numpy().dtype
            np.testing.assert_array_equal(read[part][name], tensor.numpy())  # a strided view too
    torch.save({"head": {"scale": torch.nn.Parameter(torch.ones(2))}, "step": np.int64(3)}, tmp_path / "other.pt")
    assert read_torch_state(tmp_path / "other.pt") is None
    (tmp_path / "cut.pt").write_bytes((tmp_path / "head.pt").read_bytes()[:200])
    assert read_torch_state(tmp_path / "cut.pt") is None
    assert read_torch_state(tmp_path / "missing.pt") is None


def test_torch_predicts_fp32_unless_the_cpu_has_bf16_instructions_or_the_model_asks(tmp_path):
    plain, bf16 = tmp_path / "plain", tmp_path / "bf16"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert torch_predicts_fp32("auto", plain) and torch_predicts_fp32("fp16", plain)
    assert not torch_predicts_fp32("auto", bf16) and not torch_predicts_fp32("bf16", plain)
    assert torch_predicts_fp32("off", bf16)
    assert not torch_predicts_fp32("auto", tmp_path / "missing")
