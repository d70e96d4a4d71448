"""Distillation on real labels: a single TF-IDF + LR student of the ensemble's soft probabilities, against its hard
pseudo-labels, the plain student and the ensemble itself, with one-post predict latency beside each.

Real labels and split as bench/bench_real_data.py (processed_dev.txt 80/20, stratified, seeded; the 20% is test.csv,
whose labels only this script reads). The workflow is the default config (configs/config.yaml) with more pseudo variants
of tfidf_char_lr, each taught fold by fold on the pool (every test text, and with --unlabeled 2,000 sampled real
unlabelled posts):
  kd_t1, kd_t2: by the default `teacher` ensemble (Caruana over the three cleaned TF-IDF models and the
    transformer), targets soft at temperature 1 and 2, threshold 0 (every pool row teaches);
  pl_all, kd_all_t2: by `all_base`, a Caruana ensemble with class weights (the default final's kind) over the eight
    experiments that are not students: its label where at least 0.6 sure (hard), or its probabilities at
    temperature 2 (soft, threshold 0).
The default config's `pl` variant is the hard version of the first (the teacher's label where at least 0.6 sure).
keep_models: all, so that every artifact can answer `kit predict`.

For each artifact: honest OOF macro-F1, held-out macro-F1 (test logits' argmax against the 20% labels), and the
median wall time of 5 fresh `python -m kit predict --source <artifact> --text <post>` processes (cold: start-up,
imports, loading its fold models). In a finished workdir only what is new runs.

    python bench/bench_distill.py [--workdir /tmp/kit-distill] [--jobs 2] [--unlabeled]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

# bench/ is on the path
from bench_unlabeled import UNLABELED, held_out_f1
from shared_data import REPO, SHARED_DATA, held_out_split, plain_baseline_f1, write_competition_files

sys.path.insert(0, str(REPO))

from kit.artifacts import Artifact  # noqa: E402
from kit.demo import HEADER  # noqa: E402

BASE_MEMBERS = ["tfidf_char_lr.raw.s0", "tfidf_char_lr.cleaned.s0", "tfidf_word_lr.raw.s0", "tfidf_word_lr.cleaned.s0",
                "tfidf_char_svm.raw.s0", "tfidf_char_svm.cleaned.s0", "tiny_bert.cleaned.s0", "w2v_lr.cleaned.s0"]
# name: (teacher, targets, temperature, threshold)
STUDENTS = {"kd_t1": ("teacher", "soft", 1.0, 0.0), "kd_t2": ("teacher", "soft", 2.0, 0.0),
            "pl_all": ("all_base", "hard", 1.0, 0.6), "kd_all_t2": ("all_base", "soft", 2.0, 0.0)}
POST = "武汉加油！医护人员辛苦了，希望疫情早日结束"
COLD_RUNS = 5


def bench_config(unlabeled: bool) -> dict:
    config = yaml.safe_load((REPO / "configs" / "config.yaml").read_text(encoding="utf-8"))
    config["data"] = {"train": "comp/train.csv", "test": "comp/test.csv",
                      "unlabeled": str(SHARED_DATA / UNLABELED) if unlabeled else None}
    # The final's kind of ensemble over every member that is not a student, so it can teach them.
    config["ensembles"]["all_base"] = {"method": "caruana", "members": BASE_MEMBERS, "rounds": 25,
                                       "class_weights": True}
    for name, (teacher, targets, temperature, threshold) in STUDENTS.items():
        config["pseudo"][name] = {"teacher": teacher, "base_variant": "cleaned", "targets": targets,
                                  "threshold": threshold, **({"temperature": temperature} if targets == "soft" else {})}
    config["models"]["tfidf_char_lr"]["variants"] += list(STUDENTS)
    config["keep_models"] = "all"
    return config


def cold_predict_s(workdir: Path, source: str) -> float:
    """Median wall seconds of fresh `kit predict --text` processes answering from `source`."""
    times = []
    for _ in range(COLD_RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kit", "predict", "--source", source, "--text", POST], cwd=workdir,
                       check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/kit-distill")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--unlabeled", action="store_true", help="sample the pool from the 100k real unlabelled posts")
    parser.add_argument("--rerun-triggers", nargs="+", default=None,
                        help="Snakemake's rerun triggers: `mtime input` adds the students to a workdir finished by "
                             "another version of the kit without re-running what its rules' params changed")
    args = parser.parse_args()
    train, test = held_out_split()
    workdir = Path(args.workdir)
    _, test_csv = write_competition_files(train, test, workdir / "comp")
    truth = pd.Series(test["label"].to_numpy(), index=test_csv[HEADER[0]].to_numpy())
    (workdir / "distill.yaml").write_text(yaml.safe_dump(bench_config(args.unlabeled), allow_unicode=True),
                                          encoding="utf-8")
    baseline = plain_baseline_f1(train, test)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), f"-j{args.jobs}",
                    "--configfile", "distill.yaml", "--rerun-incomplete",
                    *(["--rerun-triggers", *args.rerun_triggers] if args.rerun_triggers else [])],
                   cwd=workdir, check=True)
    wall = time.perf_counter() - started
    final = yaml.safe_load((workdir / "subs" / "final.json").read_text(encoding="utf-8"))["source"]
    names = ["tfidf_char_lr.cleaned.s0", "tfidf_char_lr.pl.s0", *[f"tfidf_char_lr.{s}.s0" for s in STUDENTS],
             "ensemble.teacher", "ensemble.all_base", *([final] if final not in ("ensemble.teacher",
                                                                                 "ensemble.all_base") else [])]
    rows = []
    for name in names:
        artifact = Artifact.read(workdir / "oof" / name / "oof.npz", workdir / "oof" / name / "manifest.json")
        held = held_out_f1(artifact, truth)
        rows.append({"artifact": name + (" (final)" if name == final else ""),
                     "honest OOF macro-F1": round(float(artifact.manifest["honest_macro_f1"]), 4),
                     "held-out macro-F1": round(held, 4), "vs TF-IDF + LR": f"{100 * (held - baseline):+.2f}",
                     "cold predict s (median of 5)": round(cold_predict_s(workdir, name), 2)})
        print(rows[-1], flush=True)
    from results import save

    students = rows[2:2 + len(STUDENTS)]
    soft = max((row for row in students if ".kd" in row["artifact"]), key=lambda row: row["held-out macro-F1"])
    hard = max((row for row in students if ".kd" not in row["artifact"]), key=lambda row: row["held-out macro-F1"])
    final_row = next(row for row in rows if row["artifact"].endswith("(final)"))

    def said(row) -> str:
        return (f"{row['artifact']} {row['held-out macro-F1']:.4f} ({row['cold predict s (median of 5)']:.2f} s "
                "cold predict)")

    save("distill", command="python bench/bench_distill.py" + (" --unlabeled" if args.unlabeled else ""),
         compares="one TF-IDF + LR student of a teacher ensemble's probabilities (distillation) or labels (hard "
                  "pseudo-labels), against the plain student and the ensembles, on real held-out labels",
         rows=rows,
         summary=f"held-out macro-F1: best soft student {said(soft)}, best hard student {said(hard)}, final "
                 f"{said(final_row)}; plain TF-IDF + LR {baseline:.4f}",
         notes=f"{len(train)} train / {len(test)} held-out rows of processed_dev.txt; pool: the test texts"
               + (" and 2,000 real unlabelled posts" if args.unlabeled else "")
               + f"; workflow {wall / 60:.1f} min with -j{args.jobs} (only what was new ran); load average "
                 f"{os.getloadavg()[0]:.1f} when timed")


if __name__ == "__main__":
    main()
