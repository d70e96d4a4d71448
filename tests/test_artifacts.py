import errno
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from kit.artifacts import (
    Artifact,
    ArtifactError,
    OutputError,
    atomic_file,
    atomic_folder,
    atomic_write,
    atomic_write_bytes,
    discover,
    load_npz,
    read_json,
    remove_stale_temps,
    save_npz,
    sha256_strings,
    write_json,
)


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


def test_outputs_are_readable_like_any_file_the_user_makes(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "x.bin", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o644


def failing_write(error_number):
    def write(handle):
        handle.write(b"partial")
        raise OSError(error_number, os.strerror(error_number))

    return write


def failing_open(error_number):
    def open_(*args, **kwargs):
        raise OSError(error_number, os.strerror(error_number))

    return open_


# Each way the system refuses an output, where it strikes: creating the temporary file (a read-only or foreign
# folder) or writing into it (a full disk or quota). Root may write anywhere, so the refusals are simulated.
@pytest.mark.parametrize(
    "error_number, where, advice",
    [
        (errno.EACCES, "open", "make the folder writable"),
        (errno.EROFS, "open", "write the outputs on a writable file system"),
        (errno.ENOSPC, "write", "free some disk space"),
        (errno.EDQUOT, "write", "disk quota"),
    ],
)
def test_unwritable_outputs_are_one_line_errors_that_leave_the_old_file(tmp_path, monkeypatch, error_number, where,
                                                                       advice):
    path = tmp_path / "out" / "oof.npz"
    atomic_write_bytes(path, b"old")
    write = failing_write(error_number) if where == "write" else (lambda handle: handle.write(b"new"))
    if where == "open":
        monkeypatch.setattr("os.open", failing_open(error_number))
    with pytest.raises(OutputError) as caught:
        atomic_write(path, write)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot be written ({os.strerror(error_number)}): ") and advice in message
    assert "\n" not in message
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == ["oof.npz"]


def test_a_folder_that_cannot_be_made_is_an_output_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("pathlib.Path.mkdir", refuse)
    folder = re.escape(str(tmp_path / "new"))
    with pytest.raises(OutputError, match=rf"^{folder}: cannot be written \(Permission denied\): make the folder"):
        write_json(tmp_path / "new" / "report.json", {})


def test_other_os_errors_stay_bugs_and_leave_no_temporary_file(tmp_path):
    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "x.bin", failing_write(errno.EIO))
    assert not isinstance(caught.value, OutputError)
    assert list(tmp_path.iterdir()) == []


KILLED_WRITER = """
import sys, time
from kit.artifacts import atomic_write
def write(handle):
    handle.write(b"half")
    handle.flush()
    print("writing", flush=True)
    time.sleep(60)
atomic_write(sys.argv[1], write)
"""


def test_remove_stale_temps_removes_what_a_killed_job_left_and_nothing_else(tmp_path):
    path = tmp_path / "oof.npz"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = sorted(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.startswith(".oof.npz.") and left[0].read_bytes() == b"half"
    others = [".oof.npz.tmp", ".oof.npz.0123456789abcdef.tmp.keep", "oof.npz.0123456789abcdef.tmp",
              ".oof.0123456789abcdef.tmp", ".x.oof.npz.0123456789abcdef.tmp", "oof.npz"]
    for name in others:
        (tmp_path / name).write_bytes(b"keep")
    assert remove_stale_temps(path) == left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)
    assert remove_stale_temps(path) == [] and remove_stale_temps(tmp_path / "nowhere" / "x.npz") == []


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "fold0"
    with atomic_folder(target) as tmp:
        (tmp / "model.json").write_text("{}")
    assert [p.name for p in target.iterdir()] == ["model.json"]
    with pytest.raises(KeyboardInterrupt), atomic_folder(target) as tmp:
        (tmp / "half.bin").write_bytes(b"half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["fold0"] and [p.name for p in target.iterdir()] == ["model.json"]
    with atomic_folder(target) as tmp:
        (tmp / "not_kept.json").write_text("{}")
    assert [p.name for p in target.iterdir()] == ["not_kept.json"]  # nothing of the older folder is left


def test_remove_stale_temps_removes_a_killed_jobs_folder_too(tmp_path):
    stale = tmp_path / ".fold0.0123456789abcdef.tmp"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "weights.bin").write_bytes(b"half")
    (tmp_path / "fold1").mkdir()
    assert remove_stale_temps(tmp_path / "fold0") == [stale]
    assert [p.name for p in tmp_path.iterdir()] == ["fold1"]


@pytest.mark.parametrize("keep_bytes", [0, 10, -30])
def test_a_truncated_npz_names_the_file_and_how_to_rebuild_it(tmp_path, keep_bytes):
    make_artifact().save(tmp_path / "m")
    path = tmp_path / "m" / "oof.npz"
    payload = path.read_bytes()
    path.write_bytes(payload[:keep_bytes])
    where = re.escape(str(path))
    for load in (lambda: load_npz(path), lambda: Artifact.load(tmp_path / "m")):
        with pytest.raises(ArtifactError, match=rf"^{where}: is truncated or damaged .*--forcerun {where}`$"):
            load()


def test_a_truncated_manifest_names_the_file_and_how_to_rebuild_it(tmp_path):
    make_artifact().save(tmp_path / "m")
    path = tmp_path / "m" / "manifest.json"
    path.write_bytes(path.read_bytes()[:20])
    where = re.escape(str(path))
    for load in (lambda: read_json(path), lambda: Artifact.load(tmp_path / "m")):
        with pytest.raises(ArtifactError, match=rf"^{where}: is truncated or damaged \(JSONDecodeError.*--forcerun"):
            load()


def test_npz_refuses_objects(tmp_path):
    save_npz(tmp_path / "a.npz", ids=np.array(["1", "2"]))
    assert load_npz(tmp_path / "a.npz")["ids"].dtype.kind == "U"


def test_hash_depends_on_values_and_alignment():
    base = sha256_strings(["1", "2"], ["a", "b"])
    assert base == sha256_strings(["1", "2"], ["a", "b"])
    assert base != sha256_strings(["1", "2"], ["b", "a"])
    assert base != sha256_strings(["12"], ["ab"])


def test_an_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise RuntimeError("killed")
    assert not out.exists() and not list(tmp_path.iterdir())
    left_by_a_kill = tmp_path / ".model.0123456789abcdef.tmp"
    left_by_a_kill.mkdir()
    (left_by_a_kill / "half.bin").write_bytes(b"x")
    (tmp_path / ".other.0123456789abcdef.tmp").mkdir()
    assert remove_stale_temps(out) == [left_by_a_kill]  # what every command does for its outputs at its start
    with atomic_folder(out) as staging:
        (staging / "config.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.0123456789abcdef.tmp", "model"]
    assert [p.name for p in out.iterdir()] == ["config.json"]


def test_atomic_file_renames_what_was_written_by_name_and_removes_it_on_an_error(tmp_path):
    path = tmp_path / "sub" / "w2v.kv"
    with atomic_file(path) as staging:
        assert staging.parent == path.parent and staging.name.startswith(".w2v.kv.") and not path.exists()
        staging.write_bytes(b"vectors")
    assert path.read_bytes() == b"vectors" and sorted(p.name for p in path.parent.iterdir()) == ["w2v.kv"]
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_file(path) as staging:
            staging.write_bytes(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"vectors" and sorted(p.name for p in path.parent.iterdir()) == ["w2v.kv"]
    with atomic_file(path) as staging:
        staging.write_bytes(b"left by a killed job")
        assert remove_stale_temps(path) == [staging]
        staging.write_bytes(b"new")
    assert path.read_bytes() == b"new"
