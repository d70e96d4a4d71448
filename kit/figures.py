"""Figures for the report: pure functions from arrays and frames to matplotlib Figures (kit/results.py writes them).

Every function builds a `matplotlib.figure.Figure` without pyplot (no display: the Agg canvas renders the PNG).
Text in figures may be Chinese (posts, another competition's labels): the first figure makes an installed font with
CJK glyphs (Debian's fonts-wqy-microhei or fonts-noto-cjk) matplotlib's sans-serif; `chinese_font()` says which, or
None, and then the glyphs show as boxes without a warning per character (the caller logs one note).
"""

from __future__ import annotations

import functools
import io
import textwrap
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

# Fonts with Chinese glyphs, by the family names matplotlib's font manager reports, best first.
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC",
                "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC")
CJK_FILES = ("wqy-microhei.ttc", "notosanscjk-regular.ttc", "notosanscjksc-regular.otf", "wqy-zenhei.ttc")
COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
DPI = 100
# The report shows a figure at most about 950 px wide (snakemake's report at a 1400 px window): a wider one is shrunk
# and its labels with it, so the figures are laid out at most PAGE_WIDTH inches wide, wrapping panels onto rows.
PAGE_WIDTH = 9.5


@functools.cache
def chinese_font() -> str | None:
    """Make the first installed CJK font matplotlib's sans-serif (once); its family name, or None when there is none.

    A font installed after matplotlib built its font cache is not in the cache, so the system's font folders are
    searched for the known files too.
    """
    import matplotlib
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    family = next((name for name in CJK_FAMILIES if name in known), None)
    if family is None:
        for path in font_manager.findSystemFonts():
            if Path(path).name.lower() in CJK_FILES:
                font_manager.fontManager.addfont(path)
                family = font_manager.FontProperties(fname=path).get_name()
                break
    if family is not None:
        matplotlib.rcParams["font.sans-serif"] = [family, "DejaVu Sans"]
        matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212, the minus sign of tick labels
    return family


def png_bytes(figure) -> bytes:
    """The figure rendered as PNG (Agg)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        if chinese_font() is None:  # one note from the caller, not a warning per missing character
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _figure(rows: int, cols: int, width: float, height: float, per_row: int | None = None):
    """(figure, axes [rows x cols]); with per_row, the panels of a one-row figure wrap onto rows of per_row panels
    of the same shape (width is then one such row's, height one row's), and the axes still index as [0, k]."""
    from matplotlib.figure import Figure

    chinese_font()
    if per_row is None or cols <= per_row:
        figure = Figure(figsize=(width, height), layout="constrained")
        return figure, figure.subplots(rows, cols, squeeze=False)
    wrapped = -(-cols // per_row)
    figure = Figure(figsize=(width, height * wrapped), layout="constrained")
    grid = figure.subplots(wrapped, per_row, squeeze=False).ravel()
    for spare in grid[cols:]:
        spare.set_axis_off()
    return figure, grid[:cols].reshape(1, cols)


def _bar_labels(ax, bars, values, fmt: str = "{:d}") -> None:
    for bar, value in zip(bars, values):
        ax.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")


def _no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#555555",
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# ------------------------------------------------------------------------------------------------ EDA


def class_counts_figure(class_counts: dict[str, int], invalid_labels: dict[str, int],
                        dropped_by_rule: dict[str, dict[str, int]]):
    """Train rows kept per class; the invalid labels dropped, by raw value; rows dropped per ingest rule and split.

    class_counts: label -> rows kept; invalid_labels: raw label as read -> rows dropped; dropped_by_rule: split ->
    {rule -> rows dropped}.
    """
    figure, axes = _figure(1, 3, PAGE_WIDTH, 3.8, per_row=2)
    ax = axes[0, 0]
    labels = list(class_counts)
    bars = ax.bar(labels, [class_counts[label] for label in labels], color=COLOURS[: len(labels)])
    _bar_labels(ax, bars, [class_counts[label] for label in labels])
    total = sum(class_counts.values())
    ax.set_title(f"train rows kept per class ({total} in all)")
    ax.set_xlabel("class")
    ax.set_ylabel("rows")
    ax = axes[0, 1]
    if invalid_labels:
        shown = sorted(invalid_labels.items(), key=lambda item: -item[1])[:15]
        names = [repr(value) for value, _ in shown]  # quoted, so an empty or blank label is visible
        ax.barh(names[::-1], [n for _, n in shown][::-1], color=COLOURS[3])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"invalid labels dropped ({sum(invalid_labels.values())} rows)")
        ax.set_xlabel("rows")
    else:
        ax.set_title("invalid labels dropped")
        _no_data(ax, "no train row had an invalid label")
    ax = axes[0, 2]
    rules = sorted({rule for per_split in dropped_by_rule.values() for rule, n in per_split.items() if n})
    if rules:
        splits = list(dropped_by_rule)
        height = 0.8 / len(splits)
        for s, split in enumerate(splits):
            values = [dropped_by_rule[split].get(rule, 0) for rule in rules]
            ax.barh(np.arange(len(rules)) + s * height, values, height, label=split, color=COLOURS[s])
        ax.set_yticks(np.arange(len(rules)) + height * (len(splits) - 1) / 2, rules, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.set_xlabel("rows dropped")
    else:
        _no_data(ax, "ingest dropped no row")
    ax.set_title("rows dropped by ingest rule")
    return figure


def duplicates_figure(counts: dict[str, dict[str, int]], policy: str):
    """Duplicate ids, duplicate texts and conflicting labels per split.

    counts: split -> {what -> rows} (rows touched by each ingest rule, and test rows whose id or text occur in
    train); policy: ingest.conflicting_text, named in the title.
    """
    figure, axes = _figure(1, 1, 9, 3.6)
    ax = axes[0, 0]
    names = list(dict.fromkeys(name for per_split in counts.values() for name in per_split))
    if not names:
        _no_data(ax, "no duplicates")
        return figure
    splits = list(counts)
    height = 0.8 / len(splits)
    for s, split in enumerate(splits):
        values = [counts[split].get(name, 0) for name in names]
        bars = ax.barh(np.arange(len(names)) + s * height, values, height, label=split, color=COLOURS[s])
        for bar, value in zip(bars, values):
            if value:
                ax.annotate(str(value), (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center",
                            fontsize=8, xytext=(2, 0), textcoords="offset points")
    ax.set_yticks(np.arange(len(names)) + height * (len(splits) - 1) / 2, names, fontsize=9)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title(f"duplicates and conflicting labels (conflicting_text: {policy})")
    return figure


def length_figure(lengths: dict[tuple[str, str], np.ndarray], max_lens: dict[str, int]):
    """Histograms of text lengths in characters, one panel per (variant, split), each max_len marked.

    lengths: (variant, split) -> [n] characters per text; max_lens: model -> max_len in tokens, [CLS] and [SEP]
    included, so it keeps max_len - 2 characters of a Chinese text (one token per character).
    """
    variants = list(dict.fromkeys(variant for variant, _ in lengths))
    splits = list(dict.fromkeys(split for _, split in lengths))
    figure, axes = _figure(len(variants), len(splits), min(PAGE_WIDTH, 4.8 * len(splits)), 3.2 * len(variants))
    longest = max((int(np.percentile(values, 99.5)) for values in lengths.values() if len(values)), default=10)
    bins = np.linspace(0, max(longest, *(m for m in max_lens.values()), 10) * 1.05, 50)
    for r, variant in enumerate(variants):
        for c, split in enumerate(splits):
            ax = axes[r, c]
            values = lengths.get((variant, split), np.array([]))
            ax.hist(np.clip(values, 0, bins[-1]), bins=bins, color=COLOURS[0], alpha=0.85)
            notes = [f"{len(values)} posts, median {np.median(values):.0f}, p99 {np.percentile(values, 99):.0f}"
                     if len(values) else "no posts"]
            for m, (model, max_len) in enumerate(sorted(max_lens.items(), key=lambda item: item[1])):
                keeps = max_len - 2
                cut = float(np.mean(values > keeps)) if len(values) else 0.0
                ax.axvline(keeps, color=COLOURS[3 + m % 4], linestyle="--", linewidth=1.2)
                notes.append(f"{model}: max_len {max_len} cuts {cut:.1%}")
            ax.text(0.98, 0.95, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
            ax.set_title(f"{split}, variant {variant}", fontsize=10)
            ax.set_xlabel("characters")
            ax.set_ylabel("posts")
    return figure


# ------------------------------------------------------------------------------------------------ experiments


def confusion_panel(ax, confusion: np.ndarray, classes: Sequence[str], title: str) -> None:
    """Row-normalised confusion matrix [C x C] (rows true, columns predicted) with the counts written in."""
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{confusion[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if shares[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)


def experiment_figure(name: str, confusion: np.ndarray, classes: Sequence[str], fold_f1: Sequence[float],
                      per_class_f1: Sequence[float], histories: Sequence[Sequence[dict]]):
    """An experiment at a glance: the OOF confusion matrix [C x C], the macro-F1 of each fold, the OOF F1 of each
    class, and for neural models each fold's training curve (histories: per fold, one dict per epoch with
    train_loss and, with inner early stopping, inner_macro_f1)."""
    figure, axes = _figure(1, 4, PAGE_WIDTH, 3.8, per_row=2)
    macro = float(np.mean(per_class_f1))
    figure.suptitle(f"{name}: OOF macro-F1 {macro:.4f}", fontsize=12)
    confusion_panel(axes[0, 0], confusion, classes, "OOF confusion (rows: true)")
    ax = axes[0, 1]
    bars = ax.bar([str(k) for k in range(len(fold_f1))], fold_f1, color=COLOURS[0])
    _bar_labels(ax, bars, fold_f1, "{:.3f}")
    ax.axhline(np.mean(fold_f1), color=COLOURS[3], linestyle="--", linewidth=1, label=f"mean {np.mean(fold_f1):.3f}")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("fold")
    ax.set_ylabel("macro-F1")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("macro-F1 per held-out fold")
    ax = axes[0, 2]
    bars = ax.bar(list(classes), per_class_f1, color=COLOURS[: len(classes)])
    _bar_labels(ax, bars, per_class_f1, "{:.3f}")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("class")
    ax.set_ylabel("F1")
    ax.set_title("OOF F1 per class")
    curves_panel(axes[0, 3], histories)
    return figure


def curves_panel(ax, histories: Sequence[Sequence[dict]]) -> None:
    """Training loss per epoch for each fold (solid), and inner-split macro-F1 on a second axis (dotted)."""
    if not any(histories):
        _no_data(ax, "no epochs: a convex fit\n(no training curve)")
        ax.set_title("training curves")
        return
    inner_axis = None
    for fold, history in enumerate(histories):
        if not history:
            continue
        epochs = [record["epoch"] for record in history]
        ax.plot(epochs, [record["train_loss"] for record in history], marker="o", markersize=3,
                color=COLOURS[fold % len(COLOURS)], label=f"fold {fold}")
        if any("inner_macro_f1" in record for record in history):
            inner_axis = inner_axis or ax.twinx()
            inner_axis.plot(epochs, [record.get("inner_macro_f1", np.nan) for record in history], linestyle=":",
                            marker="s", markersize=3, color=COLOURS[fold % len(COLOURS)])
    if inner_axis is not None:
        inner_axis.set_ylabel("inner-split macro-F1 (dotted)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss")
    ax.legend(fontsize=7)
    ax.set_title("training curves")


# ------------------------------------------------------------------------------------------------ ensembles


def ensemble_figure(name: str, method: str, members: Sequence[str], weights: dict[str, float] | None,
                    member_f1: dict[str, float], classes: Sequence[str], naive: dict, honest: dict,
                    class_weights: dict[str, list[float]], agreement: np.ndarray):
    """An ensemble at a glance: member weights (or each member's F1 when the method has none), naive vs honest
    F1 (macro and per class), the class-weight search on all rows and per cross-fitted fold, and the members'
    agreement heatmap [M x M].

    naive, honest: score summaries (oof_macro_f1, per_class_f1); class_weights: fit ('all rows', 'without fold
    k') -> [C] weights, empty without a class-weight search.
    """
    figure, axes = _figure(1, 4, PAGE_WIDTH, 4.4, per_row=2)
    figure.suptitle(f"{name} ({method}): naive OOF macro-F1 {naive['oof_macro_f1']:.4f}, honest "
                    f"{honest['oof_macro_f1']:.4f}", fontsize=12)
    ax = axes[0, 0]
    short = [member.replace("ensemble.", "e.") for member in members]
    if weights:
        values = [weights.get(member, 0.0) for member in members]
        ax.barh(short[::-1], values[::-1], color=COLOURS[0])
        ax.set_xlabel("weight")
        ax.set_title("member weights (fit on every OOF row)")
    else:
        values = [member_f1.get(member, 0.0) for member in members]
        ax.barh(short[::-1], values[::-1], color=COLOURS[7])
        ax.set_xlabel("member OOF macro-F1")
        ax.set_title(f"members ({method} has no weights)")
    ax.tick_params(axis="y", labelsize=8)
    ax = axes[0, 1]
    groups = ["macro", *classes]
    naive_values = [naive["oof_macro_f1"], *naive["per_class_f1"]]
    honest_values = [honest["oof_macro_f1"], *honest["per_class_f1"]]
    positions = np.arange(len(groups))
    bars = ax.bar(positions - 0.2, naive_values, 0.4, label="naive (fit and scored on the same rows)",
                  color=COLOURS[1])
    _bar_labels(ax, bars, naive_values, "{:.3f}")
    bars = ax.bar(positions + 0.2, honest_values, 0.4, label="honest (cross-fitted)", color=COLOURS[0])
    _bar_labels(ax, bars, honest_values, "{:.3f}")
    ax.set_xticks(positions, groups)
    ax.set_ylim(0, 1.15)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("naive vs honest F1")
    ax = axes[0, 2]
    if class_weights:
        fits = list(class_weights)
        width = 0.8 / len(fits)
        for f, fit in enumerate(fits):
            ax.bar(np.arange(len(classes)) + f * width, class_weights[fit], width, label=fit,
                   color=COLOURS[0] if f == 0 else COLOURS[(f % (len(COLOURS) - 1)) + 1], alpha=1 if f == 0 else 0.6)
        ax.set_xticks(np.arange(len(classes)) + width * (len(fits) - 1) / 2, classes)
        ax.axhline(1.0, color="#555555", linewidth=0.8)
        ax.set_xlabel("class")
        ax.set_ylabel("weight (geometric mean 1)")
        # Beside the bars, not over them: one entry per fit (all rows, then each fold left out).
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        _no_data(ax, "no class-weight search\n(class_weights: false)")
    ax.set_title("class-weight search: all rows and per fold")
    ax = axes[0, 3]
    image = ax.imshow(agreement, cmap="viridis", vmin=min(0.5, float(np.min(agreement))), vmax=1)
    if len(members) <= 12:
        for i in range(len(members)):
            for j in range(len(members)):
                ax.text(j, i, f"{agreement[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if agreement[i, j] > 0.85 else "white")
    ax.set_xticks(range(len(members)), short, rotation=90, fontsize=8)
    ax.set_yticks(range(len(members)), short, fontsize=8)
    figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("agreement of member OOF decisions")
    return figure


# ------------------------------------------------------------------------------------------------ final submission


def final_figure(candidates: dict[str, tuple[float, float]], chosen: str, reason: str, classes: Sequence[str],
                 submitted: dict[str, int], train: dict[str, int]):
    """The final choice: each candidate's naive and honest OOF macro-F1 (candidates: name -> (naive, honest)),
    the chosen one marked, and the submission's class distribution beside the train set's (label -> rows)."""
    figure, axes = _figure(1, 2, PAGE_WIDTH, max(3.6, 0.32 * len(candidates) + 1.5), per_row=1)
    # Wrapped to the page: a long reason would widen the tight bounding box past it.
    figure.suptitle(textwrap.fill(f"subs/final.csv: {chosen} ({reason})", 110), fontsize=11)
    ax = axes[0, 0]
    names = sorted(candidates, key=lambda name: candidates[name][1])
    positions = np.arange(len(names))
    ax.barh(positions + 0.2, [candidates[name][0] for name in names], 0.4, color=COLOURS[1], label="naive")
    ax.barh(positions - 0.2, [candidates[name][1] for name in names], 0.4, color=COLOURS[0], label="honest")
    ax.set_yticks(positions, [f"{name} (chosen)" if name == chosen else name for name in names], fontsize=8)
    for label in ax.get_yticklabels():
        if label.get_text().endswith("(chosen)"):
            label.set_color(COLOURS[3])
    low = min(min(values) for values in candidates.values())
    high = max(max(values) for values in candidates.values())
    ax.set_xlim(max(0.0, low - 0.05), min(1.0, high + 0.05))
    ax.set_xlabel("OOF macro-F1")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("candidates (chosen by honest F1)")
    ax = axes[0, 1]
    positions = np.arange(len(classes))
    highest = 0.0
    for offset, (label, counts, colour) in enumerate((("train (kept rows)", train, COLOURS[7]),
                                                      ("final.csv (test)", submitted, COLOURS[0]))):
        total = max(sum(counts.values()), 1)
        shares = [counts.get(label_, 0) / total for label_ in classes]
        bars = ax.bar(positions + (offset - 0.5) * 0.4, shares, 0.4, label=f"{label} ({total} rows)", color=colour)
        _bar_labels(ax, bars, shares, "{:.1%}")
        highest = max(highest, *shares)
    ax.set_ylim(0, highest * 1.2)  # room for the labels above the bars and the legend
    ax.set_xticks(positions, classes)
    ax.set_ylabel("share of rows")
    ax.set_xlabel("class")
    ax.legend(fontsize=8)
    ax.set_title("class distribution: submission vs train")
    return figure


def disagreement_figure(texts: Sequence[str], row_labels: Sequence[str], members: Sequence[str],
                        vote_probs: np.ndarray, votes: np.ndarray, classes: Sequence[str]):
    """The posts the members disagree on most: one row per post (its text), one column per voter (the members, then
    the final decision), the cell its vote (a class) coloured by that vote's probability. vote_probs, votes:
    [rows x voters]."""
    figure, axes = _figure(1, 1, min(PAGE_WIDTH, 4 + 0.9 * len(members)), 1.2 + 0.42 * len(texts))
    ax = axes[0, 0]
    palette = {label: COLOURS[i % len(COLOURS)] for i, label in enumerate(classes)}
    from matplotlib.colors import to_rgb

    cells = np.ones((len(texts), len(members), 3))
    for i in range(len(texts)):
        for j in range(len(members)):
            colour = np.array(to_rgb(palette[classes[votes[i, j]]]))
            cells[i, j] = 1 - (1 - colour) * (0.25 + 0.75 * vote_probs[i, j])
            ax.text(j, i, f"{classes[votes[i, j]]}\n{vote_probs[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.imshow(cells, aspect="auto")
    ax.set_xticks(range(len(members)), [member.replace("ensemble.", "e.") for member in members], rotation=30,
                  ha="right", fontsize=8)
    ax.set_yticks(range(len(texts)), [f"{label} {text}" for label, text in zip(row_labels, texts)], fontsize=8)
    ax.set_title("member votes (class, probability) on the posts they disagree on most", fontsize=10)
    return figure
