"""Content hashes that name what decided a file's numbers; standard library only (the config hash runs at plan time)."""

from __future__ import annotations

import hashlib
import json


def sha256_strings(*columns) -> str:
    """Hash of aligned columns of values (ids, texts, labels...), independent of file format and writer."""
    digest = hashlib.sha256()
    for column in columns:
        for value in column:
            digest.update(str(value).encode("utf-8"))
            digest.update(b"\x1f")
        digest.update(b"\x1e")
    return digest.hexdigest()


def canonical_json(obj) -> str:
    """obj as JSON with sorted keys: the same settings written in another key order give the same text."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_json(obj) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def short_hash(value: str | None) -> str:
    """A hash as a person compares two of them: its first 8 characters."""
    return (value or "none")[:8]


def file_sha256(path) -> str:
    """Hash of a file's bytes: what a submission's sidecar records, so a changed CSV is caught."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
