"""kit.models.transformer.kept: the family's kept model is numpy's where numpy computes what torch would (without
importing torch), torch's for batches once torch is imported or from BULK_TEXTS texts (loaded once, the same
logits to 1e-5), and torch's alone where numpy cannot compute it."""

import subprocess
import sys

import numpy as np
import pytest

from kit.models.transformer import kept
from kit.models.transformer.fold import TransformerPredictor
from kit.models.transformer.numpy_predictor import NumpyPredictor
from tests.conftest import BERT_TEXTS, write_kept_fold_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_few_posts_go_through_numpy_without_importing_torch(kept_bert, tmp_path):
    folder = write_kept_fold_model(kept_bert, tmp_path / "fold0", "bigru")
    predictor = kept.load_predictor(folder)
    assert isinstance(predictor.numpy, NumpyPredictor)
    predictor.predict(BERT_TEXTS[: kept.TORCH_LOADED_TEXTS - 1])
    assert predictor.torch is None
    many = ["武汉加油"] * (kept.BULK_TEXTS - 1)  # below the bulk size, numpy also where a batch would go to torch
    script = ("import sys; from kit.models.transformer.kept import load_predictor; "
              f"print(load_predictor({str(folder)!r}).predict({many!r}).shape, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [f"({len(many)},", "3)", "False"]


def test_a_batch_goes_through_torch_once_it_is_imported_loaded_once_with_the_same_logits(kept_bert, tmp_path):
    predictor = kept.load_predictor(write_kept_fold_model(kept_bert, tmp_path / "fold0", "textcnn"))
    batch = (BERT_TEXTS * kept.TORCH_LOADED_TEXTS)[: kept.TORCH_LOADED_TEXTS]
    alone = np.concatenate([predictor.predict([text]) for text in batch])
    assert predictor.torch is None and "torch" in sys.modules  # this test process imported it
    together = predictor.predict(batch)
    loaded = predictor.torch
    assert isinstance(loaded, TransformerPredictor)
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)
    predictor.predict(batch)
    assert predictor.torch is loaded


def test_what_numpy_cannot_compute_is_torchs(kept_bert, tmp_path):
    folder = write_kept_fold_model(kept_bert, tmp_path / "fold0", "mean", amp="bf16")
    assert isinstance(kept.load_predictor(folder), TransformerPredictor)
