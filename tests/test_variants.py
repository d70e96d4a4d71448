"""kit.variants: the text variants, applied in order, declared once, and a user's own from a plugin module."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kit import registry
from kit.registry import Variant, register
from kit.variants import apply_variant, write_variant


@pytest.fixture
def scratch_registry(monkeypatch):
    """The variant registry as it is, restored after the test."""
    registry.names(registry.VARIANTS)
    monkeypatch.setattr(registry.VARIANTS, "entries", dict(registry.VARIANTS.entries))


@pytest.mark.realdata
def test_raw_is_the_text_exactly_as_ingested(shared_data):
    texts = pd.read_csv(shared_data / "ncov" / "nCov_10k_test.csv", dtype=str, encoding="gb18030",
                        encoding_errors="replace", keep_default_na=False)["微博中文内容"].tolist()
    assert apply_variant(texts, "raw") == texts
    assert apply_variant(pd.Series(texts, dtype="str"), "raw") == texts


def test_apply_variant_keeps_order_and_length():
    posts = ["醫護人員", "中国加油!!!", ""]
    assert apply_variant(posts, "cleaned") == ["医护人员", "中国加油！", ""]
    assert apply_variant(np.array(posts), "cleaned") == ["医护人员", "中国加油！", ""]


def test_apply_variant_rejects_an_unknown_variant():
    with pytest.raises(ValueError, match=r"unknown text variant 'cleand'; did you mean 'cleaned'"):
        apply_variant(["武汉加油"], "cleand")


def test_apply_variant_names_the_row_of_a_missing_text():
    texts = pd.Series(["武汉加油", None, "中国加油"], index=[10, 11, 12], dtype="str")
    with pytest.raises(ValueError, match=r"1 value\(s\) are not strings; first at row 11"):
        apply_variant(texts, "raw")
    with pytest.raises(ValueError, match=r"first at row 0"):
        apply_variant([None, "武汉加油"], "cleaned")


def test_a_registered_variant_is_applied_by_name(scratch_registry):
    register(Variant("reversed", lambda text: text[::-1]))
    assert apply_variant(["武汉加油"], "reversed") == ["油加汉武"]
    assert {"raw", "cleaned", "reversed"} <= set(registry.names(registry.VARIANTS))


@pytest.mark.parametrize(
    ("name", "transform", "message"),
    [
        ("cleaned", str.upper, "already registered"),
        ("Pseudo-Labelled", str.upper, "must match"),
        ("pseudo/labelled", str.upper, "must match"),
        ("", str.upper, "must match"),
        ("pseudo", "not a function", "callable or 'module:function'"),
    ],
)
def test_register_refuses_bad_variants(scratch_registry, name, transform, message):
    with pytest.raises(ValueError, match=message):
        register(Variant(name, transform))


def test_write_variant_writes_the_declared_files_and_hashes_the_texts(tmp_path):
    train = pd.DataFrame({"id": ["1", "2"], "text": ["醫護人員", "加油!!!"], "label": ["1", "0"], "extra": ["a", "b"]})
    test = pd.DataFrame({"id": ["3"], "text": ["武漢"]})
    train.to_parquet(tmp_path / "train.parquet")
    test.to_parquet(tmp_path / "test.parquet")
    out = tmp_path / "v"
    lines = []
    meta = write_variant("cleaned", tmp_path / "train.parquet", tmp_path / "test.parquet", out / "a.parquet",
                         out / "b.parquet", out / "m.json", log=lines.append)
    assert [line.split(":")[0] for line in lines if "(100%)" in line] == ["variant cleaned"] * 2  # train, test
    assert pd.read_parquet(out / "a.parquet").to_dict("list") == {
        "id": ["1", "2"], "text": ["医护人员", "加油！"], "label": ["1", "0"]}
    assert pd.read_parquet(out / "b.parquet")["text"].tolist() == ["武汉"]
    assert json.loads((out / "m.json").read_text()) == meta and meta["variant"] == "cleaned"
    raw = write_variant("raw", tmp_path / "train.parquet", tmp_path / "test.parquet", out / "c.parquet",
                        out / "d.parquet", out / "n.json", log=lambda line: None)
    assert raw["data_hash"] != meta["data_hash"]


def test_a_plugin_variant_reaches_the_command_the_rule_runs(tmp_path):
    """The `variant` rule runs a fresh process: a variant of the user's is known there through --plugins."""
    (tmp_path / "my_variants.py").write_text(
        "from kit.registry import Variant, register\n"
        "register(Variant('upper', str.upper, help='shouting'))\n", encoding="utf-8")
    pd.DataFrame({"id": ["1"], "text": ["ok"], "label": ["1"]}).to_parquet(tmp_path / "train.parquet")
    pd.DataFrame({"id": ["2"], "text": ["no"]}).to_parquet(tmp_path / "test.parquet")
    command = [sys.executable, "-m", "kit", "variant", "--name", "upper", "--train", "train.parquet",
               "--test", "test.parquet", "--out-train", "v/train.parquet", "--out-test", "v/test.parquet",
               "--meta", "v/meta.json", "--plugins", "my_variants"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
    assert pd.read_parquet(tmp_path / "v" / "train.parquet")["text"].tolist() == ["OK"]
