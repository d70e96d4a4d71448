"""YAML read strictly: a config file is refused, in one message naming its key and line, when plain YAML loading
would take it silently or expand it without bound.

- A key given twice in one mapping: PyYAML keeps the later value without a word. Refused, naming both lines. A
  merge key (`<<: *defaults`) is YAML's way to share a mapping, and a key written beside it overrides the merged
  one as YAML says; only `<<` given twice in one mapping is refused (write `<<: [*a, *b]`).
- Anchors and aliases (`&name`, `*name`) repeat a value without copying it, so ten lines can stand for a billion
  values (the "billion laughs"). Loading is cheap; whatever walks the value (json.dumps of the config by Snakemake,
  a hash of an entry's params) then runs until memory or patience runs out. The value a file stands for, every
  alias expanded, may hold at most MAX_VALUES values (the kit's configs hold about 200) and nest MAX_DEPTH levels
  deep; an alias that holds itself (a loop) is refused too. All measured without expanding anything: each shared
  part is counted once and its count reused.

A JSON config (which Snakemake also reads) is read as YAML, or as JSON when tabs indent it.

`measure` applies the same bounds to a mapping already loaded (Snakemake's merged config, `--config` values
included), naming the config key. Nothing here imports more than PyYAML.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import yaml

from kit.settings import SettingsError, fail

MAX_VALUES = 100_000  # every scalar, list and mapping of the config, aliases expanded; the competition config: 211
MAX_DEPTH = 32  # the deepest config key in use is 6 levels down (a post-trained scratch backbone's layers)
MERGE_TAG = "tag:yaml.org,2002:merge"
MERGE_KEY = "<<"

# The steps into a value (the keys that lead to it given): (the key, or [index] of a list, the child).
Children = Callable[[object, list[str]], Iterable[tuple[str, object]]]


class _OverBound(Exception):
    """A value over a bound, at `keys` (the config key as a list of steps), for the caller to name."""

    def __init__(self, keys: list[str], problem: str):
        super().__init__(problem)
        self.keys, self.problem = keys, problem


def dotted(keys: list[str]) -> str:
    return "".join(key if key.startswith("[") or not index else f".{key}" for index, key in enumerate(keys))


def load_yaml(path: str | Path) -> dict:
    """The YAML (or JSON) file's mapping, checked as the module docstring says; a SettingsError naming the file, the
    line and the key otherwise. The caller has made sure path is a file of bounded size (kit.input_files)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise SettingsError(f"{path}: line {line}: is not UTF-8 text (byte {error.object[error.start]:#04x}); save "
                            "it as UTF-8") from None
    try:
        data = _load_yaml(path, text)
    except RecursionError:  # the YAML and JSON parsers recurse once per level, before any check can count them
        raise SettingsError(f"{path}: nests values too deeply to be read (the kit allows {MAX_DEPTH} levels)") from None
    if data is None:  # an empty file, one of comments only, or `~`
        return {}
    if not isinstance(data, dict):
        what = {"list": "a list", "str": "a string", "bool": "true or false", "int": "a number",
                "float": "a number"}.get(type(data).__name__, f"a {type(data).__name__}")
        raise SettingsError(f"{path}: holds {what} ({str(data)[:40]!r}), not a mapping of config keys such as "
                            "`data:` or `models:`")
    return data


def _load_yaml(path, text: str) -> dict:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        where = _Where(path, loader, node)
        _check_size(node, where.children, where.error)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        data = _load_json(path, text)  # JSON indented with tabs, which Snakemake reads and YAML does not
        if data is not None:
            return data
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SettingsError(
            f"{path}: {where}is not valid YAML ({problem}); fix that line (YAML indents with spaces, not tabs)"
        ) from None
    finally:
        loader.dispose()


def _load_json(path, text: str) -> dict | None:
    """The JSON file's object, checked like YAML (without lines: a JSON reader keeps none); None when the text is
    not JSON."""
    def refuse_twice(pairs: list[tuple[str, object]]) -> dict:
        keys = [key for key, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise SettingsError(f"{path}: key {key!r} is given twice in one object; a JSON reader would keep the "
                                    "later value without a word: keep one of them")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=refuse_twice)
    except json.JSONDecodeError:
        return None
    _check_size(data, _object_children, lambda keys, problem: SettingsError(
        f"{path}: config key {dotted(keys) or '(the whole file)'!r}: {problem}"))
    return data


def measure(mapping: Mapping) -> None:
    """SettingsError naming the config key when the loaded mapping is over the bounds or holds itself."""
    def refuse(keys: list[str], problem: str):
        return fail(dotted(keys) or "(the whole config)", problem)

    _check_size(mapping, _object_children, refuse)


def _object_children(value, keys: list[str]) -> Iterable[tuple[str, object]]:
    if isinstance(value, Mapping):
        return ((str(key), child) for key, child in value.items())
    if isinstance(value, (list, tuple)):
        return ((f"[{index}]", child) for index, child in enumerate(value))
    return ()


class _Where:
    """The children of a YAML node, refusing duplicate keys; errors naming the file, the line and the key."""

    def __init__(self, path, loader: yaml.SafeLoader, root: yaml.Node):
        self.path, self.loader, self.root = path, loader, root
        # (node, key) -> (the node the key or index starts at, the value under it)
        self.steps: dict[tuple[int, str], tuple[yaml.Node, yaml.Node]] = {}

    def children(self, node, keys: list[str]) -> list[tuple[str, object]]:
        if isinstance(node, yaml.SequenceNode):
            steps = [(f"[{index}]", child, child) for index, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            steps, seen = [], {}
            for key_node, value_node in node.value:
                key = MERGE_KEY if key_node.tag == MERGE_TAG else self._key(key_node)
                if key in seen:
                    self._refuse_twice(keys, str(key), seen[key], key_node)
                seen[key] = key_node
                steps.append((str(key), value_node, key_node))
        else:
            return []
        self.steps.update({(id(node), key): (start, child) for key, child, start in steps})
        return [(key, child) for key, child, _ in steps]

    def _key(self, key_node):
        """The key as the loader would construct it (1 and 0x1 are one key), or the node itself when it is not a
        scalar (construction refuses such a key later)."""
        if isinstance(key_node, yaml.ScalarNode):
            return self.loader.construct_object(key_node)
        return key_node

    def _refuse_twice(self, keys: list[str], key: str, first: yaml.Node, second: yaml.Node):
        lines = f"lines {first.start_mark.line + 1} and {second.start_mark.line + 1}"
        why = ("a mapping takes one merge key: merge several mappings with `<<: [*a, *b]`" if key == MERGE_KEY else
               "YAML would keep the later value without a word: keep one of them")
        raise SettingsError(f"{self.path}: line {second.start_mark.line + 1}: config key {dotted([*keys, key])!r} is "
                            f"given twice in one mapping ({lines}); {why}")

    def error(self, keys: list[str], problem: str) -> SettingsError:
        node, line = self.root, self.root.start_mark.line + 1
        for key in keys:
            start, node = self.steps[(id(node), key)]
            line = start.start_mark.line + 1
        return SettingsError(f"{self.path}: line {line}: config key {dotted(keys) or '(the whole file)'!r}: {problem}")


def _check_size(root, children: Children, refuse: Callable[[list[str], str], Exception]) -> None:
    """Raise refuse(keys, problem) when the value under root, every shared part repeated, holds more than
    MAX_VALUES values, nests deeper than MAX_DEPTH or holds itself; each shared part is walked once."""
    sizes: dict[int, int] = {}
    inside: set[int] = set()
    kids: dict[int, list[tuple[str, object]]] = {}

    def size(value, keys: list[str]) -> int:
        if id(value) in sizes:
            return sizes[id(value)]
        if id(value) in inside:
            raise _OverBound(keys, "holds itself (an alias inside the value its anchor names): a loop no program "
                                  "can write out; write the value out")
        if len(keys) > MAX_DEPTH:
            raise _OverBound(keys[:MAX_DEPTH + 1], f"nests deeper than {MAX_DEPTH} levels; a config needs a few")
        inside.add(id(value))
        kids[id(value)] = list(children(value, keys))
        sizes[id(value)] = 1 + sum(size(child, [*keys, key]) for key, child in kids[id(value)])
        inside.discard(id(value))
        return sizes[id(value)]

    try:
        total = size(root, [])
    except _OverBound as over:
        raise refuse(over.keys, over.problem) from None
    if total <= MAX_VALUES:
        return
    # Name the innermost key whose value alone is over the bound: the alias bomb, not the whole config. A list's
    # items and a merge key's value are parts of the key that holds them.
    keys, value = [], root
    while True:
        over = [(key, child) for key, child in kids.get(id(value), [])
                if sizes[id(child)] > MAX_VALUES and key != MERGE_KEY and not key.startswith("[")]
        if not over:
            break
        key, value = over[0]
        keys.append(key)
    raise refuse(keys, f"expands to {sizes[id(value)]:.3g} values, more than the {MAX_VALUES:,} a config may hold: "
                       "YAML aliases (*name) repeat the value their anchor (&name) names; write it out, with fewer "
                       "aliases")
