"""The transformer family's kept fold model as `kit predict` loads it: numpy for the few posts a person waits on,
torch for bulk.

A cold `kit predict --text` spends 1.6 s importing torch before a small model's 0.1 s of work, so a kept model that
numpy can compute (kit.models.transformer.numpy_predictor) predicts through numpy. On long inputs torch's fused
kernels are faster (a third more posts per CPU second on the default run's 2-layer BERT with a BiGRU head, one
thread; bench/bench_predict.py), so from BULK_TEXTS texts in one call, where that gain repays torch's import, the
same folder is loaded by torch once and predicts them. The two agree to 1e-5 (tests/test_transformer_kept.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# 2,000 posts: numpy about 6.0 s of CPU for the default run's five fold models, torch 4.5 s plus its 1.6 s import.
BULK_TEXTS = 2000


@dataclass
class KeptPredictor:
    """A kept fold model numpy computes: predict(texts) -> logits [n x C] float32, through numpy below BULK_TEXTS
    texts and through torch (loaded on first need) from there on."""

    folder: Path
    numpy: object  # numpy_predictor.NumpyPredictor
    torch: object = None  # fold.TransformerPredictor, once a bulk call needed it

    def predict(self, texts: list[str]) -> np.ndarray:
        if len(texts) < BULK_TEXTS:
            return self.numpy.predict(texts)
        if self.torch is None:
            from kit.models.transformer.fold import load_predictor

            self.torch = load_predictor(self.folder)
        return self.torch.predict(texts)


def load_predictor(folder: Path):
    """A fold's kept model (the family's load_predictor): a KeptPredictor where numpy computes what torch would,
    else torch's fold.TransformerPredictor."""
    from kit.models.transformer.numpy_predictor import load_numpy_predictor

    numpy_predictor = load_numpy_predictor(folder)
    if numpy_predictor is None:
        from kit.models.transformer.fold import load_predictor as load_torch_predictor

        return load_torch_predictor(folder)
    return KeptPredictor(Path(folder), numpy_predictor)
