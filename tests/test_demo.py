"""kit.demo: the generated competition has the real files' layout and noise, and a learnable signal."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kit.data import ingest
from kit.demo import FILES, HEADER, INVALID_LABELS, LABEL_COLUMN, NOISE, make_demo

SIZES = {"n_train": 1500, "n_test": 300, "n_unlabeled": 300}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp("demo"), seed=0, **SIZES)


@pytest.fixture(scope="module")
def ingested(demo):
    return ingest(demo["train"], demo["test"], demo["unlabeled"])


def test_files_have_the_real_names_encoding_and_line_ends(demo):
    assert {split: path.name for split, path in demo.items()} == FILES
    for split, path in demo.items():
        payload = path.read_bytes()
        header = ",".join(HEADER) + ("," + LABEL_COLUMN if split == "train" else "")
        assert payload.startswith(header.encode("gb18030") + b"\r\n")
        assert payload.count(b"\r\n") == SIZES[f"n_{split}"] + 1  # one per row: texts hold only bare newlines
        with pytest.raises(UnicodeDecodeError):
            payload.decode("utf-8")
        if split == "test":
            with pytest.raises(UnicodeDecodeError):
                payload.decode("gb18030")
            assert payload.decode("gb18030", errors="replace").count("\ufffd") == NOISE["test"]["undecodable_bytes"]
        else:
            payload.decode("gb18030")


def test_columns_look_like_the_real_ones(ingested):
    for split in ("train", "test", "unlabeled"):
        frame = getattr(ingested, split)
        assert frame["id"].str.fullmatch(r"44[5-7]\d{13}").all()
        assert frame["微博发布时间"].str.fullmatch(r"0[12]月[0-3]\d日 [0-2]\d:[0-5]\d").all()
        images = r"\[\]|\['https://ww\d\.sinaimg\.cn/\w+/\w+\.jpg'(, 'https://ww\d\.sinaimg\.cn/\w+/\w+\.jpg')*\]"
        assert frame["微博图片"].str.fullmatch(images).all()
        assert (frame["微博视频"] == "[]").all()
    assert (ingested.test["id"].sort_values().to_numpy() == ingested.test["id"].to_numpy()).all()


def test_texts_carry_the_real_clutter(ingested):
    texts = "\n".join(ingested.train["text"])
    for clutter in ("展开全文", "?展开全文c", "回复@", "@", "http://t.cn/", "网页链接", "转发微博", "醫護人員 加油",
                    "#", "[哈哈]", "[泪]", "[怒]", "！！！", "？？？", "，", '"', ","):
        assert clutter in texts, clutter
    assert ingested.train["text"].str.contains("\n").any()


def test_round_trip_through_ingest_counts_the_injected_noise(ingested):
    splits = ingested.report["splits"]
    train, noise = splits["train"]["rules"], NOISE["train"]
    assert train["invalid_label"]["dropped"] == noise["invalid_label"]
    assert sorted(train["invalid_label"]["by_value"]) == sorted(INVALID_LABELS)
    assert train["empty_text"]["dropped"] == noise["empty_text"]
    assert (train["duplicate_id_identical"]["rows"], train["duplicate_id_identical"]["dropped"]) == (
        2 * noise["duplicate_id_identical"], noise["duplicate_id_identical"])
    assert (train["duplicate_id_conflicting"]["rows"], train["duplicate_id_conflicting"]["dropped"]) == (
        2 * noise["duplicate_id_conflicting"], 2 * noise["duplicate_id_conflicting"])
    assert train["duplicate_text_agreeing"]["rows"] == 2 * noise["duplicate_text_agreeing"]
    assert train["duplicate_text_conflicting"]["rows"] == 2 * noise["duplicate_text_conflicting"]
    n_dropped = sum(noise.values()) - noise["duplicate_text_agreeing"] - noise["duplicate_text_conflicting"]
    n_dropped += noise["duplicate_id_conflicting"]  # both copies of a conflicting id go
    assert splits["train"]["rows_kept"] == SIZES["n_train"] - n_dropped

    test = splits["test"]["rules"]
    assert splits["test"]["rows_kept"] == SIZES["n_test"]
    assert test["empty_text"]["rows"] == NOISE["test"]["empty_text"]
    assert (test["undecodable_bytes"]["rows"], test["undecodable_bytes"]["chars"]) == (
        1, NOISE["test"]["undecodable_bytes"])
    assert test["id_whitespace"]["rows"] == SIZES["n_test"]

    unlabeled = splits["unlabeled"]["rules"]
    assert unlabeled["empty_text"]["dropped"] == NOISE["unlabeled"]["empty_text"]
    assert unlabeled["duplicate_id_identical"]["dropped"] == NOISE["unlabeled"]["duplicate_id_identical"]
    assert ingested.report["cross_split"]["test_ids_in_train"]["rows"] == 0


def test_class_balance_is_the_real_one(ingested):
    shares = ingested.train["label"].value_counts(normalize=True)
    assert shares["0"] == pytest.approx(0.58, abs=0.04)
    assert shares["1"] == pytest.approx(0.26, abs=0.04)
    assert shares["-1"] == pytest.approx(0.16, abs=0.04)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    small = {"n_train": 60, "n_test": 60, "n_unlabeled": 60}
    first, again, other = (make_demo(tmp_path / name, seed=seed, **small) for name, seed in
                           (("a", 3), ("b", 3), ("c", 4)))
    for split in FILES:
        assert first[split].read_bytes() == again[split].read_bytes()
        assert first[split].read_bytes() != other[split].read_bytes()


def test_too_few_rows_for_the_noise_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least 50 rows"):
        make_demo(tmp_path, n_train=10)


def test_labels_are_learnable_but_not_trivially(ingested):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from kit.metrics import macro_f1

    train = ingested.train
    labels = train["label"].map({"-1": 0, "0": 1, "1": 2}).to_numpy()
    fit_text, holdout_text, fit_y, holdout_y = train_test_split(
        train["text"].tolist(), labels, test_size=0.3, random_state=0, stratify=labels
    )
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    # saga: lbfgs goes through multithreaded BLAS, which crawls on a busy 2-core runner.
    model = LogisticRegression(C=4.0, max_iter=1000, class_weight="balanced", solver="saga")
    model.fit(vectorizer.fit_transform(fit_text), fit_y)
    score = macro_f1(holdout_y, model.predict(vectorizer.transform(holdout_text)), 3)
    majority = macro_f1(holdout_y, np.full_like(holdout_y, np.bincount(fit_y).argmax()), 3)
    assert majority + 0.25 < score < 0.9
