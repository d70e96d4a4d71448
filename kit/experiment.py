"""Fold jobs and their merge: the bridge between the data files and the artifact contract.

A fold job reads one text variant and the one fold file, trains a model family on the other folds, and writes
`oof/<exp>/fold<k>.npz` (the held-out rows' logits and the test logits) and the fold's model folder (the model
when the experiment is kept, else why not: kit/kept.py). The merge puts the K folds back into train order and
writes the experiment's artifact (kit.artifacts.Artifact).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd

from kit import folds as folds_module
from kit.artifacts import Artifact, load_npz, mean_of_folds, provenance, read_json, read_parquet, save_npz
from kit.metrics import macro_f1, score_summary
from kit.models import FoldData, fit_predict


def unicode(column: pd.Series) -> np.ndarray:
    """Fixed-width unicode array: what npz stores without pickling (pandas 3 hands out object arrays)."""
    return np.asarray(column.astype(str).tolist(), dtype=str)


@dataclass(frozen=True)
class VariantFiles:
    """One text variant's files, as the `variant` rule writes them (kit.variants.write_variant)."""

    train: Path
    test: Path
    meta: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "VariantFiles":
        """The workflow's layout, data/variants/<name>/{train,test}.parquet + meta.json (for tests and benches)."""
        folder = Path(folder)
        return cls(folder / "train.parquet", folder / "test.parquet", folder / "meta.json")

    def read(self) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        return read_parquet(self.train), read_parquet(self.test), read_json(self.meta)


def read_folds(path: Path) -> tuple[pd.DataFrame, str]:
    """The fold file and its hash (over id and fold, so it names the assignment, not the parquet bytes)."""
    table = read_parquet(path)
    return table, folds_module.fold_hash(table["id"].astype(str).tolist(), table["fold"].to_numpy())


def label_indices(labels: pd.Series, classes: list[str], where: str) -> np.ndarray:
    index = {label: i for i, label in enumerate(classes)}
    mapped = labels.astype(str).map(index)
    if mapped.isna().any():
        bad = labels[mapped.isna()].iloc[0]
        raise ValueError(f"{where}: label {bad!r} is not one of the config's classes {classes}")
    return mapped.to_numpy(dtype=np.int64)


def aligned_folds(train: pd.DataFrame, folds: pd.DataFrame, where: str) -> np.ndarray:
    """fold_of [n_train] in the variant's row order; every variant must hold exactly the fold file's ids."""
    if len(train) != len(folds) or not np.array_equal(train["id"].astype(str).to_numpy(), folds["id"].astype(str).to_numpy()):
        raise ValueError(f"{where}: train ids differ from the fold file's ids (re-run ingest and folds together)")
    return folds["fold"].to_numpy().astype(np.int8)


class TrainingRows(Protocol):
    """Training-only rows a variant adds to one fold (pseudo-labelled pool rows, augmented copies): never held out,
    never tested, so the OOF rows and the test set stay as they are."""

    def rows(self, fold: int, train_text: list[str], train_y: np.ndarray) -> tuple[list[str], np.ndarray, dict]:
        """(texts, class indices [n] or soft targets [n x C] (probabilities), a JSON-able summary for the fold file's
        meta)."""


SOFT_PREFIX = "p_"  # a pseudo rows file's column of one class's soft target: p_-1, p_0, p_1 (kit.pseudo writes them)


@dataclass(frozen=True)
class PseudoRows:
    """A pseudo variant's rows file (kit.pseudo.write_pseudo_rows): fold k's students get the rows fold k's teacher
    labelled."""

    path: Path
    classes: tuple[str, ...]

    def rows(self, fold: int, train_text: list[str], train_y: np.ndarray) -> tuple[list[str], np.ndarray, dict]:
        table = pd.read_parquet(self.path)
        mine = table[table["fold"] == fold]
        y = label_indices(mine["label"], list(self.classes), str(self.path))
        counts = {self.classes[c]: int(n) for c, n in enumerate(np.bincount(y, minlength=len(self.classes)))}
        summary = {"pseudo_rows": len(mine), "pseudo_rows_per_class": counts}
        soft = [f"{SOFT_PREFIX}{c}" for c in self.classes]
        if soft[0] in mine:  # a soft pseudo variant: the teacher's probabilities are the targets
            return mine["text"].astype(str).tolist(), mine[soft].to_numpy(np.float64), {**summary, "targets": "soft"}
        return mine["text"].astype(str).tolist(), y, summary


def training_rows(kind: str, variant: str, settings: dict, inputs: dict[str, Path], classes) -> TrainingRows | None:
    """The rows a training-only variant adds to each fold (its kind's `rows`, kit.registry.VariantKind), from its
    entry and the files its kind declared; None for a text variant (kind 'text')."""
    if kind == "text":
        return None
    from kit import registry
    from kit.settings import parse

    declared = registry.variant_kind(kind)
    entry = parse(declared.params, settings, f"{kind}.{variant}")
    return registry.resolve(declared.rows)(variant, entry, inputs, tuple(classes))


def variant_manifest(kind: str, inputs: dict[str, Path]) -> dict | None:
    """What a training-only variant's manifest says (the input its kind names as `manifest`: a pseudo variant's
    teacher and rows), recorded in the experiment's manifest; None when its kind has none."""
    if kind == "text":
        return None
    from kit import registry

    role = registry.variant_kind(kind).manifest
    return read_json(inputs[role]) if role else None


def run_fold(
    *,
    kind: str,
    params: dict,
    variant: VariantFiles,
    folds_path: Path,
    fold: int,
    seed: int,
    classes: list[str],
    out: Path,
    workdir: Path,
    log: Callable[[str], None] = print,
    pool: Path | None = None,
    additions: TrainingRows | None = None,
    inputs: dict[str, Path] | None = None,
    model_dir: Path | None = None,
    config_hash: str = "",
) -> dict:
    """Train on every fold but `fold`, predict it and the test set, write the fold file `out`. Returns its meta.

    pool: the variant's pseudo-label pool (id, text), also predicted when this experiment teaches a pseudo variant;
    additions: training-only rows of a pseudo or augment variant, added to this fold's training rows; inputs: the
    workflow files the model family declared it reads (kit.registry.Family.inputs), by role;
    model_dir: the fold's model folder, written whatever keep_models says (the keep_models rule prunes it later);
    config_hash: the experiment's identity hash (kit.config.experiment_config_hash), recorded beside the model so that
    `kit predict` can tell it belongs to the artifact.
    """
    train, test, variant_meta = variant.read()
    folds, fold_hash = read_folds(folds_path)
    fold_of = aligned_folds(train, folds, str(variant.train))
    if fold not in set(np.unique(fold_of).tolist()):
        raise ValueError(f"fold {fold} is not in {folds_path} (folds present: {sorted(set(fold_of.tolist()))})")
    y = label_indices(train["label"], classes, str(variant.train))
    held_out = fold_of == fold
    texts = train["text"].astype(str).tolist()
    train_text, train_y = [t for t, h in zip(texts, held_out) if not h], y[~held_out]
    added, train_targets = {}, None
    if additions is not None:
        extra_text, extra_y, added = additions.rows(fold, train_text, train_y)
        if extra_y.ndim == 2:  # soft targets: every training row learns probabilities, a labelled one its one-hot
            train_targets = np.concatenate([np.eye(len(classes))[train_y], extra_y])
            extra_y = extra_y.argmax(axis=1)
        train_text, train_y = train_text + extra_text, np.concatenate([train_y, extra_y])
        log(f"fold {fold}: {len(extra_text)} training-only rows added: {added}")
    pool_frame = pd.read_parquet(pool) if pool is not None else None
    data = FoldData(
        train_text=train_text,
        train_y=train_y,
        valid_text=[t for t, h in zip(texts, held_out) if h],
        valid_y=y[held_out],
        test_text=test["text"].astype(str).tolist(),
        n_classes=len(classes),
        pool_text=[] if pool_frame is None else pool_frame["text"].astype(str).tolist(),
        inputs=dict(inputs or {}),
        train_targets=train_targets,
    )
    log(f"fold {fold}: {len(data.train_text)} train, {len(data.valid_text)} held out, {len(data.test_text)} test"
        + (f", {len(data.pool_text)} pool rows to label" if data.pool_text else ""))
    started = time.perf_counter()
    result = fit_predict(kind, params, data, seed=seed, workdir=workdir, log=log)
    seconds = time.perf_counter() - started
    fold_f1 = macro_f1(data.valid_y, result.valid_logits.argmax(axis=1), len(classes))
    log(f"fold {fold}: macro-F1 {fold_f1:.4f} in {seconds:.1f}s")
    meta = {
        "fold": fold,
        "seed": seed,
        "fold_hash": fold_hash,
        "data_hash": variant_meta["data_hash"],
        "variant": variant_meta["variant"],
        "macro_f1": fold_f1,
        "seconds": round(seconds, 3),
        "info": result.info,
        "training_rows_added": added,
    }
    if model_dir is not None:
        from kit.kept import write_fold_model

        model_meta = {"kind": kind, "config_hash": config_hash, "fold": fold, "seed": seed, "fold_hash": fold_hash,
                      "data_hash": variant_meta["data_hash"], "variant": variant_meta["variant"], "classes": classes}
        started = time.perf_counter()
        kept = write_fold_model(model_dir, result.predictor, model_meta)
        log(f"fold {fold}: model {'written to' if kept else 'cannot be kept, see'} {model_dir} "
            f"({time.perf_counter() - started:.2f}s)")
    pool_arrays = {}
    if pool_frame is not None:
        pool_arrays = {"pool_ids": unicode(pool_frame["id"]), "pool_logits": result.pool_logits}
    save_npz(
        out,
        valid_ids=unicode(train["id"])[held_out],
        valid_logits=result.valid_logits,
        test_ids=unicode(test["id"]),
        test_logits=result.test_logits,
        meta=np.array(json.dumps(meta)),
        **pool_arrays,
    )
    return meta


def merge_folds(
    *,
    fold_files: list[Path],
    variant: VariantFiles,
    folds_path: Path,
    classes: list[str],
    name: str,
    model: str,
    kind: str,
    params: dict,
    config_hash: str,
    variant_name: str | None = None,
    variant_manifest: dict | None = None,
) -> Artifact:
    """The experiment's artifact: OOF logits in train order from the K fold files, test logits averaged over them,
    and each fold's pool logits when the folds predicted the pool.

    variant_name: the experiment's variant when it is not the text variant its files come from (a pseudo or augment
    variant); variant_manifest: what that variant's manifest says (a pseudo variant's teacher, rows, noise)."""
    train, test, _ = variant.read()
    folds, fold_hash = read_folds(folds_path)
    fold_of = aligned_folds(train, folds, str(variant.train))
    ids = unicode(train["id"])
    position = pd.Series(np.arange(len(ids)), index=ids)
    oof_logits = np.full((len(ids), len(classes)), np.nan, dtype=np.float32)
    test_ids = unicode(test["id"])
    test_parts, metas, pool = [], [], {}
    for path in fold_files:
        part = load_npz(path)
        meta = json.loads(str(part["meta"]))
        if meta["fold_hash"] != fold_hash:
            raise ValueError(f"{path} was made with another fold file (hash {meta['fold_hash'][:12]} != {fold_hash[:12]})")
        if not np.array_equal(part["test_ids"], test_ids):
            raise ValueError(f"{path}: test ids differ from {variant.test}")
        rows = position.reindex(part["valid_ids"]).to_numpy()
        if np.isnan(rows.astype(float)).any() or not np.all(fold_of[rows.astype(int)] == meta["fold"]):
            raise ValueError(f"{path}: held-out ids do not match fold {meta['fold']} of {folds_path}")
        oof_logits[rows.astype(int)] = part["valid_logits"]
        test_parts.append(part["test_logits"])
        metas.append(meta)
        if "pool_ids" in part:
            pool[meta["fold"]] = (part["pool_ids"], part["pool_logits"])
    present = sorted(m["fold"] for m in metas)
    expected = sorted(set(fold_of.tolist()))
    if present != expected:
        raise ValueError(f"experiment {name}: folds {present} present, the fold file has {expected}")
    labels = label_indices(train["label"], classes, str(variant.train))
    artifact = Artifact(
        ids=ids,
        labels=labels,
        fold_of=fold_of,
        oof_logits=oof_logits,
        test_ids=test_ids,
        test_logits=mean_of_folds(test_parts),
        classes=np.array(classes),
        **merged_pool(pool, expected, name),
    )
    scores = score_summary(labels, oof_logits, fold_of)
    artifact.manifest = {
        "name": name,
        "kind": "experiment",
        "model": model,
        "family": kind,
        "variant": variant_name or metas[0]["variant"],
        "text_variant": metas[0]["variant"],
        **({"variant_manifest": variant_manifest} if variant_manifest else {}),
        "seed": metas[0]["seed"],
        "params": params,
        "classes": classes,
        "fold_hash": fold_hash,
        "data_hash": metas[0]["data_hash"],
        "config_hash": config_hash,
        **provenance(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scores": scores,
        # Nothing is fitted on the OOF rows of an experiment, so its honest score is its OOF score.
        "honest_macro_f1": scores["oof_macro_f1"],
        "folds": metas,
    }
    return artifact


def merged_pool(pool: dict[int, tuple[np.ndarray, np.ndarray]], folds: list[int], name: str) -> dict:
    """{pool_ids [n_pool], pool_logits [K x n_pool x C]} from each fold's (ids, logits), or {} without a pool."""
    if not pool:
        return {}
    if sorted(pool) != folds:
        raise ValueError(f"experiment {name}: folds {sorted(pool)} predicted the pool, the fold file has {folds}")
    ids = pool[folds[0]][0]
    for fold in folds:
        if not np.array_equal(pool[fold][0], ids):
            raise ValueError(f"experiment {name}: fold {fold} predicted other pool rows than fold {folds[0]}")
    return {"pool_ids": ids, "pool_logits": np.stack([pool[fold][1] for fold in folds]).astype(np.float32)}
