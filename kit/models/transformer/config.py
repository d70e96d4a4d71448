"""The transformer family's settings: one flat YAML entry, grouped by concern into typed kit.settings groups.

A model entry is one flat mapping (`backbone: hfl/chinese-roberta-wwm-ext`, `head: bigru`, `lr: 2.0e-5`, ...);
each key belongs to one group (backbone, head, optimizer, loss, adversarial, schedule, epoch_policy, output), and
the code reads it there (`config.optimizer.lr`). The groups are the README's config tables, generated from here.
This module imports only the standard library: the Snakefile checks every entry at plan time without torch.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Literal, Mapping

from kit import layout
from kit.hashing import sha256_json
from kit.settings import Settings, fail, group, identity, parse, setting, to_dict

# One name per head in heads.HEADS (a test checks they agree); here so that checking a config needs no torch.
HeadName = Literal["cls", "mean", "cls_concat", "layer_fusion", "bigru", "bilstm", "textcnn"]
HEAD_NAMES = typing.get_args(HeadName)


def attention_dropout_setting():
    """The `attention_dropout` setting of every group that trains a transformers backbone (fine-tuning, post-training,
    a word-vector hybrid): backbone.load_backbone applies it."""
    # Off, where BERT's config drops 0.1 of the attention probabilities: a CPU then trains with sdpa's fused
    # attention kernel instead of the eager one (kernels.py): bench_transformer's training 2.96x the plain loop, was
    # 2.50x. On real labels the default's post-trained tiny_bert scored the same (held-out 0.6240 vs 0.6243, honest
    # OOF 0.6259 vs 0.6257; bench/results/real_data_unlabeled.json), bench_transformer's scratch BERT 0.5157 vs
    # 0.5224 over two seeds whose spread is wider (0.5085-0.5363).
    return setting(0.0, "dropout on the attention probabilities while training; null: the backbone config's own "
                        "(BERT's 0.1)", ge=0, lt=1)


@dataclass
class ScratchSpec(Settings):
    """`backbone: {scratch: {...}}`: a small character-level BERT built from the competition's own texts."""

    layers: int = setting(2, "encoder layers", ge=1)
    hidden: int = setting(128, "hidden width (a multiple of heads)", ge=1)
    heads: int = setting(2, "attention heads", ge=1)
    intermediate: int | None = setting(None, "feed-forward width; null: 4 x hidden, BERT's ratio", ge=1)
    max_position: int = setting(512, "position embeddings: the longest max_len the model can take", ge=8)
    min_char_freq: int = setting(1, "characters seen fewer times become [UNK]", ge=1)

    def check(self, path: str) -> None:
        if self.hidden % self.heads:
            raise fail(f"{path}.hidden", f"must be a multiple of heads ({self.heads}), got {self.hidden}")


@dataclass
class ScratchBase(Settings):
    """`base: {scratch: {...}}`: the scratch BERT is built first, then pre-trained on the corpus."""

    scratch: ScratchSpec = setting(help="the small char-level BERT to build (the keys of backbone: {scratch: ...})")


@dataclass
class BatchSettings(Settings):
    """How the training texts are batched and computed: shared by fine-tuning (ScheduleSettings) and post-training
    (PostTrainSpec)."""

    # BERT's recipe; at max_len 192 a base model fits a 16 GB GPU.
    batch_size: int = setting(32, "texts per micro-batch", ge=1)
    grad_accum: int = setting(1, "micro-batches per optimizer step (effective batch = batch_size x grad_accum)",
                              ge=1)
    bucket_batches: int = setting(50, "texts are sorted by length within chunks of this many batches", ge=1)
    # bf16 autocast on a CPU is usually slower than fp32.
    amp: Literal["auto", "off", "bf16", "fp16"] = setting(
        "auto", "mixed precision: auto = bf16 on CUDA where supported (else fp16 with a GradScaler) and on CPUs "
        "with bf16 instructions (AVX512-BF16, AMX), else off")


@dataclass
class CheckpointSettings(Settings):
    """How often a training job checkpoints (never part of its identity): shared by fine-tuning (OutputSettings)
    and post-training (PostTrainSpec)."""

    checkpoint_every_steps: int | None = setting(
        None, "also checkpoint every this many optimizer steps (null: not by steps)", ge=1, identity=False)
    # A killed job then loses little of what may be hours of training.
    checkpoint_minutes: float | None = setting(
        10.0, "also checkpoint at the first step after this many minutes (null: not by time)", gt=0, identity=False)


@dataclass
class PostTrainSpec(Settings):
    """`backbone: {post_train: {...}}`: masked-language-model training of a backbone continued on the corpus
    (train + test + unlabelled posts), written as a save_pretrained folder that the fold jobs then fine-tune."""

    # `from` would read better, but it is a Python keyword.
    base: str | ScratchBase = setting(
        help="the backbone to continue from: a hub name, a local folder, or {scratch: {...}} (then pre-training)")
    # The winners post-trained for 1-3 epochs on the 900k posts; more mostly buys time.
    epochs: int = setting(2, "passes over the corpus's training rows", ge=1)
    # 128 tokens cover 90% of the real posts whole (median 84 characters); attention cost grows with its square.
    max_len: int = setting(128, "tokens per text, [CLS] and [SEP] included; longer texts are truncated", ge=8)
    # run_mlm's rate for a pretrained model; a scratch base learns from nothing and wants about 1e-3.
    lr: float = setting(5e-5, "peak learning rate (warmup, then linear decay to 0)", gt=0)
    weight_decay: float = setting(0.01, "AdamW weight decay (never on biases and LayerNorm weights)", ge=0)
    # RoBERTa's pre-training warmed up for 6% of its steps.
    warmup_ratio: float = setting(0.06, "share of the steps spent warming up", ge=0, lt=1)
    max_grad_norm: float | None = setting(1.0, "gradient clipping norm; null: off", gt=0)
    # BERT's 15%, of which 80% become [MASK], 10% a random token and 10% stay as they are.
    mask_prob: float = setting(0.15, "share of the tokens to predict", gt=0, lt=1)
    attention_dropout: float | None = attention_dropout_setting()
    # Chinese BERT-wwm (Cui et al.) masks whole words: a model cannot guess a masked character from its word's rest.
    whole_word: bool = setting(True, "mask whole jieba words of the corpus (false: single tokens)")
    # 2% of the 900k posts would be 18k texts: far more than a stable perplexity needs, hence the cap.
    heldout_fraction: float = setting(0.02, "share of the corpus held out to score the MLM loss, never trained on",
                                      gt=0, lt=0.5)
    heldout_max: int = setting(2000, "most held-out texts", ge=1)
    max_texts: int | None = setting(None, "train on at most this many corpus texts, drawn with the seed (null: all)",
                                    ge=1)
    # A budget in texts rather than passes: the same setting gives a small corpus several epochs and a large one
    # one, where a fixed number of epochs would either waste a large corpus's time or leave a small one unlearnt.
    budget_texts: int | None = setting(
        None, "train on about this many texts in all: the epochs become this over the texts trained on, rounded, "
              "at least 1 and at most `epochs` (null: `epochs` passes)", ge=1)
    seed: int = setting(0, "seed of the held-out split, the text cap, batch order, masks and dropout", ge=0)
    batching: BatchSettings = group(BatchSettings, "batching and precision, as fine-tuning's")
    checkpoints: CheckpointSettings = group(CheckpointSettings, "checkpoint cadence, as fine-tuning's")

    def check(self, path: str) -> None:
        if isinstance(self.base, ScratchBase) and self.max_len > self.base.scratch.max_position:
            raise fail(f"{path}.max_len", f"{self.max_len} exceeds the scratch base's max_position "
                                          f"{self.base.scratch.max_position}")


@dataclass
class BackboneSource(Settings):
    """A backbone the workflow builds before the fold jobs run; they then load it from its folder.

    Built backbones are named by a hash of their spec (`folder_name`), so model entries with the same spec share one
    build: a post-trained backbone used by three heads is trained once.
    """

    scratch: ScratchSpec | None = setting(None, "build a small char-level BERT from the competition's texts")
    post_train: PostTrainSpec | None = setting(None, "continue masked-language-model training of a backbone on the "
                                                     "corpus")

    def check(self, path: str) -> None:
        given = [key for key in ("scratch", "post_train") if getattr(self, key) is not None]
        if len(given) != 1:
            raise fail(path, f"must hold exactly one of 'scratch' and 'post_train' (got {' and '.join(given) or 'none'}"
                             "), e.g. {scratch: {layers: 2, hidden: 64}} or {post_train: {base: a hub name}}")

    def folder_name(self) -> str:
        """`scratch-<16 hex>` or `post-<16 hex>`: the hash of the spec's identity (what decides the weights)."""
        if self.scratch is not None:
            return f"scratch-{sha256_json(identity(self.scratch))[:16]}"
        return layout.post_trained(sha256_json(identity(self.post_train))[:16])

    def base_source(self) -> "BackboneSource | None":
        """The scratch build a post-training starts from, or None (a hub name, a folder, or no post-training)."""
        if self.post_train is not None and isinstance(self.post_train.base, ScratchBase):
            return BackboneSource(scratch=self.post_train.base.scratch)
        return None

    def max_position(self) -> int | None:
        """The longest max_len the built backbone takes, when the spec says (a scratch build, or one as a base)."""
        scratch = self.scratch if self.scratch is not None else getattr(self.base_source(), "scratch", None)
        return None if scratch is None else scratch.max_position


def built_backbone_input(backbone) -> dict[str, str]:
    """{'backbone': the folder (kit.layout)} when the workflow builds the backbone a settings group names (a
    BackboneSource), else {}: the built backbone is one of the family's declared inputs (kit.registry.Family)."""
    source = backbone.backbone
    return {"backbone": layout.backbone(source.folder_name())} if isinstance(source, BackboneSource) else {}


def backbone_source(params) -> BackboneSource | None:
    """The `backbone: {scratch: ...}` or `{post_train: ...}` of a model entry's settings (a transformer's, a hybrid
    wordvec's); None for a hub name, a folder or a family without a backbone."""
    source = getattr(getattr(params, "backbone", None), "backbone", None)
    return source if isinstance(source, BackboneSource) else None


def built_backbones(config) -> dict[str, BackboneSource]:
    """Folder name (scratch-<hash>, post-<hash>) -> BackboneSource, for every backbone the config's model entries
    need built: theirs, and the scratch base of their post-training. One spec, one folder: entries that share it
    share the build (a post-trained backbone used by three heads is trained once)."""
    built = {}
    for entry in config.models.values():
        source = backbone_source(entry.params)
        for needed in (source, source and source.base_source()):
            if needed is not None:
                built[needed.folder_name()] = needed
    return built


# The build steps of built backbones (kit.registry.BuildStep, declared in this package's __init__): an entry is the
# hash in its folder's name, which is the hash of the spec's identity.


def scratch_entries(config) -> dict[str, ScratchSpec]:
    return {folder.removeprefix("scratch-"): source.scratch for folder, source in built_backbones(config).items()
            if source.scratch is not None}


def post_train_entries(config) -> dict[str, PostTrainSpec]:
    return {folder.removeprefix(layout.post_trained("")): source.post_train
            for folder, source in built_backbones(config).items()
            if source.post_train is not None}


def scratch_inputs(config, entry: str, settings: ScratchSpec) -> dict[str, list[str]]:
    """The ingested splits whose texts make the character vocabulary (the unlabelled one when the config has it)."""
    splits = ("train", "test", "unlabeled") if config.data.unlabeled else ("train", "test")
    return {"texts": [layout.interim(split) for split in splits]}


def post_train_inputs(config, entry: str, settings: PostTrainSpec) -> dict[str, str | list[str]]:
    """The corpus and its meta, and the built scratch folder when the base is {scratch: ...}."""
    corpus = layout.corpus_files()
    base = BackboneSource(post_train=settings).base_source()
    return {"corpus": corpus["corpus"], "corpus_meta": corpus["meta"],
            "base_dir": [] if base is None else [layout.backbone(base.folder_name())]}


def scratch_outputs(entry: str) -> dict[str, str]:
    return {"backbone": layout.backbone(f"scratch-{entry}")}


def post_train_outputs(entry: str) -> dict[str, str]:
    return {"backbone": layout.backbone(layout.post_trained(entry))}


def scratch_log(entry: str) -> str:
    return layout.log("backbone", f"scratch-{entry}")


def post_train_log(entry: str) -> str:
    return layout.log("backbone", layout.post_trained(entry))


def with_built_backbone(config, inputs: Mapping):
    """config with its backbone group reading the built folder a fold job was given (inputs['backbone']), when it
    was given one; config unchanged otherwise."""
    if "backbone" not in inputs:
        return config
    built = dataclasses.replace(config.backbone, backbone=str(inputs["backbone"]))
    return dataclasses.replace(config, backbone=built)


@dataclass
class BackboneSettings(Settings):
    backbone: str | BackboneSource = setting(
        help="a hub name (hfl/chinese-roberta-wwm-ext), a local folder, or {scratch: {...}} or {post_train: {...}} "
             "to build one")
    # 192 tokens cover 99% of the real test texts (99% are under 161 characters) plus [CLS]/[SEP];
    # attention cost grows with its square, so longer buys nothing here.
    max_len: int = setting(192, "tokens per text, [CLS] and [SEP] included; longer texts are truncated", ge=8)
    attention_dropout: float | None = attention_dropout_setting()

    def check(self, path: str) -> None:
        check_max_len(self.backbone, self.max_len, path)


def check_max_len(source, max_len: int, path: str) -> None:
    """A scratch backbone (or one post-trained from scratch) has no position beyond its max_position."""
    if isinstance(source, BackboneSource) and source.max_position() is not None and max_len > source.max_position():
        raise fail(f"{path}.max_len", f"{max_len} exceeds the scratch backbone's max_position {source.max_position()}")


@dataclass
class HeadSettings(Settings):
    # The pooler head is BERT's own classifier and the cheapest; the others are in heads.HEADS.
    head: HeadName = setting("cls", "what turns the token states into features")
    # Heavier than BERT's 0.1 because the multi-sample average smooths the extra noise.
    dropout: float = setting(0.2, "dropout before the classifier", ge=0, lt=1)
    # Each sample costs one dropout + linear, so 5 is cheap.
    dropout_samples: int = setting(5, "dropout samples averaged in the loss (multi-sample dropout)", ge=1)
    # None: half the backbone width, so a BiGRU/BiLSTM's two directions together match the backbone's width.
    rnn_hidden: int | None = setting(None, "bigru/bilstm units per direction; null: half the backbone width", ge=1)
    # Most Chinese words are 1-4 characters long (two-character words dominate), so windows of 2-4 tokens.
    cnn_kernels: tuple[int, ...] = setting((2, 3, 4), "textcnn window sizes", ge=1, min_items=1)
    # 128 x 3 kernels gives a feature about half a base model's width.
    cnn_filters: int = setting(128, "textcnn filters per window size", ge=1)


@dataclass
class OptimizerSettings(Settings):
    # BERT fine-tuning's usual rate (Devlin et al. searched 2e-5..5e-5); a scratch model needs ~5e-4..1e-3.
    lr: float = setting(2e-5, "peak learning rate of the top encoder layer", gt=0)
    # Randomly initialised RNN/CNN heads often want ~1e-3.
    head_lr: float | None = setting(None, "learning rate of the head; null: lr", gt=0)
    # BERT's value; biases and LayerNorm weights (1-d parameters) are never decayed.
    weight_decay: float = setting(0.01, "AdamW weight decay", ge=0)
    # Low layers hold general features, so they move less.
    llrd: float = setting(0.95, "layer-wise LR decay: each layer below the top learns this much slower (1: off)",
                          gt=0, le=1)
    # A linear warmup keeps early, noisy updates from wrecking pretrained weights (BERT's recipe).
    warmup_ratio: float = setting(0.1, "share of the steps spent warming up, then linear decay", ge=0, lt=1)
    max_grad_norm: float | None = setting(1.0, "gradient clipping norm; null: off", gt=0)
    # With 2-3 epochs it costs backbone training time, so it is off by default.
    gradual_unfreeze: int = setting(0, "encoder layers unfrozen per epoch from the top (0: all trainable)", ge=0)


@dataclass
class LossSettings(Settings):
    loss: Literal["ce", "focal"] = setting("ce", "cross-entropy or focal loss")
    # Off: the OOF logits feed ensembles, which want calibrated probabilities; smoothing flattens them.
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy", ge=0, lt=1)
    # Off by default: the ensemble stage tunes class weights on the OOF logits instead.
    class_weights: Literal["balanced"] | tuple[float, ...] | None = setting(
        None, "null, 'balanced' (n / (C x count) from the training folds) or one weight per class", gt=0)
    # Lin et al. (2017) found gamma = 2 best.
    focal_gamma: float = setting(2.0, "focal loss focusing parameter", ge=0)

    def check(self, path: str) -> None:
        if self.loss == "focal" and self.label_smoothing > 0:
            raise fail(f"{path}.label_smoothing", "applies to loss 'ce' only, not 'focal'")


@dataclass
class AdversarialSettings(Settings):
    # Off: FGM doubles and PGD multiplies by (adv_steps + 1) the cost of every step.
    adversarial: Literal["fgm", "pgd"] | None = setting(None, "adversarial training on the word embeddings")
    # 1.0 is the usual value in BERT competition code.
    adv_epsilon: float = setting(1.0, "norm of the perturbation of the word-embedding matrix", gt=0)
    # The common (0.3, 3) with epsilon 1.0 (Madry et al.'s scheme on embeddings).
    adv_alpha: float = setting(0.3, "PGD step size", gt=0)
    adv_steps: int = setting(3, "PGD steps", ge=1)


@dataclass
class ScheduleSettings(BatchSettings):
    # Hub models converge in 2-3 epochs; the linear decay makes the last one a gentle polish.
    epochs: int = setting(3, "training epochs (the most, with inner early stopping)", ge=1)
    # Inference keeps no activations for backward, so 4x the training batch fits.
    predict_batch_size: int = setting(128, "texts per prediction batch", ge=1, identity=False)


@dataclass
class EpochPolicySettings(Settings):
    # The OOF fold never chooses the epoch. Fixed is the default: it costs no training rows.
    epoch_policy: Literal["fixed", "inner_early_stopping"] = setting(
        "fixed", "fixed epochs, or early stopping on an inner split of the training folds")
    # About 8k rows on the full competition data: enough to rank epochs.
    inner_fraction: float = setting(0.1, "share of the training folds held out for early stopping", gt=0, lt=0.5)
    # With 2-5 epochs one bad epoch after the best is the signal.
    patience: int = setting(1, "epochs without improvement before stopping", ge=1)


@dataclass
class OutputSettings(CheckpointSettings):
    # Checkpoints are big (weights + Adam state) and only useful to resume.
    keep_checkpoints: bool = setting(False, "keep the checkpoints after the fold succeeds", identity=False)


@dataclass
class TransformerConfig(Settings):
    backbone: BackboneSettings = group(BackboneSettings, "backbone")
    head: HeadSettings = group(HeadSettings, "head")
    optimizer: OptimizerSettings = group(OptimizerSettings, "optimizer")
    loss: LossSettings = group(LossSettings, "loss")
    adversarial: AdversarialSettings = group(AdversarialSettings, "adversarial training")
    schedule: ScheduleSettings = group(ScheduleSettings, "schedule")
    epoch_policy: EpochPolicySettings = group(EpochPolicySettings, "epoch policy")
    output: OutputSettings = group(OutputSettings, "output")



def parse_config(params: Mapping, path: str = "transformer") -> TransformerConfig:
    """The model entry (without the scheduling keys) as a TransformerConfig; SettingsError naming the key."""
    return parse(TransformerConfig, params, path)


def config_to_params(config: TransformerConfig) -> dict:
    """The flat model entry that parse_config turns back into `config` (JSON/YAML-able, defaults filled in)."""
    return to_dict(config)
