"""The transformer model family: any AutoModel backbone, a registry of heads, one training loop.

Module map:
  config.py       typed settings grouped by concern, parsed from a model's flat YAML entry (no torch import)
  backbone.py     hub/local backbones through from_pretrained; a small char-level BERT built from scratch
  heads.py        the head registry (cls, mean, cls_concat, layer_fusion, bigru, bilstm, textcnn), TextClassifier
  data.py         tokenize once, length-bucketed batches, dynamic padding, the inner early-stopping split
  losses.py       cross-entropy (label smoothing, class weights) and focal loss
  optim.py        layer-wise LR decay groups, warmup + linear decay, gradual unfreezing
  adversarial.py  FGM and PGD on the word embeddings
  checkpoint.py   atomic checkpoints, RNG state, run fingerprints
  progress.py     transient rich bar + kit.progress lines (time left in the epoch, at most one per 10 s)
  train.py        the training loop with resume, and length-sorted prediction
  fold.py         one fold: the epoch policy, predictions, fold models, `fit_predict`
  lite.py         a kept plain-BERT backbone rebuilt in torch without transformers
  numpy_forward.py  a kept classifier's forward pass in numpy (BERT, every head)
  numpy_predictor.py  a kept fold model read and predicted without torch, where numpy computes what torch would
  kept.py         the family's kept model for `kit predict`: numpy for a few posts, torch for bulk
  post_train.py   domain post-training (MLM) on the corpus: whole-word masks, held-out perplexity, resume

Importing this package stays light (torch loads when a fold runs), so the config can be checked anywhere.
"""

from __future__ import annotations

from kit.models.transformer import config as specs
from kit.models.transformer.config import PostTrainSpec, ScratchSpec, TransformerConfig, built_backbone_input
from kit.registry import BuildStep, Family, register


def inputs(config: TransformerConfig) -> dict[str, str]:
    """The family's workflow inputs (kit.registry.Family.inputs): the backbone's folder, when the workflow builds it
    (`backbone: {scratch: ...}` or `{post_train: ...}`)."""
    return built_backbone_input(config.backbone)


register(Family("transformer", TransformerConfig, "kit.models.transformer.fold:fit_predict", inputs=inputs,
                help="a pretrained (or scratch) encoder with a classification head, fine-tuned",
                load_predictor="kit.models.transformer.kept:load_predictor", torch=True))

# The backbones the workflow builds before the fold jobs that fine-tune them: one folder per spec, named by its hash.
register(BuildStep(
    "build_backbone", ScratchSpec, "backbone.scratch", "kit.models.transformer.backbone:build_step",
    specs.scratch_inputs, specs.scratch_outputs, entries=specs.scratch_entries, wildcard="backbone_hash",
    reads={"texts": "ingested parquet files whose texts make the vocabulary"},
    writes={"backbone": "the save_pretrained folder to write"}, many=("texts",), folders=("backbone",),
    log=specs.scratch_log, help="a small character-level BERT built from the competition's own texts",
))
register(BuildStep(
    "post_train", PostTrainSpec, "backbone.post_train", "kit.models.transformer.post_train:build_step",
    specs.post_train_inputs, specs.post_train_outputs, entries=specs.post_train_entries, wildcard="backbone_hash",
    reads={"corpus": "the corpus parquet (text, words, source)",
           "corpus_meta": "the corpus's meta.json (its corpus_hash is recorded)",
           "base_dir": "the built scratch folder, when the base is {scratch: ...}"},
    writes={"backbone": "the save_pretrained folder to write"}, optional=("base_dir",), folders=("backbone",),
    log=specs.post_train_log, help="masked-language-model training of a backbone continued on the corpus",
))
