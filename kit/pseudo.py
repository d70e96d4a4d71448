"""Pseudo-labelled training data without leakage: each fold's students learn from a teacher that never saw its labels.

A pseudo variant (the config's `pseudo:` block) names a teacher artifact, the texts its students train on (a text
variant) and which rows of the pool (test texts and a sample of the unlabelled posts) may become training rows.
The teacher's predictions on the pool come per fold: fold k's are made by the teacher's fold-k models (an
experiment), or by its members' fold-k models combined with what was fitted without fold k (an ensemble's
cross-fit). Fold k's students get only the rows fold k's teacher labelled, so nothing fold k's labels decided can
flow back into fold k's out-of-fold predictions; the OOF rows, the fold file and every score stay as they are.

`select_pseudo_rows` picks the rows of one fold (pure numpy); `teacher_precision` estimates, from the teacher's
own out-of-fold rows, how often its labels are right at the confidence it is trusted at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kit.settings import Settings, fail, setting

if TYPE_CHECKING:
    import numpy as np

SOURCES = ("test", "unlabeled")


@dataclass
class PoolSettings(Settings):
    """The rows every teacher predicts, fold by fold: the test texts and a seeded sample of the unlabelled ones."""

    # Every teacher fold job predicts the pool: 20k rows cost a transformer fold about what 20k training rows'
    # forward passes do, and are more than a 100k-row competition takes pseudo rows from.
    unlabeled_rows: int = setting(20_000, "unlabelled rows sampled into the pool (0: test texts only)", ge=0)
    seed: int = setting(0, "seed of the sample", ge=0)


@dataclass
class PseudoSettings(Settings):
    """One `pseudo:` entry: a training-only text variant whose students add rows the teacher labelled."""

    teacher: str = setting(help="the artifact that labels the pool: an experiment (model.variant.sSEED) or an "
                                "ensemble (its name, or ensemble.<name>)")
    base_variant: str = setting("cleaned", "the text variant the students train and predict on")
    sources: tuple[Literal["test", "unlabeled"], ...] = setting(
        SOURCES, "which pool rows may become training rows", min_items=1)
    # 0.9 keeps the rows a good teacher gets right about 9 times in 10 (teacher_precision measures it per run).
    threshold: float | tuple[float, ...] = setting(
        0.9, "the least teacher probability of the predicted class: one number, or one per class", ge=0, le=1)
    top_fraction: float | None = setting(
        None, "also keep only the most confident share of each predicted class (threshold: 0 for the share alone)",
        gt=0, le=1)
    max_rows: int = setting(50_000, "most pseudo rows a fold's students get", ge=1)
    # Confident predictions over-represent the easy majority class; keeping the train ratio keeps the prior.
    balance: Literal["train_ratio", "none"] = setting(
        "train_ratio", "keep the train set's class ratio among the pseudo rows, or take the most confident")
    seed: int = setting(0, "seed of tie-breaking between equally confident rows", ge=0)

    def check(self, path: str) -> None:
        if len(set(self.sources)) != len(self.sources):
            raise fail(f"{path}.sources", f"names a source twice: {list(self.sources)}")


def select_pseudo_rows(
    probs: np.ndarray,
    allowed: np.ndarray,
    train_labels: np.ndarray,
    settings: PseudoSettings,
    fold: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pool rows fold `fold`'s students train on: (rows, labels, confidences), rows sorted.

    probs: [n_pool x C] the fold's teacher probabilities; allowed: [n_pool] bool, rows whose source the variant
    takes; train_labels: [n_train] class indices of the training rows (their class ratio, with balance).
    """
    import numpy as np

    n_pool, n_classes = probs.shape
    labels = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    # Ties in confidence are broken by a seeded order, not by position in the pool (the test rows come first).
    tie_break = np.random.default_rng([settings.seed, fold]).random(n_pool)
    order = np.lexsort((tie_break, -confidence))
    order = order[allowed[order]]
    candidates = order[trusted(labels[order], confidence[order], settings, n_classes)]  # most confident first
    if settings.balance == "train_ratio":
        share = np.bincount(train_labels, minlength=n_classes) / max(len(train_labels), 1)
        available = np.bincount(labels[candidates], minlength=n_classes)
        with np.errstate(divide="ignore"):
            feasible = np.where(share > 0, available / np.where(share > 0, share, 1), np.inf)
        total = min(settings.max_rows, int(np.floor(feasible.min())) if np.isfinite(feasible.min()) else 0)
        quota = np.floor(share * total).astype(int)
        chosen = np.concatenate([candidates[labels[candidates] == c][: quota[c]] for c in range(n_classes)])
    else:
        chosen = candidates[: settings.max_rows]
    chosen = np.sort(chosen.astype(np.int64))
    return chosen, labels[chosen], confidence[chosen]


def teacher_precision(oof_probs: np.ndarray, y: np.ndarray, settings: PseudoSettings) -> dict:
    """How often the teacher is right where it would be trusted, measured on its own out-of-fold rows.

    oof_probs: [n x C] the teacher's (honest) OOF probabilities; y: [n] true classes. With a threshold, the rows at
    or above it; with top_fraction, the most confident share of each predicted class. Returns the rows counted, the
    share right, and per predicted class the same: an estimate of the pseudo labels' noise.
    """
    import numpy as np

    n_classes = oof_probs.shape[1]
    labels, confidence = oof_probs.argmax(axis=1), oof_probs.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    is_trusted = np.zeros(len(y), dtype=bool)
    is_trusted[order] = trusted(labels[order], confidence[order], settings, n_classes)
    right = labels == y
    per_class = {}
    for c in range(n_classes):
        rows = is_trusted & (labels == c)
        per_class[c] = {"rows": int(rows.sum()), "precision": float(right[rows].mean()) if rows.any() else None}
    return {
        "rows": int(is_trusted.sum()),
        "share_of_oof_rows": float(is_trusted.mean()),
        "precision": float(right[is_trusted].mean()) if is_trusted.any() else None,
        "per_class": per_class,
    }


def trusted(labels: np.ndarray, confidence: np.ndarray, settings: PseudoSettings, n_classes: int) -> np.ndarray:
    """[n] bool: the rows a teacher is trusted on, given rows sorted by falling confidence: at or above the
    threshold of their predicted class, and with top_fraction among that share of their class's rows."""
    import numpy as np

    thresholds = np.broadcast_to(np.asarray(settings.threshold, dtype=np.float64), (n_classes,))
    keep = confidence >= thresholds[labels]
    if settings.top_fraction is not None:
        for c in range(n_classes):
            in_class = np.flatnonzero(labels == c)  # already most confident first
            keep[in_class[int(round(settings.top_fraction * len(in_class))):]] = False
    return keep
