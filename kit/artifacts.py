"""The on-disk contract between fold jobs, ensembles, scores and submissions (see docs/architecture.md).

An artifact is a folder `oof/<name>/` holding
  oof.npz        ids [n_train] str, labels [n_train] int64 class index, fold_of [n_train] int8,
                 oof_logits [n_train x C] float32, test_ids [n_test] str, test_logits [n_test x C] float32,
                 classes [C] str (the competition's labels, index i = logit column i); and, only for an
                 artifact that teaches a pseudo variant, pool_ids [n_pool] str and pool_logits [K x n_pool x C]
                 float32 (fold k's predictions of the pseudo-label pool, from models that never saw fold k)
  manifest.json  name, kind ('experiment' | 'ensemble'), hashes (fold file, data, config), kit version,
                 git commit, scores, and whatever describes how it was made
Experiments and ensembles share it, so anything that reads one reads the other.
Every write goes to a temporary file in the same folder first and is renamed into place, so a killed job
never leaves a half-written artifact that Snakemake would take for finished; the killed job's temporary file is
removed by `remove_stale_temps` when the job runs again. An output that cannot be written (no permission, a
read-only file system, a full disk or quota, a file where its folder should be) raises OutputError, and a stored file
that cannot be read back (a truncated or damaged npz, JSON or parquet file) raises ArtifactError: both are
ValueErrors whose one-line message names the file and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from kit import __version__
from kit.hashing import sha256_json, sha256_strings  # noqa: F401 (re-exported: the artifact contract's hashes)

ARRAYS = ("ids", "labels", "fold_of", "oof_logits", "test_ids", "test_logits", "classes")
# Only artifacts that teach a pseudo variant carry them: each fold's predictions of the pseudo-label pool.
POOL_ARRAYS = ("pool_ids", "pool_logits")


_FILE_IN_THE_WAY = "a file stands where a folder of the path should be: move it or write the outputs elsewhere"
# What to do about each way the operating system refuses an output; any other OSError is a bug and keeps its traceback.
_UNWRITABLE = {
    errno.EACCES: "make the folder writable or write the outputs elsewhere",
    errno.EPERM: "make the folder writable or write the outputs elsewhere",
    errno.EROFS: "write the outputs on a writable file system",
    errno.ENOSPC: "free some disk space and re-run",
    errno.EDQUOT: "free some space under your disk quota and re-run",
    errno.ENOTDIR: _FILE_IN_THE_WAY,  # a file where a folder above the output's own should be
    errno.EEXIST: _FILE_IN_THE_WAY,  # a file where the output's own folder should be (mkdir)
    errno.EISDIR: "a folder stands where the file should be: move it or write the output elsewhere",
}


class OutputError(ValueError):
    """An output cannot be written; the message names the path, the reason and what to do."""


class ArtifactError(ValueError):
    """A stored output cannot be read back; the message names the file and how to rebuild it, `detail` the damage
    alone (for a caller that names the output to rebuild itself)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message


def _refuse_unwritable(path: Path, error: OSError) -> None:
    """Raise OutputError when `error` is one of the system's refusals of an output; return for any other."""
    if error.errno in _UNWRITABLE:
        reason = error.strerror or str(error)
        raise OutputError(f"{path}: cannot be written ({reason}): {_UNWRITABLE[error.errno]}") from error


def make_folder(folder: Path) -> Path:
    """mkdir -p folder; a folder that cannot be made is an OutputError naming it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _refuse_unwritable(folder, error)
        raise
    return folder


def _temp_name(path: Path, tag: str) -> str:
    return f".{path.name}.{tag}.tmp"


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """write(handle) into a temporary file beside `path`, then rename it into place: a killed job never leaves a
    half-written file that would pass for finished. Writers stream into the handle, so nothing is held twice.

    No permission, a read-only file system or a full disk raise OutputError; the temporary file is removed and an
    older `path` stays as it was.
    """
    with atomic_file(path) as tmp:
        # 0o666 through the umask, like any file the user's tools create (mkstemp would make it 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that takes a file name (gensim's save); it is renamed into
    place when the block ends without an error and removed otherwise. Its name follows atomic_write's, so
    remove_stale_temps clears a killed job's file; errors are atomic_write's."""
    path = Path(path)
    make_folder(path.parent)
    tmp = path.parent / _temp_name(path, secrets.token_hex(8))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            _refuse_unwritable(path, error)
        raise


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temporary files (and folders, atomic_folder's) left beside `path` by a job that was killed; return
    them.

    Only the kit's own names for this path (`.<name>.<16 hex digits>.tmp`) are touched, so a job can call it for each
    of its outputs at its start. A job still writing `path` would lose its temporary file: Snakemake never runs two
    jobs for one output.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(re.escape(_temp_name(path, "@")).replace("@", "[0-9a-f]{16}"))
    stale = [candidate for candidate in path.parent.iterdir() if pattern.fullmatch(candidate.name)]
    for candidate in stale:
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
    return stale


@contextmanager
def atomic_folder(out_dir: Path) -> Iterator[Path]:
    """Yield a new folder beside out_dir to write a whole output folder into (a save_pretrained model, gensim's
    files); it replaces out_dir when the block ends without an error, and is deleted otherwise, so a killed job
    never leaves a half-written folder that Snakemake would take for finished. Its name follows atomic_write's
    (`.<name>.<16 hex>.tmp`), so remove_stale_temps clears a killed job's folder."""
    out_dir = Path(out_dir)
    # os.mkdir applies the umask as for any folder (mkdtemp would make it 0700).
    staging = make_folder(out_dir.parent) / _temp_name(out_dir, secrets.token_hex(8))
    try:
        os.mkdir(staging)
    except OSError as error:
        _refuse_unwritable(staging, error)
        raise
    try:
        yield staging
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(payload))


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8"))


def write_parquet(frame, path: Path) -> None:
    """A DataFrame as parquet, atomically like every other output."""
    atomic_write(path, lambda handle: frame.to_parquet(handle, index=False))


def damaged_error(path: Path, error: Exception) -> ArtifactError:
    detail = f"{type(error).__name__}: {str(error).strip()}"
    return ArtifactError(f"{path}: is truncated or damaged ({detail}); delete it and re-run snakemake, or run "
                         f"`snakemake --forcerun {path}`", detail=f"{Path(path).name}: {detail}")


def read_json(path: Path):
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise damaged_error(path, error) from error


MANIFEST_KEYS = ("name", "kind", "fold_hash")  # what every artifact's manifest holds (docs/architecture.md)


def read_manifest(path: Path) -> dict:
    """An artifact's manifest.json: a JSON object with MANIFEST_KEYS; ArtifactError naming the file otherwise."""
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise damaged_error(path, ValueError(f"a JSON {type(manifest).__name__}, not an object"))
    missing = [key for key in MANIFEST_KEYS if not isinstance(manifest.get(key), str)]
    if missing:
        raise damaged_error(path, ValueError(f"no {', '.join(map(repr, missing))}"))
    return manifest


def read_parquet(path: Path, columns: list[str] | None = None):
    """The DataFrame a parquet output holds (only `columns` when given)."""
    import pandas as pd
    import pyarrow

    path = Path(path)
    try:
        return pd.read_parquet(path, columns=columns)
    except (pyarrow.ArrowException, OSError) as error:
        if getattr(error, "errno", None):  # the system's refusal (a missing file, no permission): not damage
            raise
        # pyarrow reports damage as ArrowInvalid or as an OSError without errno, naming neither rule nor fix.
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head and head != b"PAR1":  # not damage: another kind of file, which must not be deleted
            raise ArtifactError(f"{path}: is not a parquet file (it starts with {head!r}); name the kit's .parquet "
                                f"file, or if the workflow wrote it, run `snakemake --forcerun {path}`") from error
        raise damaged_error(path, error) from error


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        # allow_pickle=False: ids are stored as fixed-width unicode, never as objects.
        with np.load(path, allow_pickle=False) as handle:
            return {key: handle[key] for key in handle.files}
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError) as error:
        raise damaged_error(path, error) from error


def git_commit(cwd: Path | None = None) -> str | None:
    """The checkout's commit (with '-dirty' when it has changes), or None outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    return {"kit_version": __version__, "git_commit": git_commit()}


@dataclass
class Artifact:
    """One experiment's or ensemble's OOF and test logits with its manifest. Shapes as in the module docstring."""

    ids: np.ndarray
    labels: np.ndarray
    fold_of: np.ndarray
    oof_logits: np.ndarray
    test_ids: np.ndarray
    test_logits: np.ndarray
    classes: np.ndarray
    manifest: dict = field(default_factory=dict)
    pool_ids: np.ndarray | None = None  # [n_pool] str: the pseudo-label pool's ids
    pool_logits: np.ndarray | None = None  # [K x n_pool x C] float32: fold k's models' predictions of the pool

    @property
    def name(self) -> str:
        return self.manifest.get("name", "?")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def validate(self, where: str = "") -> "Artifact":
        """Raise ValueError naming the artifact and field when the arrays break the contract."""
        where = where or self.name
        n, n_test, c = len(self.ids), len(self.test_ids), len(self.classes)
        checks = [
            ("labels", self.labels.shape == (n,)),
            ("fold_of", self.fold_of.shape == (n,)),
            ("oof_logits", self.oof_logits.shape == (n, c) and self.oof_logits.dtype == np.float32),
            ("test_logits", self.test_logits.shape == (n_test, c) and self.test_logits.dtype == np.float32),
            ("oof_logits", bool(np.all(np.isfinite(self.oof_logits)))),
            ("test_logits", bool(np.all(np.isfinite(self.test_logits)))),
            ("labels", bool(np.all((self.labels >= 0) & (self.labels < c)))),
            ("ids", len(np.unique(self.ids)) == n),
            ("test_ids", len(np.unique(self.test_ids)) == n_test),
        ]
        if (self.pool_ids is None) != (self.pool_logits is None):
            checks.append(("pool_logits", False))
        elif self.pool_logits is not None:
            k = int(self.fold_of.max()) + 1
            checks += [
                ("pool_logits", self.pool_logits.shape == (k, len(self.pool_ids), c)),
                ("pool_logits", self.pool_logits.dtype == np.float32 and bool(np.all(np.isfinite(self.pool_logits)))),
                ("pool_ids", len(np.unique(self.pool_ids)) == len(self.pool_ids)),
            ]
        for field_name, ok in checks:
            if not ok:
                raise ValueError(f"artifact {where}: field {field_name!r} breaks the contract (docs/architecture.md)")
        for key in MANIFEST_KEYS:
            if key not in self.manifest:
                raise ValueError(f"artifact {where}: manifest lacks {key!r}")
        return self

    def save(self, folder: Path) -> None:
        """Write the artifact into folder as oof.npz and manifest.json (the workflow's layout)."""
        self.write(Path(folder) / "oof.npz", Path(folder) / "manifest.json")

    def write(self, npz: Path, manifest: Path) -> None:
        """Write the arrays to npz and the manifest to manifest, after checking the contract."""
        self.validate(str(Path(npz).parent))
        arrays = {key: getattr(self, key) for key in ARRAYS + POOL_ARRAYS if getattr(self, key) is not None}
        save_npz(npz, **arrays)
        write_json(manifest, self.manifest)

    @classmethod
    def load(cls, folder: Path) -> "Artifact":
        """The artifact in folder (oof.npz + manifest.json)."""
        return cls.read(Path(folder) / "oof.npz", Path(folder) / "manifest.json")

    @classmethod
    def read(cls, npz: Path, manifest: Path) -> "Artifact":
        """The artifact whose arrays are in npz and manifest in manifest, checked against the contract."""
        npz, manifest = Path(npz), Path(manifest)
        for part in (npz, manifest):
            if not part.is_file():
                raise FileNotFoundError(f"artifact {part.parent}: {part.name} is missing")
        arrays = load_npz(npz)
        missing = [key for key in ARRAYS if key not in arrays]
        if missing:
            raise ArtifactError(
                f"{npz}: lacks arrays {missing} (written by an older kit?); delete it and re-run snakemake, or run "
                f"`snakemake --forcerun {npz}`"
            )
        pool = {key: arrays[key] for key in POOL_ARRAYS if key in arrays}
        return cls(**{key: arrays[key] for key in ARRAYS}, **pool,
                   manifest=read_manifest(manifest)).validate(str(npz.parent))


def discover(oof_dir: Path) -> list[Path]:
    """Every artifact folder under oof_dir (those with a manifest.json and an oof.npz), sorted by name."""
    oof_dir = Path(oof_dir)
    if not oof_dir.is_dir():
        return []
    return sorted(p.parent for p in oof_dir.glob("*/manifest.json") if (p.parent / "oof.npz").is_file())


def mean_of_folds(fold_logits: list[np.ndarray]) -> np.ndarray:
    """np array [n x C] float32: the mean of the K fold models' logits (each [n x C]), summed in float64 in fold
    order: an experiment's test logits, and what `kit predict` computes for new posts."""
    total = np.zeros(fold_logits[0].shape, dtype=np.float64)
    for logits in fold_logits:
        total += logits
    return (total / len(fold_logits)).astype(np.float32)
