"""Real labels, competition layout, default matrix: does the kit's submission beat a plain TF-IDF + LR?

The competition's labeled file is not public in full; ../shared/data/ncov/processed_dev.txt holds a random 20% of
it with real labels (text already segmented by jieba with stop words removed: the words are joined back here).
This script splits it 80/20 (stratified, seeded), writes train.csv and test.csv in the competition's layout and
encoding (GB18030, CRLF), runs `snakemake` with a --configfile that holds only `data:` (the default matrix), and
scores subs/final.csv on the held-out labels against a plain TfidfVectorizer(char 1-3) + LogisticRegression fitted
on the same train.csv. It prints every experiment's and ensemble's held-out F1 beside its honest OOF F1.

`--unlabeled` sets `data.unlabeled` to the 100k real unlabelled COVID posts (../shared/data/covid_weibo_unlabeled),
as a user with the competition's unlabelled file would: the default corpus, post-training, word vectors and pool
then use them. `--configfile FILE` gives a candidate config (without `data:`), to measure a change to the default before
making it: as with any --configfile, one that lists `models:` replaces the default experiment, else its keys are
layered over the default's; `--name` keeps its result apart (bench/results/<name>.json). A second run
in the same workdir re-runs only the jobs whose settings changed.

    python bench/bench_real_data.py [--workdir /tmp/kit-real] [--jobs 2] [--limit N]
    python bench/bench_real_data.py --unlabeled [--configfile candidate.yaml --name real_data_candidate]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from snakemake.utils import update_config

# bench/ is on the path
from shared_data import (LABELS, REPO, SHARED_DATA, UNLABELED, held_out_f1, held_out_split, plain_baseline_f1,
                         stage_seconds, write_competition_files)

sys.path.insert(0, str(REPO))

from kit.artifacts import Artifact, read_json  # noqa: E402
from kit.config import lists_models, load, load_yaml, matrix  # noqa: E402
from kit.demo import HEADER  # noqa: E402
from kit.metrics import macro_f1  # noqa: E402


def artifact_rows(workdir: Path, configfiles: list[str], truth: pd.Series, baseline_f1: float) -> list[dict]:
    """One row per experiment and ensemble of the run's config (the default under the run's config files): honest
    OOF F1, held-out F1, and its fold jobs' seconds (0 for an ensemble), best honest OOF first."""
    # As the Snakefile: a config file that lists models: replaces the default experiment, else it is layered over it.
    replaces = any(lists_models(workdir / path) for path in configfiles)
    mapping = {} if replaces else load_yaml(REPO / "configs" / "config.yaml")
    for path in configfiles:
        update_config(mapping, load_yaml(workdir / path))  # Snakemake's own merge of --configfile
    config = load(mapping)
    rows = []
    for name in [f"ensemble.{name}" for name in config.ensembles] + [exp.name for exp in matrix(config)]:
        artifact = Artifact.load(workdir / "oof" / name)
        held = held_out_f1(artifact, truth)
        rows.append({"artifact": name, "honest OOF F1": round(artifact.manifest["honest_macro_f1"], 4),
                     "held-out F1": round(held, 4), "vs plain": round(held - baseline_f1, 4),
                     "fold jobs s": round(stage_seconds(artifact), 1)})
    return sorted(rows, key=lambda row: -row["honest OOF F1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/kit-real")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use only this many labeled rows (quick look)")
    parser.add_argument("--unlabeled", action="store_true",
                        help="set data.unlabeled to the 100k real unlabelled posts (shared/data/" + UNLABELED + ")")
    parser.add_argument("--configfile", default=None,
                        help="a candidate config without data: (copied into the workdir): one that lists models: replaces the "
                             "default experiment, as any --configfile does; else its keys are layered over the default")
    parser.add_argument("--name", default=None,
                        help="the results file, bench/results/<name>.json (default: real_data, or "
                             "real_data_unlabeled with --unlabeled)")
    args = parser.parse_args()
    train, test = held_out_split(args.limit)
    workdir = Path(args.workdir)
    _, test_csv = write_competition_files(train, test, workdir / "comp")
    truth = pd.Series(test["label"].to_numpy(), index=test_csv[HEADER[0]].to_numpy())
    data = "data:\n  train: comp/train.csv\n  test: comp/test.csv\n"
    if args.unlabeled:
        unlabeled = SHARED_DATA / UNLABELED
        if not unlabeled.is_file():
            sys.exit(f"real data not found at {unlabeled} (set KIT_SHARED_DATA to the shared/data folder)")
        data += f"  unlabeled: {unlabeled}\n"
    (workdir / "data_only.yaml").write_text(data, encoding="utf-8")
    configfiles = ["data_only.yaml"]
    if args.configfile:
        (workdir / "candidate.yaml").write_text(Path(args.configfile).read_text(encoding="utf-8"), encoding="utf-8")
        configfiles.append("candidate.yaml")
    name = args.name or ("real_data_unlabeled" if args.unlabeled else "real_data")
    print(f"train {len(train)} rows, held-out test {len(test)} rows, labels {train['label'].value_counts().to_dict()}"
          f"; unlabelled: {'100k real posts' if args.unlabeled else 'none'}; config files {configfiles}")

    started = time.perf_counter()
    baseline_f1 = plain_baseline_f1(train, test)
    print(f"plain TF-IDF(char 1-3) + LogisticRegression: held-out macro-F1 {baseline_f1:.4f} "
          f"({time.perf_counter() - started:.0f}s)")

    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "subs/final.csv", "-s", str(REPO / "Snakefile"), f"-j{args.jobs}",
               "--quiet", "progress", "--configfile", *configfiles]
    subprocess.run(command, cwd=workdir, check=True)
    kit_seconds = time.perf_counter() - started
    submission = pd.read_csv(workdir / "subs" / "final.csv", dtype=str).set_index("id")
    index = {label: i for i, label in enumerate(LABELS)}
    kit_predicted = submission.loc[test_csv[HEADER[0]], "y"].map(index).to_numpy()
    kit_f1 = macro_f1(test["label"].map(index).to_numpy(), kit_predicted, len(LABELS))
    rows = artifact_rows(workdir, configfiles, truth, baseline_f1)
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"kit subs/final.csv: held-out macro-F1 {kit_f1:.4f} (workflow {kit_seconds:.0f}s)")
    print(f"difference kit - plain: {kit_f1 - baseline_f1:+.4f}")
    from results import save

    chosen = read_json(workdir / "subs" / "final.json")["source"]
    command_line = "python bench/bench_real_data.py" + (" --unlabeled" if args.unlabeled else "") + \
        (f" --configfile {args.configfile} --name {name}" if args.configfile else "")
    candidate = (", the default matrix" if not args.configfile else f", with {args.configfile} (its own models)"
                 if lists_models(Path(args.configfile)) else f", with {args.configfile} over the default")
    save(name, command=command_line, rows=[
        {"artifact": "plain TF-IDF(char 1-3) + LogisticRegression", "honest OOF F1": "",
         "held-out F1": round(baseline_f1, 4), "vs plain": 0.0, "fold jobs s": ""},
        {"artifact": f"kit subs/final.csv ({chosen})", "honest OOF F1": "", "held-out F1": round(kit_f1, 4),
         "vs plain": round(kit_f1 - baseline_f1, 4), "fold jobs s": ""},
        *rows,
    ], compares=f"real labels ({len(train)} train / {len(test)} held out), "
                f"{'the 100k real unlabelled posts as data.unlabeled' if args.unlabeled else 'no unlabelled posts'}"
                f"{candidate}: subs/final.csv and every member vs TF-IDF + LR on the same split",
         summary=f"held-out macro-F1 {kit_f1:.4f} vs {baseline_f1:.4f} ({kit_f1 - baseline_f1:+.4f}); workflow "
                 f"{kit_seconds / 60:.1f} min -j{args.jobs}")


if __name__ == "__main__":
    main()
