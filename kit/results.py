"""The report's figures from a finished run's files: read what a rule names, build the figure (kit/figures.py),
write the PNG. Each function here is one figure rule's command; `snakemake --report report.html` collects the PNGs.

EDA reads the ingest report (class counts, invalid labels, rows dropped, duplicates) and the text variants' files
(text lengths); an experiment's or ensemble's figure reads its artifact (scores, confusion, training curves, weights,
class-weight search, agreement); the final figure reads subs/final.json and the candidates' manifests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from kit.artifacts import Artifact, atomic_write_bytes, read_json
from kit.figures import (chinese_font, class_counts_figure, duplicates_figure, ensemble_figure, experiment_figure,
                         final_figure, length_figure, png_bytes)
from kit.metrics import confusion

# The ingest rules and cross-split checks the duplicates figure shows, with what each counts.
DUPLICATE_RULES = {
    "duplicate_id_identical": "same id, same content (copies dropped)",
    "duplicate_id_conflicting": "same id, other content (all dropped)",
    "duplicate_text_agreeing": "same text, same label (kept)",
    "duplicate_text_conflicting": "same text, conflicting labels",
    "test_ids_in_train": "test id also in train",
    "test_texts_in_train": "test text also in train",
}


def prepare_font(log: Callable[[str], None]) -> None:
    """Figures in a font with Chinese glyphs, or a logged note saying they will show as boxes."""
    family = chinese_font()
    if family is None:
        log("note: no font with Chinese glyphs is installed (Debian: apt-get install fonts-wqy-microhei); Chinese "
            "text in the figures shows as boxes")
    else:
        log(f"figures use the font {family!r} for Chinese text")


def write_png(figure, path: Path) -> None:
    atomic_write_bytes(Path(path), png_bytes(figure))


def eda_counts(report: dict) -> tuple[dict, dict, dict, dict]:
    """(train class counts, invalid labels by raw value, rows dropped per split and rule, duplicate counts per split)
    from the ingest report (kit.data)."""
    train = report["splits"]["train"]
    dropped = {split: {rule: entry["dropped"] for rule, entry in summary["rules"].items()}
               for split, summary in report["splits"].items()}
    duplicates = {}
    for split, summary in report["splits"].items():
        rules = summary["rules"]
        duplicates[split] = {label: rules[rule]["rows"] for rule, label in DUPLICATE_RULES.items() if rule in rules}
    for check, entry in report["cross_split"].items():
        duplicates.setdefault("test", {})[DUPLICATE_RULES[check]] = entry["rows"]
    return train["class_counts"], train["rules"]["invalid_label"]["by_value"], dropped, duplicates


def text_lengths(files: dict[tuple[str, str], Path]) -> dict[tuple[str, str], np.ndarray]:
    """(variant, split) -> [n] characters of each text in that variant's split file."""
    import pandas as pd

    return {key: pd.read_parquet(path, columns=["text"])["text"].astype(str).str.len().to_numpy()
            for key, path in files.items()}


def write_eda_figures(report_path: Path, files: dict[tuple[str, str], Path], max_lens: dict[str, int],
                      outs: dict[str, Path], log: Callable[[str], None]) -> None:
    """The EDA figures: outs['classes'] (class counts, invalid labels, rows dropped), outs['lengths'] (text lengths
    per variant and split, each max_len marked) and outs['duplicates']."""
    prepare_font(log)
    report = read_json(report_path)
    class_counts, invalid, dropped, duplicates = eda_counts(report)
    write_png(class_counts_figure(class_counts, invalid, dropped), outs["classes"])
    write_png(length_figure(text_lengths(files), max_lens), outs["lengths"])
    write_png(duplicates_figure(duplicates, report.get("conflicting_text", "keep")), outs["duplicates"])
    log(f"EDA figures: {', '.join(str(path) for path in outs.values())}")


def write_artifact_figure(npz: Path, manifest_path: Path, out: Path, log: Callable[[str], None]) -> None:
    """One experiment's figure (confusion, fold and class F1, training curves) or one ensemble's (weights, naive vs
    honest F1, class-weight search, agreement), whichever the artifact is."""
    prepare_font(log)
    artifact = Artifact.read(npz, manifest_path)
    manifest = artifact.manifest
    classes = [str(label) for label in artifact.classes]
    scores = manifest["scores"]
    if manifest["kind"] == "experiment":
        scored = artifact.fold_of >= 0
        matrix = confusion(artifact.labels[scored], artifact.oof_logits[scored].argmax(axis=1), len(classes))
        histories = [fold.get("info", {}).get("history", []) for fold in manifest["folds"]]
        figure = experiment_figure(manifest["name"], matrix, classes, scores["fold_f1"], scores["per_class_f1"],
                                   histories)
    else:
        weights_searched = {}
        if manifest.get("class_weights"):
            weights_searched["all rows"] = [manifest["class_weights"][label] for label in classes]
            for fold, fit in sorted(manifest.get("cross_fit", {}).items(), key=lambda item: int(item[0])):
                if "class_weights" in fit:
                    weights_searched[f"without fold {fold}"] = fit["class_weights"]
        figure = ensemble_figure(manifest["name"], manifest["method"], manifest["members"], manifest.get("weights"),
                                 manifest["member_f1"], classes, scores, manifest["honest_scores"], weights_searched,
                                 np.asarray(manifest["agreement"]["matrix"]))
    write_png(figure, out)
    log(f"{manifest['name']}: figure {out}")


def write_final_figure(sidecar_path: Path, candidate_manifests: list[Path], report_path: Path, out: Path,
                       log: Callable[[str], None]) -> None:
    """The final choice: the candidates' naive and honest F1 with the chosen one marked, and the submission's
    class distribution beside the train set's."""
    prepare_font(log)
    sidecar = read_json(sidecar_path)
    manifests = [read_json(path) for path in candidate_manifests]
    candidates = {m["name"]: (m["scores"]["oof_macro_f1"], m["honest_macro_f1"]) for m in manifests}
    chosen = next(m for m in manifests if m["name"] == sidecar["source"])
    classes = [str(label) for label in chosen["classes"]]
    train = read_json(report_path)["splits"]["train"]["class_counts"]
    submitted = {str(label): int(n) for label, n in sidecar["predicted_distribution"].items()}
    write_png(final_figure(candidates, sidecar["source"], sidecar["reason"], classes, submitted, train), out)
    log(f"final submission figure: {out}")
