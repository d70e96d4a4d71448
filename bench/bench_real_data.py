"""Real labels, competition layout, default matrix: does the kit's submission beat a plain TF-IDF + LR?

The competition's labeled file is not public in full; ../shared/data/ncov/processed_dev.txt holds a random 20% of
it with real labels (text already segmented by jieba with stop words removed: the words are joined back here).
This script splits it 80/20 (stratified, seeded), writes train.csv and test.csv in the competition's layout and
encoding (GB18030, CRLF), runs `snakemake` with a --configfile that holds only `data:` (the default matrix), and
scores subs/final.csv on the held-out labels against a plain TfidfVectorizer(char 1-3) + LogisticRegression fitted
on the same train.csv.

    python bench/bench_real_data.py [--workdir /tmp/kit-real] [--jobs 2] [--limit N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

# bench/ is on the path
from shared_data import LABELS, REPO, held_out_split, plain_baseline_f1, write_competition_files

sys.path.insert(0, str(REPO))

from kit.artifacts import read_json  # noqa: E402
from kit.demo import HEADER  # noqa: E402
from kit.metrics import macro_f1  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/kit-real")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use only this many labeled rows (quick look)")
    args = parser.parse_args()
    train, test = held_out_split(args.limit)
    workdir = Path(args.workdir)
    _, test_csv = write_competition_files(train, test, workdir / "comp")
    (workdir / "data_only.yaml").write_text("data:\n  train: comp/train.csv\n  test: comp/test.csv\n", encoding="utf-8")
    print(f"train {len(train)} rows, held-out test {len(test)} rows, labels {train['label'].value_counts().to_dict()}")

    started = time.perf_counter()
    baseline_f1 = plain_baseline_f1(train, test)
    print(f"plain TF-IDF(char 1-3) + LogisticRegression: held-out macro-F1 {baseline_f1:.4f} "
          f"({time.perf_counter() - started:.0f}s)")

    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "subs/final.csv", "-s", str(REPO / "Snakefile"), f"-j{args.jobs}",
               "--quiet", "progress", "--configfile", "data_only.yaml"]
    subprocess.run(command, cwd=workdir, check=True)
    kit_seconds = time.perf_counter() - started
    submission = pd.read_csv(workdir / "subs" / "final.csv", dtype=str).set_index("id")
    index = {label: i for i, label in enumerate(LABELS)}
    kit_predicted = submission.loc[test_csv[HEADER[0]], "y"].map(index).to_numpy()
    kit_f1 = macro_f1(test["label"].map(index).to_numpy(), kit_predicted, len(LABELS))
    subprocess.run([sys.executable, "-m", "kit", "scores"], cwd=workdir, check=True)
    print(f"kit subs/final.csv: held-out macro-F1 {kit_f1:.4f} (workflow {kit_seconds:.0f}s)")
    print(f"difference kit - plain: {kit_f1 - baseline_f1:+.4f}")
    from results import save

    chosen = read_json(workdir / "subs" / "final.json")["source"]
    save("real_data", command="python bench/bench_real_data.py", rows=[
        {"submission": "plain TF-IDF(char 1-3) + LogisticRegression", "held-out macro-F1": round(baseline_f1, 4)},
        {"submission": f"kit subs/final.csv ({chosen})", "held-out macro-F1": round(kit_f1, 4)},
    ], compares=f"real labels ({len(train)} train / {len(test)} held out), a --configfile with only data:, the "
                "default matrix: subs/final.csv vs TF-IDF + LR on the same split",
         summary=f"held-out macro-F1 {kit_f1:.4f} vs {baseline_f1:.4f} ({kit_f1 - baseline_f1:+.4f}); workflow "
                 f"{kit_seconds / 60:.1f} min -j{args.jobs}")


if __name__ == "__main__":
    main()
