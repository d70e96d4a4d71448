"""kit.models.transformer.losses: class weights, cross-entropy options and focal loss."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kit.models.transformer.config import LossSettings
from kit.models.transformer.losses import class_weight_vector, focal_loss, make_loss

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 4.0]])
Y = torch.tensor([0, 2, 1, 0])


def test_balanced_weights_follow_sklearns_formula():
    y = np.array([0, 0, 0, 1, 2, 2])
    weights = class_weight_vector("balanced", y, 3)
    torch.testing.assert_close(weights, torch.tensor([6 / 9, 6 / 3, 6 / 6]))


def test_class_weights_must_fit_the_classes():
    with pytest.raises(ValueError, match="2 values but the competition has 3"):
        class_weight_vector((1.0, 2.0), np.array([0, 1, 2]), 3)
    with pytest.raises(ValueError, match=r"classes \[2\]"):
        class_weight_vector("balanced", np.array([0, 1, 1]), 3)
    assert class_weight_vector(None, np.array([0]), 3) is None


def test_cross_entropy_applies_smoothing_and_weights():
    weights = torch.tensor([1.0, 2.0, 0.5])
    loss = make_loss(LossSettings(label_smoothing=0.1), weights)(LOGITS, Y)
    torch.testing.assert_close(loss, F.cross_entropy(LOGITS, Y, weight=weights, label_smoothing=0.1))


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_down_weights_easy_rows():
    weights = torch.tensor([1.0, 2.0, 0.5])
    torch.testing.assert_close(focal_loss(LOGITS, Y, 0.0, weights), F.cross_entropy(LOGITS, Y, weight=weights))
    per_row_ce = F.cross_entropy(LOGITS, Y, reduction="none")
    per_row_focal = torch.stack([focal_loss(LOGITS[i : i + 1], Y[i : i + 1], 2.0, None) for i in range(4)])
    ratio = per_row_focal / per_row_ce  # (1 - p_y)^2: smallest for the easiest (most confident) row
    assert ratio.argmin() == per_row_ce.argmin() and (ratio < 1).all()


def test_losses_run_in_float32_under_low_precision_logits():
    loss = make_loss(LossSettings(loss="focal"), None)(LOGITS.to(torch.bfloat16), Y)
    assert loss.dtype == torch.float32
