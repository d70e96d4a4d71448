"""The scores table: every experiment and ensemble under oof/, best first, from their manifests."""

from __future__ import annotations

from pathlib import Path

from kit.artifacts import discover, read_json


def score_rows(oof_dir: Path) -> list[dict]:
    """One dict per artifact, sorted by honest OOF macro-F1 (what a fresh test set would see), best first."""
    rows = []
    for folder in discover(oof_dir):
        manifest = read_json(folder / "manifest.json")
        scores = manifest.get("scores", {})
        rows.append(
            {
                "name": manifest["name"],
                "kind": manifest["kind"],
                "method": manifest.get("method", manifest.get("family", "")),
                "oof_macro_f1": scores.get("oof_macro_f1"),
                "honest_macro_f1": manifest.get("honest_macro_f1", scores.get("oof_macro_f1")),
                "fold_f1_mean": scores.get("fold_f1_mean"),
                "fold_f1_std": scores.get("fold_f1_std"),
                "per_class_f1": dict(zip(manifest.get("classes", []), scores.get("per_class_f1", []))),
                "accuracy": scores.get("accuracy"),
                "n_folds": scores.get("n_folds"),
                "members": manifest.get("members", []),
                "weights": manifest.get("weights"),
                "teacher": manifest.get("variant_manifest", {}).get("teacher"),
                "path": str(folder),
            }
        )
    rows.sort(key=lambda row: -(row["honest_macro_f1"] if row["honest_macro_f1"] is not None else -1))
    return rows


def scores_table(rows: list[dict], final: dict | None = None):
    """A rich Table of score_rows(); `final` (the sidecar of subs/final.csv) marks the submitted one."""
    from rich.table import Table

    classes = list(dict.fromkeys(c for row in rows for c in row["per_class_f1"]))  # logit-column order
    table = Table(title="OOF scores (best honest macro-F1 first)", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("kind")
    table.add_column("OOF F1", justify="right")
    table.add_column("honest", justify="right")
    with_lb = any(row.get("lb_score") is not None for row in rows)
    if with_lb:
        table.add_column("LB", justify="right")  # the latest leaderboard score of its submission (kit lb)
    table.add_column("folds μ ± σ", justify="right")
    for label in classes:
        table.add_column(f"F1[{label}]", justify="right")
    table.add_column("acc", justify="right")
    table.add_column("K", justify="right")
    table.add_column("members / weights / teacher")
    chosen = (final or {}).get("source")
    for row in rows:
        weights = row["weights"]
        if isinstance(weights, dict):
            members = ", ".join(f"{m}×{w:.2f}" for m, w in weights.items() if w)
        elif row.get("teacher"):
            members = f"pseudo-labels from {row['teacher']}"
        else:
            members = ", ".join(row["members"])
        name = row["name"] + ("  ← final" if row["name"] == chosen else "")
        table.add_row(
            name,
            row["kind"] if row["kind"] == "experiment" else row["method"],
            fmt(row["oof_macro_f1"]),
            fmt(row["honest_macro_f1"]),
            *([fmt(row.get("lb_score"))] if with_lb else []),
            f"{fmt(row['fold_f1_mean'])} ± {fmt(row['fold_f1_std'])}",
            *[fmt(row["per_class_f1"].get(label)) for label in classes],
            fmt(row["accuracy"]),
            str(row["n_folds"] if row["n_folds"] is not None else ""),
            members,
        )
    return table


def fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


def read_final(subs_dir: Path) -> dict | None:
    sidecar = Path(subs_dir) / "final.json"
    return read_json(sidecar) if sidecar.is_file() else None


def print_scores(oof_dir: Path, subs_dir: Path, as_json: bool = False, agreement: bool = False,
                 lb_log: Path | None = None) -> None:
    """The scores of every artifact under oof_dir on stdout: a rich table (the final one marked, with the
    leaderboard scores of lb_log beside the OOF ones), or JSON."""
    import json
    import sys

    from rich.console import Console

    from kit import lb

    lb_rows = lb.read_log(lb_log) if lb_log else []
    rows = lb.with_lb_scores(score_rows(oof_dir), lb_rows)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    # A pipe or a log file gets a wide table rather than rich's 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 200)
    if not rows:
        console.print(f"no artifacts under {oof_dir}/ yet: run `snakemake -j2` first")
        return
    console.print(scores_table(rows, read_final(subs_dir)))
    if lb.verdict(lb_rows):
        console.print(lb.verdict(lb_rows))
    if agreement:
        from kit.artifacts import Artifact
        from kit.ensemble.build import agreement_matrix

        artifacts = [Artifact.load(Path(row["path"])) for row in rows]
        console.print("Agreement of OOF predictions (share of rows with the same argmax):")
        console.print(agreement_matrix(artifacts).round(3).to_string())
