"""The `ensembles:` entries of the config, checked: which keys each method takes, and their types.

Imports nothing heavy (no numpy): the Snakefile checks every entry at plan time, before any job starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

OBJECTIVES = ("f1", "logloss")  # what weighted and caruana blends optimise on OOF rows
COMMON_KEYS = ("method", "members", "class_weights", "class_weight_starts", "seed")
METHOD_KEYS = {
    "mean": (),
    "fixed": ("weights",),
    "weighted": ("objective",),
    "caruana": ("objective", "rounds", "init", "bags", "bag_fraction"),
    "stack": ("estimator", "params"),
    "vote_hard": (),
    "vote_soft": (),
    "vote_multiround": ("n_voters", "candidates", "stop_agreement", "max_rounds"),
}
FITTED_METHODS = ("weighted", "caruana", "vote_multiround")  # fitted on OOF rows, so cross-fitted for the honest score


@dataclass(frozen=True)
class EnsembleSpec:
    """One entry of the config's `ensembles:` block, checked. A key that does not apply to the method is refused,
    so a typo or a misplaced option cannot be ignored in silence."""

    method: str
    members: str | tuple[str, ...] = "all"  # "all": every artifact handed to the builder (the CLI hands experiments)
    class_weights: bool = False  # search per-class weights for macro-F1 on top; cross-fitted with the rest
    class_weight_starts: int = 3  # the first start is w = 1, the others seeded random
    seed: int = 0  # class-weight starts, caruana bags, the level-2 model's random_state
    objective: str = "f1"  # weighted, caruana: macro-F1 is the competition's score; logloss is smoother
    rounds: int = 25  # caruana: greedy picks, with replacement
    init: int = 0  # caruana: best single members picked before the greedy rounds
    bags: int = 1  # caruana: > 1 runs the greedy on seeded member subsets and averages, against lucky picks
    bag_fraction: float = 0.5  # caruana: share of the members each bag sees
    weights: dict | None = None  # fixed: {member name: weight}, normalised to sum 1
    estimator: str = "LogisticRegression"  # stack: a scikit-learn classifier, bare name or dotted path
    params: dict = field(default_factory=dict)  # stack: keyword arguments of the estimator
    n_voters: int = 3  # vote_multiround: voters per round (the winning team used 3-4)
    candidates: int = 5  # vote_multiround: the best pool member votes with the least agreeing of the next 4 best
    stop_agreement: float = 0.95  # vote_multiround: stop once the result agrees this much with every voter
    max_rounds: int = 10  # vote_multiround

    @classmethod
    def from_dict(cls, name: str, entry: dict) -> "EnsembleSpec":
        where = f"ensemble {name!r}"
        if not isinstance(entry, dict) or entry.get("method") not in METHOD_KEYS:
            method = entry.get("method") if isinstance(entry, dict) else entry
            raise ValueError(f"{where}: method {method!r} is not one of {sorted(METHOD_KEYS)}")
        allowed = COMMON_KEYS + METHOD_KEYS[entry["method"]]
        defaults = {f.name: f.default for f in fields(cls)}
        values = {}
        for key, value in entry.items():
            if key not in defaults:
                raise ValueError(f"{where}: unknown key {key!r}; keys are {sorted(defaults)}")
            if key not in allowed:
                users = sorted(m for m, keys in METHOD_KEYS.items() if key in keys)
                raise ValueError(f"{where}: key {key!r} does not apply to method {entry['method']!r} (only to {users})")
            values[key] = _checked(where, key, value, defaults[key])
        if values.get("objective", "f1") not in OBJECTIVES:
            raise ValueError(f"{where}: objective {values['objective']!r} is not one of {OBJECTIVES}")
        if entry["method"] == "fixed" and not values.get("weights"):
            raise ValueError(f"{where}: method 'fixed' needs weights: {{member name: weight, ...}}")
        return cls(**values)


def _checked(where: str, key: str, value, default):
    """value, or a ValueError naming the key when its type is not the one the option takes."""
    if key == "method":
        return value  # checked against METHOD_KEYS already
    if key == "members":
        if value == "all":
            return value
        if isinstance(value, (list, tuple)) and value and all(isinstance(m, str) for m in value):
            return tuple(value)
        raise ValueError(f"{where}: members must be 'all' or a list of artifact names, got {value!r}")
    if key in ("weights", "params"):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: {key} must be a mapping, got {value!r}")
        not_numbers = {k: w for k, w in value.items() if isinstance(w, bool) or not isinstance(w, (int, float))}
        if key == "weights" and not_numbers:
            raise ValueError(f"{where}: weights must be numbers, got {not_numbers}")
        return value
    wanted = type(default)
    ok = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ValueError(f"{where}: {key} must be {wanted.__name__}, got {value!r}")
    return value
