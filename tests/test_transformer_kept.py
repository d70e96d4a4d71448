"""kit.models.transformer.kept: the family's kept model is numpy's where numpy computes what torch would (without
importing torch), torch's from BULK_TEXTS texts in one call (loaded once, the same logits to 1e-5), and torch's
alone where numpy cannot compute it."""

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
    predictor.predict(BERT_TEXTS)
    assert predictor.torch is None
    script = ("import sys; from kit.models.transformer.kept import load_predictor; "
              f"print(load_predictor({str(folder)!r}).predict(['武汉加油']).shape, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["(1,", "3)", "False"]


def test_bulk_goes_through_torch_loaded_once_with_the_same_logits(kept_bert, tmp_path, monkeypatch):
    predictor = kept.load_predictor(write_kept_fold_model(kept_bert, tmp_path / "fold0", "textcnn"))
    few = predictor.predict(BERT_TEXTS)
    monkeypatch.setattr(kept, "BULK_TEXTS", len(BERT_TEXTS))
    bulk = predictor.predict(BERT_TEXTS)
    loaded = predictor.torch
    assert isinstance(loaded, TransformerPredictor)
    np.testing.assert_allclose(bulk, few, rtol=0, atol=1e-5)
    predictor.predict(BERT_TEXTS)
    assert predictor.torch is loaded


def test_what_numpy_cannot_compute_is_torchs(kept_bert, tmp_path):
    folder = write_kept_fold_model(kept_bert, tmp_path / "fold0", "mean", amp="bf16")
    assert isinstance(kept.load_predictor(folder), TransformerPredictor)
