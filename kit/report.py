"""`kit scores`: every experiment and ensemble under oof/, best first, from their manifests, in a table that fits the
terminal it is printed in.

Views: the scores table (columns dropped by priority, then names shortened uniquely with a legend, until it fits;
every artifact numbered), the members and weights of each ensemble (--members), the agreement of every pair as a
coloured heatmap keyed by those numbers (--agreement). Artifacts that are not of the current run (made on another
fold file, left by an older config, or named by no config entry) are listed apart, with why, and never ranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kit import layout
from kit.artifacts import discover, read_json, read_manifest
from kit.hashing import short_hash

FINAL_MARK = "★"
ELLIPSIS = "…"


def score_rows(oof_dir: Path) -> list[dict]:
    """One dict per artifact, sorted by honest OOF macro-F1 (what a fresh test set would see), best first."""
    rows = []
    for folder in discover(oof_dir):
        manifest = read_manifest(folder / "manifest.json")
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
                "fold_hash": manifest.get("fold_hash"),
                "config_hash": manifest.get("config_hash"),
                "member_hashes": manifest.get("member_hashes"),
                "path": str(folder),
            }
        )
    rows.sort(key=lambda row: -(row["honest_macro_f1"] if row["honest_macro_f1"] is not None else -1))
    return rows


# ------------------------------------------------------------------------------------------------ the current run


@dataclass
class CurrentRun:
    """What the current config and fold file would build: artifact name -> its config hash (experiments; None for
    ensembles), each ensemble's members, and the fold file's hash. A field left None is not checked."""

    artifacts: dict[str, str | None] | None = None
    members: dict[str, list[str]] = field(default_factory=dict)
    fold_hash: str | None = None
    config_files: list[str] = field(default_factory=list)
    folds_path: str = layout.FOLDS
    unchecked: list[str] = field(default_factory=list)  # the checks left out, and why, for the reader


def run_config_files(given: list[str] | None) -> list[str]:
    """The config files `kit scores` checks artifacts against: those given; else the record of the last run's config
    in this folder (layout.RUN_CONFIG, every default and --config value in it); else a folder's own
    configs/config.yaml (a run from before that record); else none."""
    if given is not None:
        return list(given)
    for path in (layout.RUN_CONFIG, "configs/config.yaml"):
        if Path(path).is_file():
            return [path]
    return []


def current_run(config_files: list[str | Path], folds_path: Path) -> CurrentRun:
    """The run the config files (merged as snakemake --configfile does) and the fold file describe; a config file or
    fold file that is missing leaves its check out, and `unchecked` says so."""
    run = CurrentRun(config_files=[str(path) for path in config_files], folds_path=str(folds_path))
    missing = [str(path) for path in config_files if not Path(path).is_file()]
    if not config_files:
        run.unchecked.append(f"not checked against a config: no {layout.RUN_CONFIG} or configs/config.yaml here "
                             "(a run of snakemake writes the record); --configfile names the run's config files")
    elif missing:
        run.unchecked.append(f"not checked against a config: {', '.join(missing)} not found")
    if not Path(folds_path).is_file():
        run.unchecked.append(f"not checked against a fold file: {folds_path} not found")
    if config_files and not missing:
        from kit import config as kit_config
        from kit.docs import merged_config

        try:
            config = kit_config.load(merged_config(list(config_files)))
        except ValueError as error:  # a record an older kit wrote, say: the table still shows, unchecked
            run.unchecked.append(f"not checked against a config: {', '.join(map(str, config_files))} does not load "
                                 f"({error}); a run of snakemake writes the record again, or pass --configfile")
        else:
            run.artifacts = {exp.name: kit_config.experiment_config_hash(config, exp)
                             for exp in kit_config.matrix(config)}
            for name in config.ensembles:
                run.artifacts[f"ensemble.{name}"] = None
                run.members[f"ensemble.{name}"] = kit_config.ensemble_members(config, name)
    if Path(folds_path).is_file():
        from kit.experiment import read_folds

        run.fold_hash = read_folds(Path(folds_path))[1]
    return run


def why_not_current(row: dict, run: CurrentRun, stale: set[str] = frozenset()) -> str | None:
    """Why the artifact of `row` is not of the current run, or None when it is. stale: the experiments already found
    not current (an ensemble of one is not current either)."""
    folder = Path(row["path"]).name
    if folder != row["name"]:  # a copied or renamed folder: the workflow neither reads nor rebuilds it
        return f"its folder is named {folder}, its manifest {row['name']} (a copy?); move it out of oof/"
    if run.fold_hash is not None and row.get("fold_hash") != run.fold_hash:
        return (f"made on another fold file (fold_hash {short_hash(row.get('fold_hash'))}, {run.folds_path} has "
                f"{short_hash(run.fold_hash)})")
    if run.artifacts is None:
        return None
    name = row["name"]
    if name not in run.artifacts:
        return f"no entry of the config ({', '.join(run.config_files)}) builds it"
    expected = run.artifacts[name]
    if expected is not None and row.get("config_hash") not in (None, expected):
        return "its config entry changed since it was built (snakemake rebuilds it)"
    if name in run.members:
        if list(row.get("members") or []) != list(run.members[name]):
            return "its members differ from the config's (snakemake rebuilds it)"
        old = sorted(member for member in row.get("members") or [] if member in stale)
        if old:
            return f"member {old[0]} is not of this run"
    return None


def split_current(rows: list[dict], run: CurrentRun) -> tuple[list[dict], list[tuple[dict, str]]]:
    """(the rows of the current run, best first; [(row, why)] of the others)."""
    current, others, stale = [], [], set()
    # Experiments first, so that an ensemble over a stale member is known stale too; the order of rows is kept.
    reasons = {}
    for row in sorted(rows, key=lambda row: row["kind"] == "ensemble"):
        why = why_not_current(row, run, stale)
        if why and Path(row["path"]).name == row["name"]:
            stale.add(row["name"])
        reasons[row["path"]] = why
    for row in rows:
        if reasons[row["path"]]:
            others.append((row, reasons[row["path"]]))
        else:
            current.append(row)
    return current, others


# ------------------------------------------------------------------------------------------------ the scores table


def fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


@dataclass(frozen=True)
class Column:
    """One column of the scores table: its header, its cell for a row, and its priority (0: always shown; the
    highest is dropped first when the terminal is narrow). A new column (a leaderboard score) is one more entry."""

    header: str
    cell: Callable[[dict], str]
    priority: int
    justify: str = "right"
    help: str = ""


def _kind(row: dict) -> str:
    return row["method"] or row["kind"]


def _folds(row: dict) -> str:
    if row["fold_f1_mean"] is None:
        return ""
    return f"{row['fold_f1_mean']:.3f}±{row['fold_f1_std'] or 0:.3f}"


def score_columns(rows: list[dict]) -> list[Column]:
    """The scores table's columns after the number and the name, in display order."""
    classes = list(dict.fromkeys(c for row in rows for c in row["per_class_f1"]))  # logit-column order
    columns = [
        Column("honest F1", lambda row: fmt(row["honest_macro_f1"]), 0,
               help="OOF macro-F1 as a fresh test set would see it (an ensemble's fit cross-fitted), the ranking"),
    ]
    if any(row.get("lb_score") is not None for row in rows):
        columns.append(Column("LB", lambda row: fmt(row.get("lb_score")), 1,
                              help="the latest public leaderboard score of its submission (kit lb)"))
    columns += [
        Column("OOF F1", lambda row: fmt(row["oof_macro_f1"]), 1,
               help="OOF macro-F1 of the artifact's own OOF logits (an ensemble's fit saw these rows)"),
        # The spread over folds tells a real gap from noise, so it outlasts the kind on a narrow terminal.
        Column("kind", _kind, 3, justify="left", help="the model family, or the ensemble's method"),
        Column("folds μ±σ", _folds, 2, help="macro-F1 of each fold's held-out rows: mean ± standard deviation"),
    ]
    columns += [Column(f"F1[{label}]", lambda row, label=label: fmt(row["per_class_f1"].get(label)), 4,
                       help=f"F1 of class {label}") for label in classes]
    columns += [
        Column("acc", lambda row: fmt(row["accuracy"]), 5, help="OOF accuracy"),
        Column("K", lambda row: str(row["n_folds"] if row["n_folds"] is not None else ""), 6, help="folds"),
    ]
    return columns


def short_names(names: list[str], width: int) -> dict[str, str]:
    """name -> a unique name of at most `width` characters: whole when it fits, else its head and tail around '…'
    (the tail keeps the variant and seed that tell experiments apart); names still alike get a number."""
    width = max(width, 4)
    shortened = {}
    for name in names:
        if len(name) <= width:
            shortened[name] = name
        else:
            tail = width // 2
            shortened[name] = name[: width - 1 - tail] + ELLIPSIS + name[-tail:]
    seen: dict[str, int] = {}
    for name in names:
        seen[shortened[name]] = seen.get(shortened[name], 0) + 1
    for index, name in enumerate(names, start=1):
        if seen[shortened[name]] > 1:
            suffix = f"~{index}"
            shortened[name] = shortened[name][: width - len(suffix) - 1] + ELLIPSIS + suffix
    return shortened


def _build_table(rows, numbers, columns, names, final_name, title, caption):
    from rich import box
    from rich.table import Table

    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
                  title_justify="left", caption_justify="left", collapse_padding=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("name", no_wrap=True, style="bold")
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)
    for row in rows:
        final = row["name"] == final_name
        table.add_row(f"{numbers[row['name']]}{FINAL_MARK if final else ''}", names[row["name"]],
                      *[column.cell(row) for column in columns], style="green" if final else None)
    return table


def fitted_table(rows, numbers, width, final_name=None, title=None, caption=None, console=None):
    """(a rich Table of rows that fits `width`, its columns, the columns left out, {name: shortened name} of those
    shortened).

    Columns go by priority (the highest first) until the table fits; then names are shortened uniquely."""
    from rich.console import Console

    console = console or Console(width=width)
    names = {row["name"]: row["name"] for row in rows}
    columns = score_columns(rows)
    dropped: list[Column] = []

    def needed(table) -> int:  # the width the table takes unwrapped (rich's measure is capped at the console's)
        return console.measure(table, options=console.options.update_width(10_000)).maximum

    def fits(table) -> bool:
        return needed(table) <= width

    table = _build_table(rows, numbers, columns, names, final_name, title, caption)
    while not fits(table) and any(column.priority > 0 for column in columns):
        lowest = max(column.priority for column in columns)
        dropped += [column for column in columns if column.priority == lowest]
        columns = [column for column in columns if column.priority != lowest]
        table = _build_table(rows, numbers, columns, names, final_name, title, caption)
    if not fits(table):
        longest = max(len(name) for name in names)
        excess = needed(table) - width
        names = short_names(list(names), longest - excess)
        table = _build_table(rows, numbers, columns, names, final_name, title, caption)
    return table, columns, dropped, {name: short for name, short in names.items() if short != name}


def final_caption(rows: list[dict], final: dict | None) -> str:
    """How the final was chosen and, when a single experiment scores higher, why it is not the final."""
    if not final:
        return "no subs/final.json yet: `snakemake -j2 subs/final.csv` chooses the final submission"
    source = final.get("source")
    by_name = {row["name"]: row for row in rows}
    chosen = by_name.get(source)
    honest = (chosen or {}).get("honest_macro_f1", final.get("honest_macro_f1"))
    lines = [f"{FINAL_MARK} final: {source} (honest {fmt(honest)}), {final.get('reason', '')}"]
    if chosen is None:
        lines.append(f"   {source} is not among this run's artifacts above")
        return "\n".join(lines)
    above = [row for row in rows if row["kind"] != "ensemble" and honest is not None
             and (row["honest_macro_f1"] or 0) > honest]
    if above:
        best = above[0]
        spread = f", folds σ {best['fold_f1_std']:.3f}" if best.get("fold_f1_std") is not None else ""
        reason = str(final.get("reason", ""))
        why = (f"the config names the final ({reason})" if reason.startswith("chosen by name") else
               "it was not among the candidates when subs/final.csv was chosen; `snakemake subs/final.csv` "
               "chooses again")
        lines.append(f"   {best['name']} scores higher ({fmt(best['honest_macro_f1'])}, "
                     f"+{best['honest_macro_f1'] - honest:.4f}{spread}) but is not the final: {why}")
    return "\n".join(lines)


def render_scores(rows: list[dict], final: dict | None, console, others: list[tuple[dict, str]] = ()) -> None:
    """The scores table of the current run fitted to console.width, its legend and caption, then the artifacts that
    are not of this run, apart and unranked."""
    width = console.width
    numbers = {row["name"]: index for index, row in enumerate(rows, start=1)}
    final_name = (final or {}).get("source")
    table, columns, dropped, shortened = fitted_table(rows, numbers, width, final_name,
                                             title="OOF scores of this run, best honest macro-F1 first",
                                             caption=final_caption(rows, final), console=console)
    console.print(table)
    for name, short in shortened.items():
        console.print(f"  {short} = {name}", soft_wrap=True, highlight=False)
    notes = ["; ".join(f"{column.header}: {column.help}" for column in columns if column.help)]
    if dropped:
        notes.append(f"not shown at {width} columns: {', '.join(column.header for column in dropped)} "
                     "(a wider terminal or --json shows them)")
    notes.append("members and weights: --members; agreement of every pair: --agreement")
    for note in notes:
        console.print(note, style="dim", highlight=False)
    if others:
        other_rows = [row for row, _ in others]
        table, _, _, shortened = fitted_table(other_rows, {row["name"]: "-" for row in other_rows}, width,
                                           title="Not of this run (not ranked among it)",
                                           console=console)
        console.print(table)
        for name, short in shortened.items():
            console.print(f"  {short} = {name}", soft_wrap=True, highlight=False)
        for row, why in others:
            console.print(f"  {row['name']}: {why}", highlight=False)


def members_table(rows: list[dict], numbers: dict[str, int], width: int):
    """Each ensemble's members with their weight (and a bar of it, where the width allows), and each
    pseudo-labelled experiment's teacher."""
    from rich.console import Console

    console = Console(width=width)
    for bar_width in (20, 10, 5, 0):
        table = _members_table(rows, numbers, bar_width)
        if console.measure(table, options=console.options.update_width(10_000)).maximum <= width:
            break
    return table


def _members_table(rows: list[dict], numbers: dict[str, int], bar_width: int):
    from rich import box
    from rich.table import Table

    def label(name: str) -> str:
        return f"#{numbers[name]} {name}" if name in numbers else name

    table = Table(title="Members and weights", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for header in ("artifact (method)", "member", "weight"):
        table.add_column(header, no_wrap=True)
    for row in rows:
        if row["kind"] == "ensemble":
            weights = row["weights"] if isinstance(row["weights"], dict) else None
            members = list(row["members"])
            if weights:
                members = [member for member in sorted(members, key=lambda member: -weights.get(member, 0))
                           if weights.get(member)]
            cells = [[label(member), ""] for member in members]
            for cell, member in zip(cells, members):
                if weights:
                    bar = "█" * round(bar_width * weights[member])
                    cell[1] = f"{weights[member]:.2f} {bar}".rstrip()
            if weights and len(members) < len(row["members"]):
                cells.append([f"+{len(row['members']) - len(members)} at weight 0", ""])
            # The method goes under the artifact's name, so that the names keep the width.
            firsts = [label(row["name"]), f"   ({row['method']})"] if len(cells) > 1 else \
                [f"{label(row['name'])} ({row['method']})"]
            for index, (member, weight) in enumerate(cells):
                table.add_row(firsts[index] if index < len(firsts) else "", member, weight,
                              style="dim" if member.startswith("+") else None)
            table.add_section()
        elif row.get("teacher"):
            table.add_row(f"{label(row['name'])} (pseudo)", f"teacher: {row['teacher']}", "")
            table.add_section()
    return table


def agreement_heatmap(rows: list[dict], matrix, numbers: dict[str, int], width: int):
    """The agreement of every pair (share of OOF rows with the same argmax) as a grid of coloured cells in percent,
    rows and columns the artifacts' numbers in the scores table."""
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

    import numpy as np

    values = np.asarray(matrix, dtype=float)
    n = len(rows)
    off = values[~np.eye(n, dtype=bool)] if n > 1 else values.ravel()
    low, high = (float(off.min()), float(off.max())) if off.size else (0.0, 1.0)
    longest = max(len(row["name"]) for row in rows) + 6  # "#15 " before the name, a space after it
    cell = 4 if width - 4 * n >= min(longest, 30) else 3
    label_width = max(6, min(longest, width - cell * n))
    names = short_names([row["name"] for row in rows], label_width - 6)
    text = Text()
    text.append("Agreement: % of OOF rows two artifacts label alike (darker: less alike; ==: all)\n", style="bold")
    text.append(" " * label_width + "".join(f"{numbers[row['name']]:>{cell - 1}} " for row in rows).rstrip() + "\n")
    for i, row in enumerate(rows):
        text.append(f"{'#' + str(numbers[row['name']]):>4} {names[row['name']]:<{label_width - 6}} ")
        for j in range(n):
            if i == j:
                text.append(f"{'·':>{cell - 1}} ")
                continue
            share = (values[i, j] - low) / (high - low) if high > low else 1.0
            shade = int(40 + 180 * share)
            percent = 100 * values[i, j]
            text.append(f"{'==' if percent >= 99.5 else f'{percent:.0f}':>{cell - 1}}",
                        style=Style(color="black", bgcolor=Color.from_rgb(shade // 2, shade, shade // 2)))
            text.append(" ")
        text.append("\n")
    text.append(f"off the diagonal: {100 * low:.0f}% to {100 * high:.0f}%", style="dim")
    return text


def read_final(subs_dir: Path) -> dict | None:
    sidecar = Path(subs_dir) / "final.json"
    return read_json(sidecar) if sidecar.is_file() else None


def print_scores(oof_dir: Path, subs_dir: Path, as_json: bool = False, agreement: bool = False,
                 members: bool = False, run: CurrentRun | None = None, console=None,
                 lb_log: Path | None = None) -> None:
    """The scores of every artifact under oof_dir on stdout: the rich views fitted to the terminal, or to COLUMNS
    where it is set (the final one marked, with the leaderboard scores of lb_log beside the OOF ones), or JSON (where
    each artifact not of the current run carries `not_of_this_run`, its reason)."""
    import json
    import os
    import sys

    from kit import lb

    lb_rows = lb.read_log(lb_log) if lb_log else []
    rows, earlier_builds = lb.with_lb_scores(score_rows(oof_dir), lb_rows)
    current, others = split_current(rows, run or CurrentRun())
    if as_json:
        for row, why in others:
            row["not_of_this_run"] = why
        for row in rows:
            if row["name"] in earlier_builds:
                row["lb_left_out"] = "the leaderboard scored other predictions"
        print(json.dumps(current + [row for row, _ in others], indent=2, ensure_ascii=False))
        for line in (run or CurrentRun()).unchecked:  # beside the JSON, not in it
            print(line, file=sys.stderr)
        return
    from rich.console import Console

    # A pipe or a log file gets a wide table rather than rich's 80-column default.
    console = console or Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
    if not rows:
        console.print(f"no artifacts under {oof_dir}/ yet: run `snakemake -j2` first")
        return
    render_scores(current, read_final(subs_dir), console, others)
    for line in (run or CurrentRun()).unchecked:
        console.print(line, style="yellow", highlight=False)
    if earlier_builds:
        console.print(f"LB left out for {', '.join(earlier_builds)}: the leaderboard scored other predictions (an "
                      "earlier build, another test file); `python -m kit lb` lists every score", highlight=False)
    if lb.verdict(lb_rows):
        console.print(lb.verdict(lb_rows))
    numbers = {row["name"]: index for index, row in enumerate(current, start=1)}
    if members:
        console.print(members_table(current, numbers, console.width))
    if agreement and len(current) > 1:
        from kit.artifacts import Artifact
        from kit.ensemble.build import agreement_matrix

        artifacts = [Artifact.load(Path(row["path"])) for row in current]
        console.print(agreement_heatmap(current, agreement_matrix(artifacts).to_numpy(), numbers, console.width))
