"""What the unlabelled posts are worth, lever by lever, on real labels the models never saw.

Real labels: ../shared/data/ncov/processed_dev.txt (a random 20% of the competition's labeled file, its words joined
back), split 80/20 (stratified, seeded, as bench/bench_real_data.py does): the 80% is the competition's train.csv,
the 20% its test.csv, whose labels only this script reads. The 100k real unlabelled COVID posts are
`data.unlabeled`. One workflow runs every lever on the same fold file and corpus:

- TF-IDF + LR on the cleaned texts (the baseline experiment), and the same on a pseudo-labelled variant (pool rows
  labelled fold by fold by a Caruana ensemble of the baseline members) and on an EDA-augmented variant;
- the scratch transformer without and with domain post-training on the corpus (same fine-tuning settings);
- word-vector models (a BiGRU over the vectors; char TF-IDF beside pooled vectors) with vectors from the corpus and
  from the train texts only;
- the final ensemble (Caruana with class weights) over the baseline members, and over every member.

For each: honest OOF macro-F1 with its fold standard deviation, held-out macro-F1 (the test logits' argmax against
the 20% labels), and the CPU time its stage took (from the logs and manifests). A plain TF-IDF(char 1-3) +
LogisticRegression fitted on train.csv alone gives the reference held-out figure. Re-running with more levers only
runs what is new (the workflow's hashes). Takes about an hour on two idle cores.

    python bench/bench_unlabeled.py [--workdir /tmp/kit-unlabeled] [--jobs 2] [--limit N] [--folds 5]
                                    [--rerun-triggers mtime input]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

# bench/ is on the path
from shared_data import (REPO, SHARED_DATA, UNLABELED, held_out_f1, held_out_split, plain_baseline_f1,
                         stage_seconds, write_competition_files)

sys.path.insert(0, str(REPO))

from kit import layout  # noqa: E402
from kit.artifacts import Artifact, read_json  # noqa: E402
from kit.demo import HEADER  # noqa: E402

SCRATCH = {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128, "max_position": 128}
TINY_BERT = {"kind": "transformer", "threads": 1, "head": "bigru", "max_len": 96, "epochs": 3, "lr": 0.001,
             "batch_size": 32, "variants": ["cleaned"]}


def config(unlabeled: Path, folds: int, max_texts: int | None) -> dict:
    """The benchmark's workflow config: every lever on one fold file and one corpus."""
    models = {
        "tfidf_char_lr": {"kind": "sklearn", "features": "char", "variants": ["cleaned", "pl", "eda"]},
        "tfidf_word_lr": {"kind": "sklearn", "features": "word", "variants": ["cleaned"]},
        "tiny_bert": {**TINY_BERT, "backbone": {"scratch": SCRATCH}},
        "tiny_bert_post": {**TINY_BERT, "backbone": {"post_train": {"base": {"scratch": SCRATCH}, "epochs": 1,
                                                                    "max_len": 96, "lr": 0.001}}},
    }
    for vectors in ("w2v", "w2v_train"):
        models[f"wv_bigru_{vectors}"] = {"kind": "wordvec", "vectors": vectors, "head": "bigru", "threads": 1,
                                         "variants": ["cleaned"]}
        models[f"tfidf_vec_lr_{vectors}"] = {"kind": "sklearn", "features": "char+vectors", "vectors": vectors,
                                             "variants": ["cleaned"]}
    baseline = ["tfidf_char_lr.cleaned.s0", "tfidf_word_lr.cleaned.s0", "tiny_bert.cleaned.s0"]
    return {
        "data": {"train": "comp/train.csv", "test": "comp/test.csv", "unlabeled": str(unlabeled)},
        "folds": {"k": folds, "seed": 42},
        "variants": ["cleaned"],
        "pool": {"unlabeled_rows": 20000 if max_texts is None else max_texts},
        "corpus": {"max_texts": max_texts},
        "word_vectors": {"w2v": {"algorithm": "word2vec", "dim": 100},
                         "w2v_train": {"algorithm": "word2vec", "dim": 100, "source": "train"}},
        "pseudo": {"pl": {"teacher": "baseline", "base_variant": "cleaned", "threshold": 0.8}},
        "augment": {"eda": {"copies": 2, "synonyms": "w2v"}},
        "models": models,
        "ensembles": {
            "baseline": {"method": "caruana", "members": baseline, "class_weights": True},
            "everything": {"method": "caruana", "members": "all", "class_weights": True},
        },
        "final": "everything",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/kit-unlabeled")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only this many labeled rows (quick look)")
    parser.add_argument("--max-texts", type=int, default=None, help="unlabelled posts the corpus and pool take")
    parser.add_argument("--rerun-triggers", nargs="+", default=None,
                        help="Snakemake's rerun triggers: `mtime input` adds new levers to a finished workdir without "
                             "re-running what the kit's code changes since would otherwise re-run")
    args = parser.parse_args()
    unlabeled = SHARED_DATA / UNLABELED
    if not unlabeled.is_file():
        sys.exit(f"real data not found at {unlabeled} (set KIT_SHARED_DATA to the shared/data folder)")
    train, test = held_out_split(args.limit)
    workdir = Path(args.workdir)
    _, test_csv = write_competition_files(train, test, workdir / "comp")
    truth = pd.Series(test["label"].to_numpy(), index=test_csv[HEADER[0]].to_numpy())
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config(unlabeled, args.folds, args.max_texts),
                                                       allow_unicode=True, sort_keys=False), encoding="utf-8")
    print(f"train {len(train)} rows, held-out {len(test)} rows; unlabelled {unlabeled.name}; folds {args.folds}")

    plain_f1 = plain_baseline_f1(train, test)

    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "subs/final.csv", "-s", str(REPO / "Snakefile"), f"-j{args.jobs}",
               "--quiet", "progress", "--configfile", "bench.yaml"]
    if args.rerun_triggers:
        command += ["--rerun-triggers", *args.rerun_triggers]
    subprocess.run(command, cwd=workdir, check=True)
    workflow_seconds = time.perf_counter() - started

    rows = []
    for folder in sorted((workdir / "oof").iterdir()):
        artifact = Artifact.load(folder)
        scores = artifact.manifest["scores"]
        rows.append({
            "artifact": artifact.name,
            "honest OOF F1": artifact.manifest["honest_macro_f1"],
            "fold std": scores["fold_f1_std"],
            "held-out F1": held_out_f1(artifact, truth),
            "vs plain": held_out_f1(artifact, truth) - plain_f1,
            "fold jobs s": stage_seconds(artifact),
        })
    table = pd.DataFrame(rows).sort_values("honest OOF F1", ascending=False)
    print(f"plain TF-IDF(char 1-3) + LogisticRegression on train.csv: held-out macro-F1 {plain_f1:.4f}")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    stages = {"corpus": read_json(workdir / "data/corpus/meta.json")["seconds"]}
    for meta in sorted((workdir / layout.BACKBONES).glob("*/meta.json")):
        found = read_json(meta)
        if "train_seconds" in found:  # a post-trained backbone: its held-out perplexity says what it learnt
            stages[str(meta.parent.relative_to(workdir))] = {
                "seconds": round(found["load_seconds"] + found["tokenize_seconds"] + found["train_seconds"], 1),
                "perplexity": [found["heldout_perplexity_before"], found["heldout_perplexity_after"]]}
        else:
            stages[str(meta.parent.relative_to(workdir))] = found.get("seconds")
    for name in yaml.safe_load((workdir / "bench.yaml").read_text())["word_vectors"]:  # each entry's vectors' meta
        meta = layout.word_vectors(name)["meta"]
        stages[meta] = read_json(workdir / meta).get("seconds")
    print("stage timings (seconds):", json.dumps(stages, ensure_ascii=False))
    print(f"workflow {workflow_seconds:.0f}s with -j{args.jobs}")
    from results import save

    final = table.loc[table["artifact"] == "ensemble.everything"].iloc[0]
    rounded = [{key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()}
               for row in table.to_dict("records")]
    save("unlabeled", command="python bench/bench_unlabeled.py", rows=rounded,
         compares=f"what each lever built on the unlabelled posts is worth: real labels ({len(train)} train / "
                  f"{len(test)} held out), 100k real unlabelled posts, {args.folds} folds; vs plain TF-IDF + LR",
         summary=f"final ensemble held-out {final['held-out F1']:.4f} vs plain TF-IDF + LR {plain_f1:.4f} "
                 f"({final['held-out F1'] - plain_f1:+.4f}); workflow {workflow_seconds / 60:.0f} min -j{args.jobs}",
         notes="stage seconds: " + json.dumps(stages, ensure_ascii=False))


if __name__ == "__main__":
    main()
