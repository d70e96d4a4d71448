"""Sweeps: a model entry's `sweep:` expanded into ordinary model entries, before the config is parsed.

    models:
      tfidf_char_lr:
        kind: sklearn
        C: 4.0
        sweep:
          C: [1.0, 4.0, 16.0]           # lists: the grid of every combination
          char_ngram: [[1, 3], [1, 4]]
      svm:
        kind: sklearn
        estimator: linear_svm
        sweep:
          C: {log_uniform: [0.01, 1.0]} # distributions: `count` draws, seeded
          count: 4
          seed: 0

Each point becomes one model entry, the base entry with the point's values, named after them
(`tfidf_char_lr--C1--char_ngram1-4`: model and experiment names are folder names and wildcards, so only letters,
digits, `_` and `-`; a decimal point is written `p`, a minus sign `m`). Each is then an ordinary experiment: its own
fold jobs, hash and artifact, scored like any other. The best point's OOF score was chosen on the same rows it is
scored on, so it flatters: each sweep also adds the ensemble `best_of_<model>` (best_of_sweep_spec: Caruana with one
pick over the points), whose honest score, each fold's pick made without that fold, is what the sweep is worth. An
ensemble of that name in the config is kept as written.

`expand_sweeps(models)` is a pure function of the `models:` mapping; kit.config.load calls it before parsing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
RESERVED = ("count", "seed")  # keys of a sweep that are not model settings


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"config key '{path}': {message}")


def _label(value) -> str:
    """A value as a name piece: 1.0 -> 1, 0.25 -> 0p25, -2 -> m2, [1, 4] -> 1-4, 'linear_svm' -> linear_svm."""
    if isinstance(value, (list, tuple)):
        return "-".join(_label(item) for item in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        value = int(value) if value.is_integer() else float(f"{value:.4g}")
    return str(value).replace("-", "m").replace(".", "p").replace("+", "")


def _draw(spec: Mapping, rng, path: str):
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise _fail(path, f"a distribution is one of {', '.join(DISTRIBUTIONS)} with its arguments, e.g. "
                          "{log_uniform: [0.01, 1.0]}; got " + repr(dict(spec)))
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise _fail(path, "choice takes a non-empty list")
        return args[int(rng.integers(len(args)))]
    if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, (int, float)) for a in args)
            and args[0] < args[1]):
        raise _fail(path, f"{kind} takes [low, high] with low < high, got {args!r}")
    low, high = args
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "int_uniform":
        return int(rng.integers(int(low), int(high) + 1))
    if low <= 0:
        raise _fail(path, f"log_uniform needs low > 0, got {low}")
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sweep_points(sweep: Mapping, path: str) -> list[dict]:
    """The settings of each point of one `sweep:` block: the grid of its lists, or `count` seeded draws of its
    distributions (lists then draw one of their items)."""
    if not isinstance(sweep, Mapping) or not sweep:
        raise _fail(path, "must map settings to lists (a grid) or distributions with count")
    values = {key: value for key, value in sweep.items() if key not in RESERVED}
    randomised = any(isinstance(value, Mapping) for value in values.values())
    if not randomised:
        if "count" in sweep or "seed" in sweep:
            raise _fail(path, "count and seed belong to a sweep with distributions; a grid of lists has neither")
        for key, value in values.items():
            if not isinstance(value, list) or not value:
                raise _fail(f"{path}.{key}", "a grid value is a non-empty list of settings")
        return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]
    count = sweep.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _fail(f"{path}.count", f"a sweep with distributions needs count, an integer >= 1 (got {count!r})")
    import numpy as np  # only here: kit.config, which expands sweeps at plan time, imports no numpy

    rng = np.random.default_rng(sweep.get("seed", 0))
    points = []
    for _ in range(count):
        point = {}
        for key, value in values.items():  # in the entry's order, so a seed gives the same points
            if isinstance(value, Mapping):
                point[key] = _draw(value, rng, f"{path}.{key}")
            elif isinstance(value, list) and value:
                point[key] = value[int(rng.integers(len(value)))]
            else:
                raise _fail(f"{path}.{key}", "a list of settings or a distribution")
        points.append(point)
    return points


def point_name(model: str, point: Mapping) -> str:
    return "--".join([model, *(f"{key}{_label(value)}" for key, value in point.items())])


def expand_sweeps(models: Mapping) -> dict:
    """The `models:` mapping with every entry that has `sweep:` replaced by one entry per point (in the entry's
    place, in point order); entries without one are unchanged. ValueError naming the key on a bad sweep or a
    name that two points (or a point and an entry) share."""
    expanded: dict = {}
    for model, entry in models.items():
        if not isinstance(entry, Mapping) or "sweep" not in entry:
            expanded[model] = entry
            continue
        base = {key: value for key, value in entry.items() if key != "sweep"}
        for point in sweep_points(entry["sweep"], f"models.{model}.sweep"):
            name = point_name(model, point)
            if name in expanded or name in models:
                raise _fail(f"models.{model}.sweep", f"two points are both named {name!r} (a random sweep drew the "
                                                     "same values twice, or an entry has that name); change seed")
            expanded[name] = {**base, **point}
    return expanded


def swept_models(models: Mapping) -> dict[str, list[str]]:
    """{model with a sweep: the names of its points' entries}, for the best-of-sweep ensembles (kit.config)."""
    return {model: [point_name(model, point) for point in sweep_points(entry["sweep"], f"models.{model}.sweep")]
            for model, entry in models.items() if isinstance(entry, Mapping) and "sweep" in entry}


def best_of_sweep_spec(experiments: list[str]) -> dict:
    """The ensemble entry that picks a sweep's best point by OOF macro-F1: Caruana's first greedy pick is the
    single best member, and as a fitted method it is cross-fitted, so its honest score is the pick made without
    each fold (naive beside it: the flattering best-of-sweep score)."""
    return {"method": "caruana", "rounds": 1, "objective": "f1", "members": list(experiments)}


def with_sweep_key(schema: dict) -> dict:
    """The config's JSON schema (kit.docs) with `sweep:` allowed in every model entry, so editors accept it: the
    entries are parsed after expansion, so the families' settings never see the key."""
    value = {"anyOf": [{"type": "array", "minItems": 1},
                       {"type": "object", "minProperties": 1, "maxProperties": 1,
                        "propertyNames": {"enum": list(DISTRIBUTIONS)}}]}
    sweep = {"type": "object", "minProperties": 1,
             "description": "expands this entry into one entry per point (kit/sweeps.py): lists give a grid; "
                            "distributions give `count` draws from `seed`",
             "properties": {"count": {"type": "integer", "minimum": 1}, "seed": {"type": "integer", "minimum": 0}},
             "additionalProperties": value}
    for alternative in schema["properties"]["models"]["additionalProperties"]["oneOf"]:
        alternative["properties"]["sweep"] = sweep
    return schema
