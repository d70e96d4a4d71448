import numpy as np
import pytest

from kit.artifacts import Artifact, atomic_write_bytes, discover, load_npz, save_npz, sha256_strings


def make_artifact(name="m.raw.s0", n=6, n_test=3, classes=("-1", "0", "1")) -> Artifact:
    rng = np.random.default_rng(0)
    return Artifact(
        ids=np.array([f"44{i:014d}" for i in range(n)]),
        labels=rng.integers(0, len(classes), n),
        fold_of=np.arange(n, dtype=np.int8) % 2,
        oof_logits=rng.normal(size=(n, len(classes))).astype(np.float32),
        test_ids=np.array([f"45{i:014d}" for i in range(n_test)]),
        test_logits=rng.normal(size=(n_test, len(classes))).astype(np.float32),
        classes=np.array(classes),
        manifest={"name": name, "kind": "experiment", "fold_hash": "abc"},
    )


def test_round_trip_keeps_arrays_and_16_digit_ids_exact(tmp_path):
    artifact = make_artifact()
    artifact.ids[0] = "4456068992182160"
    artifact.save(tmp_path / "m")
    loaded = Artifact.load(tmp_path / "m")
    assert loaded.ids[0] == "4456068992182160"
    for key in ("ids", "labels", "fold_of", "oof_logits", "test_ids", "test_logits", "classes"):
        assert np.array_equal(getattr(loaded, key), getattr(artifact, key))
    assert loaded.manifest == artifact.manifest
    assert discover(tmp_path) == [tmp_path / "m"]


@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda a: setattr(a, "oof_logits", a.oof_logits.astype(np.float64)), "oof_logits"),
        (lambda a: setattr(a, "test_logits", a.test_logits[:, :2]), "test_logits"),
        (lambda a: a.oof_logits.__setitem__((0, 0), np.nan), "oof_logits"),
        (lambda a: a.labels.__setitem__(0, 7), "labels"),
        (lambda a: a.ids.__setitem__(1, a.ids[0]), "ids"),
        (lambda a: a.manifest.pop("fold_hash"), "fold_hash"),
    ],
)
def test_contract_breaks_are_named(tmp_path, breakage, field):
    artifact = make_artifact()
    breakage(artifact)
    with pytest.raises(ValueError, match=field):
        artifact.save(tmp_path / "m")
    assert not (tmp_path / "m" / "oof.npz").exists()


def test_load_names_the_missing_part(tmp_path):
    make_artifact().save(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        Artifact.load(tmp_path / "m")


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "x.bin"
    atomic_write_bytes(path, b"old")

    def boom(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]  # no temporary file left behind


def test_npz_refuses_objects(tmp_path):
    save_npz(tmp_path / "a.npz", ids=np.array(["1", "2"]))
    assert load_npz(tmp_path / "a.npz")["ids"].dtype.kind == "U"


def test_hash_depends_on_values_and_alignment():
    base = sha256_strings(["1", "2"], ["a", "b"])
    assert base == sha256_strings(["1", "2"], ["a", "b"])
    assert base != sha256_strings(["1", "2"], ["b", "a"])
    assert base != sha256_strings(["12"], ["ab"])
