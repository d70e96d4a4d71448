"""kit.data: the real test file, and one crafted GB18030 + CRLF file per ingest rule and per kind of bad input."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from kit.artifacts import sha256_strings
from kit.data import Columns, DataError, ingest, read_split, read_table, report_table, write_ingested

HEADER = ["微博id", "微博发布时间", "发布人账号", "微博中文内容", "微博图片", "微博视频"]
TRAIN_HEADER = HEADER + ["情感倾向"]


def post(number: int, text: str | None = None, label: str = "0") -> list[str]:
    """One train row; drop the label (row[:-1]) for test and unlabeled rows."""
    post_id = str(4456068992182160 + number)
    text = f"武汉加油，第{number}条微博" if text is None else text
    return [post_id, "01月01日 23:38", f"user{number}", text, "[]", "[]", label]


def write_csv(path, rows, header=TRAIN_HEADER, encoding="gb18030") -> str:
    """Write rows as the competition does (GB18030, CRLF, minimal quoting); return the path as str."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return str(path)


def write_test(tmp_path, rows) -> str:
    return write_csv(tmp_path / "test.csv", [row[:-1] for row in rows], header=HEADER)


def run(tmp_path, train_rows, test=None, **options):
    """Ingest crafted train rows with test, a path or rows (by default three clean rows)."""
    if not isinstance(test, str):
        test = write_test(tmp_path, test or [post(900 + k) for k in range(3)])
    return ingest(write_csv(tmp_path / "train.csv", train_rows), test, **options)


def rules(result, split="train") -> dict:
    return result.report["splits"][split]["rules"]


def kept_ids(frame) -> list[str]:
    return frame["id"].tolist()


# ---------------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_test_file_loads_every_row_with_exact_ids(shared_data, tmp_path):
    result = run(tmp_path, [post(k, label="1") for k in range(3)], str(shared_data / "ncov" / "nCov_10k_test.csv"))
    lines = (shared_data / "ncov" / "processed_uncut_test.txt").read_text(encoding="utf-8").splitlines()
    reference_ids, reference_texts = zip(*(line.split("__", 1) for line in lines))
    test = result.test
    assert len(test) == 10_000
    assert kept_ids(test) == list(reference_ids)
    test_rules = rules(result, "test")
    assert test_rules["undecodable_bytes"] == {"rows": 1, "dropped": 0, "examples": ["4460631988548260"], "chars": 2}
    assert test_rules["empty_text"]["rows"] == 37 and test_rules["empty_text"]["dropped"] == 0
    assert test_rules["id_whitespace"]["rows"] == 10_000  # every id of the real file ends in a space
    assert result.report["splits"]["test"]["encoding"] == "gb18030"
    # The reference wrote empty texts as 'nan' and decoded the undecodable byte 0x80 as '€' (cp936).
    differing = [
        (ours, theirs) for ours, theirs in zip(test["text"], reference_texts) if ours != theirs and theirs != "nan"
    ]
    assert len(differing) == 1 and differing[0][0].count("\ufffd") == 2
    assert differing[0][0].replace("\ufffd", "€") == differing[0][1]
    assert (test["text"] == "").sum() == 37
    assert list(test.columns) == ["id", "text", *HEADER[1:3], *HEADER[4:]]


@pytest.mark.realdata
def test_unlabeled_stand_in_keeps_genuine_replacement_characters(shared_data):
    frame = read_table(shared_data / "covid_weibo_unlabeled" / "covid_weibo_unlabeled_100k.csv", "unlabeled")
    assert len(frame) == 100_000
    assert frame.attrs["encoding"] == "gb18030" and frame.attrs["undecodable"] == 0
    assert frame["微博中文内容"].str.count("\ufffd").sum() == 4  # written in the file, not introduced by decoding


# ---------------------------------------------------------------------------------------------------- clean input


def test_clean_files_come_through_unchanged(tmp_path):
    rows = [post(k, label=label) for k, label in enumerate(["-1", "0", "1", "0"])]
    rows[1][3] = '带逗号,引号"和\r\n换行的微博'
    result = run(tmp_path, rows)
    train = result.train
    assert list(train.columns) == ["id", "text", "label", *HEADER[1:3], *HEADER[4:]]
    assert train.values.tolist() == [[r[0], r[3], r[6], r[1], r[2], r[4], r[5]] for r in rows]
    assert all(dtype == "str" for dtype in train.dtypes)
    split = result.report["splits"]["train"]
    assert split["rows_read"] == split["rows_kept"] == 4
    assert all(entry["rows"] == 0 for entry in split["rules"].values())
    assert split["class_counts"] == {"-1": 1, "0": 2, "1": 1}
    assert split["data_hash"] == sha256_strings(train["id"], train["text"], train["label"])
    json.dumps(result.report)


def test_utf8_with_and_without_bom_reads_like_gb18030(tmp_path):
    rows = [post(k) for k in range(3)]
    expected = read_table(write_csv(tmp_path / "gb.csv", rows), "train")
    for encoding, name in (("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")):
        frame = read_table(write_csv(tmp_path / f"{name}.csv", rows, encoding=encoding), "train")
        assert frame.attrs["encoding"] == name and frame.attrs["undecodable"] == 0
        pd.testing.assert_frame_equal(frame, expected)


def test_another_layout_renames_columns_and_carries_extra_ones(tmp_path):
    header = ["label", "review", "review_id", "stars"]
    train = write_csv(tmp_path / "train.csv", [["pos", "很好", "a1", "5"], ["neg", "太差", "a2", "1"]], header)
    test = write_csv(tmp_path / "test.csv", [["还行", "b1", "3"]], header[1:])
    result = ingest(train, test, classes=("neg", "pos"), columns=Columns(id="review_id", text="review", label="label"))
    assert result.train.values.tolist() == [["a1", "很好", "pos", "5"], ["a2", "太差", "neg", "1"]]
    assert list(result.test.columns) == ["id", "text", "stars"]


# ---------------------------------------------------------------------------------------------------- rules


def test_invalid_labels_drop_the_row_counted_by_raw_value(tmp_path):
    labels = ["1", "-", "·", "4", "10", "", "哈哈哈", " -1 ", "0", "-"]
    result = run(tmp_path, [post(k, label=label) for k, label in enumerate(labels)])
    invalid = rules(result)["invalid_label"]
    assert invalid["by_value"] == {"-": 2, "·": 1, "4": 1, "10": 1, "": 1, "哈哈哈": 1}
    assert (invalid["rows"], invalid["dropped"]) == (7, 7)
    assert rules(result)["label_whitespace"]["rows"] == 1
    assert result.train["label"].tolist() == ["1", "-1", "0"]
    assert kept_ids(result.train) == [post(k)[0] for k in (0, 7, 8)]


def test_empty_text_drops_train_and_unlabeled_rows_but_keeps_test_rows(tmp_path):
    rows = [post(0), post(1, text=""), post(2), post(3, text=" \u3000\r\n")]
    train = write_csv(tmp_path / "train.csv", rows)
    unlabeled = write_csv(tmp_path / "unlabeled.csv", [row[:-1] for row in rows], HEADER)
    result = ingest(train, write_test(tmp_path, rows), unlabeled)
    for split in ("train", "unlabeled"):
        assert (rules(result, split)["empty_text"]["rows"], rules(result, split)["empty_text"]["dropped"]) == (2, 2)
        assert kept_ids(getattr(result, split)) == [rows[0][0], rows[2][0]]
    empty = rules(result, "test")["empty_text"]
    assert (empty["rows"], empty["dropped"], empty["examples"]) == (2, 0, [rows[1][0], rows[3][0]])
    assert result.test["text"].tolist() == [rows[0][3], "", rows[2][3], ""]


def test_empty_ids_drop_train_rows_and_are_an_error_in_test_naming_the_line(tmp_path):
    rows = [post(0, text="第一行\r\n第二行"), post(1), post(2)]
    rows[1][0] = "  "
    result = run(tmp_path, rows)
    empty_id = rules(result)["empty_id"]
    assert (empty_id["rows"], empty_id["dropped"], empty_id["examples"]) == (1, 1, ["line 4"])
    assert kept_ids(result.train) == [rows[0][0], rows[2][0]]
    with pytest.raises(DataError, match=r"test\.csv: line 4: empty id in column '微博id'"):
        run(tmp_path, [post(5)], rows)


def test_ids_are_stripped_and_never_go_through_float(tmp_path):
    rows = [post(k) for k in range(3)]
    rows[0][0] = "4456068992182161 "
    rows[1][0] = "0012345678901234567"
    result = run(tmp_path, rows)
    assert kept_ids(result.train) == ["4456068992182161", "0012345678901234567", rows[2][0]]
    assert rules(result)["id_whitespace"]["examples"] == ["4456068992182161"]


def test_duplicate_ids_keep_identical_copies_once_and_drop_conflicting_ones(tmp_path):
    rows = [post(0), post(1), post(0), post(2, label="1"), post(3)]
    rows[2][1] = "01月02日 00:00"  # same id, text and label: an identical copy, whatever the time says
    rows.append(post(2, label="-1"))
    result = run(tmp_path, rows)
    identical, conflicting = rules(result)["duplicate_id_identical"], rules(result)["duplicate_id_conflicting"]
    assert (identical["rows"], identical["dropped"], identical["examples"]) == (2, 1, [rows[0][0]])
    assert (conflicting["rows"], conflicting["dropped"], conflicting["examples"]) == (2, 2, [rows[3][0]])
    assert kept_ids(result.train) == [rows[0][0], rows[1][0], rows[4][0]]
    assert result.train["微博发布时间"].iloc[0] == "01月01日 23:38"  # the first copy's


def test_duplicate_test_ids_with_identical_text_are_kept_once_and_conflicting_ones_are_an_error(tmp_path):
    result = run(tmp_path, [post(0)], [post(7), post(8), post(7)])
    assert kept_ids(result.test) == [post(7)[0], post(8)[0]]
    assert rules(result, "test")["duplicate_id_identical"]["dropped"] == 1
    with pytest.raises(DataError, match=rf"test\.csv: id '{post(7)[0]}' \(column '微博id'\) appears on lines \[2, 4\]"):
        run(tmp_path, [post(0)], [post(7), post(8), post(7, text="另一条")])


@pytest.mark.parametrize(
    "policy, kept",
    [
        ("keep", [0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ("majority", [0, 1, 2, 3, 5, 8]),
        ("drop", [0, 1, 8]),
    ],
)
def test_duplicate_texts_follow_the_conflicting_text_policy(tmp_path, policy, kept):
    # A agrees; B has a strict majority for "1" (3 of 4); C is a 1-1 tie.
    texts_labels = [("A", "1"), ("A", "1"), ("B", "1"), ("B", "1"), ("B", "0"), ("B", "1"), ("C", "1"), ("C", "0")]
    rows = [post(k, text=f"重复的微博{text}", label=label) for k, (text, label) in enumerate(texts_labels)]
    rows.append(post(8, label="-1"))
    result = run(tmp_path, rows, conflicting_text=policy)
    agreeing, conflicting = rules(result)["duplicate_text_agreeing"], rules(result)["duplicate_text_conflicting"]
    assert (agreeing["rows"], agreeing["dropped"]) == (2, 0)
    assert conflicting["rows"] == 6 and conflicting["dropped"] == 9 - len(kept)
    assert conflicting["policy"] == policy
    assert kept_ids(result.train) == [rows[k][0] for k in kept]


def test_undecodable_bytes_become_replacement_characters_and_are_counted(tmp_path):
    rows = [post(0, text="复制这段话XbdtVXY后打开"), post(1), post(2)]
    rows[2][2] = "用户X"
    path = tmp_path / "train.csv"
    write_csv(path, rows)
    path.write_bytes(path.read_bytes().replace(b"X", b"\x80").replace(b"Y", b"\xff"))
    result = ingest(path, write_test(tmp_path, [post(9)]))
    undecodable = rules(result)["undecodable_bytes"]
    assert undecodable == {"rows": 2, "dropped": 0, "examples": [rows[0][0], rows[2][0]], "chars": 4}
    assert result.train["text"].tolist() == ["复制这段话\ufffdbdtV\ufffd\ufffd后打开", rows[1][3], rows[2][3]]
    assert result.train["发布人账号"].iloc[2] == "用户\ufffd"


def test_replacement_characters_written_in_the_file_are_not_counted(tmp_path):
    rows = [post(0, text="原文就有\ufffd这个字符"), post(1)]
    result = ingest(write_csv(tmp_path / "train.csv", rows), write_test(tmp_path, [post(9)]))
    assert rules(result)["undecodable_bytes"]["chars"] == 0
    assert result.train["text"].iloc[0] == "原文就有\ufffd这个字符"


def test_blank_rows_are_dropped_and_counted_in_every_split(tmp_path):
    path = tmp_path / "test.csv"
    write_csv(path, [post(0)[:-1], ["", "", "", "", "", ""], post(1)[:-1]], HEADER)
    path.write_bytes(path.read_bytes() + b"\r\n")
    result = run(tmp_path, [post(5)], str(path))
    assert (rules(result, "test")["blank_rows"]["rows"], rules(result, "test")["blank_rows"]["dropped"]) == (2, 2)
    assert kept_ids(result.test) == [post(0)[0], post(1)[0]]


def test_every_dropped_row_is_counted_once(tmp_path):
    rows = [post(0, label="1"), post(1, label="-"), post(2, text=""), post(3), post(4, label="1"), post(0, label="1")]
    rows[3][0] = ""
    rows += [post(4, label="0"), post(20, text=rows[0][3], label="0"), post(8)]
    result = run(tmp_path, rows, conflicting_text="drop")
    split = result.report["splits"]["train"]
    dropped = sum(entry["dropped"] for entry in split["rules"].values())
    assert split["rows_read"] - dropped == split["rows_kept"] == len(result.train) == 1
    assert split["rows_dropped"] == dropped == 8
    assert kept_ids(result.train) == [post(8)[0]]


def test_test_rows_also_in_train_are_counted(tmp_path):
    result = run(tmp_path, [post(0), post(1)], [post(1), post(2, text=post(0)[3]), post(3)])
    assert result.report["cross_split"]["test_ids_in_train"] == {"rows": 1, "examples": [post(1)[0]]}
    assert result.report["cross_split"]["test_texts_in_train"]["rows"] == 2


# ---------------------------------------------------------------------------------------------------- bad files


def test_misnamed_column_names_file_column_and_close_names(tmp_path):
    header = ["微博id", "微博发布时间", "发布人账号", "微博内容", "微博图片", "微博视频", "情感倾向"]
    path = write_csv(tmp_path / "train.csv", [post(0)], header)
    with pytest.raises(DataError, match=r"train\.csv: no column '微博中文内容'.*did you mean \['微博内容'"):
        read_table(path, "train", Columns())


def test_missing_label_column_is_an_error_for_train_only(tmp_path):
    path = write_csv(tmp_path / "nolabel.csv", [post(0)[:-1]], HEADER)
    with pytest.raises(DataError, match=r"nolabel\.csv: no column '情感倾向' \(required for role 'train'\)"):
        read_table(path, "train")
    assert len(read_table(path, "test")) == 1


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", r"empty\.csv: is empty"),
        (b"\xef\xbb\xbf\r\n", r"empty\.csv: is empty"),
        (",".join(HEADER).encode("gb18030") + b"\r\n", r"empty\.csv: has a header but no rows"),
    ],
)
def test_empty_files_are_errors(tmp_path, payload, message):
    (tmp_path / "empty.csv").write_bytes(payload)
    with pytest.raises(DataError, match=message):
        read_table(tmp_path / "empty.csv", "test")


def test_binary_garbage_is_an_error(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "garbage.csv").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"garbage\.csv: holds NUL bytes"):
        read_table(tmp_path / "garbage.csv", "test")
    (tmp_path / "garbage.csv").write_bytes(rng.integers(128, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"garbage\.csv: \d+ undecodable byte sequences"):
        read_table(tmp_path / "garbage.csv", "test")


def test_a_row_with_an_extra_field_is_an_error(tmp_path):
    path = tmp_path / "train.csv"
    write_csv(path, [post(0), post(1) + ["多出来的字段"]])
    with pytest.raises(DataError, match=r"train\.csv: is not a well-formed CSV.*line 3"):
        read_table(path, "train")


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv: cannot be read"):
        read_table(tmp_path / "nowhere.csv", "test")


def test_bad_arguments_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="conflicting_text"):
        run(tmp_path, [post(0)], conflicting_text="vote")
    with pytest.raises(ValueError, match="role"):
        read_table(tmp_path / "x.csv", "dev")


# ---------------------------------------------------------------------------------------------------- outputs


def test_ingested_splits_round_trip_to_the_declared_files(tmp_path):
    rows = [post(k, label=str(k % 3 - 1)) for k in range(6)]
    unlabeled = write_csv(tmp_path / "unlabeled.csv", [row[:-1] for row in rows], HEADER)
    with_unlabeled = ingest(write_csv(tmp_path / "train.csv", rows), write_test(tmp_path, rows), unlabeled)
    outputs = {split: tmp_path / "out" / f"{split}.parquet" for split in ("train", "test", "unlabeled")}
    write_ingested(with_unlabeled, outputs, tmp_path / "out" / "report.json")
    for split, path in outputs.items():
        pd.testing.assert_frame_equal(read_split(path), getattr(with_unlabeled, split))
    assert json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8")) == with_unlabeled.report
    with pytest.raises(ValueError, match="outputs for splits.*ingested splits"):
        write_ingested(run(tmp_path, rows), outputs, tmp_path / "report.json")


def test_report_table_shows_the_rules_that_touched_rows(tmp_path):
    result = run(tmp_path, [post(0, label="-"), post(1), post(2)])
    console = Console(record=True, width=200)
    console.print(report_table(result.report))
    text = console.export_text()
    assert "invalid_label" in text and post(0)[0] in text and "duplicate_id_identical" not in text
