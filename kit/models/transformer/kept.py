"""The transformer family's kept fold model as `kit predict` loads it: numpy for the few posts a person waits on,
torch for batches once its import is paid.

A cold `kit predict --text` spends 1.6 s importing torch before a small model's 0.1 s of work, so a kept model that
numpy can compute (kit.models.transformer.numpy_predictor) predicts through numpy. From about 16 posts in one call
torch's fused kernels are faster (a quarter more posts per CPU second on 2,000 posts with the default run's 2-layer
BERT and BiGRU head, one thread; bench/bench_predict.py): a call of that many posts goes to torch when torch is
already imported, and, when it is not, from BULK_TEXTS posts, where that gain repays the import. The same folder is
then loaded by torch once; the two agree to 1e-5 (tests/test_transformer_kept.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Measured on the default run's five fold models, one thread (bench/bench_predict.py, 2 cores at load 6): numpy
# 1.8 ms a post one at a time and 0.65 at 16, torch 3.4 and 0.56; on 2,000 posts numpy 456 posts per CPU second and
# torch 562, so torch's 1.6 s import is repaid from about 4,000 posts.
TORCH_LOADED_TEXTS = 16
BULK_TEXTS = 4000


@dataclass
class KeptPredictor:
    """A kept fold model numpy computes: predict(texts) -> logits [n x C] float32, through torch (loaded on first
    need) from TORCH_LOADED_TEXTS texts when torch is imported and from BULK_TEXTS when it is not, else numpy."""

    folder: Path
    numpy: object  # numpy_predictor.NumpyPredictor
    torch: object = None  # fold.TransformerPredictor, once a bulk call needed it

    def predict(self, texts: list[str]) -> np.ndarray:
        threshold = TORCH_LOADED_TEXTS if "torch" in sys.modules else BULK_TEXTS
        if len(texts) < threshold:
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
