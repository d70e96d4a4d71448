"""kit.models.transformer.numpy_forward: for every head, numpy's logits are torch's TextClassifier's (eval, fp32) to
1e-5 on a padded batch of texts of different lengths; erf and GELU hold to their stated error."""

import math

import numpy as np
import pytest
import torch

from kit.models.transformer.config import HeadSettings
from kit.models.transformer.heads import HEADS as TORCH_HEADS
from kit.models.transformer.heads import TextClassifier
from kit.models.transformer import numpy_forward
from kit.models.transformer.lite import load_lite_backbone
from kit.models.transformer.numpy_forward import HEADS, NumpyClassifier, erf, gelu, head_weight_names
from tests.conftest import BERT_TEXTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def backbone(kept_bert):
    """(tokenizer, LiteBert) of the kept scratch BERT (conftest.kept_bert)."""
    return load_lite_backbone(kept_bert)


def batch(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    ids = tokenizer(BERT_TEXTS, truncation=True, max_length=32)["input_ids"]
    width = max(map(len, ids))
    input_ids = np.array([row + [tokenizer.pad_token_id] * (width - len(row)) for row in ids], dtype=np.int64)
    mask = np.array([[1] * len(row) + [0] * (width - len(row)) for row in ids], dtype=np.int64)
    return input_ids, mask


def as_numpy(state: dict) -> dict:
    return {name: tensor.detach().numpy().copy() for name, tensor in state.items()}


@pytest.mark.parametrize("tokens_per_pass", [1024, 16], ids=["whole batch", "one row a pass"])
@pytest.mark.parametrize("head", HEADS)
def test_every_head_gives_torchs_logits(backbone, head, tokens_per_pass, monkeypatch):
    monkeypatch.setattr(numpy_forward, "TOKENS_PER_PASS", tokens_per_pass)
    tokenizer, bert = backbone
    torch.manual_seed(1)
    settings = HeadSettings(head=head, rnn_hidden=None if head != "bilstm" else 12, cnn_kernels=(2, 3), cnn_filters=8)
    model = TextClassifier(bert, settings, 3).eval()
    with torch.no_grad():  # layer_fusion's weights start equal; move them, as training does
        for parameter in model.head.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    input_ids, mask = batch(tokenizer)
    with torch.inference_mode():
        expected = model(torch.from_numpy(input_ids), torch.from_numpy(mask))[0].numpy()
    ours = NumpyClassifier(as_numpy(bert.weights), vars(bert.config), head, as_numpy(model.head.state_dict()),
                           as_numpy(model.classifier.state_dict()), settings.cnn_kernels)(input_ids, mask)
    assert ours.dtype == np.float32 and ours.shape == (len(BERT_TEXTS), 3)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)
    assert set(model.head.state_dict()) == head_weight_names(head, settings.cnn_kernels)


def test_every_torch_head_has_a_numpy_forward():
    assert set(HEADS) == set(TORCH_HEADS)


def test_erf_and_gelu_hold_to_their_error_bound():
    x = np.linspace(-6, 6, 2001)
    assert np.abs(erf(x) - np.array([math.erf(v) for v in x])).max() < 1.5e-7
    points = np.linspace(-5, 5, 101, dtype=np.float32)
    np.testing.assert_allclose(gelu(points), torch.nn.functional.gelu(torch.from_numpy(points)).numpy(), atol=2e-7)
    assert gelu(points).dtype == np.float32
