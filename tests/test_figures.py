"""kit.figures: each figure renders to a PNG from plain arrays, says what it measured, and draws Chinese text in a
CJK font when one is installed."""

import warnings

import numpy as np
import pytest

from kit import figures

CLASSES = ["-1", "0", "1"]


def texts_of(figure) -> str:
    """Every text drawn in the figure: titles, tick labels (set when it is drawn), annotations, legends."""
    figures.png_bytes(figure)
    return "\n".join(text.get_text() for text in figure.findobj(lambda artist: hasattr(artist, "get_text")))


def is_png(payload: bytes) -> bool:
    return payload.startswith(b"\x89PNG\r\n\x1a\n") and len(payload) > 5000


def test_class_counts_show_the_invalid_labels_as_read_and_the_rows_each_rule_dropped():
    figure = figures.class_counts_figure({"-1": 60, "0": 220, "1": 100}, {"武汉加油": 2, "": 1, "10": 1},
                                         {"train": {"invalid_label": 4, "empty_text": 3}, "test": {}})
    drawn = texts_of(figure)
    assert "380 in all" in drawn and "'武汉加油'" in drawn and "''" in drawn and "invalid labels dropped (4 rows)" in drawn
    assert "empty_text" in drawn and is_png(figures.png_bytes(figure))
    assert "no train row had an invalid label" in texts_of(figures.class_counts_figure({"0": 1, "1": 1}, {}, {}))


def test_text_lengths_mark_each_max_len_and_the_share_it_cuts():
    lengths = {("raw", "train"): np.array([10, 20, 200, 300]), ("raw", "test"): np.array([5, 250]),
               ("cleaned", "train"): np.array([10, 20, 30, 40]), ("cleaned", "test"): np.array([5, 6])}
    figure = figures.length_figure(lengths, {"bert": 192})
    drawn = texts_of(figure)
    # max_len 192 keeps 190 characters: half of the raw train posts and of the raw test posts are cut.
    assert drawn.count("bert: max_len 192 cuts 50.0%") == 2 and drawn.count("cuts 0.0%") == 2
    assert "test, variant cleaned" in drawn and len(figure.axes) == 4


def test_duplicates_count_each_kind_per_split():
    figure = figures.duplicates_figure({"train": {"same text, conflicting labels": 4},
                                        "test": {"test text also in train": 2}}, "majority")
    drawn = texts_of(figure)
    assert "conflicting_text: majority" in drawn and "same text, conflicting labels" in drawn and "4" in drawn


def test_an_experiment_shows_its_confusion_folds_classes_and_training_curves():
    confusion = np.array([[5, 3, 2], [1, 20, 4], [0, 2, 9]])
    history = [{"epoch": 1, "train_loss": 0.9, "inner_macro_f1": 0.5}, {"epoch": 2, "train_loss": 0.6,
                                                                        "inner_macro_f1": 0.6}]
    figure = figures.experiment_figure("bert.cleaned.s0", confusion, CLASSES, [0.6, 0.65], [0.5, 0.8, 0.7],
                                       [history, history])
    drawn = texts_of(figure)
    assert "20\n80%" in drawn and "OOF macro-F1 0.6667" in drawn and "fold 1" in drawn
    assert "inner-split macro-F1 (dotted)" in drawn
    linear = figures.experiment_figure("lr.raw.s0", confusion, CLASSES, [0.6], [0.5, 0.8, 0.7], [[], []])
    assert "no epochs: a convex fit" in texts_of(linear)


def test_an_ensemble_shows_weights_naive_vs_honest_the_class_weights_per_fold_and_agreement():
    naive = {"oof_macro_f1": 0.66, "per_class_f1": [0.5, 0.82, 0.65]}
    honest = {"oof_macro_f1": 0.64, "per_class_f1": [0.47, 0.82, 0.63]}
    members = ["a.raw.s0", "ensemble.b"]
    figure = figures.ensemble_figure("ensemble.c", "caruana", members, {"a.raw.s0": 0.25, "ensemble.b": 0.75},
                                     {"a.raw.s0": 0.6, "ensemble.b": 0.62}, CLASSES, naive, honest,
                                     {"all rows": [1.3, 0.8, 1.0], "without fold 0": [1.2, 0.9, 1.0]},
                                     np.array([[1.0, 0.9], [0.9, 1.0]]))
    drawn = texts_of(figure)
    assert "naive OOF macro-F1 0.6600, honest 0.6400" in drawn and "without fold 0" in drawn
    assert "e.b" in drawn and "0.90" in drawn and "member weights" in drawn
    votes = figures.ensemble_figure("ensemble.v", "vote_hard", members, None, {"a.raw.s0": 0.6, "ensemble.b": 0.62},
                                    CLASSES, naive, honest, {}, np.array([[1.0, 0.9], [0.9, 1.0]]))
    assert "vote_hard has no weights" in texts_of(votes) and "no class-weight search" in texts_of(votes)
    assert png_width(figure) <= 1000  # the report's page shows it at its size, labels readable


def png_width(figure) -> int:
    """Pixels across the figure's PNG (the IHDR chunk's width)."""
    return int.from_bytes(figures.png_bytes(figure)[16:20], "big")


def test_the_class_weight_legend_stands_beside_the_bars_not_over_them():
    naive = honest = {"oof_macro_f1": 0.6, "per_class_f1": [0.5, 0.8, 0.6]}
    fits = {"all rows": [1.3, 0.8, 1.0], **{f"without fold {k}": [1.2, 0.9, 1.0] for k in range(5)}}
    figure = figures.ensemble_figure("ensemble.c", "caruana", ["a"], {"a": 1.0}, {"a": 0.6}, CLASSES, naive, honest,
                                     fits, np.array([[1.0]]))
    figure.canvas.draw()
    ax = figure.axes[2]
    legend, plot = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= plot.x1  # right of the axes, so no bar is covered


def test_the_final_figure_marks_the_chosen_candidate_and_compares_class_shares():
    figure = figures.final_figure({"ensemble.a": (0.66, 0.65), "ensemble.b": (0.64, 0.60)}, "ensemble.a",
                                  "auto: best honest", CLASSES, {"-1": 20, "0": 60, "1": 20},
                                  {"-1": 10, "0": 70, "1": 20})
    drawn = texts_of(figure)
    assert "ensemble.a (chosen)" in drawn and "20.0%" in drawn and "70.0%" in drawn and "auto: best honest" in drawn


def test_chinese_posts_are_drawn_in_a_cjk_font():
    family = figures.chinese_font()
    if family is None:
        pytest.skip("no font with Chinese glyphs installed (apt-get install fonts-wqy-microhei)")
    figure = figures.disagreement_figure(["先抑后扬：开始很难过，后来好感动"], ["#1"], ["a", "b"],
                                         np.array([[0.6, 0.7]]), np.array([[0, 2]]), CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for a character it lacks
        assert is_png(figures.png_bytes(figure))
    assert "#1 先抑后扬" in texts_of(figure)
