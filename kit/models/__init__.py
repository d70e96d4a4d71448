"""Model families: every `kind:` in the config's `models:` block trains one fold through the same interface.

A family declares itself once (kit.registry.Family: its kind, its typed settings, its fit_predict), beside its
implementation; fit_predict(settings, data, seed, workdir, log) -> FoldResult. The implementation is imported only
when a fold job runs, so that checking the config at plan time stays cheap.

A family that can keep what it trained returns a Predictor in its FoldResult and declares load_predictor(folder),
which reads back what Predictor.save(folder) wrote (kit/kept.py keeps the folders; `kit predict` loads them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass
class FoldData:
    """The texts and labels one fold job sees. Labels are class indices 0..n_classes-1."""

    train_text: list[str]
    train_y: np.ndarray  # [n_train] int64
    valid_text: list[str]  # the held-out (OOF) fold: predicted, never used to choose anything
    valid_y: np.ndarray  # [n_valid] int64, only for logging the fold's score after training
    test_text: list[str]
    n_classes: int
    # The pseudo-label pool (test texts and sampled unlabelled posts), predicted only when this experiment teaches
    # a pseudo variant: this fold's model labels it for this fold's students.
    pool_text: list[str] = field(default_factory=list)
    # The workflow files the family declared it reads (kit.registry.Family.inputs), by role: e.g. 'vectors' and
    # 'vectors_meta' (a word_vectors entry's files), 'corpus' and 'userdict' (the corpus's words of each text).
    inputs: dict[str, Path] = field(default_factory=dict)
    # Probabilities [n_train x n_classes] to learn instead of train_y, when a soft pseudo variant's rows are among the
    # training rows (distillation): a labelled row's is its one-hot label. None: learn train_y. Only a family that
    # declares soft_targets (kit.registry.Family) is ever given them.
    train_targets: np.ndarray | None = None


class Predictor(Protocol):
    """A fold's trained model, as a family hands it back to be kept and loads it again."""

    def predict(self, texts: list[str]) -> np.ndarray:
        """np array [len(texts) x n_classes] float32: the logits the fold job would have written for these texts."""

    def save(self, folder: Path) -> None:
        """Write what the family's load_predictor(folder) reads back; folder exists and is empty."""


@dataclass
class FoldResult:
    valid_logits: np.ndarray  # [n_valid x n_classes] float32
    test_logits: np.ndarray  # [n_test x n_classes] float32
    info: dict = field(default_factory=dict)  # JSON-able: epoch policy, epochs run, timings...
    pool_logits: np.ndarray | None = None  # [n_pool x n_classes] float32, when data.pool_text is not empty
    predictor: Predictor | None = None  # the trained model, when the family can keep it (Family.load_predictor)


def fit_predict(
    kind: str, params: Mapping, data: FoldData, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> FoldResult:
    """One fold of the family `kind`; params is its model entry (without the scheduling keys), parsed here."""
    import numpy as np

    from kit.registry import family, resolve
    from kit.settings import parse

    declared = family(kind)
    if data.train_targets is not None and not declared.soft_targets:
        raise ValueError(f"model kind {kind!r} learns hard labels only, not soft targets (a pseudo variant with "
                         "targets: soft); kit.config refuses this at plan time")
    settings = parse(declared.params, params, f"models ({kind})")
    result = resolve(declared.fit_predict)(settings, data, seed=seed, workdir=Path(workdir), log=log)
    n_valid, n_test, n_pool = len(data.valid_text), len(data.test_text), len(data.pool_text)
    expected = {"valid_logits": (n_valid, data.n_classes), "test_logits": (n_test, data.n_classes)}
    if n_pool:
        expected["pool_logits"] = (n_pool, data.n_classes)
    for name, shape in expected.items():
        got = getattr(result, name)
        if got is None or got.shape != shape or not np.all(np.isfinite(got)):
            got_shape = None if got is None else got.shape
            raise RuntimeError(f"model kind {kind!r} returned {name} of shape {got_shape} (want {shape}) or non-finite")
        setattr(result, name, got.astype(np.float32))
    return result


def expanded(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, classes, weights): each row of targets [n x C] once per class it gives a probability above zero, as
    that class with that weight. A weighted fit on them minimises the cross-entropy against the targets, so an
    estimator that takes sample weights learns soft targets; a one-hot row stays one row of weight 1."""
    import numpy as np

    rows, classes = np.nonzero(targets > 0)
    return rows, classes, targets[rows, classes].astype(np.float64)
