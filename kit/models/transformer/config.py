"""The transformer family's settings: typed dataclasses grouped by concern, built from a model's flat YAML entry.

A model entry is one flat mapping (`backbone: hfl/chinese-roberta-wwm-ext`, `head: bigru`, `lr: 2.0e-5`, ...);
`parse_config` routes each key to the group that owns it and every group checks its own fields, so a bad value
fails before any weights load with an error that names the field. This module imports only the standard library:
the Snakefile side may validate a config without importing torch.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Literal, Mapping, Union

# One name per head in heads.HEADS (a test checks they agree); here so that checking a config needs no torch.
HeadName = Literal["cls", "mean", "cls_concat", "layer_fusion", "bigru", "bilstm", "textcnn"]
HEAD_NAMES = typing.get_args(HeadName)


def _fail(name: str, problem: str, value) -> ValueError:
    return ValueError(f"transformer config: {name!r} {problem} (got {value!r})")


def _describe(hint) -> str:
    """A type hint in the words of a YAML user: 'one of ['fgm', 'pgd'], or null'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return ", or ".join(_describe(arm) for arm in args)
    if origin is Literal:
        return f"one of {list(args)}"
    if origin is tuple:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", type(None): "null"}[hint]


def _coerce(name: str, value, hint):
    """`value` as type `hint` (YAML's types are loose: ints for floats, '2e-5' for 2e-5, lists for tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arm)
            except ValueError:
                continue
        raise _fail(name, f"must be {_describe(hint)}", value)
    if origin is Literal:
        if value not in args:
            raise _fail(name, f"must be one of {list(args)}", value)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise _fail(name, "must be a non-empty list", value)
        return tuple(_coerce(name, item, args[0]) for item in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(name, "must be true or false", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(name, "must be an integer", value)
        return value
    if hint is float:
        # PyYAML reads `2e-5` (no dot) as a string; accept it rather than make every user write 2.0e-5.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _fail(name, "must be a number", value) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(name, "must be a number", value)
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise _fail(name, "must be a non-empty string", value)
        return value
    raise TypeError(f"transformer config: no coercion for {name!r} of type {hint}")


def _require(ok: bool, name: str, problem: str, value) -> None:
    if not ok:
        raise _fail(name, problem, value)


class _Group:
    """Coerces every field to its annotated type on construction, then runs the group's own checks."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), hints[f.name]))
        self.check()

    def check(self) -> None:
        pass


@dataclass
class BackboneConfig(_Group):
    # A hub name (hfl/chinese-roberta-wwm-ext) or a local folder, e.g. one written by build_scratch_backbone.
    backbone: str
    # 192 tokens cover 99% of the real test texts (99% are under 161 characters) plus [CLS]/[SEP];
    # attention cost grows with its square, so longer buys nothing here.
    max_len: int = 192

    def check(self):
        _require(self.max_len >= 8, "max_len", "must be at least 8 tokens", self.max_len)


@dataclass
class HeadConfig(_Group):
    # The pooler head is BERT's own classifier and the cheapest; the others are in heads.HEADS.
    head: HeadName = "cls"
    # Heavier than BERT's 0.1 because the multi-sample average smooths the extra noise (the default).
    dropout: float = 0.2
    # Dropout samples averaged in the loss (multi-sample dropout); each costs one dropout + linear, so 5 is cheap.
    dropout_samples: int = 5
    # None: half the backbone width, so a BiGRU/BiLSTM's two directions together match the backbone's width.
    rnn_hidden: int | None = None
    # Most Chinese words are 1-4 characters long (two-character words dominate), so windows of 2-4 tokens.
    cnn_kernels: tuple[int, ...] = (2, 3, 4)
    # Filters per kernel size; 128 x 3 kernels gives a feature about half a base model's width.
    cnn_filters: int = 128

    def check(self):
        _require(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)", self.dropout)
        _require(self.dropout_samples >= 1, "dropout_samples", "must be at least 1", self.dropout_samples)
        _require(self.rnn_hidden is None or self.rnn_hidden >= 1, "rnn_hidden", "must be positive", self.rnn_hidden)
        _require(all(k >= 1 for k in self.cnn_kernels), "cnn_kernels", "must be positive sizes", self.cnn_kernels)
        _require(self.cnn_filters >= 1, "cnn_filters", "must be positive", self.cnn_filters)


@dataclass
class OptimConfig(_Group):
    # BERT fine-tuning's usual rate (Devlin et al. searched 2e-5..5e-5); a scratch model needs ~5e-4..1e-3.
    lr: float = 2e-5
    # None: the head learns at `lr` like the top layer; randomly initialised RNN/CNN heads often want ~1e-3.
    head_lr: float | None = None
    # BERT's value; biases and LayerNorm weights (1-d parameters) are never decayed.
    weight_decay: float = 0.01
    # Layer-wise LR decay: each layer below the top learns 0.95x slower, since low layers hold general features.
    llrd: float = 0.95
    # BERT's recipe: a linear warmup over the first 10% of steps keeps early, noisy updates from wrecking weights.
    warmup_ratio: float = 0.1
    # BERT's recipe; None turns clipping off.
    max_grad_norm: float | None = 1.0
    # Encoder layers unfrozen per epoch from the top (0: off). With 2-3 epochs it costs backbone training time.
    gradual_unfreeze: int = 0

    def check(self):
        _require(self.lr > 0, "lr", "must be positive", self.lr)
        _require(self.head_lr is None or self.head_lr > 0, "head_lr", "must be positive", self.head_lr)
        _require(self.weight_decay >= 0, "weight_decay", "must be >= 0", self.weight_decay)
        _require(0 < self.llrd <= 1, "llrd", "must be in (0, 1] (1 = no layer-wise decay)", self.llrd)
        _require(0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)", self.warmup_ratio)
        _require(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", "must be positive",
                 self.max_grad_norm)
        _require(self.gradual_unfreeze >= 0, "gradual_unfreeze", "must be >= 0", self.gradual_unfreeze)


@dataclass
class LossConfig(_Group):
    loss: Literal["ce", "focal"] = "ce"
    # Off: the OOF logits feed ensembles and calibrated probabilities; smoothing flattens them.
    label_smoothing: float = 0.0
    # None, 'balanced' (n / (C * count), sklearn's formula, from the training folds) or one weight per class.
    # Off by default: the ensemble stage can tune class thresholds on OOF logits instead.
    class_weights: Literal["balanced"] | tuple[float, ...] | None = None
    # Lin et al. (2017) found gamma = 2 best.
    focal_gamma: float = 2.0

    def check(self):
        _require(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)", self.label_smoothing)
        if isinstance(self.class_weights, tuple):
            _require(all(w > 0 for w in self.class_weights), "class_weights", "must be positive", self.class_weights)
        _require(self.focal_gamma >= 0, "focal_gamma", "must be >= 0", self.focal_gamma)


@dataclass
class AdversarialConfig(_Group):
    # Off: FGM doubles and PGD multiplies by (adv_steps + 1) the cost of every step.
    adversarial: Literal["fgm", "pgd"] | None = None
    # Norm of the perturbation of the word-embedding matrix; 1.0 is the usual value in BERT competition code.
    adv_epsilon: float = 1.0
    # PGD's step size and steps: the common (0.3, 3) with epsilon 1.0 (Madry et al.'s scheme on embeddings).
    adv_alpha: float = 0.3
    adv_steps: int = 3

    def check(self):
        _require(self.adv_epsilon > 0, "adv_epsilon", "must be positive", self.adv_epsilon)
        _require(self.adv_alpha > 0, "adv_alpha", "must be positive", self.adv_alpha)
        _require(self.adv_steps >= 1, "adv_steps", "must be at least 1", self.adv_steps)


@dataclass
class ScheduleConfig(_Group):
    # Hub models converge in 2-3 epochs; the linear decay makes the last one a gentle polish.
    epochs: int = 3
    # BERT's recipe; at max_len 192 a base model fits a 16 GB GPU.
    batch_size: int = 32
    # Micro-batches per optimizer step (effective batch = batch_size x grad_accum).
    grad_accum: int = 1
    # Texts are sorted by length within chunks of this many batches: little padding, batches still mixed.
    bucket_batches: int = 50
    # Inference keeps no activations for backward, so 4x the training batch fits.
    predict_batch_size: int = 128
    # auto: bf16 on CUDA when supported, else fp16 with a GradScaler; off on CPU (bf16 there is usually slower).
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"

    def check(self):
        for name in ("epochs", "batch_size", "grad_accum", "bucket_batches", "predict_batch_size"):
            _require(getattr(self, name) >= 1, name, "must be at least 1", getattr(self, name))


@dataclass
class EpochPolicyConfig(_Group):
    # The OOF fold never chooses the epoch: either a fixed count, or early stopping on an inner split of the
    # training folds ('inner_early_stopping'). Fixed is the default: it costs no training rows.
    epoch_policy: Literal["fixed", "inner_early_stopping"] = "fixed"
    # 10% of the training folds (about 8k rows on the full competition data) ranks epochs well enough.
    inner_fraction: float = 0.1
    # Epochs without improvement before stopping; with 2-5 epochs one bad epoch after the best is the signal.
    patience: int = 1

    def check(self):
        _require(0 < self.inner_fraction < 0.5, "inner_fraction", "must be in (0, 0.5)", self.inner_fraction)
        _require(self.patience >= 1, "patience", "must be at least 1", self.patience)


@dataclass
class OutputConfig(_Group):
    # A checkpoint is written at every epoch end, and also every this many optimizer steps (None: not by steps)
    checkpoint_every_steps: int | None = None
    # ... and at the first step after this many minutes, so a killed job loses little (None: not by time).
    checkpoint_minutes: float | None = 10.0
    # Checkpoints are big (weights + Adam state) and only useful to resume, so they go after success.
    keep_checkpoints: bool = False
    # Save the fold model (save_pretrained + head weights) into workdir/model for later prediction.
    keep_model: bool = False

    def check(self):
        _require(self.checkpoint_every_steps is None or self.checkpoint_every_steps >= 1, "checkpoint_every_steps",
                 "must be at least 1", self.checkpoint_every_steps)
        _require(self.checkpoint_minutes is None or self.checkpoint_minutes > 0, "checkpoint_minutes",
                 "must be positive", self.checkpoint_minutes)


@dataclass
class TransformerConfig:
    model: BackboneConfig
    classifier: HeadConfig = field(default_factory=HeadConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: LossConfig = field(default_factory=LossConfig)
    attack: AdversarialConfig = field(default_factory=AdversarialConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    policy: EpochPolicyConfig = field(default_factory=EpochPolicyConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self):
        if self.objective.loss == "focal" and self.objective.label_smoothing > 0:
            raise _fail("label_smoothing", "applies to loss 'ce' only, not 'focal'", self.objective.label_smoothing)


# Group name -> its settings class, read off TransformerConfig's fields so the two cannot drift apart.
_GROUP_CLASSES = typing.get_type_hints(TransformerConfig)
# Flat YAML key -> the group that owns it.
KEY_GROUP = {f.name: group for group, cls in _GROUP_CLASSES.items() for f in fields(cls)}


def parse_config(params: Mapping) -> TransformerConfig:
    """The model entry (minus kind/gpu) as a TransformerConfig; ValueError naming the field when it is invalid."""
    if not isinstance(params, Mapping):
        raise ValueError(f"transformer config: the model entry must be a mapping, got {type(params).__name__}")
    unknown = sorted(str(key) for key in params if key not in KEY_GROUP)
    if unknown:
        raise ValueError(f"transformer config: unknown keys {unknown}; known keys: {sorted(KEY_GROUP)}")
    by_group: dict[str, dict] = {group: {} for group in _GROUP_CLASSES}
    for key, value in params.items():
        by_group[KEY_GROUP[key]][key] = value
    for group, cls in _GROUP_CLASSES.items():
        for f in fields(cls):
            if f.default is MISSING and f.default_factory is MISSING and f.name not in by_group[group]:
                raise ValueError(f"transformer config: {f.name!r} is required")
    return TransformerConfig(**{group: cls(**by_group[group]) for group, cls in _GROUP_CLASSES.items()})


def config_to_params(config: TransformerConfig) -> dict:
    """The flat model entry that parse_config turns back into `config` (tuples as lists, JSON/YAML-able)."""
    flat = {}
    for group in asdict(config).values():
        flat.update({key: list(value) if isinstance(value, tuple) else value for key, value in group.items()})
    return flat
