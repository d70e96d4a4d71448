"""Fold jobs and their merge: the bridge between the data files and the artifact contract.

A fold job reads one text variant and the one fold file, trains a model family on the other folds, and writes
`oof/<exp>/fold<k>.npz` (the held-out rows' logits and the test logits). The merge puts the K folds back into
train order and writes the experiment's artifact (kit.artifacts.Artifact).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from kit import folds as folds_module
from kit.artifacts import Artifact, load_npz, provenance, read_json, read_parquet, save_npz
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
) -> dict:
    """Train on every fold but `fold`, predict it and the test set, write the fold file `out`. Returns its meta."""
    train, test, variant_meta = variant.read()
    folds, fold_hash = read_folds(folds_path)
    fold_of = aligned_folds(train, folds, str(variant.train))
    if fold not in set(np.unique(fold_of).tolist()):
        raise ValueError(f"fold {fold} is not in {folds_path} (folds present: {sorted(set(fold_of.tolist()))})")
    y = label_indices(train["label"], classes, str(variant.train))
    held_out = fold_of == fold
    texts = train["text"].astype(str).tolist()
    data = FoldData(
        train_text=[t for t, h in zip(texts, held_out) if not h],
        train_y=y[~held_out],
        valid_text=[t for t, h in zip(texts, held_out) if h],
        valid_y=y[held_out],
        test_text=test["text"].astype(str).tolist(),
        n_classes=len(classes),
    )
    log(f"fold {fold}: {len(data.train_text)} train, {len(data.valid_text)} held out, {len(data.test_text)} test")
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
    }
    save_npz(
        out,
        valid_ids=unicode(train["id"])[held_out],
        valid_logits=result.valid_logits,
        test_ids=unicode(test["id"]),
        test_logits=result.test_logits,
        meta=np.array(json.dumps(meta)),
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
) -> Artifact:
    """The experiment's artifact: OOF logits in train order from the K fold files, test logits averaged over them."""
    train, test, _ = variant.read()
    folds, fold_hash = read_folds(folds_path)
    fold_of = aligned_folds(train, folds, str(variant.train))
    ids = unicode(train["id"])
    position = pd.Series(np.arange(len(ids)), index=ids)
    oof_logits = np.full((len(ids), len(classes)), np.nan, dtype=np.float32)
    test_ids = unicode(test["id"])
    test_sum = np.zeros((len(test_ids), len(classes)), dtype=np.float64)
    metas = []
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
        test_sum += part["test_logits"]
        metas.append(meta)
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
        test_logits=(test_sum / len(fold_files)).astype(np.float32),
        classes=np.array(classes),
    )
    scores = score_summary(labels, oof_logits, fold_of)
    artifact.manifest = {
        "name": name,
        "kind": "experiment",
        "model": model,
        "family": kind,
        "variant": metas[0]["variant"],
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
