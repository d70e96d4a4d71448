"""Shared fixtures. Real-data tests find ../shared/data through one setting: KIT_SHARED_DATA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KIT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; tests that need it are skipped, saying so, when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set KIT_SHARED_DATA to the shared/data folder)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread; two threads on a shared 2-core machine spin against each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ToyTexts:
    """Short texts whose class is the character set they are drawn from: a task tiny models learn in seconds.

    Classes are 0 = negative, 1 = positive with two classes, or 0 = negative, 1 = neutral, 2 = positive with three.
    """

    POSITIVE, NEGATIVE, NEUTRAL = "好开心加油棒赞爱", "坏难过哭惨病死怕", "的了是在有我他"

    def __init__(self, n_classes: int):
        self.sets = [self.NEGATIVE, self.POSITIVE] if n_classes == 2 else [self.NEGATIVE, self.NEUTRAL, self.POSITIVE]
        self.vocab = self.POSITIVE + self.NEGATIVE + ("" if n_classes == 2 else self.NEUTRAL)

    def __call__(self, n: int, seed: int):
        """n texts of 2-19 characters and their labels, the same for the same seed."""
        import numpy as np

        rng = np.random.default_rng(seed)
        y = rng.integers(0, len(self.sets), n)
        return ["".join(rng.choice(list(self.sets[label]), rng.integers(2, 20))) for label in y], y


BERT_TEXTS = ["武汉加油！", "", "今天好难过，口罩买不到 #新冠肺炎# [哈哈]", "ABC abc Ünïcode 😀", "疫" * 80, "x y z 123"]


@pytest.fixture(scope="module")
def kept_bert(tmp_path_factory, one_torch_thread) -> Path:
    """A scratch BERT backbone folder saved as a fold job keeps it (save_pretrained of the model and of its
    tokenizer), its weights moved off their initial values as training leaves them; its vocabulary: BERT_TEXTS."""
    import torch

    from kit.models.transformer.backbone import build_scratch_backbone, load_backbone

    root = tmp_path_factory.mktemp("kept_bert")
    build_scratch_backbone(root / "scratch", BERT_TEXTS, layers=2, hidden=32, heads=2, max_position=64)
    tokenizer, model = load_backbone(root / "scratch")
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.save_pretrained(root / "kept")
    tokenizer.save_pretrained(root / "kept")
    return root / "kept"


def write_kept_fold_model(backbone: Path, folder: Path, head: str, amp: str = "off") -> Path:
    """A fold model over the backbone folder saved as a fold job keeps it (fold.save_fold_model: max_len 24,
    prediction batches of 4), its head's weights moved off their initial values."""
    import torch

    from kit.models.transformer.backbone import load_backbone
    from kit.models.transformer.config import parse_config
    from kit.models.transformer.fold import save_fold_model
    from kit.models.transformer.heads import TextClassifier

    config = parse_config({"backbone": str(backbone), "head": head, "max_len": 24, "predict_batch_size": 4,
                           "amp": amp, "cnn_filters": 8})
    tokenizer, model = load_backbone(backbone)
    torch.manual_seed(0)
    classifier = TextClassifier(model, config.head, 3)
    with torch.no_grad():
        for parameter in classifier.head_parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    folder.mkdir(parents=True)
    save_fold_model(classifier, tokenizer, config, folder)
    return folder


@pytest.fixture(scope="session")
def toy_texts():
    """ToyTexts(n_classes): the generator of the toy task that the transformer tests train on."""
    return ToyTexts


def fit_fold_pids(workdir: Path) -> list[int]:
    """The `kit fit-fold` processes running in workdir (found through /proc: Linux only, like the kill it serves)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"fit-fold" in (entry / "cmdline").read_bytes():
                if (entry / "cwd").resolve() == workdir.resolve():
                    pids.append(int(entry.name))
        except OSError:  # the process ended while we looked
            continue
    return pids


def write_word_inputs(folder: Path, texts, algorithm: str = "word2vec", dim: int = 8,
                      segmented: bool = False) -> dict[str, Path]:
    """A fold job's word-model inputs (kit.word_vectors.fold_inputs roles) in folder: a corpus of the texts, cleaned,
    each character a word, or segmented by jieba as the corpus rule does (what a kept model does to a new text);
    an empty user dictionary; tiny vectors trained on the corpus, every word kept."""
    import json

    import pandas as pd

    from kit.cleaning import clean_text
    from kit.word_vectors import WordVectorSettings
    from kit.segment import Segmenter, segment_texts
    from kit import layout
    from kit.word_vectors import build_word_vectors

    folder.mkdir(parents=True, exist_ok=True)
    cleaned = [text for text in dict.fromkeys(map(clean_text, texts)) if text]
    (folder / "userdict.txt").write_text("", encoding="utf-8")
    if segmented:
        words = segment_texts(Segmenter.from_userdict(folder / "userdict.txt"), cleaned)
    else:
        words = [" ".join(char for char in text if not char.isspace()) for text in cleaned]
    pd.DataFrame({"text": cleaned, "words": words, "source": "train"}).to_parquet(folder / "corpus.parquet")
    (folder / "meta.json").write_text(json.dumps({"corpus_hash": "0" * 64}), encoding="utf-8")
    settings = WordVectorSettings(algorithm=algorithm, dim=dim, window=2, min_count=1, epochs=5, sample=0)
    vectors = layout.word_vectors(algorithm)
    files = {role: folder / Path(path).name for role, path in vectors.items()}
    build_word_vectors(algorithm, settings, folder / "corpus.parquet", folder / "meta.json", files["vectors"],
                       files["meta"], log=lambda line: None)
    return {"vectors": files["vectors"], "vectors_meta": files["meta"], "corpus": folder / "corpus.parquet",
            "userdict": folder / "userdict.txt"}


@pytest.fixture(scope="session")
def word_inputs():
    """write_word_inputs(folder, texts, algorithm, dim, segmented): a corpus and tiny word vectors for word-model
    tests."""
    return write_word_inputs


class FakeClock:
    """A monotonic clock a test sets by hand (`clock.now = 12.5`), so throttled progress lines need no sleeping."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()

def snakemake(workdir: Path, *args: str) -> str:
    """Run the kit's Snakefile in workdir with args; its output (stdout, then stderr), asserting that it succeeded."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def job_counts(snakemake_output: str) -> dict[str, int]:
    """A dry run's job counts by rule, read from Snakemake's "Job stats" table ({} when there is nothing to do)."""
    if "Nothing to be done" in snakemake_output:
        return {}
    table = snakemake_output.split("Job stats:")[1].split("\ntotal")[0]
    rows = [line.split() for line in table.splitlines() if line.strip() and not line.startswith(("job", "-"))]
    return {rule: int(count) for rule, count in rows}

# A user's plugin module, as its own file: a model family, a text variant and an ensemble method (tests write it into a
# run folder and name it in `plugins:`).
PLUGIN = """
from dataclasses import dataclass

import numpy as np

from kit.models import FoldResult
from kit.registry import Family, Method, Variant, register
from kit.settings import Settings, setting


@dataclass
class PriorParams(Settings):
    smoothing: float = setting(1.0, "added to each class count", ge=0)


def fit_prior(params, data, seed, workdir, log):
    counts = np.bincount(data.train_y, minlength=data.n_classes) + params.smoothing
    logits = np.log(counts / counts.sum()).astype(np.float32)
    return FoldResult(np.tile(logits, (len(data.valid_text), 1)), np.tile(logits, (len(data.test_text), 1)))


def fit_first(params, names, prob_stack, y, seed):
    return None


def apply_first(params, fitted, prob_stack):
    return prob_stack[0]


register(Family("prior", PriorParams, fit_prior, help="the training folds' class shares"))
register(Variant("shout", str.upper, help="upper case"))
register(Method("first", Settings, fitted=False, fit=fit_first, apply=apply_first, help="the first member"))
"""
