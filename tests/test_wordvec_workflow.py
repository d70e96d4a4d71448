"""The word-vector models through Snakemake on a tiny demo competition: the corpus, word2vec vectors on it, a
frozen-vector TextCNN and pooled vectors in a linear model, their artifacts, and `kit predict` from the kept fold
models giving the final submission again."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit import layout
from kit.artifacts import Artifact
from kit.demo import make_demo
from tests.conftest import snakemake


@pytest.fixture(scope="module")
def word_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("words")
    files = make_demo(workdir / "raw", n_train=300, n_test=60, n_unlabeled=200, seed=4)
    config = {
        "data": {"train": str(files["train"]), "test": str(files["test"]), "unlabeled": str(files["unlabeled"])},
        "folds": {"k": 2, "seed": 0},
        "variants": ["cleaned"],
        "models": {
            "cnn": {"kind": "wordvec", "vectors": "w2v", "head": "textcnn", "cnn_filters": 16, "epochs": 1,
                    "batch_size": 32},
            "pooled": {"kind": "sklearn", "features": "char+vectors", "vectors": "w2v", "pooling": "tfidf",
                       "min_df": 1},
        },
        "word_vectors": {"w2v": {"dim": 16, "min_count": 1, "epochs": 2}},
        "ensembles": {},
        "keep_models": "all",
        "final": "cnn.cleaned.s0",
    }
    (workdir / "c.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    out = snakemake(workdir, "--configfile", "c.yaml", "-j2", "-p", "subs/final.csv",
                    "oof/pooled.cleaned.s0/manifest.json")
    (workdir / "snakemake.out").write_text(out, encoding="utf-8")
    return workdir


@pytest.mark.slow
def test_word_vector_models_run_from_the_corpus_to_their_artifacts(word_run):
    for name, family in (("cnn.cleaned.s0", "wordvec"), ("pooled.cleaned.s0", "sklearn")):
        artifact = Artifact.load(word_run / "oof" / name)
        assert artifact.manifest["family"] == family and artifact.oof_logits.shape == (len(artifact.ids), 3)
    fold_log = (word_run / "logs" / "fit" / "cnn.cleaned.s0.fold0.log").read_text(encoding="utf-8")
    assert "vectors 'w2v' (word2vec, dim 16, frozen)" in fold_log
    fold_jobs = [line for line in (word_run / "snakemake.out").read_text(encoding="utf-8").splitlines()
                 if "kit fit-fold" in line]
    assert len(fold_jobs) == 4 and all("--inputs vectors=models/word_vectors/w2v.kv vectors_meta=models/word_vectors/w2v.json "
                                       "corpus=data/corpus/corpus.parquet "
                                       "userdict=data/corpus/userdict.txt" in line for line in fold_jobs)


@pytest.mark.slow
def test_kit_predict_from_the_kept_word_vector_models_gives_the_final_submission_again(word_run):
    subprocess.run([sys.executable, "-m", "kit", "predict", "--input", str(word_run / "raw" / "nCov_10k_test.csv"),
                    "--out", "predicted.csv"], cwd=word_run, check=True, capture_output=True)
    predicted = pd.read_csv(word_run / "predicted.csv", dtype=str, keep_default_na=False)
    final = pd.read_csv(word_run / "subs" / "final.csv", dtype=str, keep_default_na=False)
    assert len(final) == 60 and predicted[["id", "y"]].equals(final)
    kept = json.loads((word_run / "models" / "folds" / "cnn.cleaned.s0" / "fold1" / "model.json").read_text())
    assert kept["kind"] == "wordvec"


@pytest.mark.slow
def test_the_word_vectors_are_the_same_bytes_after_a_forced_rebuild(word_run):
    """The rule runs one gensim worker: several update the vectors in an order that varies from run to run."""
    files = layout.word_vectors("w2v")

    def vector_files() -> dict[str, bytes]:
        return {path: (word_run / path).read_bytes() for path in (files["vectors"],)}

    before = vector_files()
    snakemake(word_run, "--configfile", "c.yaml", "-j2", "--forcerun", files["vectors"], "--until", files["vectors"])
    assert before and vector_files() == before
    meta = json.loads((word_run / files["meta"]).read_text())
    assert meta["workers"] == 1
