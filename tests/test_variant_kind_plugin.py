"""A user's own kind of training-only variant, from a module outside kit/, planned and run by Snakemake.

The plugin registers a VariantKind (kit.registry): its config block, its settings, a file it reads and the rows it
adds to each fold's training set. Nothing in kit/ or rules/ names it: the fold rule and `kit fit-fold` handle it as
they handle pseudo and augment variants.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from kit.artifacts import Artifact
from kit.demo import make_demo
from tests.conftest import job_counts, snakemake

KIND_PLUGIN = """
import json
from dataclasses import dataclass

import numpy as np

from kit import layout
from kit.registry import VariantKind, register
from kit.settings import Settings, setting


@dataclass
class ShoutedCopies(Settings):
    base_variant: str = setting("raw", "the text variant whose training rows are copied")
    copies: int = setting(1, "upper-cased copies of each training row", ge=1)


class Shouted:
    def __init__(self, copies, report):
        self.copies, self.report = copies, report

    def rows(self, fold, train_text, train_y):
        texts = [text.upper() for text in train_text] * self.copies
        kept = json.loads(self.report.read_text())["splits"]["train"]["rows_kept"]
        return texts, np.tile(np.asarray(train_y), self.copies), {"shouted_rows": len(texts), "train_rows": kept}


def reads(name, settings):
    return {"report": f"{layout.INTERIM}/report.json"}


def shouted_rows(name, settings, inputs, classes):
    return Shouted(settings.copies, inputs["report"])


register(VariantKind("shouted", ShoutedCopies, shouted_rows, inputs=reads, help="upper-cased copies of the rows"))
"""


@pytest.fixture(scope="module")
def kind_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("kind")
    files = make_demo(workdir / "raw", n_train=240, n_test=60, n_unlabeled=50, seed=5)
    (workdir / "my_kinds.py").write_text(KIND_PLUGIN, encoding="utf-8")
    config = {
        "data": {"train": str(files["train"]), "test": str(files["test"])},
        "plugins": ["my_kinds"], "folds": {"k": 2, "seed": 0}, "variants": ["raw", "loud"],
        "shouted": {"loud": {"base_variant": "raw", "copies": 2}},
        "models": {"lr": {"kind": "sklearn", "min_df": 1}},
    }
    (workdir / "kind.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return workdir


@pytest.mark.slow
def test_the_plan_runs_the_plugin_kind_through_the_fold_rule(kind_run):
    plan = snakemake(kind_run, "--configfile", "kind.yaml", "-n", "-p")
    counts = job_counts(plan)
    assert counts["fit_fold"] == 4 and counts["merge_folds"] == 2  # (raw, loud) x 2 folds
    assert counts["variant"] == 1  # loud reads raw's files: no variant of its own
    commands = [line for line in plan.splitlines() if "kit fit-fold" in line and "--variant loud" in line]
    assert len(commands) == 2
    assert all("--variant-kind shouted" in line and "--variant-inputs report=data/interim/report.json" in line
               and '"copies":2' in line and "--plugins my_kinds" in line for line in commands)


@pytest.mark.slow
def test_the_plugin_kind_adds_rows_to_each_folds_training_set_only(kind_run):
    snakemake(kind_run, "--configfile", "kind.yaml", "-j2", "oof/lr.loud.s0/manifest.json",
              "oof/lr.raw.s0/manifest.json")
    loud, plain = (Artifact.load(kind_run / "oof" / name) for name in ("lr.loud.s0", "lr.raw.s0"))
    assert np.array_equal(loud.ids, plain.ids) and np.array_equal(loud.test_ids, plain.test_ids)
    assert loud.manifest["variant"] == "loud" and loud.manifest["text_variant"] == "raw"
    folds = loud.manifest["folds"]
    train_rows = [len(plain.ids) - int((plain.fold_of == fold["fold"]).sum()) for fold in folds]
    added = [fold["training_rows_added"] for fold in folds]
    assert [rows["shouted_rows"] for rows in added] == [2 * n for n in train_rows]
    assert {rows["train_rows"] for rows in added} == {len(plain.ids)}  # the declared input reached the job
