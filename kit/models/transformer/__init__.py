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
  progress.py     transient rich bar + plain log lines
  train.py        the training loop with resume, and length-sorted prediction
  fold.py         one fold: the epoch policy, predictions, fold models, `fit_predict`

Importing this package stays light (torch loads when a fold runs), so the config can be checked anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def fit_predict(params: dict, data, seed: int, workdir: Path, log: Callable[[str], None] = print):
    """Train one fold and return its FoldResult; see kit.models.transformer.fold.fit_predict."""
    from kit.models.transformer.fold import fit_predict as run

    return run(params, data, seed=seed, workdir=workdir, log=log)
