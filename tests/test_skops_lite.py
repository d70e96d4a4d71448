"""kit.skops_lite: a skops file of plain data reads back as skops.io.loads reads it, without importing skops; any
other type is left to skops."""

import numpy as np
import skops.io
from sklearn.linear_model import LogisticRegression

from kit.kept import dump_skops
from kit.skops_lite import read_plain


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_plain_data_reads_back_exactly_as_skops_reads_it(tmp_path):
    saved = {"combination": np.array([0.92, 0.0, 0.08]), "class_weights": np.array([1.2, 0.8, 1.0], np.float32),
             "plan": [np.int64(3), (1, "a"), None, True, 0.5], "nested": {"rounds": [{"weights": np.eye(2)}]},
             "empty": []}
    dump_skops(tmp_path / "c.skops", saved)
    plain = read_plain(tmp_path / "c.skops")
    assert same(plain, skops.io.loads((tmp_path / "c.skops").read_bytes()))


def test_an_estimator_a_missing_or_a_damaged_file_is_left_to_skops(tmp_path):
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    dump_skops(tmp_path / "m.skops", {"combination": model, "class_weights": None})
    assert read_plain(tmp_path / "m.skops") is None
    assert read_plain(tmp_path / "missing.skops") is None
    (tmp_path / "bad.skops").write_bytes(b"PK\x03\x04 not a zip")
    assert read_plain(tmp_path / "bad.skops") is None
