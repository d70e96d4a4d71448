"""A kept fold model read and predicted without torch or transformers, when numpy computes what torch would.

A cold `kit predict --text` spends 1.6 s importing torch and 0.1 s predicting with a small model
(bench/bench_predict.py). A fold folder (kit.models.transformer.fold.save_fold_model) whose backbone is a plain BERT
encoder (model_type bert, absolute positions, gelu), whose head is one of heads.HEADS and whose head.pt holds only
tensors, on a CPU where torch would predict in fp32, is read here: the backbone from model.safetensors, the tokenizer
from tokenizer.json (the `tokenizers` library that transformers' fast tokenizer wraps), the head from head.pt's zip
read without torch; kit.models.transformer.numpy_forward computes it. Anything else is None, and the family's
load_predictor (kit.models.transformer.kept) loads it with torch as before.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.models.transformer.config import TransformerConfig, parse_config
from kit.models.transformer.data import encode, pad_batch, sorted_batches
from kit.models.transformer.numpy_forward import HEADS, NumpyClassifier, head_weight_names

CLASSIFIER_CONFIG = "kit_classifier.json"  # a kept fold model's files beside save_pretrained's (fold.save_fold_model)
HEAD_WEIGHTS = "head.pt"
# The CPU features that make torch predict in bf16 under amp 'auto' (train.cpu_multiplies_bf16), as Linux lists
# them; where one is present, or the list cannot be read, torch predicts, since numpy computes fp32 only.
BF16_FLAGS = {"avx512_bf16", "amx_bf16", "amx_tile"}
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
                  "ByteStorage": np.uint8, "BoolStorage": np.bool_}


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


def plain_bert(folder: Path) -> tuple[dict, str] | None:
    """(config.json, the padding token) of a kept backbone folder that is a plain BERT encoder with a fast
    tokenizer and safetensors weights, else None."""
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
    pad = tokenizer_config.get("pad_token", "[PAD]")
    return config, pad.get("content") if isinstance(pad, dict) else pad  # an AddedToken as some versions save it


def bert_weight_names(config: dict) -> set[str]:
    """The weights a plain BERT encoder of this config.json has (its pooler's aside)."""
    names = {f"embeddings.{name}.weight" for name in ("word_embeddings", "position_embeddings",
                                                      "token_type_embeddings")}
    names |= {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"}
    parts = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
             "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")
    for layer in range(config["num_hidden_layers"]):
        names |= {f"encoder.layer.{layer}.{part}.{kind}" for part in parts for kind in ("weight", "bias")}
    return names


class NotTensors(Exception):
    """head.pt holds something beyond tensors in dicts; torch must read it."""


class _StateUnpickler(pickle.Unpickler):
    """torch.save's data.pkl, admitting only what a state dict of dense CPU tensors pickles (an OrderedDict, the
    tensor rebuild and storage types): the same narrow set torch.load(weights_only=True) starts from."""

    def __init__(self, payload: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(payload))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            from collections import OrderedDict

            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise NotTensors(f"{module}.{name}")

    def persistent_load(self, saved_id):
        kind, dtype, key, location, numel = saved_id
        if kind != "storage" or location != "cpu" or not isinstance(dtype, type):
            raise NotTensors(f"storage {saved_id!r}")
        data = self.archive.read(f"{self.prefix}/data/{key}")
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"), count=numel)


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, requires_grad=False,
                    backward_hooks=(), metadata=None) -> np.ndarray:
    if backward_hooks or metadata:
        raise NotTensors("a tensor with hooks or metadata")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(step * storage.itemsize for step in stride))
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def read_torch_state(path: Path):
    """What torch.load(path, weights_only=True) returns for a torch.save of dicts of dense CPU tensors, with numpy
    arrays for the tensors; None for anything else, a damaged or missing file included (torch then reads it and
    reports what it finds)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(Path(path).read_bytes()))
        pickled = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
        prefix = pickled.rsplit("/", 1)[0]
        byteorder = f"{prefix}/byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder) != b"little":
            return None
        return _StateUnpickler(archive.read(pickled), archive, prefix).load()
    except (NotTensors, OSError, StopIteration, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile,
            pickle.UnpicklingError):
        return None


def torch_predicts_fp32(amp: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether a kept model with this amp setting predicts in fp32 on this CPU (train.prediction_amp): 'off'
    always; 'auto' and 'fp16' (which falls back to 'auto' without CUDA) where the CPU lacks bf16 instructions."""
    if amp == "off":
        return True
    if amp not in ("auto", "fp16"):
        return False
    try:
        flags = {word for line in cpuinfo.read_text(errors="replace").splitlines() if line.startswith("flags")
                 for word in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags) and not flags & BF16_FLAGS


@dataclass
class NumpyPredictor:
    """A kept fold model computed by numpy: logits [n x C] float32 for any texts, predicted as the fold did
    (truncated to max_len, length-sorted batches of predict_batch_size)."""

    model: NumpyClassifier
    tokenizer: LiteTokenizer
    config: TransformerConfig

    def predict(self, texts: list[str]) -> np.ndarray:
        token_ids = encode(self.tokenizer, list(texts), self.config.backbone.max_len, "texts")
        logits = np.zeros((len(token_ids), len(self.model.classifier["bias"])), dtype=np.float32)
        lengths = np.array([len(ids) for ids in token_ids])
        for rows in sorted_batches(lengths, self.config.schedule.predict_batch_size):
            input_ids, attention_mask = pad_batch([token_ids[row] for row in rows], self.tokenizer.pad_token_id)
            logits[rows] = self.model(input_ids, attention_mask)
        return logits


def load_numpy_predictor(folder: Path) -> NumpyPredictor | None:
    """The fold model kept in folder as a NumpyPredictor, or None when numpy cannot compute what torch would (see
    the module's docstring)."""
    folder = Path(folder)
    found = plain_bert(folder)
    if found is None:
        return None
    backbone_config, pad_token = found
    try:
        saved = json.loads((folder / CLASSIFIER_CONFIG).read_text(encoding="utf-8"))
        config = parse_config(saved["params"])
    except (OSError, ValueError, KeyError, TypeError):  # torch's loader reports it as it always has
        return None
    if config.head.head not in HEADS or not torch_predicts_fp32(config.schedule.amp):
        return None
    head = read_torch_state(folder / HEAD_WEIGHTS)
    if (not isinstance(head, dict) or set(head) != {"head", "classifier"}
            or set(head["head"]) != head_weight_names(config.head.head, tuple(config.head.cnn_kernels))
            or set(head["classifier"]) != {"weight", "bias"}):
        return None
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        backbone = load_file(str(folder / "model.safetensors"))
    except (SafetensorError, OSError):
        return None
    backbone.pop("embeddings.position_ids", None)  # a buffer some versions save: arange, not a weight
    if set(backbone) - {"pooler.dense.weight", "pooler.dense.bias"} != bert_weight_names(backbone_config):
        return None
    if any(array.dtype != np.float32 for part in (backbone, head["head"], head["classifier"])
           for array in part.values()):
        return None
    model = NumpyClassifier(backbone, backbone_config, config.head.head, dict(head["head"]),
                            dict(head["classifier"]), tuple(config.head.cnn_kernels))
    return NumpyPredictor(model, LiteTokenizer(folder, pad_token), config)
