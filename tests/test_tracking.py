"""kit.tracking: the artifacts of a small real run logged to a real local MLflow store, read back through MLflow's
own client; a second logging adds nothing. Skipped, saying so, only where mlflow is not installed (CI installs it:
.ci/run)."""

import json

import pytest

from kit import cli
from kit.hashing import sha256_json
from kit.tracking import EXPERIMENT, IDENTITY_TAG, default_uri, identity_hash

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[tracking]'")
pytest.importorskip("sqlalchemy", reason="the local store needs sqlalchemy: pip install -e '.[tracking]'")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A run folder with one experiment (2 folds of char TF-IDF + LR on 200 demo posts), one ensemble of it and
    the ensemble's figure, made by the kit's own commands."""
    root = tmp_path_factory.mktemp("run")
    classes = ["--classes", "-1", "0", "1"]

    def kit(*argv):
        cli.main([*map(str, argv), "--log", str(root / "run.log")])

    kit("demo", "--train", root / "train.csv", "--test", root / "test.csv", "--unlabeled", root / "u.csv",
        "--n-train", 200, "--n-test", 50, "--n-unlabeled", 50)
    kit("ingest", "--train", root / "train.csv", "--test", root / "test.csv", *classes, "--out-train",
        root / "i/train.pq", "--out-test", root / "i/test.pq", "--report", root / "i/report.json")
    kit("folds", "--train", root / "i/train.pq", "--k", 2, "--seed", 0, "--out", root / "folds.pq")
    kit("variant", "--name", "raw", "--train", root / "i/train.pq", "--test", root / "i/test.pq", "--out-train",
        root / "v/train.pq", "--out-test", root / "v/test.pq", "--meta", root / "v/meta.json")
    experiment = ["--kind", "sklearn", "--params-json", json.dumps({"features": "char", "min_df": 1}), "--train",
                  root / "v/train.pq", "--test", root / "v/test.pq", "--variant-meta", root / "v/meta.json",
                  "--folds", root / "folds.pq", *classes]
    for fold in (0, 1):
        kit("fit-fold", *experiment, "--fold", fold, "--seed", 0, "--workdir", root / f"ckpt/{fold}", "--out",
            root / f"oof/lr.raw.s0/fold{fold}.npz")
    kit("merge", *experiment, "--fold-files", root / "oof/lr.raw.s0/fold0.npz", root / "oof/lr.raw.s0/fold1.npz",
        "--name", "lr.raw.s0", "--model", "lr", "--config-hash", "c0ffee", "--out-npz", root / "oof/lr.raw.s0/oof.npz",
        "--out-manifest", root / "oof/lr.raw.s0/manifest.json")
    kit("ensemble", "--name", "ensemble.avg", "--spec-json", '{"method": "mean"}', "--member-npz",
        root / "oof/lr.raw.s0/oof.npz", "--member-manifests", root / "oof/lr.raw.s0/manifest.json", "--out-npz",
        root / "oof/ensemble.avg/oof.npz", "--out-manifest", root / "oof/ensemble.avg/manifest.json")
    kit("artifact-figure", "--npz", root / "oof/ensemble.avg/oof.npz", "--manifest",
        root / "oof/ensemble.avg/manifest.json", "--out", root / "figures/ensembles/avg.png")
    return root


def test_every_artifact_is_one_run_read_back_through_mlflow(small_run, monkeypatch):
    monkeypatch.chdir(small_run)
    manifests = [small_run / "oof/lr.raw.s0/manifest.json", small_run / "oof/ensemble.avg/manifest.json"]
    cli.main(["track", "--manifests", *map(str, manifests), "--figures", "figures/experiments/none.png",
              "figures/ensembles/avg.png", "--out", "tracking/mlflow.json"])
    client = mlflow.tracking.MlflowClient(tracking_uri=default_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"lr.raw.s0", "ensemble.avg"}
    for path in manifests:
        manifest = json.loads(path.read_text())
        run = runs[manifest["name"]]
        assert run.data.metrics["oof_macro_f1"] == pytest.approx(manifest["scores"]["oof_macro_f1"])
        assert run.data.metrics["honest_macro_f1"] == pytest.approx(manifest["honest_macro_f1"])
        assert run.data.tags[IDENTITY_TAG] == identity_hash(manifest)
        assert run.info.status == "FINISHED"
    assert runs["lr.raw.s0"].data.tags[IDENTITY_TAG] == "c0ffee"  # an experiment's config hash
    assert runs["lr.raw.s0"].data.params["params.features"] == "char"
    assert runs["ensemble.avg"].data.params["method"] == "mean"
    ensemble = json.loads(manifests[1].read_text())
    assert runs["ensemble.avg"].data.tags[IDENTITY_TAG] == sha256_json(
        {key: ensemble[key] for key in ("spec", "member_hashes", "fold_hash")})
    files = {item.path for item in client.list_artifacts(runs["ensemble.avg"].info.run_id)}
    assert files == {"manifest.json", "avg.png"}
    assert {item.path for item in client.list_artifacts(runs["lr.raw.s0"].info.run_id)} == {"manifest.json"}
    assert (small_run / "mlruns" / "mlflow.db").is_file()

    # A second logging of unchanged artifacts adds no run.
    cli.main(["track", "--manifests", *map(str, manifests), "--out", "tracking/again.json"])
    assert len(client.search_runs([experiment.experiment_id])) == 2
    again = json.loads((small_run / "tracking" / "again.json").read_text())["runs"]
    assert {entry["status"] for entry in again.values()} == {"already logged"}
    assert {name: entry["run_id"] for name, entry in again.items()} == {
        name: run.info.run_id for name, run in runs.items()}


def test_an_entry_with_more_settings_than_a_servers_batch_keeps_them_all(small_run, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    manifest = json.loads((small_run / "oof/lr.raw.s0/manifest.json").read_text())
    manifest["params"] = {"layers": {f"layer{i}": {"lr": i, "dropout": 0.1} for i in range(80)}}  # 160 settings
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    cli.main(["track", "--manifests", str(path), "--out", "tracking/mlflow.json"])
    run_id = json.loads((tmp_path / "tracking" / "mlflow.json").read_text())["runs"]["lr.raw.s0"]["run_id"]
    params = mlflow.tracking.MlflowClient(tracking_uri=default_uri()).get_run(run_id).data.params
    assert sum(key.startswith("params.layers.") for key in params) == 160
