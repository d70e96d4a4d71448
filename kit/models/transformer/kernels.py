"""The CPU's training kernels: a dropout whose masks cost a fraction of torch's, and the eager attention that uses it.

On a CPU, torch's dropout draws its mask one element at a time (bernoulli_ over mt19937): in an fp32 training step
of the benchmark's BERT it took a fifth of the time, more than the attention's matmuls (bench/bench_transformer.py,
torch.profiler). Here each 64-bit draw of torch's generator gives four 16-bit numbers, and an element is kept when
its number clears p's threshold, so the drop probability is p rounded to a multiple of 1/65536 (0.1 -> 0.100006).
The masks come from the default generator like torch's own, so a seed still fixes them (and a checkpoint's RNG state
resumes them); they are other masks than torch's, so a run is the same run only on the same kernels.

cpu_training_kernels() puts them in for the duration of training on a CPU: every nn.Dropout of the model becomes a
MaskDropout of the same p, and a transformers backbone (the classifier's own, not one inside a word-vector hybrid)
that may drop attention probabilities attends with eager_attention (sdpa's CPU flash kernel has no dropout, and its
fallback computes dropout with bernoulli_ and checks every row for full masking); one whose config says
attention_probs_dropout_prob 0 (the kit's default, attention_dropout) keeps sdpa's fused kernel. A config that names
its attention dropout otherwise is swapped whatever its value, which computes the same. CUDA keeps its fused
kernels.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from kit.models.transformer.backbone import ATTENTION_DROPOUT

ATTENTION = "kit_cpu"  # the name eager_attention is registered under with transformers
_LEVELS = 1 << 16


def drop_threshold(p: float) -> int:
    """The int16 value an element's number must reach to be kept: round(p x 65536) numbers lie below it."""
    return round(p * _LEVELS) - _LEVELS // 2


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """bool [shape]: True where an element is kept, each with probability 1 - round(p x 65536) / 65536."""
    count = shape.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    return words.view(torch.int16)[:count].view(shape) >= drop_threshold(p)


class _MaskDropout(torch.autograd.Function):
    """x * keep / P(keep); backward passes the gradient through the same bool mask (what autograd keeps)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = keep_mask(x.shape, p, x.device)
        ctx.scale = _LEVELS / (_LEVELS - (drop_threshold(p) + _LEVELS // 2))
        ctx.save_for_backward(keep)
        return (x * keep.to(x.dtype)).mul_(ctx.scale)  # a float mask's multiply is vectorised; where() is not

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return (grad * keep.to(grad.dtype)).mul_(ctx.scale), None


def mask_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout of x with probability p (in steps of 1/65536) when training; x itself otherwise."""
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0  # zeros that still pass a (zero) gradient, as nn.Dropout's do
    return _MaskDropout.apply(x, p)


class MaskDropout(nn.Dropout):
    """nn.Dropout drawing its masks with keep_mask; `p` reads as before (transformers' attention reads it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mask_dropout(x, self.p, self.training)


def eager_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' eager attention (query, key, value [B x heads x L x d]; attention_mask additive [B x 1 x L x L])
    with mask_dropout on the probabilities, and the scale applied to the queries (L x d) instead of the scores
    (L x L). Returns (output [B x L x heads x d], None): no caller of the kit asks for the probabilities."""
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scaling, key.transpose(2, 3))
    if attention_mask is not None:
        scores = scores + attention_mask
    probabilities = mask_dropout(torch.softmax(scores, dim=-1), dropout, module.training)
    return torch.matmul(probabilities, value).transpose(1, 2).contiguous(), None


def register_attention() -> None:
    """Make ATTENTION a name transformers' models accept (with the eager mask: additive, [B x 1 x L x L])."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, eager_attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)


def _attention(backbone) -> tuple[str | None, bool]:
    """(the backbone's attention implementation or None, whether its config says it drops no attention
    probabilities)."""
    config = getattr(backbone, "config", None)
    return getattr(config, "_attn_implementation", None), getattr(config, ATTENTION_DROPOUT, None) == 0


def swaps_attention(backbone) -> bool:
    """Whether the backbone is a transformers model on eager or sdpa attention that takes a registered attention
    function (a word-vector encoder is not; nor is a model that predates transformers' attention interface), and
    drops attention probabilities: without attention dropout, sdpa's fused CPU kernel is the faster one (about
    1.2x a training step of the benchmark's BERT, bench/bench_transformer.py)."""
    own, no_dropout = _attention(backbone)
    return own in ("eager", "sdpa") and getattr(backbone, "_supports_attention_backend", False) and not no_dropout


def describe(device: torch.device, backbone) -> str:
    """The kernels training on `device` uses, for the log."""
    if device.type != "cpu":
        return "attention: the backbone's own; dropout: torch's"
    own, no_dropout = _attention(backbone)
    if swaps_attention(backbone):
        attention = f"eager with mask dropout ({ATTENTION})"
    else:
        attention = "none swapped" if own is None else f"the backbone's own ({own})"
        attention += ", no attention dropout" if no_dropout else ""
    return f"attention: {attention}; dropout: 16-bit masks (kernels.MaskDropout)"


@contextmanager
def cpu_training_kernels(model: nn.Module, backbone):
    """On a CPU, train `model` with MaskDropout for every nn.Dropout and `backbone` (a transformers model inside it)
    with eager_attention; put everything back afterwards. Elsewhere nothing changes."""
    if next(model.parameters()).device.type != "cpu":
        yield
        return
    swapped = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if type(child) is nn.Dropout]
    for parent, name, child in swapped:
        setattr(parent, name, MaskDropout(child.p, child.inplace).train(child.training))
    own = backbone.config._attn_implementation if swaps_attention(backbone) else None
    if own is not None:
        register_attention()
        backbone.set_attn_implementation(ATTENTION)
    try:
        yield
    finally:
        if own is not None:
            backbone.set_attn_implementation(own)
        for parent, name, child in swapped:
            setattr(parent, name, child)
