"""Typed settings: every config entry is one dataclass whose fields carry their type, default, range and help.

One definition, many views, so that nothing is typed twice:
- `parse(cls, mapping, path)`: YAML values coerced to the field types, unknown keys refused with the nearest known
  ones, ranges checked, then the class's own `check(path)` for rules that span fields;
- `json_schema(cls)`: the schema editors complete and check against (kit/schema/config.schema.json);
- `field_docs(cls)`: the rows of the README's config tables (kit/docs.py renders them, a test keeps them in step);
- `add_arguments(parser, cls)` / `from_arguments(cls, args)`: CLI flags with the same help and defaults;
- `to_dict(obj)` / `identity(obj)`: the entry as plain JSON, whole, or only the fields that decide the numbers (and
  differ from their defaults)
  (what config hashes and Snakemake's rerun checks are computed over).
- `references(obj, path)`: the fields whose value names an entry of another block of the config (a model's
  `vectors: w2v` names `word_vectors.w2v`), which kit.config checks and hashes.

A field is declared with `setting(default, "help", ge=..., ...)`. Types: bool, int, float, str, Literal[...],
Optional and other unions, tuple[X, ...], fixed-length tuples, dict[str, X], Any, nested Settings (written as a
mapping), Settings marked `flatten=True` (their keys sit at the parent's level: the transformer entry groups its
flat keys this way), and any class with `parse_setting`/`setting_schema` classmethods (registry-dispatched entries
such as a model, whose fields depend on its `kind`).

Imports only the standard library: the Snakefile parses the whole config at plan time.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any, Literal, Union

# PyYAML follows YAML 1.1, which reads `2e-5` (no dot) as a string: such strings are taken as numbers, any other
# string is not (so `C: "4"` is refused, not silently read as 4).
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class CommandLineText(str):
    """A value typed on Snakemake's command line (`--config 'seeds=[0, 1]'`), which Snakemake hands over as text
    (YAML's BaseLoader: every scalar a string). coerce() reads it as YAML when its field takes another type, so
    `seeds=[0, 1]` is two ints and `C=2.0` a float, while a string field keeps the text as typed. Values from config
    files are never re-read: `C: "4"` in a file stays a refused string."""


def from_command_line(value, overrides):
    """value (the merged config) with every string that `--config` set (overrides: Snakemake's parsed `--config`
    mapping) marked as CommandLineText, at any depth; the rest as it is."""
    if isinstance(value, Mapping) and isinstance(overrides, Mapping):
        return {key: from_command_line(item, overrides[key]) if key in overrides else item
                for key, item in value.items()}
    if isinstance(value, list) and isinstance(overrides, list) and len(value) == len(overrides):
        return [from_command_line(item, override) for item, override in zip(value, overrides)]
    if isinstance(value, str) and isinstance(overrides, str) and value == overrides:
        return CommandLineText(value)
    return value


def _read_command_line(value: CommandLineText, hint):
    """The YAML reading of a command-line text where its field takes what it reads as (a number, a bool, null, a
    list; anything for a free-form field), else the text itself."""
    import yaml

    try:
        parsed = yaml.safe_load(str(value))
    except yaml.YAMLError:
        return str(value)
    if hint is Any:
        return parsed
    arms = typing.get_args(hint) if _is_union(hint) else (hint,)
    if not isinstance(parsed, str) and any(_matches(parsed, arm) for arm in arms):
        return parsed
    return str(value)


class SettingsError(ValueError):
    """A config value that is wrong; the message names its key as a dotted path and says what it must be."""


def fail(path: str, problem: str) -> SettingsError:
    return SettingsError(f"config key {path!r}: {problem}")


def refuse_option_like(key: str, value: str | None, fix: str) -> None:
    """Raise SettingsError when value starts with '-': the rules pass it as a flag's value, and argparse would take
    it for an option and stop the job with a usage message that names neither the key nor the fix."""
    if value is not None and value.startswith("-"):
        raise fail(key, f"{value!r} starts with '-', which a command line reads as an option; {fix}")


def setting(
    default=MISSING,
    help: str = "",
    *,
    ge=None,
    gt=None,
    le=None,
    lt=None,
    pattern: str | None = None,
    min_items: int | None = None,
    unique: bool = False,
    flatten: bool = False,
    identity: bool = True,
    names: str | None = None,
):
    """A dataclass field with the metadata every view reads.

    help: one line for the README, the schema and --help. ge/gt/le/lt: bounds of a number (or of each number of a
    tuple); pattern: a regex every string (or each string, or each mapping key) must match in full; min_items: the
    least length of a tuple or mapping; unique: a tuple's items must differ; flatten: a nested Settings whose keys sit at this level; identity: False
    for fields that do not change the numbers a run produces (threads, checkpoint cadence...), which config hashes
    leave out; names: the value (a string, or null) is the name of an entry of the config's top-level block of that
    name (`word_vectors`), which kit.config checks exists and hashes into the experiment's identity.
    """
    metadata = {"help": help, "ge": ge, "gt": gt, "le": le, "lt": lt, "pattern": pattern, "min_items": min_items,
                "unique": unique, "flatten": flatten, "identity": identity, "names": names}
    if isinstance(default, (dict, list, set)) or dataclasses.is_dataclass(default):
        frozen = default
        return dataclasses.field(default_factory=lambda: copy.deepcopy(frozen), metadata=metadata)
    if flatten and default is MISSING:
        raise TypeError("a flattened group needs a default (its own defaults)")
    return dataclasses.field(default=default, metadata=metadata)


def group(cls, help: str):
    """A flattened group of settings: its keys sit at the parent's level, its defaults are its own."""
    return dataclasses.field(default_factory=cls, metadata={"help": help, "flatten": True, "identity": True})


@dataclasses.dataclass
class Settings:
    """Base of every typed config entry (a dataclass; with no fields of its own, the settings of something that
    takes none); `check(path)` holds rules that span fields."""

    def check(self, path: str) -> None:
        pass


# ------------------------------------------------------------------------------------------------ introspection


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


@functools.cache
def _fields(cls) -> tuple[dataclasses.Field, ...]:
    return tuple(dataclasses.fields(cls))


def _flattened(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get("flatten"))


@functools.cache
def keys_of(cls) -> dict[str, tuple[str, ...]]:
    """Every key the YAML mapping of cls may hold -> the attribute path to it (flattened groups opened)."""
    keys = {}
    for f in _fields(cls):
        if _flattened(f):
            keys.update({key: (f.name, *rest) for key, rest in keys_of(_hints(cls)[f.name]).items()})
        else:
            keys[f.name] = (f.name,)
    return keys


def _is_settings(hint) -> bool:
    return isinstance(hint, type) and issubclass(hint, Settings)


def _is_custom(hint) -> bool:
    return isinstance(hint, type) and hasattr(hint, "parse_setting")


def _is_union(hint) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _at_default(f: dataclasses.Field, value) -> bool:
    default = _default(f)
    return default is not MISSING and type(value) is type(default) and value == default


def _default(f: dataclasses.Field):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


# ------------------------------------------------------------------------------------------------ parsing


def parse(cls, mapping, path: str):
    """An instance of the Settings dataclass cls from a YAML mapping; SettingsError naming the key at fault."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise fail(path, f"must be a mapping of keys to values (got {mapping!r})")
    known = {**keys_of(cls), **_open_keys(cls)}
    for key in mapping:
        if key not in known:
            raise fail(_join(path, key), f"is not a key here; {_suggest(str(key), known)}")
    return _build(cls, mapping, path)


def _open_keys(cls) -> dict:
    """key -> type of the keys a class takes beyond its fields, known only once plugins registered them (a plugin's
    variant kind is a block of the config): `cls.open_keys()`, parsed into attributes of the same names."""
    return cls.open_keys() if hasattr(cls, "open_keys") else {}


def _build(cls, mapping: Mapping, path: str):
    hints, values = _hints(cls), {}
    for f in _fields(cls):
        if _flattened(f):
            values[f.name] = _build(hints[f.name], mapping, path)
        elif f.name in mapping:
            values[f.name] = _checked(mapping[f.name], hints[f.name], f, _join(path, f.name))
        elif _default(f) is MISSING:
            raise fail(_join(path, f.name), f"is required ({f.metadata.get('help', '')})")
    instance = cls(**values)
    for key, hint in _open_keys(cls).items():
        setattr(instance, key, coerce(mapping.get(key, {}), hint, _join(path, key)))
    instance.check(path)
    return instance


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def near(name: str, known) -> str:
    """The known names closest to a mistyped one, or the known names, for an error message."""
    close = difflib.get_close_matches(str(name), sorted(known), n=2, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(map(repr, close))}?"
    known = sorted(known)
    more = f" and {len(known) - 12} more" if len(known) > 12 else ""
    return f"known: {known[:12]}{more}"


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}?"
    return f"the keys are {sorted(known)}"


def _checked(value, hint, f: dataclasses.Field | None, path: str):
    value = coerce(value, hint, path)
    if f is not None:
        _check_bounds(value, f.metadata, path)
    return value


def _check_bounds(value, meta: Mapping, path: str) -> None:
    if value is None:
        return
    if isinstance(value, (tuple, dict)):
        if meta.get("min_items") is not None and len(value) < meta["min_items"]:
            raise fail(path, f"needs at least {meta['min_items']} item(s) (got {len(value)})")
        if isinstance(value, tuple):
            if meta.get("unique") and len(set(value)) != len(value):
                twice = sorted({item for item in value if value.count(item) > 1}, key=str)
                raise fail(path, f"names {', '.join(map(repr, twice))} more than once: each item may appear once")
            for item in value:
                _check_bounds(item, {**meta, "min_items": None, "unique": False}, path)
        else:  # a mapping: the pattern names the keys, the bounds hold for the values
            for key, item in value.items():
                _check_bounds(key, {"pattern": meta.get("pattern")}, path)
                _check_bounds(item, {**meta, "min_items": None, "pattern": None}, f"{path}.{key}")
        return
    bounds = (("ge", "at least", lambda v, b: v >= b), ("gt", "greater than", lambda v, b: v > b),
              ("le", "at most", lambda v, b: v <= b), ("lt", "less than", lambda v, b: v < b))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for name, words, ok in bounds:
            if meta.get(name) is not None and not ok(value, meta[name]):
                raise fail(path, f"must be {words} {meta[name]} (got {value!r})")
    if isinstance(value, str) and meta.get("pattern") and not re.fullmatch(meta["pattern"], value):
        raise fail(path, f"{value!r} does not match the pattern {meta['pattern']!r}")


def describe(hint) -> str:
    """A type hint in a YAML user's words: 'a number, or null'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_union(hint):
        return ", or ".join(describe(arm) for arm in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(describe(args[0]))}"
        return f"a list [{', '.join(describe(a) for a in args)}]"
    if origin in (dict, Mapping):
        return f"a mapping of names to {_plural(describe(args[1]))}"
    if _is_settings(hint) or _is_custom(hint):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null",
            Any: "any value"}[hint]


def _plural(words: str) -> str:
    """'an integer, or a string' -> 'integers or strings'."""
    parts = [part.split(" ", 1)[1] + "s" if part.startswith(("a ", "an ")) else part for part in words.split(", or ")]
    return " or ".join(parts)


def _matches(value, hint) -> bool:
    """Whether value has the Python shape hint takes, so that a union reports the matching arm's own error."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
            isinstance(value, str) and bool(_EXPONENT_NUMBER.fullmatch(value.strip())))
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, (list, tuple))
    if origin in (dict, Mapping) or _is_settings(hint):
        return isinstance(value, Mapping)
    if _is_custom(hint):
        return hint.matches_setting(value)
    return False


def coerce(value, hint, path: str):
    """value as the type hint says (YAML's types are loose: ints for floats, lists for tuples); SettingsError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(value, CommandLineText):
        value = _read_command_line(value, hint)
    if hint is Any:
        return value
    if _is_union(hint):
        for arm in args:
            if _matches(value, arm) and not (arm is float and isinstance(value, int) and int in args):
                return coerce(value, arm, path)
        raise fail(path, f"must be {describe(hint)} (got {value!r})")
    if not _matches(value, hint):
        raise fail(path, f"must be {describe(hint)} (got {value!r})")
    if origin is Literal or hint in (bool, int, type(None)):
        return value
    if hint is float:
        return float(value)
    if hint is str:
        if not value.strip():
            raise fail(path, "must be a non-empty string")
        return value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(item, args[0], f"{path}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise fail(path, f"must be {describe(hint)} (got {value!r})")
        return tuple(coerce(item, arm, f"{path}[{i}]") for i, (item, arm) in enumerate(zip(value, args)))
    if origin in (dict, Mapping):
        return {coerce(key, args[0], path): coerce(item, args[1], _join(path, key)) for key, item in value.items()}
    if _is_settings(hint):
        return parse(hint, value, path)
    return hint.parse_setting(value, path)


# ------------------------------------------------------------------------------------------------ plain views


def to_dict(obj, *, only_identity: bool = False) -> dict:
    """The entry as the flat YAML mapping it was parsed from, with every default filled in (JSON-able).

    only_identity: without the fields marked identity=False, and without those left at their default, so that a
    kit release that adds a setting whose default keeps today's behaviour changes no experiment's hash and re-runs
    nothing (a changed default is a change of the kit, like a change of its code)."""
    out = {}
    for f in _fields(type(obj)):
        if only_identity and not f.metadata.get("identity", True):
            continue
        value = getattr(obj, f.name)
        if only_identity and not _flattened(f) and _at_default(f, value):
            continue
        if _flattened(f):
            out.update(to_dict(value, only_identity=only_identity))
        else:
            out[f.name] = plain(value, only_identity)
    for key in _open_keys(type(obj)):
        value = getattr(obj, key, {})
        if value or not only_identity:
            out[key] = plain(value, only_identity)
    return out


def references(obj, path: str) -> list[tuple[str, str, str]]:
    """(key, block, name) of each field of obj, nested settings included, that names an entry of a top-level block
    (`setting(names=block)`) and is set: key is its dotted path under `path`."""
    found = []
    for f in _fields(type(obj)):
        value = getattr(obj, f.name)
        if _flattened(f):
            found += references(value, path)
        elif isinstance(value, Settings):
            found += references(value, _join(path, f.name))
        elif f.metadata.get("names") and value is not None:
            found.append((_join(path, f.name), f.metadata["names"], value))
    return found


def identity(obj) -> dict:
    """to_dict without the fields marked identity=False: what decides the numbers a run produces."""
    return to_dict(obj, only_identity=True)


def plain(value, only_identity: bool = False):
    """A parsed value as JSON-able data: settings as mappings, tuples as lists."""
    if isinstance(value, Settings):
        return to_dict(value, only_identity=only_identity)
    if hasattr(value, "to_setting"):
        return value.to_setting(only_identity)
    if isinstance(value, tuple):
        return [plain(item, only_identity) for item in value]
    if isinstance(value, dict):
        return {key: plain(item, only_identity) for key, item in value.items()}
    return value


# ------------------------------------------------------------------------------------------------ schema


def json_schema(cls) -> dict:
    """A JSON schema (draft 2020-12) of the mapping cls parses: for editors; the kit itself parses with `parse`."""
    properties, required = {}, []
    for key, attr_path in keys_of(cls).items():
        owner, f = _owner_field(cls, attr_path)
        properties[key] = _field_schema(_hints(owner)[f.name], f)
        if _default(f) is MISSING:
            required.append(key)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _owner_field(cls, attr_path: tuple[str, ...]):
    owner = cls
    for name in attr_path[:-1]:
        owner = _hints(owner)[name]
    return owner, next(f for f in _fields(owner) if f.name == attr_path[-1])


def _field_schema(hint, f: dataclasses.Field) -> dict:
    schema = type_schema(hint)
    meta = f.metadata
    if meta.get("help"):
        schema["description"] = meta["help"]
    default = _default(f)
    if default is not MISSING and not isinstance(default, Settings):
        schema["default"] = plain(default)
    target = schema.get("items", schema) if schema.get("type") == "array" else schema
    for name, keyword in (("ge", "minimum"), ("gt", "exclusiveMinimum"), ("le", "maximum"), ("lt", "exclusiveMaximum")):
        if meta.get(name) is not None:
            target[keyword] = meta[name]
    if meta.get("pattern"):
        if schema.get("type") == "object":
            schema["propertyNames"] = {"pattern": f"^(?:{meta['pattern']})$"}
        else:
            target["pattern"] = f"^(?:{meta['pattern']})$"
    if meta.get("min_items") is not None:
        schema["minProperties" if schema.get("type") == "object" else "minItems"] = meta["min_items"]
    if meta.get("unique"):
        schema["uniqueItems"] = True
    return schema


def type_schema(hint) -> dict:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return {}
    if _is_union(hint):
        return {"anyOf": [type_schema(arm) for arm in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": type_schema(args[0])}
        return {"type": "array", "prefixItems": [type_schema(a) for a in args], "minItems": len(args),
                "maxItems": len(args)}
    if origin in (dict, Mapping):
        return {"type": "object", "additionalProperties": type_schema(args[1])}
    if _is_settings(hint):
        return json_schema(hint)
    if _is_custom(hint):
        return hint.setting_schema()
    return {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
            str: {"type": "string", "minLength": 1}, type(None): {"type": "null"}}[hint]


# ------------------------------------------------------------------------------------------------ documentation


@dataclasses.dataclass(frozen=True)
class FieldDoc:
    key: str  # the YAML key
    group: str  # the flattened group that owns it ('' at the top)
    type: str  # describe() of its type
    default: str  # the default as YAML would write it, '' when required
    bounds: str  # e.g. '>= 1'
    help: str


def field_docs(cls) -> list[FieldDoc]:
    """One FieldDoc per key cls takes, in declaration order (the README's config tables)."""
    docs = []
    for key, attr_path in keys_of(cls).items():
        owner, f = _owner_field(cls, attr_path)
        default = _default(f)
        docs.append(FieldDoc(
            key=key,
            group=attr_path[0] if len(attr_path) > 1 else "",
            type=describe(_hints(owner)[f.name]),
            default="(required)" if default is MISSING else yaml_text(plain(default)),
            bounds=", ".join(f"{symbol} {f.metadata[name]}" for name, symbol in
                             (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")) if f.metadata.get(name) is not None),
            help=f.metadata.get("help", ""),
        ))
    return docs


def yaml_text(value) -> str:
    """A value as one would write it in the YAML config."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_text(v)}" for k, v in value.items()) + "}"
    return str(value)


# ------------------------------------------------------------------------------------------------ command line


def add_arguments(parser, cls, only=None, prefix: str = "") -> None:
    """One `--<prefix><key>` flag per key of cls (or of `only`), with its help, type and default as in the config."""
    for doc in field_docs(cls):
        if only is not None and doc.key not in only:
            continue
        hint = _hint_of(cls, doc.key)
        many = typing.get_origin(hint) is tuple and typing.get_args(hint)[-1] is Ellipsis
        flag = (prefix + doc.key).replace("_", "-")
        parser.add_argument(
            "--" + flag, dest=flag.replace("-", "_"), nargs="+" if many else None, metavar=doc.key.upper(),
            default=None, required=doc.default == "(required)",
            help=f"{doc.help} ({doc.type}; default {doc.default})" if doc.default != "(required)" else doc.help,
        )


def argument_values(cls, args, only=None, prefix: str = "", path: str = "command line") -> dict:
    """The flags add_arguments made that were given, each coerced and checked like its config key."""
    values = {}
    for key in keys_of(cls):
        if only is not None and key not in only:
            continue
        given = getattr(args, (prefix + key).replace("-", "_"), None)
        if given is None:
            continue
        hint = _hint_of(cls, key)
        owner, f = _owner_field(cls, keys_of(cls)[key])
        values[key] = _checked(_from_text(given, hint), hint, f, f"{path} --{(prefix + key).replace('_', '-')}")
    return values


def from_arguments(cls, args, prefix: str = "", path: str = "command line"):
    """cls parsed from the flags add_arguments made (the defaults of cls for the others)."""
    return parse(cls, argument_values(cls, args, prefix=prefix, path=path), path)


def _hint_of(cls, key: str):
    owner, f = _owner_field(cls, keys_of(cls)[key])
    return _hints(owner)[f.name]


def _from_text(text, hint):
    """A flag's text as the value YAML would give, except where the key takes a string: there it stays text (an id
    column named '123', a class label '-1')."""
    if isinstance(text, list):
        return [_from_text(item, typing.get_args(hint)[0]) for item in text]
    arms = typing.get_args(hint) if _is_union(hint) else (hint,)
    takes_text = any(arm is str or (typing.get_origin(arm) is Literal and all(isinstance(a, str) for a in
                                                                              typing.get_args(arm))) for arm in arms)
    if takes_text and not (text in ("null", "~") and type(None) in arms):
        return text
    import yaml  # only the command line pays for it

    return yaml.safe_load(text)
