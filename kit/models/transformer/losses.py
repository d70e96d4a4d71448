"""Training losses over logits [B x C] and class indices [B]: cross-entropy (label smoothing, class weights), focal."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from kit.models.transformer.config import LossSettings

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def class_weight_vector(setting, y: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """[C] float32 weights from the config's class_weights: None, 'balanced' (from the labels y) or a list."""
    if setting is None:
        return None
    if setting == "balanced":
        counts = np.bincount(y, minlength=n_classes)
        if np.any(counts == 0):
            raise ValueError(f"class_weights 'balanced': classes {np.flatnonzero(counts == 0).tolist()} have no "
                             "training rows in this fold")
        return torch.tensor(len(y) / (n_classes * counts), dtype=torch.float32)
    if len(setting) != n_classes:
        raise ValueError(f"class_weights has {len(setting)} values but the competition has {n_classes} classes")
    return torch.tensor(setting, dtype=torch.float32)


def focal_loss(logits: torch.Tensor, y: torch.Tensor, gamma: float, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of -w_y (1 - p_y)^gamma log p_y (Lin et al., 2017), normalised by the weights like weighted CE."""
    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, y.unsqueeze(1)).squeeze(1)
    per_row = -((1 - log_p.exp()) ** gamma) * log_p
    if weights is None:
        return per_row.mean()
    row_weights = weights.to(logits.device)[y]
    return (row_weights * per_row).sum() / row_weights.sum()


def make_loss(config: LossSettings, weights: torch.Tensor | None) -> LossFn:
    """loss(logits [B x C], y [B]) -> scalar, computed in float32 whatever the autocast dtype."""
    if config.loss == "focal":
        return lambda logits, y: focal_loss(logits, y, config.focal_gamma, weights)
    return lambda logits, y: F.cross_entropy(
        logits.float(), y, weight=None if weights is None else weights.to(logits.device),
        label_smoothing=config.label_smoothing,
    )
