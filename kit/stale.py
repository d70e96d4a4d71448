"""Runs never mix: after a successful run, what an earlier run left in the run folder is moved aside, not mixed in.

Pointing `data:` at other files (or changing the folds) in the same folder makes new artifacts under the same
names, but a run that asks for only part of the workflow (`snakemake subs/final.csv`) leaves the rest as the earlier
run wrote it: submissions of another test set beside the new one, figures of other data. The Snakefile's
`onsuccess` hook calls set_aside(), which moves every such file to stale/<time>/ (same relative path), with why.json
saying why each went; `kit scores` and the ensembles then see only this run's artifacts. What is moved:

- an artifact (oof/<name>/) whose manifest records another fold file than data/folds.parquet's, with its kept fold
  models (models/folds/<name>/), its submission (subs/<name>.csv and .json) and its figure;
- a submission whose sidecar records another fold file, or whose artifact is gone;
- a figure (with the CSV or JSON beside it) older than what it was drawn from (its artifact's manifest, the ingest
  report, subs/final.json, a variant's files, lb.csv for the CV-vs-LB figure), or whose artifact is gone:
  Snakemake would draw it again, so it shows an earlier run.

Nothing is deleted: a person can look at stale/ and remove it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from kit import layout

STALE = "stale"
FINAL_FIGURES = ("final", "disagreements")  # figures/final/<name>.png drawn from subs/final.json


def current_fold_hash(root: Path) -> str | None:
    """The fold hash of root/data/folds.parquet, or None when there is none yet."""
    folds = root / layout.FOLDS
    if not folds.is_file():
        return None
    from kit.experiment import read_folds

    try:
        return read_folds(folds)[1]
    except Exception:  # an unreadable fold file: the next job that reads it says so; set nothing aside meanwhile
        return None


def stale_files(root: Path) -> dict[Path, str]:
    """Files (relative to root) that belong to an earlier run -> why (see the module docstring)."""
    fold_hash = current_fold_hash(root)
    if fold_hash is None:
        return {}
    found: dict[Path, str] = {}

    def mark(paths, why: str) -> None:
        for path in paths:
            if path.exists() and path.relative_to(root) not in found:
                found[path.relative_to(root)] = why

    live = set()
    for manifest_path in sorted((root / layout.OOF).glob("*/manifest.json")):
        name = manifest_path.parent.name
        recorded = _json(manifest_path).get("fold_hash")
        if recorded == fold_hash:
            live.add(name)
            continue
        why = f"made on another fold file ({str(recorded)[:12]}, not {fold_hash[:12]})"
        mark([*_files(manifest_path.parent), *_files(root / layout.FOLD_MODELS / name),
              *_submission(root, name), *_artifact_figures(root, name)], why)
    for sidecar in sorted((root / layout.SUBS).glob("*.json")):
        meta = _json(sidecar)
        source = meta.get("source") or sidecar.stem
        if meta.get("fold_hash") not in (None, fold_hash):
            mark(_submission(root, sidecar.stem), "a submission made on another fold file")
        elif source not in live:
            mark(_submission(root, sidecar.stem), f"its artifact {source} is not in oof/")
    for figure in sorted((root / layout.FIGURES).glob("*/*.png")):
        source = _drawn_from(root, figure)
        if source is None:
            continue
        files = sorted(figure.parent.glob(f"{figure.stem}.*"))  # with its CSV or JSON beside it
        if not source.is_file() or source.relative_to(root) in found:
            mark(files, f"what it was drawn from ({source.relative_to(root)}) is not this run's")
        elif figure.stat().st_mtime < source.stat().st_mtime:
            mark(files, f"older than {source.relative_to(root)}: drawn by an earlier run")
    return found


def _drawn_from(root: Path, figure: Path) -> Path | None:
    """The file a figure must be newer than to be this run's; None for one that is never an earlier run's."""
    kind, name = figure.parent.name, figure.stem
    if kind == "final":
        # The final submission's own figures follow it; the CV-vs-LB figure follows the leaderboard log, a
        # person's file that no run rewrites (without one it says there is nothing to draw yet).
        if name in FINAL_FIGURES:
            return root / layout.FINAL_SIDECAR
        return root / layout.LEADERBOARD_LOG if (root / layout.LEADERBOARD_LOG).is_file() else None
    return {"experiments": root / layout.artifact_files(name)["manifest"],
            "ensembles": root / layout.artifact_files(f"ensemble.{name}")["manifest"],
            "eda": root / layout.REPORT,
            "adversarial": root / layout.variant_files(name)["test"]}.get(kind)


def set_aside(root: Path | str = ".", log: Callable[[str], None] = print) -> Path | None:
    """Move stale_files(root) to root/stale/<UTC time>/ with why.json; the folder, or None when nothing was."""
    root = Path(root)
    found = stale_files(root)
    if not found:
        return None
    target = root / STALE / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for relative in found:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / relative, destination)
    for folder in sorted({root / relative.parent for relative in found}, key=lambda p: -len(p.parts)):
        _remove_if_empty(folder, root)
    (target / "why.json").write_text(json.dumps({str(k): v for k, v in found.items()}, indent=1,
                                                ensure_ascii=False), encoding="utf-8")
    reasons = sorted(set(found.values()))
    log(f"moved {len(found)} file(s) of an earlier run to {target} (see why.json there): {'; '.join(reasons[:3])}"
        + (" ..." if len(reasons) > 3 else ""))
    return target


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else []


def _submission(root: Path, name: str) -> list[Path]:
    return [root / path for path in layout.submission(name).values()]


def _artifact_figures(root: Path, name: str) -> list[Path]:
    return [root / layout.artifact_figure(name)]


def _remove_if_empty(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
