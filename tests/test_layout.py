"""kit.layout: every workflow path named once; the rules take theirs from it, literal paths in none."""

import re
from pathlib import Path

from kit import layout

RULES = Path(__file__).resolve().parents[1] / "rules"


def test_word_vectors_are_two_named_files_not_a_folder():
    assert layout.word_vectors("w2v") == {"vectors": "models/word_vectors/w2v.kv",
                                          "meta": "models/word_vectors/w2v.json"}
    # A Snakemake pattern keeps its wildcard in both names.
    assert layout.word_vectors("{vectors}")["meta"] == "models/word_vectors/{vectors}.json"


def test_logs_are_one_per_stage_or_one_per_name_in_a_stage_folder():
    assert layout.log("ingest") == "logs/ingest.log"
    assert layout.log("fit", "{model}.{variant}.s{seed}.fold{fold}") == "logs/fit/{model}.{variant}.s{seed}.fold{fold}.log"


def test_figure_paths_are_the_report_s_folders():
    assert [layout.eda_figure(name) for name in layout.EDA_FIGURES] == [
        "figures/eda/class_counts.png", "figures/eda/text_lengths.png", "figures/eda/duplicates.png"]
    assert layout.final_figure("disagreements", "csv") == "figures/final/disagreements.csv"
    assert layout.adversarial_files("raw") == {"png": "figures/adversarial/raw.png",
                                               "json": "figures/adversarial/raw.json",
                                               "csv": "figures/adversarial/raw.test_like.csv"}
    assert layout.retention("m.raw.s0") == "models/folds/m.raw.s0/retention.json"
    assert layout.combination("mean") == "oof/ensemble.mean/combination.skops"


def test_no_rule_writes_a_workflow_path_as_a_literal():
    """Every path a rule names comes from kit.layout: no string in rules/*.smk starts with a workflow folder."""
    folders = {path.split("/")[0] for path in (layout.INTERIM, layout.WORD_VECTORS, layout.OOF, layout.SUBS,
                                               layout.FIGURES, layout.LOGS, layout.TRACKING, layout.CHECKPOINTS)}
    literal = re.compile(r"""["'](?:%s)/""" % "|".join(map(re.escape, sorted(folders))))
    found = [f"{path.name}:{number}: {line.strip()}" for path in sorted(RULES.glob("*.smk"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if literal.search(line) and not line.lstrip().startswith("#")]
    assert found == []
