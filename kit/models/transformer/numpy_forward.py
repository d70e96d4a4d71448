"""A kept fold classifier's forward pass in numpy: a plain BERT encoder, every head of heads.HEADS, the linear layer.

`import torch` alone takes 1.6 s of a cold `kit predict --text` (bench/bench_predict.py), longer than a small
model's whole prediction, so a kept model that numpy can compute is computed here, in eval mode and fp32: the same
operations in the same order as LiteBert and heads.TextClassifier, to within float32 rounding
(tests/test_transformer_numpy_forward.py holds the logits to 1e-5 of torch's). Weights are plain float32 arrays
named as the state dicts name them; this module reads no file (kit.models.transformer.numpy_predictor does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# heads.HEADS' names, every one of which numpy computes (a test keeps the two lists equal).
HEADS = ("cls", "mean", "cls_concat", "layer_fusion", "bigru", "bilstm", "textcnn")
LAYER_HEADS = ("cls_concat", "layer_fusion")  # the heads that read every layer's states, not just the last
# BERT runs over a batch in slices of about this many tokens (rows x width): a slice's activations then stay in the
# CPU's cache across BERT's many elementwise passes (1,000 test posts: about a third less CPU time than whole
# batches of 128).
TOKENS_PER_PASS = 1024
LOWEST = np.finfo(np.float32).min  # torch's additive attention mask and masked_max fill with the dtype's lowest

# Abramowitz & Stegun 7.1.26: erf to 1.5e-7 absolute (numpy has no erf, and scipy costs a cold start 0.3 s).
ERF_P = 0.3275911
ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) elementwise to 1.5e-7 absolute, in x's dtype (in place on temporaries: GELU is about a third of
    BERT's time here)."""
    magnitude = np.abs(x)
    t = magnitude * x.dtype.type(ERF_P)
    t += 1
    np.reciprocal(t, out=t)
    poly = t * x.dtype.type(ERF_A[-1])
    for coefficient in ERF_A[-2::-1]:
        poly += x.dtype.type(coefficient)
        poly *= t
    np.square(magnitude, out=magnitude)
    np.negative(magnitude, out=magnitude)
    np.exp(magnitude, out=magnitude)
    poly *= magnitude
    np.subtract(1, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def gelu(x: np.ndarray) -> np.ndarray:
    """torch's exact (erf) GELU, what BERT's hidden_act 'gelu' is."""
    half = x * x.dtype.type(0.5)
    return half + half * erf(x * x.dtype.type(1 / np.sqrt(2)))


def linear(x: np.ndarray, weights: dict, name: str, bias: str | None = None) -> np.ndarray:
    """torch's F.linear with the weights `name`.weight and `name`.bias (or those named `name` and `bias`):
    x @ W.T + b, as one 2-d matrix product."""
    weight = weights[name if bias else f"{name}.weight"]
    product = x.reshape(-1, x.shape[-1]) @ weight.T
    product += weights[bias or f"{name}.bias"]
    return product.reshape(*x.shape[:-1], weight.shape[0])


def layer_norm(x: np.ndarray, weights: dict, name: str, eps: float) -> np.ndarray:
    """torch's F.layer_norm over the last axis; the means as matrix products (numpy's reductions along a short last
    axis are several times slower)."""
    width = x.shape[-1]
    average = np.full(width, 1 / width, dtype=x.dtype)
    centred = x - (x @ average)[..., None]
    variance = np.square(centred) @ average
    variance += x.dtype.type(eps)
    centred *= (1 / np.sqrt(variance))[..., None]
    centred *= weights[f"{name}.weight"]
    centred += weights[f"{name}.bias"]
    return centred


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The softmax along axis, in place."""
    x -= x.max(axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis, keepdims=True)
    return x


def masked_mean(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[B x L x D], [B x L] bool -> [B x D]: the mean over real tokens (heads.masked_mean)."""
    weights = mask[..., None].astype(states.dtype)
    return (states * weights).sum(1) / np.maximum(weights.sum(1), 1)


def masked_max(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[B x L x D], [B x L] bool -> [B x D]: the max over real tokens (heads.masked_max)."""
    return np.where(mask[..., None], states, LOWEST).max(1)


@dataclass
class BertStates:
    """What the heads read (heads.BackboneStates): last [B x L x H], layers (embeddings + each layer), pooled [B x H]
    (the pooler's output, or the last layer's [CLS] state without one), mask [B x L] bool."""

    last: np.ndarray
    layers: list[np.ndarray]
    pooled: np.ndarray
    mask: np.ndarray


def bert(weights: dict, config: dict, input_ids: np.ndarray, attention_mask: np.ndarray) -> BertStates:
    """transformers' BertModel in eval mode (LiteBert.forward's steps): input_ids, attention_mask [B x L] ints."""
    batch, length = input_ids.shape
    eps, n_heads = config["layer_norm_eps"], config["num_attention_heads"]
    x = weights["embeddings.word_embeddings.weight"][input_ids]
    x = x + weights["embeddings.token_type_embeddings.weight"][0]
    x = x + weights["embeddings.position_embeddings.weight"][:length]
    x = layer_norm(x, weights, "embeddings.LayerNorm", eps)
    mask = attention_mask.astype(bool)
    additive = ((1 - attention_mask[:, None, None, :]).astype(np.float32) * LOWEST).astype(np.float32)
    head_size = x.shape[-1] // n_heads
    scale = np.float32(1 / np.sqrt(head_size))
    layers = [x]
    for layer in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{layer}"

        def heads(name):
            return linear(x, weights, f"{prefix}.attention.self.{name}").reshape(
                batch, length, n_heads, head_size).transpose(0, 2, 1, 3)

        query, key, value = heads("query"), heads("key"), heads("value")
        scores = (query * scale) @ key.transpose(0, 1, 3, 2)
        scores += additive
        attended = softmax(scores) @ value
        attended = attended.transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = layer_norm(linear(attended, weights, f"{prefix}.attention.output.dense") + x, weights,
                       f"{prefix}.attention.output.LayerNorm", eps)
        inner = gelu(linear(x, weights, f"{prefix}.intermediate.dense"))
        x = layer_norm(linear(inner, weights, f"{prefix}.output.dense") + x, weights, f"{prefix}.output.LayerNorm",
                       eps)
        layers.append(x)
    pooled = np.tanh(linear(x[:, 0], weights, "pooler.dense")) if "pooler.dense.weight" in weights else x[:, 0]
    return BertStates(x, layers, pooled, mask)


def sigmoid_(x: np.ndarray) -> np.ndarray:
    """The logistic function, in place."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    return np.reciprocal(x, out=x)


def birnn(weights: dict, states: BertStates, cell: str) -> np.ndarray:
    """heads.RnnHead: a packed bidirectional GRU/LSTM (each direction starts at the text's own first or last real
    token), zeros at padding, then mean and max over real tokens: [B x 4 rnn_hidden].

    Both directions step together, the backward one over the time-reversed batch: its padding comes first, and its
    state is held at zero there. A step is a dozen numpy calls on a [2 x B x H] state, which is what a small head's
    time is.
    """
    tokens, mask = states.last, states.mask
    batch, length, _ = tokens.shape
    suffixes = ("l0", "l0_reverse")
    w_hh = np.stack([weights[f"rnn.weight_hh_{suffix}"].T for suffix in suffixes])  # [2 x H x G H]
    b_hh = np.stack([weights[f"rnn.bias_hh_{suffix}"] for suffix in suffixes])[:, None]  # [2 x 1 x G H]
    size = w_hh.shape[1]
    inputs = np.stack([linear(read, weights, f"rnn.weight_ih_{suffix}", f"rnn.bias_ih_{suffix}")
                       for read, suffix in zip((tokens, tokens[:, ::-1]), suffixes)])  # [2 x B x L x G H]
    inputs = np.ascontiguousarray(inputs.transpose(2, 0, 1, 3))  # [L x 2 x B x G H]: one step is one slice
    real = np.stack([mask, mask[:, ::-1]]).transpose(2, 0, 1)[..., None].astype(np.float32)  # [L x 2 x B x 1]
    h = np.zeros((2, batch, size), np.float32)
    c = np.zeros_like(h)
    gates = np.empty((2, batch, w_hh.shape[2]), np.float32)
    output = np.empty((length, 2, batch, size), np.float32)
    for t in range(length):
        np.matmul(h, w_hh, out=gates)
        gates += b_hh
        if cell == "gru":  # torch's order: reset, update, new; the new gate's hidden part is scaled by reset
            reset_update = sigmoid_(gates[..., : 2 * size] + inputs[t, ..., : 2 * size])
            new = reset_update[..., :size] * gates[..., 2 * size :]
            new += inputs[t, ..., 2 * size :]
            np.tanh(new, out=new)
            h -= new
            h *= reset_update[..., size:]
            h += new  # (1 - update) * new + update * h
        else:  # torch's order: input, forget, cell, output
            gates += inputs[t]
            cell_gate = np.tanh(gates[..., 2 * size : 3 * size])
            sigmoid_(gates)
            c *= gates[..., size : 2 * size]
            c += gates[..., :size] * cell_gate
            c *= real[t]
            h = gates[..., 3 * size :] * np.tanh(c)
        h *= real[t]  # zero at padding: the backward state before a text starts, pad_packed_sequence's outputs
        output[t] = h
    both = np.concatenate([output[:, 0], output[::-1, 1]], axis=-1).transpose(1, 0, 2)  # [B x L x 2H]
    return np.concatenate([masked_mean(both, mask), masked_max(both, mask)], axis=-1)


def textcnn(weights: dict, states: BertStates, kernels: tuple[int, ...]) -> np.ndarray:
    """heads.TextCnnHead: per kernel, a 'same'-length convolution over the token states (zeros at padding), ReLU,
    and the max over real positions."""
    mask = states.mask
    tokens = states.last * mask[..., None].astype(np.float32)  # [B x L x H]
    length = tokens.shape[1]
    pooled = []
    for index, kernel in enumerate(kernels):
        weight, bias = weights[f"convs.{index}.weight"], weights[f"convs.{index}.bias"]  # [F x H x k], [F]
        left = (kernel - 1) // 2
        padded = np.pad(tokens, ((0, 0), (left, kernel - 1 - left), (0, 0)))
        windows = sum(padded[:, j : j + length] @ weight[:, :, j].T for j in range(kernel)) + bias  # [B x L x F]
        pooled.append(masked_max(np.maximum(windows, 0), mask))
    return np.concatenate(pooled, axis=-1)


def head_weight_names(head: str, kernels: tuple[int, ...]) -> set[str]:
    """The names of the state dict heads.HEADS[head] has (a one-layer bidirectional RNN, one conv per kernel)."""
    if head in ("bigru", "bilstm"):
        return {f"rnn.{kind}_{suffix}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                for suffix in ("l0", "l0_reverse")}
    if head == "textcnn":
        return {f"convs.{index}.{kind}" for index in range(len(kernels)) for kind in ("weight", "bias")}
    return {"layer_logits"} if head == "layer_fusion" else set()


def head_features(head: str, weights: dict, states: BertStates, kernels: tuple[int, ...]) -> np.ndarray:
    """The head's features [B x feature_size] (heads.HEADS[head].forward); weights: the head's state dict."""
    if head == "cls":
        return states.pooled
    if head == "mean":
        return masked_mean(states.last, states.mask)
    if head == "cls_concat":
        return np.concatenate([states.layers[-1][:, 0], states.layers[-2][:, 0], states.pooled], axis=-1)
    if head == "layer_fusion":
        cls_by_layer = np.stack([layer[:, 0] for layer in states.layers[1:]])  # [n_layers x B x H]
        return np.einsum("l,lbh->bh", softmax(weights["layer_logits"].copy()), cls_by_layer)
    if head in ("bigru", "bilstm"):
        return birnn(weights, states, head[2:])
    if head == "textcnn":
        return textcnn(weights, states, kernels)
    raise ValueError(f"head {head!r} has no numpy forward (kit.models.transformer.numpy_forward.HEADS)")


@dataclass
class NumpyClassifier:
    """heads.TextClassifier in eval mode: backbone (BERT weights and its config.json), head, linear layer."""

    backbone: dict  # name -> float32 array, as model.safetensors names them
    backbone_config: dict  # config.json
    head: str
    head_weights: dict  # the head's state dict
    classifier: dict  # weight [C x F], bias [C]
    kernels: tuple[int, ...] = ()  # textcnn's window sizes

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """input_ids, attention_mask [B x L] -> logits [B x C] float32."""
        rows = max(1, TOKENS_PER_PASS // input_ids.shape[1])
        parts = [bert(self.backbone, self.backbone_config, input_ids[start : start + rows],
                      attention_mask[start : start + rows]) for start in range(0, len(input_ids), rows)]
        layers = zip(*(part.layers for part in parts)) if self.head in LAYER_HEADS else ()
        states = BertStates(np.concatenate([part.last for part in parts]), [np.concatenate(layer) for layer in layers],
                            np.concatenate([part.pooled for part in parts]), attention_mask.astype(bool))
        features = head_features(self.head, self.head_weights, states, self.kernels)
        return (features @ self.classifier["weight"].T + self.classifier["bias"]).astype(np.float32)
