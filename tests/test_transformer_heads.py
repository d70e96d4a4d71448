"""kit.models.transformer.heads: every head's forward and backward, padding invariance, the registry."""

import pytest
import torch
from transformers import BertConfig, BertModel

from kit.models.transformer.config import HEAD_NAMES, HeadSettings
from kit.models.transformer.heads import HEADS, TextClassifier

N_CLASSES = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_classifier(head: str, layers: int = 2, samples: int = 4) -> TextClassifier:
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64))
    config = HeadSettings(head=head, dropout_samples=samples, rnn_hidden=8, cnn_kernels=(2, 3), cnn_filters=6)
    return TextClassifier(bert, config, N_CLASSES)


def batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids, attention_mask [B x max(lengths)] with 0 padding; ids depend on position so rows differ."""
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = (torch.arange(n) * (row + 3)) % 45 + 5
        mask[row, :n] = 1
    return ids, mask


def test_registry_matches_the_config_choices():
    assert tuple(HEADS) == HEAD_NAMES


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_every_head_trains_forward_and_backward(head):
    model = tiny_classifier(head).train()
    ids, mask = batch([7, 4, 9])
    logits = model(ids, mask)
    assert logits.shape == (4, 3, N_CLASSES)  # 4 dropout samples x 3 texts x 3 classes
    assert not torch.allclose(logits[0], logits[1])  # the samples use different dropout masks
    logits.sum().backward()
    for name, param in model.named_parameters():
        if name.startswith(("head.", "classifier.", "backbone.encoder.layer.1.")):
            assert param.grad is not None and torch.isfinite(param.grad).all(), name
    model.eval()
    assert model(ids, mask).shape == (1, 3, N_CLASSES)


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_a_texts_logits_do_not_depend_on_its_batch_padding(head):
    model = tiny_classifier(head).eval()
    ids, mask = batch([5, 12])
    with torch.no_grad():
        in_batch = model(ids, mask)[0, 0]
        alone = model(ids[:1, :5], mask[:1, :5])[0, 0]
    torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-4)


def test_layer_fusion_learns_its_layer_weights():
    model = tiny_classifier("layer_fusion").train()
    model(*batch([6, 6])).sum().backward()
    assert model.head.layer_logits.shape == (2,) and model.head.layer_logits.grad.abs().sum() > 0


def test_cls_concat_needs_two_layers():
    with pytest.raises(ValueError, match="at least 2 layers"):
        tiny_classifier("cls_concat", layers=1)
