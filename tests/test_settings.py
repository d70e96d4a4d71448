"""kit.settings: one typed definition parsed, checked, and turned into a schema, docs and command-line flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from kit.settings import (
    CommandLineText,
    Settings,
    SettingsError,
    argument_values,
    add_arguments,
    fail,
    field_docs,
    from_command_line,
    from_arguments,
    group,
    identity,
    json_schema,
    parse,
    setting,
    to_dict,
)


@dataclass
class Inner(Settings):
    depth: int = setting(2, "how deep", ge=1)


@dataclass
class Grouped(Settings):
    name: str = setting(help="required name", pattern=r"[a-z]+")
    lr: float = setting(1e-3, "learning rate", gt=0)


@dataclass
class Example(Settings):
    grouped: Grouped = group(Grouped, "a flattened group")
    mode: Literal["fast", "slow"] = setting("fast", "speed")
    sizes: tuple[int, ...] = setting((1, 2), "sizes", ge=1, min_items=1, unique=True)
    window: tuple[int, int] = setting((1, 3), "a range")
    limit: int | None = setting(None, "a limit", ge=0)
    weights: dict[str, float] = setting({}, "named weights", ge=0)
    inner: Inner | str = setting("none", "an inner block or a word")
    anything: Any = setting(None, "passed through")
    threads: int = setting(1, "threads", ge=1, identity=False)

    def check(self, path: str) -> None:
        if self.window[0] > self.window[1]:
            raise fail(f"{path}.window", "must be [low, high]")


def test_defaults_fill_in_and_flat_keys_reach_their_group():
    parsed = parse(Example, {"name": "abc", "lr": "2e-5", "sizes": [3], "inner": {"depth": 4}}, "m")
    assert parsed.grouped == Grouped(lr=2e-5, name="abc")
    assert parsed.sizes == (3,) and parsed.window == (1, 3) and parsed.limit is None
    assert parsed.inner == Inner(depth=4) and parsed.mode == "fast"


def test_command_line_text_is_read_by_its_fields_type():
    """Snakemake hands `--config` values over as text ('seeds=[0, 1]' is ['0', '1']); a config file's strings stay
    strings (`lr: "4"` is refused above)."""
    merged = {"name": "abc", "lr": "2.0", "sizes": ["3", "4"], "limit": "null", "weights": {"a": "0.5"},
              "inner": "7", "anything": "{C: 1.5}", "window": [1, 3]}
    overrides = {key: value for key, value in merged.items() if key != "window"}
    marked = from_command_line(merged, overrides)
    assert isinstance(marked["sizes"][0], CommandLineText) and marked["window"] == [1, 3]
    parsed = parse(Example, marked, "m")
    assert parsed.grouped == Grouped(name="abc", lr=2.0) and parsed.sizes == (3, 4) and parsed.limit is None
    assert parsed.weights == {"a": 0.5} and parsed.anything == {"C": 1.5}
    assert parsed.inner == "7" and type(parsed.grouped.name) is str  # a string field keeps the text as typed
    with pytest.raises(SettingsError, match=r"'m\.lr': must be a number \(got 'fast'\)"):
        parse(Example, from_command_line({"name": "abc", "lr": "fast"}, {"lr": "fast"}), "m")
    # Only what --config set is read as YAML: the same text from a file is refused.
    assert from_command_line({"lr": "4"}, {"lr": "5"}) == {"lr": "4"}
    assert not isinstance(from_command_line({"lr": "4"}, {})["lr"], CommandLineText)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, r"'m\.name': is required"),
        ({"name": "x", "lrr": 1}, r"'m\.lrr': is not a key here; did you mean 'lr'"),
        ({"name": "x", "lr": "4"}, r"'m\.lr': must be a number \(got '4'\)"),
        ({"name": "x", "lr": 0}, r"'m\.lr': must be greater than 0"),
        ({"name": "x", "lr": True}, r"'m\.lr': must be a number"),
        ({"name": "X"}, r"'m\.name': 'X' does not match"),
        ({"name": "x", "mode": "medium"}, r"'m\.mode': must be one of 'fast', 'slow'"),
        ({"name": "x", "sizes": []}, r"'m\.sizes': needs at least 1"),
        ({"name": "x", "sizes": [0]}, r"'m\.sizes': must be at least 1"),
        ({"name": "x", "sizes": [2, 3, 2]}, r"'m\.sizes': names 2 more than once: each item may appear once"),
        ({"name": "x", "sizes": "1,2"}, r"'m\.sizes': must be a list of integers"),
        ({"name": "x", "window": [1, 2, 3]}, r"'m\.window': must be a list \[an integer, an integer\]"),
        ({"name": "x", "window": [3, 1]}, r"'m\.window': must be \[low, high\]"),
        ({"name": "x", "limit": "lots"}, r"'m\.limit': must be an integer, or null"),
        ({"name": "x", "weights": {"a": -1}}, r"'m\.weights\.a': must be at least 0"),
        ({"name": "x", "inner": {"dpth": 1}}, r"'m\.inner\.dpth': is not a key here; did you mean 'depth'"),
        ({"name": "x", "inner": 3}, r"'m\.inner': must be a mapping, or a string"),
        ("not a mapping", r"'m': must be a mapping"),
    ],
)
def test_mistakes_name_their_key(entry, message):
    with pytest.raises(SettingsError, match=message):
        parse(Example, entry, "m")


def test_to_dict_round_trips_and_identity_leaves_out_what_does_not_decide_numbers():
    parsed = parse(Example, {"name": "abc", "weights": {"a": 1}, "threads": 4}, "m")
    flat = to_dict(parsed)
    assert flat["lr"] == 1e-3 and flat["name"] == "abc" and flat["sizes"] == [1, 2] and flat["threads"] == 4
    assert parse(Example, flat, "m") == parsed
    assert "threads" not in identity(parsed) and identity(parsed)["weights"] == {"a": 1.0}
    # Fields at their default are left out, so a release that adds a setting with a default re-runs nothing.
    assert identity(parsed) == {"name": "abc", "weights": {"a": 1.0}}
    assert identity(parse(Example, {"name": "abc", "weights": {"a": 1}, "lr": 1e-3}, "m")) == identity(parsed)
    assert identity(parse(Example, {"name": "abc", "weights": {"a": 1}, "lr": 2e-3}, "m"))["lr"] == 2e-3

    @dataclass
    class Extended(Example):
        new_option: bool = setting(False, "a release's new option, off by default")

    assert identity(parse(Extended, {"name": "abc", "weights": {"a": 1}}, "m")) == identity(parsed)


def test_schema_docs_and_flags_come_from_the_same_fields():
    schema = json_schema(Example)
    assert schema["required"] == ["name"] and schema["additionalProperties"] is False
    assert schema["properties"]["lr"] == {"type": "number", "description": "learning rate", "default": 1e-3,
                                          "exclusiveMinimum": 0}
    assert schema["properties"]["sizes"]["items"] == {"type": "integer", "minimum": 1}
    assert schema["properties"]["sizes"]["uniqueItems"] is True and "uniqueItems" not in schema["properties"]["window"]
    docs = {doc.key: doc for doc in field_docs(Example)}
    assert docs["lr"].group == "grouped" and docs["name"].default == "(required)" and docs["sizes"].default == "[1, 2]"
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example, only=("name", "lr", "sizes", "limit", "mode"), prefix="x-")
    args = parser.parse_args(["--x-name", "abc", "--x-sizes", "4", "5", "--x-limit", "null", "--x-lr", "1e-4"])
    assert argument_values(Example, args, only=("sizes", "limit"), prefix="x-") == {"sizes": (4, 5), "limit": None}
    with pytest.raises(SettingsError, match=r"command line --x-lr"):
        argument_values(Example, parser.parse_args(["--x-name", "a", "--x-lr", "-1"]), prefix="x-")
    assert "speed (one of 'fast', 'slow'; default fast)" in parser.format_help().replace("\n", " ").replace("  ", " ")


def test_from_arguments_keeps_text_where_a_key_takes_text():
    @dataclass
    class Names(Settings):
        column: str = setting("id", "a column name")
        labels: tuple[int | str, ...] = setting(("-1",), "labels")

    parser = argparse.ArgumentParser()
    add_arguments(parser, Names)
    parsed = from_arguments(Names, parser.parse_args(["--column", "123", "--labels", "-1", "0"]))
    assert parsed == Names(column="123", labels=("-1", "0"))
