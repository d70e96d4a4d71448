"""kit.models.transformer.optim: layer-wise LR decay groups, the warmup schedule, gradual unfreezing, and the
Optimization step that both loops share."""

import copy

import pytest
import torch
from transformers import BertConfig, BertModel

from kit.models.transformer.config import HeadSettings, OptimizerSettings
from kit.models.transformer.heads import TextClassifier
from kit.models.transformer.optim import (
    Optimization,
    apply_gradual_unfreezing,
    backbone_depth,
    layerwise_param_groups,
    warmup_linear_schedule,
)


@pytest.fixture(scope="module")
def model():
    bert = BertModel(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=32))
    return TextClassifier(bert, HeadSettings(head="bigru", rnn_hidden=4), n_classes=3)


def test_depth_comes_from_the_parameter_name():
    assert backbone_depth("embeddings.word_embeddings.weight", 12) == 0
    assert backbone_depth("encoder.layer.0.attention.self.query.weight", 12) == 1
    assert backbone_depth("encoder.layer.11.output.dense.bias", 12) == 12
    assert backbone_depth("model.layers.3.mlp.weight", 12) == 4
    assert backbone_depth("pooler.dense.weight", 12) == 13


def test_llrd_groups_decay_the_rate_layer_by_layer(model):
    config = OptimizerSettings(lr=1e-3, head_lr=5e-3, llrd=0.9, weight_decay=0.01)
    groups = {group["name"]: group for group in layerwise_param_groups(model, config)}
    assert groups["top"]["lr"] == pytest.approx(1e-3)  # the pooler learns with the top layer
    assert groups["layer.2"]["lr"] == pytest.approx(1e-3)
    assert groups["layer.1"]["lr"] == pytest.approx(1e-3 * 0.9)
    assert groups["layer.0"]["lr"] == pytest.approx(1e-3 * 0.9**2)
    assert groups["embeddings"]["lr"] == pytest.approx(1e-3 * 0.9**3)
    assert groups["head"]["lr"] == groups["head/no_decay"]["lr"] == 5e-3
    for name, group in groups.items():
        assert group["weight_decay"] == (0.0 if name.endswith("/no_decay") else 0.01)
        assert all((p.ndim < 2) == name.endswith("/no_decay") for p in group["params"])
    grouped = [id(p) for group in groups.values() for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each parameter exactly once


def test_head_lr_defaults_to_lr(model):
    groups = {group["name"]: group for group in layerwise_param_groups(model, OptimizerSettings(lr=3e-4))}
    assert groups["head"]["lr"] == 3e-4


def test_warmup_then_linear_decay():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_linear_schedule(optimizer, total_steps=10, warmup_ratio=0.2)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])


def test_an_optimization_resumed_from_its_state_dict_takes_the_same_steps():
    def optimization(weights: torch.Tensor) -> tuple[torch.nn.Parameter, Optimization]:
        param = torch.nn.Parameter(weights.clone())
        groups = [{"params": [param], "lr": 0.1, "weight_decay": 0.01}]
        return param, Optimization(groups, torch.device("cpu"), False, total_steps=6, warmup_ratio=0.5,
                                   max_grad_norm=1.0)

    def step(param: torch.nn.Parameter, run: Optimization) -> None:
        run.backward((100 * param).sum())  # a gradient of norm 200, clipped
        run.step()
        assert param.grad is None

    straight, straight_run = optimization(torch.ones(4))
    for _ in range(2):
        step(straight, straight_run)
    saved = copy.deepcopy(straight_run.state_dict())  # as a checkpoint file holds it, sharing no tensor
    resumed, resumed_run = optimization(straight.detach())
    resumed_run.load_state_dict(saved)
    assert resumed_run.lr_factor() == straight_run.lr_factor() == pytest.approx(2 / 3)
    for _ in range(2):
        step(straight, straight_run)
        step(resumed, resumed_run)
    assert torch.equal(resumed, straight)  # the same Adam moments and LR: a resumed run takes the same steps


def test_gradual_unfreezing_opens_layers_from_the_top(model):
    def trainable(prefix):
        return all(p.requires_grad for n, p in model.backbone.named_parameters() if n.startswith(prefix))

    assert apply_gradual_unfreezing(model, epoch=0, layers_per_epoch=1) == 1
    assert trainable("encoder.layer.2.") and trainable("pooler.")
    assert not any(p.requires_grad for n, p in model.backbone.named_parameters()
                   if n.startswith(("encoder.layer.1.", "encoder.layer.0.", "embeddings.")))
    assert all(p.requires_grad for p in model.head_parameters())
    assert apply_gradual_unfreezing(model, epoch=1, layers_per_epoch=2) == 3
    assert all(p.requires_grad for p in model.parameters())
    apply_gradual_unfreezing(model, epoch=0, layers_per_epoch=0)  # off: everything trains
    assert all(p.requires_grad for p in model.parameters())
