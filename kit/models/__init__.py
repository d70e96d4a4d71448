"""Model families: every `kind:` in the config's `models:` block trains one fold through the same interface.

A family is a module with `fit_predict(params, data, seed, workdir, log) -> FoldResult`. Families are named here
by module path and imported only when a fold job runs, so that importing `kit` (the Snakefile does) stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import numpy as np

FAMILIES = {
    "sklearn": "kit.models.sklearn_family",
    "transformer": "kit.models.transformer",
}


def check_params(kind: str, params: dict, where: str) -> None:
    """Parse a model entry with its family's own config, so a bad value stops the run before any job starts.

    Both parsers import no torch or scikit-learn. A scratch backbone (`backbone: {scratch: ...}`) is a folder by
    the time the family sees it, so it is checked as one.
    """
    if kind == "sklearn":
        from kit.models.sklearn_family import SklearnParams as parser
        parse = parser.from_dict
    elif kind == "transformer":
        from kit.models.transformer.config import parse_config as parse

        if isinstance(params.get("backbone"), dict):
            params = {**params, "backbone": "<scratch backbone folder>"}
    else:
        raise ValueError(f"{where}: unknown model kind {kind!r}; known kinds: {sorted(FAMILIES)}")
    try:
        parse(params)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


@dataclass
class FoldData:
    """The texts and labels one fold job sees. Labels are class indices 0..n_classes-1."""

    train_text: list[str]
    train_y: np.ndarray  # [n_train] int64
    valid_text: list[str]  # the held-out (OOF) fold: predicted, never used to choose anything
    valid_y: np.ndarray  # [n_valid] int64, only for logging the fold's score after training
    test_text: list[str]
    n_classes: int
    unlabeled_text: list[str] = field(default_factory=list)


@dataclass
class FoldResult:
    valid_logits: np.ndarray  # [n_valid x n_classes] float32
    test_logits: np.ndarray  # [n_test x n_classes] float32
    info: dict = field(default_factory=dict)  # JSON-able: epoch policy, epochs run, timings...


def family(kind: str):
    """The module that implements `kind`; a clear error for an unknown one."""
    if kind not in FAMILIES:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {sorted(FAMILIES)}")
    return importlib.import_module(FAMILIES[kind])


def fit_predict(
    kind: str, params: dict, data: FoldData, seed: int, workdir: Path, log: Callable[[str], None] = print
) -> FoldResult:
    import numpy as np

    result = family(kind).fit_predict(params, data, seed=seed, workdir=Path(workdir), log=log)
    n_valid, n_test = len(data.valid_text), len(data.test_text)
    expected = {"valid_logits": (n_valid, data.n_classes), "test_logits": (n_test, data.n_classes)}
    for name, shape in expected.items():
        got = getattr(result, name)
        if got.shape != shape or not np.all(np.isfinite(got)):
            raise RuntimeError(f"model kind {kind!r} returned {name} of shape {got.shape} (want {shape}) or non-finite")
    result.valid_logits = result.valid_logits.astype(np.float32)
    result.test_logits = result.test_logits.astype(np.float32)
    return result
