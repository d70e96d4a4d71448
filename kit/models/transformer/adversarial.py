"""Adversarial training on the word embeddings: FGM (Miyato et al., 2017) and PGD (Madry et al., 2018).

Both perturb the word-embedding matrix along this micro-batch's gradient, add the loss at the perturbed point
to the gradients, and put the embeddings back exactly as they were.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def _unit(grad: torch.Tensor) -> torch.Tensor | None:
    """grad / ||grad||, or None when the norm is 0 or not finite (an fp16 overflow step the scaler will skip)."""
    norm = torch.linalg.vector_norm(grad.float())
    if not torch.isfinite(norm) or norm == 0:
        return None
    return grad / norm


def fgm_backward(
    embedding: nn.Parameter, grad: torch.Tensor, epsilon: float, adversarial_loss: Callable[[], torch.Tensor],
    backward: Callable[[torch.Tensor], None],
) -> bool:
    """One FGM step: embeddings += epsilon x grad / ||grad||, backward the loss there, restore; False if skipped.

    grad: this micro-batch's gradient of the embedding matrix [V x H]; backward: loss -> None (it may scale).
    """
    direction = _unit(grad)
    if direction is None:
        return False
    original = embedding.data.clone()
    embedding.data.add_(epsilon * direction)
    try:
        backward(adversarial_loss())
    finally:
        embedding.data.copy_(original)
    return True


def pgd_backward(
    embedding: nn.Parameter, grad: torch.Tensor, epsilon: float, alpha: float, steps: int,
    params: list[nn.Parameter], adversarial_loss: Callable[[], torch.Tensor], backward: Callable[[torch.Tensor], None],
) -> bool:
    """PGD: `steps` ascent steps of size alpha, projected into the epsilon ball; only the last step's gradient stays.

    Each step moves along the gradient at the current point (the first along `grad`, this micro-batch's clean
    gradient). The gradients held before the attack (clean loss, earlier micro-batches) are put back before the
    last backward, so the parameters end with clean + last adversarial gradient. False if skipped.
    """
    if _unit(grad) is None:
        return False
    original = embedding.data.clone()
    saved_grads = [p.grad for p in params]
    try:
        for step in range(steps):
            last = step == steps - 1
            direction = _unit(grad)
            if direction is not None:  # a vanishing gradient mid-way: stay where we are
                delta = embedding.data - original + alpha * direction
                delta_norm = torch.linalg.vector_norm(delta.float())
                if delta_norm > epsilon:
                    delta = delta * (epsilon / delta_norm)
                embedding.data.copy_(original + delta)
            for p, saved in zip(params, saved_grads):
                p.grad = saved if last else None
            backward(adversarial_loss())
            grad = embedding.grad
    finally:
        embedding.data.copy_(original)
    return True
