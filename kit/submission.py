"""Submissions in the competition's format: header `id,y`, one row per test id, y a competition label.

Validation runs before anything is written: every id one the leaderboard can match (kit.data.find_id_problems: not
empty, no surrounding whitespace, no invisible or replacement character, not a header name or a spreadsheet
number), every test id exactly once, nothing else, every y a known class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kit.artifacts import Artifact, atomic_write_bytes, read_parquet
from kit.data import find_id_problems
from kit.hashing import file_sha256, sha256_bytes


class SubmissionError(ValueError):
    pass


def from_artifact(artifact: Artifact) -> pd.DataFrame:
    """DataFrame [n_test x 2] `id`, `y`: the argmax class of each test row's logits, as the competition's label."""
    predicted = artifact.test_logits.argmax(axis=1)
    return pd.DataFrame({"id": artifact.test_ids.astype(str), "y": artifact.classes.astype(str)[predicted]})


def validate(submission: pd.DataFrame, test_ids, classes, where: str = "submission") -> None:
    """Raise SubmissionError naming what is wrong: columns, an id that is not one, a missing, duplicated or foreign
    id, a bad label."""
    if list(submission.columns) != ["id", "y"]:
        raise SubmissionError(f"{where}: columns must be ['id', 'y'], got {list(submission.columns)}")
    ids = submission["id"].astype(str)
    problems = find_id_problems(ids, header=("id", "y"))
    if problems:
        _, value, problem = problems[0]
        raise SubmissionError(f"{where}: id {value!r} {problem} ({len(problems)} such id(s))")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise SubmissionError(f"{where}: {len(duplicated)} ids appear more than once, e.g. {list(duplicated[:3])}")
    expected = pd.Index(np.asarray(test_ids).astype(str))
    missing = expected.difference(ids)
    if len(missing):
        raise SubmissionError(f"{where}: {len(missing)} test ids have no prediction, e.g. {list(missing[:3])}")
    foreign = pd.Index(ids).difference(expected)
    if len(foreign):
        raise SubmissionError(f"{where}: {len(foreign)} ids are not in the test file, e.g. {list(foreign[:3])}")
    known = {str(c) for c in classes}
    bad = submission.loc[~submission["y"].astype(str).isin(known)]
    if len(bad):
        raise SubmissionError(f"{where}: row for id {bad['id'].iloc[0]} has y={bad['y'].iloc[0]!r}, not one of {sorted(known)}")


def csv_bytes(submission: pd.DataFrame) -> bytes:
    """The submission file's bytes: CRLF-free UTF-8 with a plain header, what the leaderboard's checker reads."""
    return submission.to_csv(index=False, lineterminator="\n").encode("utf-8")


def predictions_sha256(artifact: Artifact) -> str:
    """The SHA-256 of the submission CSV the artifact's test predictions make: what `kit lb` logged when the
    leaderboard scored these very predictions."""
    return sha256_bytes(csv_bytes(from_artifact(artifact)))


def write(submission: pd.DataFrame, path: Path, test_ids, classes) -> None:
    validate(submission, test_ids, classes, where=str(path))
    atomic_write_bytes(Path(path), csv_bytes(submission))


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def choose(manifests: dict[str, dict], choice: str) -> tuple[str, str]:
    """(the artifact to submit, why): the named one, or with 'auto' the best honest OOF macro-F1 among them all.

    manifests: artifact name -> its manifest. An ensemble's honest score is cross-fitted and an experiment's OOF score
    fitted nothing on its rows, so they compare: a single model that beats every ensemble honestly is submitted. On
    a tie the ensemble wins (it averages over more models, so it varies less on a fresh test set).
    """
    if choice != "auto":
        for key in (choice, f"ensemble.{choice}"):
            if key in manifests:
                return key, f"chosen by name: {choice}"
        raise ValueError(f"final choice {choice!r} is not among the built artifacts {sorted(manifests)}")
    best = max(manifests, key=lambda key: (manifests[key]["honest_macro_f1"], manifests[key]["kind"] == "ensemble"))
    runner_up = sorted((m["honest_macro_f1"] for k, m in manifests.items() if k != best), reverse=True)
    margin = f", next {runner_up[0]:.4f}" if runner_up else ""
    n_ensembles = sum(m["kind"] == "ensemble" for m in manifests.values())
    counts = f"{n_ensembles} ensembles and {len(manifests) - n_ensembles} experiments"
    beat = ("; a single experiment beat every ensemble" if manifests[best]["kind"] != "ensemble" and n_ensembles
            else "")
    return best, (f"auto: best honest OOF macro-F1 among {counts} ({manifests[best]['honest_macro_f1']:.4f}{margin})"
                  + beat)


def read_test_ids(path: Path) -> np.ndarray:
    """The ids the submission must cover: the `id` column of the ingested test parquet, as str."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the ingested test split is missing; run `snakemake {path}` (rule ingest) "
                                "to write it")
    return read_parquet(path, columns=["id"])["id"].astype(str).to_numpy()


def submit(candidates: list[tuple[Path, Path]], choice: str, test: Path, out: Path, sidecar: Path) -> str:
    """Write the submission CSV `out` and its JSON `sidecar` from the chosen artifact; return the log line.

    candidates: (oof.npz, manifest.json) of each artifact that may be chosen; choice: a name or 'auto'.
    """
    from kit import __version__
    from kit.artifacts import read_json, write_json

    files, manifests = {}, {}
    for npz, manifest_path in candidates:
        manifest = read_json(manifest_path)
        files[manifest["name"]], manifests[manifest["name"]] = (npz, manifest_path), manifest
    chosen, reason = choose(manifests, choice)
    artifact = Artifact.read(*files[chosen])
    frame = from_artifact(artifact)
    write(frame, Path(out), read_test_ids(test), artifact.classes)
    manifest = artifact.manifest
    write_json(Path(sidecar), {
        "submission": str(out),
        "source": manifest["name"],
        "kind": manifest["kind"],
        "reason": reason,
        "scores": manifest.get("scores"),
        "honest_macro_f1": manifest.get("honest_macro_f1"),
        "members": manifest.get("members", [manifest["name"]]),
        "weights": manifest.get("weights"),
        "fold_hash": manifest.get("fold_hash"),
        "member_hashes": manifest.get("member_hashes", {manifest["name"]: manifest.get("config_hash")}),
        "predicted_distribution": frame["y"].value_counts().sort_index().to_dict(),
        "sha256": file_sha256(out),  # `kit lb add` refuses the CSV once it no longer matches
        "kit_version": __version__,
    })
    return f"{out}: {len(frame)} rows from {manifest['name']} ({reason})"
