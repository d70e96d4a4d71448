"""Text variants: the texts a model sees, made from the ingested ones; `raw` and `cleaned` are the kit's own.

A variant is declared once (kit.registry.Variant) and used by name in the config's `variants:`; a user's own
plugs in from a module named in `plugins:` (see kit/registry.py). The `variant` rule writes each one as
data/variants/<name>/{train,test}.parquet and meta.json, whose data_hash every experiment built on it records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from kit.progress import tracked
from kit.registry import Variant, register, resolve, variant

register(Variant("raw", "kit.cleaning:raw_text", help="the text exactly as ingested"))
register(Variant("cleaned", "kit.cleaning:clean_text", help="cleaned like the winning solutions (kit/cleaning.py)"))


def apply_variant(texts: Sequence[str], name: str, log: Callable[[str], None] | None = None) -> list[str]:
    """list [len(texts)] of str: each text through the variant's transform, in the same order; with log, progress
    lines (kit/progress.py): the pool of unlabelled posts is long.

    A missing value (None, NaN, pandas NA) is an error naming its row, not an empty string: deciding what an
    empty post means belongs to ingest, where the file and row are known. texts: any sequence, or a pandas
    Series, whose index then names the row.
    """
    transform = resolve(variant(name).transform)
    labels = list(texts.index) if hasattr(texts, "index") and not isinstance(texts, (list, tuple)) else None
    values = list(texts)
    not_text = [position for position, value in enumerate(values) if not isinstance(value, str)]
    if not_text:
        first = not_text[0]
        row = labels[first] if labels is not None else first
        raise ValueError(
            f"text variant {name!r}: {len(not_text)} value(s) are not strings; first at row {row!r}: {values[first]!r}"
        )
    if log is not None:
        values = tracked(values, log, f"variant {name}", len(values), "texts")
    return [transform(text) for text in values]


def write_variant(name: str, train_in: Path, test_in: Path, train_out: Path, test_out: Path, meta_out: Path,
                  log=print, pool_in: Path | None = None, pool_out: Path | None = None) -> dict:
    """The variant's train and test parquet files (id, text [, label]) and its meta.json; returns the meta.

    pool_in/pool_out: the pseudo-label pool (id, text, source) and its texts in this variant, for the teachers.
    """
    from kit.artifacts import sha256_strings, write_json, write_parquet
    from kit.data import read_split

    frames = {}
    splits = [("train", train_in, train_out), ("test", test_in, test_out)]
    if pool_in is not None:
        splits.append(("pool", pool_in, pool_out))
    for split, source, target in splits:
        frame = read_split(source)
        frame = frame[["id", "text"] + {"train": ["label"], "test": [], "pool": ["source"]}[split]].copy()
        frame["text"] = apply_variant(frame["text"].tolist(), name, log)
        frames[split] = frame
        write_parquet(frame, Path(target))
        log(f"variant {name}: {split} {len(frame)} rows")
    train, test = frames["train"], frames["test"]
    meta = {
        "variant": name,
        "data_hash": sha256_strings(train["id"], train["text"], train["label"], test["id"], test["text"]),
    }
    write_json(Path(meta_out), meta)
    return meta
