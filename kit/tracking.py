"""Experiment tracking: every experiment and ensemble of a finished run logged to MLflow.

With `tracking: mlflow` in the config, the `track` rule (rules/tracking.smk) runs once the artifacts and their
figures exist: one MLflow run per artifact, named after it, holding its settings (the model entry, or the ensemble's
spec and members) as params, its scores as metrics, its identity hash as a tag, and its manifest and figure as
artifacts. The store is `tracking_uri`, or by default a local SQLite store under `mlruns/` in the run folder (MLflow
3 keeps plain-folder stores in maintenance mode); `mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db` shows it.

Logging is idempotent: a run is tagged with the SHA-256 of the manifest it logged, and an artifact whose manifest is
already logged is not logged again, so re-running the rule (or a second `snakemake`) adds only what changed.
The rule runs after the fold jobs and is not one of their inputs: switching tracking on or off re-runs nothing else.

mlflow is an optional extra (`pip install -e '.[tracking]'`) imported only here, inside the functions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from kit.artifacts import read_json, write_json
from kit.hashing import file_sha256, sha256_json

# MLflow's experiment that holds the runs: one per run folder would scatter a competition; one name keeps it together.
EXPERIMENT = "kit"
STORE_DIR = "mlruns"
MANIFEST_TAG = "kit.manifest_sha256"
IDENTITY_TAG = "kit.identity"
# A tracking server takes at most 100 params in one batch (MLflow's REST limit; the local SQLite store takes more),
# and a transformer entry can have more settings than that once flattened.
PARAMS_PER_BATCH = 100


def default_uri(run_dir: Path = Path(".")) -> str:
    return f"sqlite:///{(Path(run_dir) / STORE_DIR / 'mlflow.db').resolve()}"


def identity_hash(manifest: dict) -> str:
    """What names an artifact's numbers: an experiment's config hash; an ensemble's spec, members' manifests and
    fold file."""
    if manifest["kind"] == "experiment":
        return manifest["config_hash"]
    return sha256_json({key: manifest.get(key) for key in ("spec", "member_hashes", "fold_hash")})


def flat_params(value, prefix: str = "") -> dict[str, str]:
    """A nested mapping as MLflow params: dotted keys, values as text (MLflow params are strings)."""
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat |= flat_params(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    return {prefix: str(value)}


def run_record(manifest: dict) -> dict:
    """What one artifact's MLflow run holds: {params, metrics, tags}."""
    scores = manifest.get("scores", {})
    metrics = {
        "oof_macro_f1": scores.get("oof_macro_f1"),
        "honest_macro_f1": manifest.get("honest_macro_f1"),
        "fold_f1_mean": scores.get("fold_f1_mean"),
        "fold_f1_std": scores.get("fold_f1_std"),
        "accuracy": scores.get("accuracy"),
        **{f"f1_class_{label}": f1 for label, f1 in zip(manifest.get("classes", []), scores.get("per_class_f1", []))},
    }
    if manifest["kind"] == "experiment":
        settings = {"family": manifest["family"], "model": manifest["model"], "variant": manifest["variant"],
                    "seed": manifest["seed"], "params": manifest["params"]}
    else:
        settings = {"method": manifest["method"], "spec": manifest["spec"], "members": ",".join(manifest["members"])}
    return {
        "params": flat_params(settings),
        "metrics": {key: float(value) for key, value in metrics.items() if value is not None},
        "tags": {IDENTITY_TAG: identity_hash(manifest), "kit.kind": manifest["kind"],
                 "kit.fold_hash": manifest.get("fold_hash", ""), "kit.git_commit": str(manifest.get("git_commit"))},
    }


def log_artifacts(manifests: list[Path], figures: list[Path | None], uri: str | None, out: Path,
                  log: Callable[[str], None]) -> dict[str, dict]:
    """Log each artifact (its manifest.json, and its figure where given) as one MLflow run; write `out`, a JSON of
    artifact name -> {run_id, status: logged | already logged}, and return it."""
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ValueError("tracking: mlflow is not installed; run `pip install -e '.[tracking]'` or set "
                         "`tracking: none`") from None
    uri = uri or default_uri()
    location = None
    if uri.startswith("sqlite:///"):  # a local database: its folder holds the runs' files too
        store = Path(uri.removeprefix("sqlite:///")).parent
        store.mkdir(parents=True, exist_ok=True)
        location = (store / "artifacts").resolve().as_uri()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        experiment_id = client.create_experiment(EXPERIMENT, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    logged = {}
    for manifest_path, figure in zip(manifests, figures):
        manifest = read_json(manifest_path)
        manifest_sha = file_sha256(manifest_path)
        found = client.search_runs([experiment_id], filter_string=f"tags.`{MANIFEST_TAG}` = '{manifest_sha}'",
                                   max_results=1)
        if found:
            logged[manifest["name"]] = {"run_id": found[0].info.run_id, "status": "already logged"}
            continue
        record = run_record(manifest)
        run = client.create_run(experiment_id, run_name=manifest["name"],
                                tags={**record["tags"], MANIFEST_TAG: manifest_sha})
        run_id, now = run.info.run_id, int(time.time() * 1000)
        params = [mlflow.entities.Param(k, v) for k, v in record["params"].items()]
        for start in range(0, len(params), PARAMS_PER_BATCH):
            client.log_batch(run_id, params=params[start:start + PARAMS_PER_BATCH])
        client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, v, now, 0) for k, v in record["metrics"].items()])
        client.log_artifact(run_id, str(manifest_path))
        if figure is not None and Path(figure).is_file():
            client.log_artifact(run_id, str(figure))
        client.set_terminated(run_id)
        logged[manifest["name"]] = {"run_id": run_id, "status": "logged"}
    write_json(Path(out), {"tracking_uri": uri, "experiment": EXPERIMENT, "runs": logged})
    new = sum(entry["status"] == "logged" for entry in logged.values())
    log(f"MLflow {uri}: {new} run(s) logged, {len(logged) - new} already there")
    return logged
