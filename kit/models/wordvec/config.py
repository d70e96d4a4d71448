"""The word-vector family's settings (`kind: wordvec`): one flat YAML entry in typed groups, like the transformer's.

The embedding group names the word vectors and how they are used; the backbone group turns the entry into the
B-board #1 hybrid when it names a transformer. The head, optimizer, loss, adversarial, schedule, epoch policy and
output groups are the transformer family's own classes (the one training loop reads them), with the defaults a
network learning from scratch wants where they differ. Imports only the standard library: the Snakefile checks
every entry at plan time without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kit.models.transformer.config import (
    AdversarialSettings,
    BackboneSource,
    EpochPolicySettings,
    HeadSettings,
    LossSettings,
    OptimizerSettings,
    OutputSettings,
    ScheduleSettings,
    attention_dropout_setting,
    check_max_len,
)
from kit.settings import Settings, fail, group, setting


@dataclass
class EmbeddingSettings(Settings):
    vectors: str = setting(help="the word_vectors entry that embeds each word", names="word_vectors")
    # Fine-tuning 100k+ word vectors on the labelled rows alone lets the words the labelled rows share drift from
    # the unlabelled posts' geometry; frozen, the network also trains several times faster on a CPU.
    freeze: bool = setting(True, "keep the word vectors as the corpus trained them ([UNK] learns anyway); false: "
                                 "fine-tune them")
    # The real posts have about 50 jieba words at the median and under 110 at the 99th percentile.
    max_words: int = setting(128, "words per text; longer texts are truncated (without a backbone)", ge=1)
    # Spatial dropout (whole vector dimensions of a text), the usual regulariser of RNNs over pretrained vectors.
    embedding_dropout: float = setting(0.2, "share of the word-vector dimensions dropped for a whole text while "
                                            "training", ge=0, lt=1)


@dataclass
class HybridSettings(Settings):
    backbone: str | BackboneSource | None = setting(
        None, "a transformer (hub name, folder, {scratch: {...}} or {post_train: {...}}) whose token states are "
              "joined with the vector of the word each token lies in (the B-board #1 hybrid); null: word vectors "
              "alone")
    max_len: int = setting(192, "the backbone's tokens per text, [CLS] and [SEP] included (with a backbone)", ge=8)
    attention_dropout: float | None = attention_dropout_setting()

    def check(self, path: str) -> None:
        check_max_len(self.backbone, self.max_len, path)


WordvecHead = Literal["bigru", "bilstm", "textcnn"]


@dataclass
class WordvecHeadSettings(HeadSettings):
    # The sequence heads: a word vector has no [CLS] state and no layers for the pooling heads to read.
    head: WordvecHead = setting("bigru", "what turns the word (or token + word) vectors into features")


@dataclass
class WordvecOptimizerSettings(OptimizerSettings):
    # Without a backbone everything learns from scratch, or moves away from the corpus's vectors: Adam's usual
    # 1e-3. A hybrid's transformer wants its own 2e-5 (and head_lr 1e-3 for the head).
    lr: float = setting(1e-3, "peak learning rate (a hybrid: of the backbone's top layer and the word vectors)", gt=0)
    # No layers to decay over without a backbone.
    llrd: float = setting(1.0, "layer-wise LR decay of a hybrid's backbone: each layer below the top learns this "
                               "much slower (1: off)", gt=0, le=1)


@dataclass
class WordvecConfig(Settings):
    embedding: EmbeddingSettings = group(EmbeddingSettings, "word vectors")
    backbone: HybridSettings = group(HybridSettings, "hybrid backbone")
    head: WordvecHeadSettings = group(WordvecHeadSettings, "head")
    optimizer: WordvecOptimizerSettings = group(WordvecOptimizerSettings, "optimizer")
    loss: LossSettings = group(LossSettings, "loss")
    adversarial: AdversarialSettings = group(AdversarialSettings, "adversarial training")
    schedule: ScheduleSettings = group(ScheduleSettings, "schedule")
    epoch_policy: EpochPolicySettings = group(EpochPolicySettings, "epoch policy")
    output: OutputSettings = group(OutputSettings, "output")

    def check(self, path: str) -> None:
        hybrid = self.backbone.backbone is not None
        if not hybrid and self.adversarial.adversarial is not None and self.embedding.freeze:
            raise fail(f"{path}.adversarial", "perturbs the word vectors, which freeze: true keeps fixed; set "
                                              "freeze: false, or name a backbone (whose embeddings it perturbs)")
        if hybrid and self.embedding.max_words != EmbeddingSettings.max_words:
            raise fail(f"{path}.max_words", "applies without a backbone only; a hybrid's texts are capped by max_len")
        if not hybrid:
            for key, value, default in (("max_len", self.backbone.max_len, HybridSettings.max_len),
                                        ("attention_dropout", self.backbone.attention_dropout,
                                         HybridSettings.attention_dropout),
                                        ("gradual_unfreeze", self.optimizer.gradual_unfreeze, 0)):
                if value != default:
                    raise fail(f"{path}.{key}", "applies with a backbone only (the hybrid)")
