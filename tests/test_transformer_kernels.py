"""kit.models.transformer.kernels: the CPU's 16-bit-mask dropout and the eager attention that uses it, swapped in
for training and put back."""

import pytest
import torch
from torch import nn

from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
from kit.models.transformer.kernels import (
    ATTENTION,
    MaskDropout,
    cpu_training_kernels,
    describe,
    drop_threshold,
    keep_mask,
    mask_dropout,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    texts = ["今天天气很好，我们去公园玩吧"]
    folder = build_scratch_backbone(tmp_path_factory.mktemp("bb") / "bert", texts, layers=2, hidden=32, heads=2,
                                    max_position=64)
    return load_backbone(folder)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_mask_drops_p_of_the_elements_and_a_seed_fixes_it(p):
    torch.manual_seed(0)
    keep = keep_mask(torch.Size([1000, 1001]), p, torch.device("cpu"))  # not a multiple of 4 elements
    assert keep.dtype == torch.bool and keep.shape == (1000, 1001)
    assert abs((~keep).float().mean().item() - p) < 0.003
    torch.manual_seed(0)
    assert torch.equal(keep, keep_mask(torch.Size([1000, 1001]), p, torch.device("cpu")))
    assert drop_threshold(0.1) + 32768 == 6554  # 0.1 rounds to 6554 / 65536


def test_mask_dropout_keeps_the_mean_and_its_gradient_is_its_mask():
    torch.manual_seed(1)
    x = torch.full((400, 500), 2.0, requires_grad=True)
    out = mask_dropout(x, 0.2)
    kept = out != 0
    assert abs(out.mean().item() - 2.0) < 0.02  # scaled by 1 / P(keep)
    assert torch.allclose(out[kept], torch.tensor(2.0 * 65536 / (65536 - 13107)))
    out.sum().backward()
    assert torch.equal(x.grad != 0, kept) and torch.allclose(x.grad[kept], out[kept] / 2.0)
    assert mask_dropout(x, 0.2, training=False) is x and mask_dropout(x, 0.0) is x
    assert not mask_dropout(x, 1.0).any()


def test_the_kit_attention_computes_what_sdpa_does(bert):
    tokenizer, model = bert
    batch = tokenizer(["今天天气很好", "我们去公园玩吧，天气很好"], padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        own = model(**batch).last_hidden_state
        with cpu_training_kernels(model, model):
            assert model.config._attn_implementation == ATTENTION
            ours = model(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(ours[real], own[real], atol=1e-5, rtol=1e-5)


def test_training_kernels_swap_every_dropout_and_put_everything_back(bert):
    _, model = bert
    classifier = nn.Sequential(model, nn.Dropout(0.3)).eval()  # the swapped dropouts keep the mode
    dropouts = [module for module in classifier.modules() if type(module) is nn.Dropout]
    with cpu_training_kernels(classifier, model):
        inside = [module for module in classifier.modules() if isinstance(module, nn.Dropout)]
        assert all(type(module) is MaskDropout and not module.training for module in inside)
        assert sorted(module.p for module in inside) == sorted(module.p for module in dropouts)
    assert [module for module in classifier.modules() if type(module) is nn.Dropout] == dropouts
    assert model.config._attn_implementation == "sdpa"


def test_a_backbone_without_attention_dropout_keeps_the_fused_attention(tmp_path):
    folder = build_scratch_backbone(tmp_path / "bert", ["今天天气很好"], layers=1, hidden=16, heads=2, max_position=16)
    _, model = load_backbone(folder, attention_dropout=0.0)
    with cpu_training_kernels(model, model):
        assert model.config._attn_implementation == "sdpa"
        assert all(type(module) is MaskDropout for module in model.modules() if isinstance(module, nn.Dropout))
    assert describe(torch.device("cpu"), model) == ("attention: the backbone's own (sdpa), no attention dropout; "
                                                    "dropout: 16-bit masks (kernels.MaskDropout)")
    _, dropping = load_backbone(folder)
    assert describe(torch.device("cpu"), dropping).startswith(f"attention: eager with mask dropout ({ATTENTION})")
