"""Pseudo-labelled training data without leakage: each fold's students learn from a teacher that never saw its labels.

A pseudo variant (the config's `pseudo:` block) names a teacher artifact, the texts its students train on (a text
variant) and which rows may become training rows: the pool's (test texts and a sample of the unlabelled posts) and,
with the source `held_out`, each fold's own held-out train texts.
The teacher's predictions on the pool come per fold: fold k's are made by the teacher's fold-k models (an
experiment), or by its members' fold-k models combined with what was fitted without fold k (an ensemble's
cross-fit). Fold k's students get only the rows fold k's teacher labelled, so nothing fold k's labels decided can
flow back into fold k's out-of-fold predictions; the OOF rows, the fold file and every score stay as they are.

Pseudo-labelled test texts help the students' test predictions (the rows they are asked about are among those they
trained on), which their OOF rows, never pseudo-labelled, cannot show: on real labels the students beat their
cleaned-text selves by 1.5 to 2.3 points on held-out rows but by 0.8 to 1.2 by honest OOF F1, so the ensembles and
`final: auto`, which go by OOF F1, undervalued them. `held_out` gives fold k's students fold k's held-out texts
labelled by the teacher's out-of-fold prediction (made without fold k's labels, as its pool predictions are), the
same help on the rows they are scored on.

`select_pseudo_rows` picks the rows of one fold (pure numpy); `teacher_precision` estimates, from the teacher's
own out-of-fold rows, how often its labels are right at the confidence it is trusted at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kit import layout
from kit.registry import BuildStep, VariantKind, register
from kit.settings import Settings, fail, setting, to_dict

if TYPE_CHECKING:
    import numpy as np

SOURCES = ("test", "unlabeled")  # the pool's
HELD_OUT = "held_out"  # each fold's own held-out train texts, labelled by the teacher's out-of-fold prediction


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
    sources: tuple[Literal["test", "unlabeled", "held_out"], ...] = setting(
        SOURCES, "which rows may become training rows: the pool's test texts and unlabelled posts, and held_out: "
                 "each fold's own held-out train texts, labelled by the teacher's out-of-fold prediction (so the "
                 "students' OOF rows get what pseudo-labelled test texts give their test predictions)", min_items=1)
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
    # Hinton et al. (2015): the teacher's whole distribution carries what it learnt about how classes resemble each
    # other, which its argmax throws away; with threshold 0 every pool row teaches.
    targets: Literal["hard", "soft"] = setting(
        "hard", "what the students learn of each chosen row: the teacher's label, or its probabilities "
                "(distillation; models of a family that learns soft targets only, e.g. kind sklearn)")
    temperature: float = setting(1.0, "soft targets only: the teacher's logits are divided by this before the "
                                      "softmax (above 1: softer)", gt=0)

    def check(self, path: str) -> None:
        if len(set(self.sources)) != len(self.sources):
            raise fail(f"{path}.sources", f"names a source twice: {list(self.sources)}")
        if self.targets == "hard" and self.temperature != 1.0:
            raise fail(f"{path}.temperature", "applies to targets 'soft' only")


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


def write_pseudo_rows(name: str, settings: PseudoSettings, teacher_npz, teacher_manifest, pool_path, out_rows,
                      out_manifest, log=print, train_path=None) -> dict:
    """The pseudo variant's rows (fold, id, text, label, confidence, source, and with soft targets p_<class>: the
    teacher's probabilities at the temperature) and its manifest; returns the manifest.

    teacher_*: the teacher artifact, which must carry per-fold pool predictions; pool_path: the pool as the base
    variant writes it (id, text, source), in the order the teacher predicted it; train_path: the base variant's
    train texts (id, text), read only with the source held_out. Fold k's candidates are the pool rows (its teacher's
    fold-k predictions) and, with held_out, fold k's held-out rows (the teacher's OOF predictions of them): one
    selection over both, so threshold, balance and max_rows read as without it.
    """
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from kit.artifacts import Artifact, write_json, write_parquet
    from kit.experiment import SOFT_PREFIX
    from kit.hashing import sha256_json, sha256_strings
    from kit.metrics import softmax

    teacher = Artifact.read(teacher_npz, teacher_manifest)
    if teacher.pool_logits is None:
        raise ValueError(f"pseudo variant {name!r}: teacher {teacher.name} has no pool predictions; its fold jobs "
                         "predict the pool only when the config names it as a teacher (re-run it)")
    pool = pd.read_parquet(pool_path)
    if not np.array_equal(pool["id"].astype(str).to_numpy(), teacher.pool_ids.astype(str)):
        raise ValueError(f"pseudo variant {name!r}: {pool_path} holds other rows than teacher {teacher.name} predicted")
    classes = teacher.classes.astype(str)
    allowed = pool["source"].isin(settings.sources).to_numpy()
    scored = teacher.fold_of >= 0
    train_text = held_out_texts(name, teacher, train_path) if HELD_OUT in settings.sources else None
    pool_ids, pool_texts, pool_sources = pool["id"].to_numpy(), pool["text"].to_numpy(), pool["source"].to_numpy()
    parts, per_fold = [], {}
    for fold in range(teacher.pool_logits.shape[0]):
        train_labels = teacher.labels[scored & (teacher.fold_of != fold)]
        ids, texts, sources = pool_ids, pool_texts, pool_sources
        logits, candidates = teacher.pool_logits[fold], allowed
        if train_text is not None:  # fold k's held-out rows, as the teacher predicted them without fold k
            own = np.flatnonzero((teacher.fold_of == fold) & (train_text != ""))
            ids, texts = np.concatenate([ids, teacher.ids[own]]), np.concatenate([texts, train_text[own]])
            sources = np.concatenate([sources, np.full(len(own), HELD_OUT, dtype=object)])
            logits = np.concatenate([logits, teacher.oof_logits[own]])
            candidates = np.concatenate([allowed, np.ones(len(own), dtype=bool)])
        rows, labels, confidence = select_pseudo_rows(softmax(logits), candidates, train_labels, settings, fold)
        part = pd.DataFrame({
            "fold": np.full(len(rows), fold, dtype=np.int64), "id": ids[rows], "text": texts[rows],
            "label": classes[labels], "confidence": confidence, "source": sources[rows],
        })
        if settings.targets == "soft":
            soft = softmax(logits[rows] / settings.temperature)
            part = part.assign(**{f"{SOFT_PREFIX}{c}": soft[:, at] for at, c in enumerate(classes)})
        parts.append(part)
        per_fold[str(fold)] = {str(c): int(n) for c, n in zip(classes, np.bincount(labels, minlength=len(classes)))}
        log(f"pseudo {name}: fold {fold}: {len(rows)} rows {per_fold[str(fold)]}")
        if not len(rows):
            log(f"warning: pseudo {name}: fold {fold} gets no rows: with balance train_ratio every class needs pool "
                "rows at or above its threshold; lower the threshold (or give one per class), or set balance: none")
    table = pd.concat(parts, ignore_index=True)
    write_parquet(table, Path(out_rows))
    noise = teacher_precision(softmax(teacher.oof_logits[scored]), teacher.labels[scored], settings)
    noise["per_class"] = {str(classes[c]): v for c, v in noise["per_class"].items()}
    manifest = {
        "name": name,
        "kind": "pseudo",
        "settings": to_dict(settings),
        "teacher": teacher.name,
        "teacher_manifest_hash": sha256_json(teacher.manifest),
        "teacher_honest_macro_f1": teacher.manifest.get("honest_macro_f1"),
        "pool_rows": len(pool),
        "pool_rows_allowed": int(allowed.sum()),
        "rows_per_source": {str(k): int(v) for k, v in table["source"].value_counts().sort_index().items()},
        "rows_per_class_per_fold": per_fold,
        "teacher_precision_at_threshold": noise,
        "rows_hash": sha256_strings(table["fold"], table["id"], table["text"], table["label"],
                                    *[table[column].map(repr) for column in table if column.startswith(SOFT_PREFIX)]),
    }
    if noise["precision"] is not None:
        log(f"pseudo {name}: teacher {teacher.name} is right on {noise['precision']:.1%} of the {noise['rows']} OOF "
            "rows it would be trusted on (the pseudo labels' expected precision)")
    write_json(Path(out_manifest), manifest)
    return manifest


def held_out_texts(name: str, teacher, train_path) -> np.ndarray:
    """[n_train] the base variant's train texts in the order of the teacher's OOF rows (str objects)."""
    import numpy as np
    import pandas as pd

    if train_path is None:
        raise ValueError(f"pseudo variant {name!r}: the source {HELD_OUT!r} needs the base variant's train texts")
    train = pd.read_parquet(train_path, columns=["id", "text"])
    by_id = pd.Series(train["text"].to_numpy(), index=train["id"].astype(str).to_numpy())
    if not by_id.index.is_unique:
        raise ValueError(f"pseudo variant {name!r}: {train_path} holds an id twice "
                         f"({by_id.index[by_id.index.duplicated()][0]!r})")
    missing = ~pd.Index(teacher.ids.astype(str)).isin(by_id.index)
    if missing.any():
        raise ValueError(f"pseudo variant {name!r}: {train_path} lacks {int(missing.sum())} train rows teacher "
                         f"{teacher.name} predicted (such as id {teacher.ids[missing][0]!r}): re-run the teacher")
    return by_id.loc[teacher.ids.astype(str)].fillna("").astype(str).to_numpy(dtype=object)


def write_pool(test_path, unlabeled_path, settings: PoolSettings, out, log=print):
    """The pseudo-label pool (id, text, source): every test row, then a seeded sample of the unlabelled rows (ids
    the test file already has are left out, so pool ids are unique). Returns the frame."""
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from kit.artifacts import write_parquet
    from kit.data import read_split

    test = read_split(test_path)[["id", "text"]].assign(source="test")
    parts = [test[test["text"] != ""]]  # an empty test text has nothing to learn from
    if unlabeled_path is not None and settings.unlabeled_rows:
        unlabeled = read_split(unlabeled_path)[["id", "text"]]
        unlabeled = unlabeled[~unlabeled["id"].isin(test["id"])]
        take = min(settings.unlabeled_rows, len(unlabeled))
        rows = np.sort(np.random.default_rng(settings.seed).choice(len(unlabeled), size=take, replace=False))
        parts.append(unlabeled.iloc[rows].assign(source="unlabeled"))
    pool = pd.concat(parts, ignore_index=True)
    write_parquet(pool, Path(out))
    log(f"pool: {len(pool)} rows ({pool['source'].value_counts().to_dict()})")
    return pool


def fold_inputs(name: str, settings: PseudoSettings) -> dict[str, str]:
    """What a student's fold job reads beyond its base variant's files: the variant's rows and manifest."""
    return layout.pseudo_files(name)


def training_rows(name: str, settings: PseudoSettings, inputs, classes):
    """Fold k's students get the rows fold k's teacher labelled (kit.experiment.PseudoRows)."""
    from pathlib import Path

    from kit.experiment import PseudoRows

    return PseudoRows(Path(inputs["rows"]), tuple(classes))


def check_entry(name: str, settings: PseudoSettings, config) -> None:
    if isinstance(settings.threshold, tuple) and len(settings.threshold) != len(config.classes):
        raise fail(f"pseudo.{name}.threshold", f"gives {len(settings.threshold)} thresholds for "
                                               f"{len(config.classes)} classes")


register(VariantKind("pseudo", PseudoSettings, training_rows, inputs=fold_inputs, manifest="manifest",
                     check=check_entry,
                     help="students train on a text variant plus pool rows a teacher labelled without their fold"))


# --------------------------------------------------------------------------------------- the rows' build step


def teacher_artifact(teacher: str, ensembles) -> str:
    """The artifact (oof/<name>/) a pseudo entry's teacher names: an entry of ensembles as `ensemble.<entry>`
    (written with or without the prefix), else the experiment of that name."""
    bare = teacher.removeprefix("ensemble.")
    return f"ensemble.{bare}" if bare in ensembles else teacher


def step_inputs(config, entry: str, settings: PseudoSettings) -> dict[str, str]:
    """What the rows are picked from: the teacher artifact (its per-fold pool logits) and the pool's texts in the
    base variant."""
    teacher = layout.artifact_files(teacher_artifact(settings.teacher, config.ensembles))
    return {"teacher_npz": teacher["npz"], "teacher_manifest": teacher["manifest"],
            "pool": layout.variant_files(settings.base_variant, pool=True)["pool"], "train": held_out_train(settings)}


def held_out_train(settings: PseudoSettings) -> list[str]:
    """[the base variant's train texts] with the source held_out, else []: what the step reads beyond the pool."""
    return [layout.variant_files(settings.base_variant)["train"]] if HELD_OUT in settings.sources else []


def build_step(entry: str, settings: PseudoSettings, inputs, outputs, log=print) -> dict:
    """The build step's work (kit.registry.BuildStep): write_pseudo_rows from the teacher's files.

    The rule declares the train texts as an input (with held_out) but its command does not pass them: a changed
    command is a changed rule to Snakemake, which would re-run every pseudo variant's rows, and so every student, of
    a run made before held_out. Without --train the step reads them where kit.layout puts them.
    """
    train = inputs.get("train") or next(iter(held_out_train(settings)), None)
    return write_pseudo_rows(entry, settings, inputs["teacher_npz"], inputs["teacher_manifest"], inputs["pool"],
                             outputs["rows"], outputs["manifest"], log=log, train_path=train)


def rows_log(entry: str) -> str:
    return layout.log("pseudo", entry)


register(BuildStep(
    "pseudo_rows", PseudoSettings, "pseudo", build_step, step_inputs, layout.pseudo_files,
    reads={"teacher_npz": "the teacher artifact's oof.npz (its per-fold pool logits)",
           "teacher_manifest": "the teacher artifact's manifest.json", "pool": "the pool's texts in the base variant",
           "train": "the base variant's train texts (the source held_out only)"},
    writes={"rows": "each fold's pseudo-labelled rows (parquet) to write",
            "manifest": "the variant's manifest (teacher, rows per class) to write"},
    wildcard="pseudo", named=True, log=rows_log, optional=("train",),
    help="each fold's pseudo-labelled pool rows, picked from what the teacher's fold k models predicted",
))
