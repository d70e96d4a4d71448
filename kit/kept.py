"""What a run keeps so that `kit predict` can classify new posts: fold models and ensemble combinations.

models/folds/<exp>/fold<k>/  the fit_fold rule's second output. Every fold job writes its model, whatever
    keep_models says, so which models are kept never decides whether a fold job runs:
    model.json (the family, the experiment's identity hash, fold, seed, fold and data hashes, text variant, classes)
    and whatever the family's Predictor.save wrote (scikit-learn: model.skops; transformers: save_pretrained +
    head.pt); or only not_kept.json, saying why (a family without load_predictor, or pruned: see below).
models/folds/<exp>/retention.json  the keep_models rule's output: after the experiment is merged, the fold models
    keep_models leaves out are pruned to not_kept.json (a cheap step, re-run when keep_models or the final
    candidates change); it records which were kept, pruned now, or pruned by an earlier run.
oof/ensemble.<name>/combination.skops  the ensemble's fit on every OOF row (blend weights, a vote plan, a level-2
    model) and the class weights on top: exactly what made its test logits.

Nothing is pickled: models go through skops or save_pretrained, and loading refuses every type that is neither
numpy's nor scikit-learn's nor declared by the family or method that wrote it (kit.registry). A kept model proves it
belongs before it is used: its identity hash, fold and fold hash must be the artifact's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from kit.artifacts import ArtifactError, atomic_folder, atomic_write_bytes, read_json, write_json

MODEL_JSON = "model.json"
NOT_KEPT_JSON = "not_kept.json"
COMBINATION = "combination.skops"
KEEP_MODES = ("auto", "all", "none")


def why_not_kept(mode: str) -> str:
    """Why the keep_models rule prunes an experiment's fold models under keep_models `mode`."""
    if mode == "none":
        return "keep_models: none keeps no fold model"
    return ("keep_models: auto keeps the fold models of the experiments subs/final.csv can depend on, and this one "
            "is not among them; set keep_models: all to keep it")


def write_fold_model(folder: Path, predictor, meta: dict) -> bool:
    """Write a fold's model folder: the predictor and model.json, or not_kept.json when the family cannot keep one;
    True when kept.

    meta: what model.json records (kind, config_hash, fold, seed, fold_hash, data_hash, variant, classes).
    """
    from kit import registry

    keep = predictor is not None and registry.family(meta["kind"]).load_predictor is not None
    with atomic_folder(folder) as tmp:
        if keep:
            predictor.save(tmp)
            write_json(tmp / MODEL_JSON, meta)
        else:
            reason = (f"model kind {meta['kind']!r} cannot keep its fold models: its family declares no "
                      "load_predictor (kit.registry.Family) or its fit_predict returns no predictor")
            write_json(tmp / NOT_KEPT_JSON, {"kept": False, "reason": reason, **meta})
    return keep


def retain_fold_models(folders: list[Path], keep: bool, why_not: str, log=print) -> dict:
    """Settle an experiment's fold model folders for keep_models: kept as they are, or pruned to not_kept.json
    (the folder stays, so the fold job that wrote it stays finished). Returns what retention.json records:
    {folder: 'kept' | 'pruned' | 'pruned earlier' | 'not keepable'}.

    A model pruned by an earlier run cannot come back without training it again; kit predict says how.
    """
    status = {}
    for folder in map(Path, folders):
        if (folder / MODEL_JSON).is_file():
            if keep:
                status[str(folder)] = "kept"
                continue
            meta = read_json(folder / MODEL_JSON)
            with atomic_folder(folder) as tmp:
                write_json(tmp / NOT_KEPT_JSON, {"kept": False, "reason": why_not, "pruned": True, **meta})
            status[str(folder)] = "pruned"
        elif (folder / NOT_KEPT_JSON).is_file():
            pruned = read_json(folder / NOT_KEPT_JSON).get("pruned", False)
            status[str(folder)] = "pruned earlier" if pruned else "not keepable"
            if keep and pruned:
                log(f"{folder}: keep_models now keeps this fold model, but an earlier run pruned it; to have it for "
                    f"`kit predict`, train it again: snakemake --forcerun {folder}")
        else:
            raise FileNotFoundError(f"{folder}: holds neither {MODEL_JSON} nor {NOT_KEPT_JSON}; run "
                                    f"`snakemake --forcerun {folder}`")
    counts = {state: list(status.values()).count(state) for state in dict.fromkeys(status.values())}
    log(f"fold models: {', '.join(f'{n} {state}' for state, n in counts.items())}")
    return status


def load_fold_predictor(folder: Path, manifest: dict, fold: int):
    """The predictor a fold job kept in folder, after it proves it belongs to the experiment's manifest (same
    family, identity hash, fold, fold file and data), loaded by its family's load_predictor; a ValueError naming the
    folder when it cannot be."""
    from kit import registry

    folder = Path(folder)
    name = manifest["name"]
    if (folder / NOT_KEPT_JSON).is_file():
        kept = read_json(folder / NOT_KEPT_JSON)
        again = (f"it was pruned, so train it again: `snakemake --forcerun {folder}` after setting keep_models: all "
                 "(or naming this artifact in final:)") if kept.get("pruned") else "set keep_models: all"
        raise ValueError(f"{folder}: the fold model of {name} was not kept ({kept.get('reason', '')}); {again}")
    if not (folder / MODEL_JSON).is_file():
        raise FileNotFoundError(f"{folder}: no kept fold model of {name} (run snakemake with this workflow version, "
                                "which writes models/folds/, or pass --models-dir)")
    meta = read_json(folder / MODEL_JSON)
    expected = {"kind": manifest.get("family"), "config_hash": manifest.get("config_hash"), "fold": fold,
                "fold_hash": manifest.get("fold_hash"), "data_hash": manifest.get("data_hash")}
    for key, value in expected.items():
        if meta.get(key) != value:
            what = {"config_hash": "identity hash (another config made it)", "fold": "fold (a copy of another "
                    "fold's folder?)", "fold_hash": "fold hash (another fold file)"}.get(key, key)
            raise ValueError(f"{folder}: its {what} {meta.get(key)!r} differs from {name}'s manifest ({value!r}): "
                             f"the model does not belong to this artifact; run `snakemake --forcerun {folder}`")
    family = registry.family(meta["kind"])
    if family.load_predictor is None:
        raise ValueError(f"{folder}: model kind {meta['kind']!r} declares no load_predictor, so {name} cannot predict")
    try:
        return registry.resolve(family.load_predictor)(folder)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{folder}: {Path(error.filename or '').name or error} is missing (kept by another "
                                f"version of the kit?); run `snakemake --forcerun {folder}`") from error
    except ArtifactError as error:  # a damaged file inside the folder: the folder is what the rule rebuilds
        raise ArtifactError(f"{folder}: a file of the kept fold model is truncated or damaged ({error.detail}); run "
                            f"`snakemake --forcerun {folder}`") from error


# ------------------------------------------------------------------------------------------------ skops


def dump_skops(path: Path, obj: Any) -> None:
    """obj (numpy arrays, scikit-learn estimators, plain containers, declared types) into path through skops."""
    import zipfile

    import skops.io

    atomic_write_bytes(Path(path), skops.io.dumps(obj, compression=zipfile.ZIP_DEFLATED))


def load_skops(path: Path, trusted: Iterable[str] = ()) -> Any:
    """What dump_skops wrote; types beyond skops' defaults (numpy, scikit-learn) load only when named in trusted,
    otherwise a ValueError naming the file and the types."""
    import json
    import zipfile
    import zlib

    import skops.io

    from kit.artifacts import damaged_error

    payload = Path(path).read_bytes()
    # What a truncated or overwritten zip raises inside skops: a missing part, bad compression, an unreadable schema.
    damage = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, json.JSONDecodeError)
    try:
        unknown = sorted(set(skops.io.get_untrusted_types(data=payload)) - set(trusted))
    except damage as error:
        raise damaged_error(Path(path), error) from error
    if unknown:
        raise ValueError(f"{path}: holds types the kit does not load: {unknown}; only numpy, scikit-learn and the "
                         "types a family or ensemble method declares are trusted")
    try:
        return skops.io.loads(payload, trusted=sorted(trusted))
    except damage as error:
        raise damaged_error(Path(path), error) from error


# ------------------------------------------------------------------------------------------------ ensembles


def fitted_types(method_name: str, params) -> tuple[str, ...]:
    """The types a method declares for its fitted object (kit.registry.Method.fitted_types)."""
    from kit import registry

    declared = registry.method(method_name).fitted_types
    return tuple(declared(params) if callable(declared) else declared)


def save_combination(path: Path, fitted) -> None:
    """An ensemble's fit on every OOF row (kit.ensemble.fitted.Fitted) into combination.skops."""
    dump_skops(path, {"combination": fitted.combination, "class_weights": fitted.class_weights})


def load_combination(path: Path, entry):
    """The Fitted that save_combination wrote for the ensemble entry (kit.config.EnsembleEntry)."""
    from kit.ensemble.fitted import Fitted

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; the ensemble was built by an older kit: run "
                                f"`snakemake --forcerun {path.parent / 'manifest.json'}`")
    saved = load_skops(path, fitted_types(entry.method, entry.params))
    return Fitted(saved["combination"], saved["class_weights"])

