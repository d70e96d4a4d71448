"""Where the workflow keeps its files: every path the rules, `kit predict` and the families name, in one place.

Paths are relative to the run folder (Snakemake's working directory) and written with "/" as Snakemake's patterns
are; a `{wildcard}` left in a pattern is filled by Snakemake. Library code that needs a workflow file receives it
from the rule that names it here, never builds it itself. Standard library only: the Snakefile reads it at plan
time.
"""

from __future__ import annotations

INTERIM = "data/interim"  # the ingested splits and report.json
REPORT = f"{INTERIM}/report.json"  # the ingest report
FOLDS = "data/folds.parquet"  # the one fold file
POOL = "data/pool.parquet"  # the rows teachers label for pseudo variants
VARIANTS = "data/variants"  # one folder per text variant
PSEUDO = "data/pseudo"  # one folder per pseudo variant: its rows and manifest
CORPUS = "data/corpus"  # the corpus for representation learning
WORD_VECTORS = "models/word_vectors"  # two files per word_vectors entry: <name>.kv and <name>.json
BACKBONES = "models/backbones"  # built backbones: scratch-<hash>/, post-<hash>/
FOLD_MODELS = "models/folds"  # kept fold models: <exp>/fold<k>/ and <exp>/retention.json
OOF = "oof"  # artifacts: <exp>/ and ensemble.<name>/
SUBS = "subs"  # submissions and their sidecars
FINAL_SIDECAR = f"{SUBS}/final.json"
LEADERBOARD_LOG = "lb.csv"  # written by a person (kit lb add), read by the CV-vs-LB figure and kit scores
SUBMITTED = "submitted"  # beside the log: kit lb add's copy of each recorded submission and its sidecar
CHECKPOINTS = "checkpoints"  # outside every rule's outputs, so Snakemake never deletes them on a re-run
FIGURES = "figures"  # the report's figures: eda/, experiments/, ensembles/, final/, adversarial/
LOGS = "logs"  # one log per job: logs/<stage>.log or logs/<stage>/<name>.log
RUN_CONFIG = f"{LOGS}/run_config.yaml"  # the whole config of the last run here, which kit scores reads
TRACKING = "tracking/mlflow.json"  # artifact -> MLflow run id (tracking: mlflow)
# What the workflow writes and rewrites: a file a person puts there (kit predict --out) is lost at the next run.
WORKFLOW_FOLDERS = (INTERIM, FOLDS, POOL, VARIANTS, PSEUDO, CORPUS, WORD_VECTORS, BACKBONES, FOLD_MODELS, OOF, SUBS,
                    FIGURES, LOGS, CHECKPOINTS)
EDA_FIGURES = ("class_counts", "text_lengths", "duplicates")  # figures/eda/<name>.png


def interim(split: str) -> str:
    """An ingested split: train, test or unlabeled."""
    return f"{INTERIM}/{split}.parquet"


def variant_files(variant: str, pool: bool = False) -> dict[str, str]:
    """role -> path of one text variant's files; with pool, its texts of the pseudo-label pool too."""
    files = {"train": f"{VARIANTS}/{variant}/train.parquet", "test": f"{VARIANTS}/{variant}/test.parquet",
             "meta": f"{VARIANTS}/{variant}/meta.json"}
    return files | ({"pool": f"{VARIANTS}/{variant}/pool.parquet"} if pool else {})


def pseudo_files(name: str) -> dict[str, str]:
    """A pseudo variant's rows (each fold's pseudo-labelled pool rows) and manifest."""
    return {"rows": f"{PSEUDO}/{name}/rows.parquet", "manifest": f"{PSEUDO}/{name}/manifest.json"}


def corpus_files() -> dict[str, str]:
    """role -> path of the corpus's files (rules/corpus.smk writes them)."""
    return {"corpus": f"{CORPUS}/corpus.parquet", "userdict": f"{CORPUS}/userdict.txt",
            "new_words": f"{CORPUS}/new_words.tsv", "meta": f"{CORPUS}/meta.json"}


def word_vectors(name: str) -> dict[str, str]:
    """role -> path of one word_vectors entry's files: gensim's vectors in one file (KeyedVectors.load reads it) and
    their meta (kit/word_vectors.py)."""
    return {"vectors": f"{WORD_VECTORS}/{name}.kv", "meta": f"{WORD_VECTORS}/{name}.json"}


def backbone(folder_name: str) -> str:
    """A built backbone's save_pretrained folder (folder_name: scratch-<hash> or post-<hash>)."""
    return f"{BACKBONES}/{folder_name}"


def checkpoints(name: str) -> str:
    """A job's resumable checkpoints (name: a fit-fold job's `<experiment>/fold<k>`, or `backbones/post-<hash>`)."""
    return f"{CHECKPOINTS}/{name}"


def post_trained(backbone_hash: str) -> str:
    """The folder name of a post-trained backbone, by the hash of its spec (layout.backbone takes it)."""
    return f"post-{backbone_hash}"


def artifact_files(name: str) -> dict[str, str]:
    """An artifact's two files (docs/architecture.md, "The artifact contract")."""
    return {"npz": f"{OOF}/{name}/oof.npz", "manifest": f"{OOF}/{name}/manifest.json"}


def submission(name: str) -> dict[str, str]:
    """A submission CSV and its JSON sidecar (name: an artifact's, or final)."""
    return {"csv": f"{SUBS}/{name}.csv", "sidecar": f"{SUBS}/{name}.json"}


def submitted(sha256: str) -> str:
    """kit lb add's copy of a recorded submission, relative to the log's folder (its sidecar: the same, .json)."""
    return f"{SUBMITTED}/{sha256[:12]}.csv"


def artifact_figure(name: str) -> str:
    """An artifact's figure: figures/ensembles/<entry>.png for ensemble.<entry>, else figures/experiments/."""
    if name.startswith("ensemble."):
        return f"{FIGURES}/ensembles/{name.removeprefix('ensemble.')}.png"
    return f"{FIGURES}/experiments/{name}.png"


def fold_file(experiment: str, fold: int | str) -> str:
    return f"{OOF}/{experiment}/fold{fold}.npz"


def fold_model(experiment: str, fold: int | str) -> str:
    return f"{FOLD_MODELS}/{experiment}/fold{fold}"


def retention(experiment: str) -> str:
    """What keep_models kept and pruned of an experiment's fold models."""
    return f"{FOLD_MODELS}/{experiment}/retention.json"


def combination(ensemble: str) -> str:
    """An ensemble's fit on every OOF row, for kit predict (ensemble: its entry's name, without `ensemble.`)."""
    return f"{OOF}/ensemble.{ensemble}/combination.skops"


def log(stage: str, name: str | None = None) -> str:
    """A job's log: logs/<stage>.log for a stage run once, logs/<stage>/<name>.log for one of many."""
    return f"{LOGS}/{stage}.log" if name is None else f"{LOGS}/{stage}/{name}.log"


def eda_figure(name: str) -> str:
    """One of the EDA figures (EDA_FIGURES)."""
    return f"{FIGURES}/eda/{name}.png"


def final_figure(name: str, suffix: str = "png") -> str:
    """A figure (or table) about the final submission: final, disagreements, cv_vs_lb."""
    return f"{FIGURES}/final/{name}.{suffix}"


def adversarial_files(variant: str) -> dict[str, str]:
    """Adversarial validation of one text variant: its figure, its numbers and its test-like train rows."""
    folder = f"{FIGURES}/adversarial"
    return {"png": f"{folder}/{variant}.png", "json": f"{folder}/{variant}.json",
            "csv": f"{folder}/{variant}.test_like.csv"}
