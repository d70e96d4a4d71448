"""Classification heads over a backbone's token states, one registry, and the classifier that joins them.

Every head maps BackboneStates to a feature matrix [B x feature_size]; TextClassifier adds multi-sample dropout
and one linear layer. Heads that pool over tokens mask the padding, so a text's features do not depend on how
much padding its batch carried (length-bucketed batches and sorted prediction batches then agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from kit.models.transformer.config import HeadSettings


@dataclass
class BackboneStates:
    """What the heads read from one backbone pass over a batch of B texts padded to L tokens."""

    last: torch.Tensor  # [B x L x H] the last layer's token states
    layers: tuple[torch.Tensor, ...] | None  # embeddings + each layer, each [B x L x H]; None unless a head asks
    pooled: torch.Tensor  # [B x H] the pooler's output, or the last layer's [CLS] state for backbones without one
    mask: torch.Tensor  # [B x L] bool, True on real tokens


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B x L x D], [B x L] -> [B x D]: the mean over real tokens."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B x L x D], [B x L] -> [B x D]: the max over real tokens."""
    return states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).max(1).values


class HiddenWidthHead(nn.Module):
    """Base of the heads whose feature is one backbone-width vector per text (feature_size = hidden)."""

    needs_layers = False

    def __init__(self, hidden: int, n_layers: int, config: HeadSettings):
        super().__init__()
        self.feature_size = hidden


class ClsHead(HiddenWidthHead):
    """BERT's own classifier input: the pooler output (tanh of a dense layer over [CLS])."""

    def forward(self, states: BackboneStates) -> torch.Tensor:
        return states.pooled


class MeanPoolHead(HiddenWidthHead):
    """The mean of the last layer's token states over real tokens."""

    def forward(self, states: BackboneStates) -> torch.Tensor:
        return masked_mean(states.last, states.mask)


class ClsConcatHead(nn.Module):
    """[CLS] of the last two layers and the pooler output side by side: [B x 3H]."""

    needs_layers = True

    def __init__(self, hidden: int, n_layers: int, config: HeadSettings):
        super().__init__()
        if n_layers < 2:
            raise ValueError(f"head 'cls_concat' needs a backbone of at least 2 layers, this one has {n_layers}")
        self.feature_size = 3 * hidden

    def forward(self, states: BackboneStates) -> torch.Tensor:
        return torch.cat([states.layers[-1][:, 0], states.layers[-2][:, 0], states.pooled], dim=-1)


class LayerFusionHead(HiddenWidthHead):
    """Dynamic layer fusion: a learned softmax-weighted sum of every encoder layer's [CLS] state."""

    needs_layers = True

    def __init__(self, hidden: int, n_layers: int, config: HeadSettings):
        super().__init__(hidden, n_layers, config)
        self.layer_logits = nn.Parameter(torch.zeros(n_layers))  # equal weights at the start

    def forward(self, states: BackboneStates) -> torch.Tensor:
        cls_by_layer = torch.stack([layer[:, 0] for layer in states.layers[1:]], dim=0)  # [n_layers x B x H]
        weights = torch.softmax(self.layer_logits, dim=0).to(cls_by_layer.dtype)
        return torch.einsum("l,lbh->bh", weights, cls_by_layer)


class RnnHead(nn.Module):
    """A bidirectional GRU or LSTM over the token states, then mean and max pooling: [B x 4 rnn_hidden].

    Sequences are packed by length, so the backward direction starts at each text's last real token.
    """

    needs_layers = False

    def __init__(self, hidden: int, n_layers: int, config: HeadSettings, cell: type[nn.RNNBase]):
        super().__init__()
        rnn_hidden = config.rnn_hidden or hidden // 2
        self.rnn = cell(hidden, rnn_hidden, batch_first=True, bidirectional=True)
        self.feature_size = 4 * rnn_hidden

    def forward(self, states: BackboneStates) -> torch.Tensor:
        lengths = states.mask.sum(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(states.last, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed)
        tokens, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=states.last.shape[1])
        return torch.cat([masked_mean(tokens, states.mask), masked_max(tokens, states.mask)], dim=-1)


class TextCnnHead(nn.Module):
    """TextCNN (Kim, 2014) over the token states: per kernel size, a convolution and a max over real positions."""

    needs_layers = False

    def __init__(self, hidden: int, n_layers: int, config: HeadSettings):
        super().__init__()
        self.kernels = config.cnn_kernels
        self.convs = nn.ModuleList(nn.Conv1d(hidden, config.cnn_filters, k) for k in self.kernels)
        self.feature_size = config.cnn_filters * len(self.kernels)

    def forward(self, states: BackboneStates) -> torch.Tensor:
        # Padding states are zeroed so windows at a text's end see zeros, whatever its batch's padding length.
        tokens = (states.last * states.mask.unsqueeze(-1).to(states.last.dtype)).transpose(1, 2)  # [B x H x L]
        pooled = []
        for kernel, conv in zip(self.kernels, self.convs):
            left = (kernel - 1) // 2  # 'same' length output, also for even kernels
            windows = torch.relu(conv(nn.functional.pad(tokens, (left, kernel - 1 - left))))  # [B x F x L]
            pooled.append(masked_max(windows.transpose(1, 2), states.mask))
        return torch.cat(pooled, dim=-1)


HEADS = {
    "cls": ClsHead,
    "mean": MeanPoolHead,
    "cls_concat": ClsConcatHead,
    "layer_fusion": LayerFusionHead,
    "bigru": partial(RnnHead, cell=nn.GRU),
    "bilstm": partial(RnnHead, cell=nn.LSTM),
    "textcnn": TextCnnHead,
}


class TextClassifier(nn.Module):
    """Backbone + head + multi-sample dropout + linear layer.

    forward returns logits [S x B x C]: S dropout samples while training (the loss averages over them),
    S = 1 in eval mode, where dropout is the identity.
    """

    def __init__(self, backbone: nn.Module, config: HeadSettings, n_classes: int):
        super().__init__()
        self.backbone = backbone
        self.config = config
        hidden, n_layers = backbone.config.hidden_size, backbone.config.num_hidden_layers
        self.head = HEADS[config.head](hidden, n_layers, config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.head.feature_size, n_classes)

    def head_parameters(self) -> list[nn.Parameter]:
        """The parameters trained from scratch (head + classifier), which get the head learning rate."""
        return list(self.head.parameters()) + list(self.classifier.parameters())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask [B x L] -> logits [S x B x C]."""
        output = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.head.needs_layers
        )
        pooler = getattr(output, "pooler_output", None)
        states = BackboneStates(
            last=output.last_hidden_state,
            layers=output.hidden_states if self.head.needs_layers else None,
            pooled=pooler if pooler is not None else output.last_hidden_state[:, 0],
            mask=attention_mask.bool(),
        )
        features = self.head(states)
        samples = self.config.dropout_samples if self.training else 1
        return torch.stack([self.classifier(self.dropout(features)) for _ in range(samples)])
