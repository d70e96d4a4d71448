"""kit.models.transformer.numpy_predictor: a fold model kept as fold jobs keep it predicts through numpy what torch
predicts (to 1e-5), without importing torch; what numpy cannot compute (bf16, another architecture, a head.pt that
is not plain tensors, a damaged file) is left to torch, which the family's load_predictor then uses."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from kit.models.transformer import load_predictor
from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
from kit.models.transformer.config import parse_config
from kit.models.transformer.fold import TransformerPredictor, save_fold_model
from kit.models.transformer.fold import load_predictor as load_torch_predictor
from kit.models.transformer.heads import TextClassifier
from kit.models.transformer.numpy_predictor import (NumpyPredictor, load_numpy_predictor, read_torch_state,
                                                    torch_predicts_fp32)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = ["武汉加油！", "", "今天好难过，口罩买不到 #新冠肺炎# [哈哈]", "疫" * 40, "x y z 123", "加油"]


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("numpy_predictor")
    build_scratch_backbone(root / "scratch", TEXTS, layers=2, hidden=32, heads=2, max_position=64)
    return root / "scratch"


def keep(backbone_dir, folder, head: str, amp: str = "off"):
    """A fold model saved as a fold job saves it (save_fold_model), its weights moved off their initial values."""
    config = parse_config({"backbone": str(backbone_dir), "head": head, "max_len": 24, "predict_batch_size": 4,
                           "amp": amp, "cnn_filters": 8})
    tokenizer, backbone = load_backbone(backbone_dir)
    torch.manual_seed(0)
    model = TextClassifier(backbone, config.head, 3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    folder.mkdir(parents=True)
    save_fold_model(model, tokenizer, config, folder)
    return folder


@pytest.mark.parametrize("head", ["bigru", "textcnn", "cls"])
def test_a_kept_model_predicts_through_numpy_what_torch_predicts(backbone_dir, tmp_path, head):
    folder = keep(backbone_dir, tmp_path / head, head)
    ours, theirs = load_numpy_predictor(folder), load_torch_predictor(folder)
    assert isinstance(ours, NumpyPredictor)
    logits = ours.predict(TEXTS)
    assert logits.dtype == np.float32 and logits.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(logits, theirs.predict(TEXTS), rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.predict(TEXTS[2:3]), logits[2:3], rtol=0, atol=1e-6)  # alone as in a batch
    assert ours.predict([]).shape == (0, 3)


def test_the_family_loads_a_numpy_predictor_and_never_imports_torch(backbone_dir, tmp_path):
    folder = keep(backbone_dir, tmp_path / "kept", "bigru")
    assert isinstance(load_predictor(folder), NumpyPredictor)
    script = ("import sys; from kit.models.transformer import load_predictor; "
              f"print(load_predictor({str(folder)!r}).predict(['武汉加油']).shape, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["(1,", "3)", "False"]


def test_what_numpy_cannot_compute_is_left_to_torch(backbone_dir, tmp_path):
    bf16 = keep(backbone_dir, tmp_path / "bf16", "mean", amp="bf16")
    assert load_numpy_predictor(bf16) is None
    assert isinstance(load_predictor(bf16), TransformerPredictor)
    kept = keep(backbone_dir, tmp_path / "kept", "mean")
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
