"""The plain-data subset of a skops file, read without importing skops.

Importing skops.io imports every scikit-learn estimator and torch (4 s of CPU, measured), which a one-post
`kit predict` would pay for an ensemble fit that holds only arrays and numbers (a blend's weights, class weights).
read_plain reads such a file (dicts, lists, tuples, JSON scalars, numpy arrays and scalars) exactly as
skops.io.loads would; anything else (a fitted estimator) is None, and the caller loads it through skops, whose
checks of untrusted types then apply.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any


class NotPlain(Exception):
    """The file holds a type beyond plain data; skops must load it."""


def read_plain(path: Path) -> Any | None:
    """What skops.io.loads would return for the file at path when it holds only plain data, else None (also for a
    missing or damaged file: skops' loader then reports it as it always has)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(Path(path).read_bytes()))
        schema = json.loads(archive.read("schema.json"))
        return _node(schema, archive)
    except (NotPlain, OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def _node(node: dict, archive: zipfile.ZipFile) -> Any:
    import numpy as np

    loader, module = node.get("__loader__"), node.get("__module__")
    if loader == "JsonNode" and node.get("is_json") and module == "builtins":
        return json.loads(node["content"])
    if loader == "NdArrayNode" and module == "numpy" and node.get("type") == "numpy":
        array = np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)
        return array if node["__class__"] == "ndarray" else array[()]  # a numpy scalar is stored 0-d
    if loader == "ListNode" and module == "builtins" and node["__class__"] in ("list", "tuple"):
        items = [_node(item, archive) for item in node["content"]]
        return items if node["__class__"] == "list" else tuple(items)
    if loader == "TupleNode" and module == "builtins":
        return tuple(_node(item, archive) for item in node["content"])
    if loader == "DictNode" and module == "builtins" and node["__class__"] == "dict":
        key_types = [key["__class__"] for key in node.get("key_types", {}).get("content", [])]
        if any(kind != "str" for kind in key_types):
            raise NotPlain(f"dict keys of types {key_types}")
        return {key: _node(value, archive) for key, value in node["content"].items()}
    raise NotPlain(f"{module}.{node.get('__class__')} ({loader})")
