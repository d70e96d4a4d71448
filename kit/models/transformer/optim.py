"""Optimizer side of the loops: layer-wise LR decay groups, warmup + linear decay, gradual unfreezing, and the
Optimization (AdamW, schedule, loss scaler, clipping) that fine-tuning and post-training both step.

Backbone parameters are placed by depth from their names: 0 = embeddings, i + 1 = encoder layer i
(`...layer.<i>.` or `...layers.<i>.`, the BERT/RoBERTa/ERNIE layout), n_layers + 1 = anything above the
encoder (the pooler). The top layer and the pooler learn at `lr`, each layer below at llrd times the one above.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from kit.models.transformer.config import OptimizerSettings

_LAYER_INDEX = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


def backbone_depth(name: str, n_layers: int) -> int:
    """0 for embeddings, i + 1 for encoder layer i, n_layers + 1 for the rest (pooler and the like)."""
    found = _LAYER_INDEX.search(name)
    if found:
        return int(found.group(1)) + 1
    if "embeddings" in name:
        return 0
    return n_layers + 1


def layerwise_param_groups(model, config: OptimizerSettings) -> list[dict]:
    """AdamW parameter groups of a TextClassifier: one per (depth, decayed or not), plus the head's.

    Each group has 'name' ('embeddings', 'layer.3', 'top', 'head', with '/no_decay' for 1-d parameters:
    biases and LayerNorm weights are never decayed), 'params', 'lr' and 'weight_decay'.
    """
    n_layers = model.backbone.config.num_hidden_layers
    labels = {0: "embeddings", n_layers + 1: "top", **{d: f"layer.{d - 1}" for d in range(1, n_layers + 1)}}
    by_key: dict[tuple[int, bool], list[nn.Parameter]] = {}
    for name, param in model.backbone.named_parameters():
        by_key.setdefault((backbone_depth(name, n_layers), param.ndim < 2), []).append(param)

    def group(name: str, params: list[nn.Parameter], lr: float, no_decay: bool) -> dict:
        return {"name": name + ("/no_decay" if no_decay else ""), "params": params, "lr": lr,
                "weight_decay": 0.0 if no_decay else config.weight_decay}

    groups = [
        group(labels[depth], params, config.lr * config.llrd ** max(n_layers - depth, 0), no_decay)
        for (depth, no_decay), params in sorted(by_key.items())
    ]
    head_lr = config.head_lr or config.lr
    for no_decay in (False, True):
        params = [p for p in model.head_parameters() if (p.ndim < 2) == no_decay]
        if params:
            groups.append(group("head", params, head_lr, no_decay))
    return groups


def warmup_linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Each group's LR rises linearly from 0 over the first warmup_ratio of steps, then falls linearly to 0."""
    warmup_steps = int(round(warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fused_adamw_supported(device: torch.device) -> bool:
    """The fused AdamW kernel updates all tensors in one pass (about 8x the per-tensor loop's speed on a CPU);
    torch has it for CUDA, and for the CPU since 2.4."""
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return device.type == "cuda" or (device.type == "cpu" and (major, minor) >= (2, 4))


class Optimization:
    """AdamW over parameter groups (each with its 'lr' and 'weight_decay'), warmup + linear decay over total_steps,
    gradient clipping and, with loss_scaling (fp16, whose gradients underflow without it), a GradScaler.

    A loop calls backward() on each micro-batch's loss and step() once per group of micro-batches; a checkpoint
    saves state_dict() and a resumed run loads it back."""

    def __init__(self, groups: list[dict], device: torch.device, loss_scaling: bool, total_steps: int,
                 warmup_ratio: float, max_grad_norm: float | None):
        self.optimizer = torch.optim.AdamW(groups, fused=fused_adamw_supported(device))
        self.scheduler = warmup_linear_schedule(self.optimizer, total_steps, warmup_ratio)
        self.scaler = torch.amp.GradScaler(device.type) if loss_scaling else None
        self.max_grad_norm = max_grad_norm

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self) -> None:
        """Unscale, clip, step the optimizer and the schedule, and clear the gradients."""
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.max_grad_norm is not None:
            params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def lr_factor(self) -> float:
        """The schedule's factor now: each group's LR is its configured LR times this."""
        return self.scheduler.get_last_lr()[0] / self.scheduler.base_lrs[0]

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": None if self.scaler is None else self.scaler.state_dict()}

    def load_state_dict(self, saved: dict) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(saved["scaler"])


def apply_gradual_unfreezing(model, epoch: int, layers_per_epoch: int) -> int:
    """Freeze all but the top (epoch + 1) x layers_per_epoch encoder layers; return how many layers train.

    The pooler and the head always train; the embeddings train once the bottom layer does. 0 turns it off.
    """
    n_layers = model.backbone.config.num_hidden_layers
    trainable = n_layers if layers_per_epoch == 0 else min(n_layers, (epoch + 1) * layers_per_epoch)
    for name, param in model.backbone.named_parameters():
        depth = backbone_depth(name, n_layers)
        param.requires_grad_(depth > n_layers - trainable or (depth == 0 and trainable == n_layers))
    return trainable
