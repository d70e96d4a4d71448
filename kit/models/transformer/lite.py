"""A kept BERT fold model read back for prediction without importing transformers.

Importing transformers' BERT model code imports torch.distributed, the generation utilities and the hub kernels:
about 3 s of CPU, most of a cold `kit predict --text` (measured; a fold model itself loads in 0.04 s). A kept
backbone that is a plain BERT encoder (model_type bert, absolute positions, gelu, the weights save_pretrained
writes) is rebuilt here from its config.json and model.safetensors, and its tokenizer from tokenizer.json by the
`tokenizers` library that transformers' fast tokenizer wraps. Anything else returns None and the caller loads it
with transformers. tests/test_transformer_lite.py checks that both give the same hidden states and token ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.nn import functional as F

LAYER_WEIGHTS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")
EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")


class LiteTokenizer:
    """The fast tokenizer's encoding from tokenizer.json: __call__(texts, truncation, max_length) -> input_ids with
    [CLS] and [SEP], as transformers' PreTrainedTokenizerFast returns them."""

    def __init__(self, folder: Path, pad_token: str):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.pad_token_id = self.tokenizer.token_to_id(pad_token)

    def __call__(self, texts: list[str], truncation: bool = True, max_length: int | None = None,
                 **ignored) -> dict:
        if truncation and max_length:
            self.tokenizer.enable_truncation(max_length, strategy="longest_first", direction="right")
        else:
            self.tokenizer.no_truncation()
        return {"input_ids": [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]}


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


def expected_weights(config: dict) -> set[str]:
    names = {f"embeddings.{name}.weight" for name in EMBEDDINGS}
    names |= {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"}
    for layer in range(config["num_hidden_layers"]):
        names |= {f"encoder.layer.{layer}.{part}.{kind}" for part in LAYER_WEIGHTS for kind in ("weight", "bias")}
    return names


def load_lite_backbone(folder: Path):
    """(tokenizer, backbone) of a kept plain-BERT folder without transformers, or None when the folder holds
    anything else (another architecture or activation, other weights, no tokenizer.json)."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    plain = (config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
             and config.get("position_embedding_type", "absolute") == "absolute" and not config.get("is_decoder")
             and tokenizer_config.get("backend", "tokenizers") == "tokenizers"
             and tokenizer_config.get("truncation_side", "right") == "right"
             and (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file())
    if not plain:
        return None
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(str(folder / "model.safetensors"))
    except SafetensorError:  # damaged: transformers' loader reports it as it always has
        return None
    weights.pop("embeddings.position_ids", None)  # a buffer some versions save: arange, not a weight
    names = expected_weights(config)
    if set(weights) - {"pooler.dense.weight", "pooler.dense.bias"} != names:
        return None
    pad = tokenizer_config.get("pad_token", "[PAD]")
    pad = pad.get("content") if isinstance(pad, dict) else pad  # an AddedToken as some versions save it
    return LiteTokenizer(folder, pad), LiteBert(config, weights)
