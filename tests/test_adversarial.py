"""kit.adversarial: a drifted test set is found (AUC near 1, its marker n-gram on top, its look-alike train rows
first); an undrifted one is not (its interval holds 0.5); the command writes the files the rule names."""

import json

import numpy as np
import pandas as pd
import pytest

from kit import cli
from kit.adversarial import AdversarialSettings, adversarial, bootstrap_auc
from kit.artifacts import write_parquet

FAST = AdversarialSettings(k=3, bootstrap=50)


def posts(n: int, seed: int, marker: str = "") -> list[str]:
    rng = np.random.default_rng(seed)
    words = ["武汉", "加油", "口罩", "疫情", "医生", "隔离", "在家", "希望", "平安", "病毒"]
    return [marker + "".join(rng.choice(words, size=rng.integers(3, 8))) for _ in range(n)]


def test_a_drifted_test_set_is_found_with_its_marker():
    train = posts(300, 0)
    train[:5] = [f"#新话题#{text}" for text in train[:5]]  # five train rows look like the test
    result = adversarial(train, posts(100, 1, marker="#新话题#"), FAST)
    assert result.auc > 0.95
    low, high = result.bootstrap_interval
    assert low <= result.auc <= high and low > 0.9
    assert all(set(ngram) & set("#新话题") for ngram, _ in result.test_ngrams[:5])  # pieces of the marker
    assert set(np.argsort(-result.p_test)[:5]) == set(range(5))
    assert result.length_auc > 0.8  # the marker makes the test posts longer too


def test_an_undrifted_test_set_is_indistinguishable():
    result = adversarial(posts(300, 0), posts(100, 1), FAST)
    low, high = result.bootstrap_interval
    assert low < 0.5 < high
    assert abs(np.mean(result.fold_auc) - 0.5) < 0.1
    summary = result.summary()
    assert summary["fold_auc_std"] == pytest.approx(np.std(result.fold_auc))
    assert "bootstrap" in summary["interval_note"] and "fold" in summary["interval_note"]


def test_the_bootstrap_interval_narrows_with_more_rows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 2000):
        is_test = rng.integers(0, 2, n)
        score = is_test + rng.normal(size=n)
        low, high = bootstrap_auc(is_test, score, 100, 0)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_the_command_writes_the_figure_json_and_ranked_train_rows(tmp_path):
    train = pd.DataFrame({"id": [f"44{i:014d}" for i in range(120)], "text": posts(120, 0)})
    test = pd.DataFrame({"id": [f"45{i:014d}" for i in range(40)], "text": posts(40, 1, marker="#新话题#")})
    write_parquet(train, tmp_path / "train.parquet")
    write_parquet(test, tmp_path / "test.parquet")
    out = tmp_path / "figures" / "adversarial"
    cli.main(["adversarial", "--variant", "raw", "--train", str(tmp_path / "train.parquet"), "--test",
              str(tmp_path / "test.parquet"), "--k", "3", "--out-png", str(out / "raw.png"), "--out-json",
              str(out / "raw.json"), "--out-csv", str(out / "raw.test_like.csv"), "--log", str(tmp_path / "a.log")])
    summary = json.loads((out / "raw.json").read_text())
    assert summary["variant"] == "raw" and len(summary["fold_auc"]) == 3 and summary["auc"] > 0.9
    assert summary["bootstrap_95"][0] <= summary["auc"] <= summary["bootstrap_95"][1]
    ranked = pd.read_csv(out / "raw.test_like.csv", dtype={"id": str})
    assert len(ranked) == 120 and ranked["p_test"].is_monotonic_decreasing
    assert (out / "raw.png").read_bytes()[:4] == b"\x89PNG"
    assert "train vs test AUC" in (tmp_path / "a.log").read_text(encoding="utf-8")
