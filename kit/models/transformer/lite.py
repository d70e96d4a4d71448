"""A kept BERT fold model read back for prediction without importing transformers.

Importing transformers' BERT model code imports torch.distributed, the generation utilities and the hub kernels:
about 3 s of CPU, most of a cold `kit predict --text` (measured; a fold model itself loads in 0.04 s). A kept
backbone that is a plain BERT encoder (model_type bert, absolute positions, gelu, the weights save_pretrained
writes) is rebuilt here from its config.json and model.safetensors, and its tokenizer from tokenizer.json by the
`tokenizers` library that transformers' fast tokenizer wraps (numpy_predictor.LiteTokenizer, with the check of what
is plain). Anything else returns None and the caller loads it with transformers. tests/test_transformer_lite.py
checks that both give the same hidden states and token ids.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch.nn import functional as F

from kit.models.transformer.numpy_predictor import LiteTokenizer, bert_weight_names, plain_bert


class LiteBert(torch.nn.Module):
    """transformers' BertModel forward in eval mode: (input_ids, attention_mask) -> last_hidden_state [B x L x H],
    hidden_states (the embeddings and each layer's output) when asked, pooler_output (tanh of a dense layer over
    [CLS]) when the weights have a pooler."""

    def __init__(self, config: dict, weights: dict[str, torch.Tensor]):
        super().__init__()
        self.config = SimpleNamespace(**config)
        self.weights = weights
        self.n_heads, self.eps = config["num_attention_heads"], config["layer_norm_eps"]

    def _linear(self, x, name):
        return F.linear(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"])

    def _norm(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.weights[f"{name}.weight"], self.weights[f"{name}.bias"], self.eps)

    def forward(self, input_ids, attention_mask, output_hidden_states: bool = False):
        w = self.weights
        batch, length = input_ids.shape
        # In transformers' order (words + token types, then positions): the same sums to the last bit.
        x = F.embedding(input_ids, w["embeddings.word_embeddings.weight"])
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = x + w["embeddings.position_embeddings.weight"][:length]
        x = self._norm(x, "embeddings.LayerNorm")
        # transformers' additive mask: 0 where attended, the dtype's lowest number at padding.
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        states = [x]
        head_size = x.shape[-1] // self.n_heads
        for layer in range(self.config.num_hidden_layers):
            prefix = f"encoder.layer.{layer}"

            def heads(name):
                return self._linear(x, f"{prefix}.attention.self.{name}").view(
                    batch, length, self.n_heads, head_size).transpose(1, 2)

            attended = F.scaled_dot_product_attention(heads("query"), heads("key"), heads("value"), attn_mask=mask)
            attended = attended.transpose(1, 2).reshape(batch, length, -1)
            x = self._norm(self._linear(attended, f"{prefix}.attention.output.dense") + x,
                           f"{prefix}.attention.output.LayerNorm")
            inner = F.gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            x = self._norm(self._linear(inner, f"{prefix}.output.dense") + x, f"{prefix}.output.LayerNorm")
            states.append(x)
        pooled = torch.tanh(self._linear(x[:, 0], "pooler.dense")) if "pooler.dense.weight" in w else None
        return SimpleNamespace(last_hidden_state=x, hidden_states=tuple(states) if output_hidden_states else None,
                               pooler_output=pooled)


def load_lite_backbone(folder: Path):
    """(tokenizer, backbone) of a kept plain-BERT folder without transformers, or None when the folder holds
    anything else (another architecture or activation, other weights, no tokenizer.json)."""
    found = plain_bert(folder)
    if found is None:
        return None
    config, pad = found
    folder = Path(folder)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(str(folder / "model.safetensors"))
    except SafetensorError:  # damaged: transformers' loader reports it as it always has
        return None
    weights.pop("embeddings.position_ids", None)  # a buffer some versions save: arange, not a weight
    if set(weights) - {"pooler.dense.weight", "pooler.dense.bias"} != bert_weight_names(config):
        return None
    return LiteTokenizer(folder, pad), LiteBert(config, weights)
