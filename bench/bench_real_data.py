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

from shared_data import DEV_TXT, REPO, SHARED_DATA, read_processed_dev  # bench/ is on the path

sys.path.insert(0, str(REPO))

from kit.artifacts import read_json  # noqa: E402
from kit.demo import HEADER, LABEL_COLUMN, write_competition_csv  # noqa: E402


def competition_frame(frame: pd.DataFrame, first_id: int, with_label: bool) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            HEADER[0]: [str(first_id + i) for i in range(len(frame))],
            HEADER[1]: "02月01日 12:00",
            HEADER[2]: "bench",
            HEADER[3]: frame["text"].to_numpy(),
            HEADER[4]: "[]",
            HEADER[5]: "[]",
        }
    )
    if with_label:
        out[LABEL_COLUMN] = frame["label"].to_numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/kit-real")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use only this many labeled rows (quick look)")
    args = parser.parse_args()
    source = SHARED_DATA / DEV_TXT
    if not source.is_file():
        sys.exit(f"real data not found at {source} (set KIT_SHARED_DATA to the shared/data folder)")

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from kit.metrics import macro_f1

    texts, labels = read_processed_dev(source)
    labeled = pd.DataFrame({"label": labels, "text": texts})
    labeled = labeled[labeled["text"] != ""].reset_index(drop=True)
    if args.limit:
        labeled = labeled.sample(n=args.limit, random_state=0).reset_index(drop=True)
    train, test = train_test_split(labeled, test_size=0.2, stratify=labeled["label"], random_state=2020)
    workdir = Path(args.workdir)
    (workdir / "comp").mkdir(parents=True, exist_ok=True)
    train_csv = competition_frame(train, 4400000000000000, with_label=True)
    test_csv = competition_frame(test, 4500000000000000, with_label=False)
    write_competition_csv(train_csv, workdir / "comp" / "train.csv")
    write_competition_csv(test_csv, workdir / "comp" / "test.csv")
    (workdir / "data_only.yaml").write_text("data:\n  train: comp/train.csv\n  test: comp/test.csv\n", encoding="utf-8")
    print(f"train {len(train)} rows, held-out test {len(test)} rows, labels {train['label'].value_counts().to_dict()}")

    classes = ["-1", "0", "1"]
    y_test = test["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    baseline = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    baseline_pred = baseline.predict(vectorizer.transform(test["text"]))
    baseline_f1 = macro_f1(y_test, pd.Series(baseline_pred).map({c: i for i, c in enumerate(classes)}).to_numpy(), 3)
    print(f"plain TF-IDF(char 1-3) + LogisticRegression: held-out macro-F1 {baseline_f1:.4f} ({time.perf_counter() - started:.0f}s)")

    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "subs/final.csv", "-s", str(REPO / "Snakefile"), f"-j{args.jobs}",
               "--quiet", "progress", "--configfile", "data_only.yaml"]
    subprocess.run(command, cwd=workdir, check=True)
    kit_seconds = time.perf_counter() - started
    submission = pd.read_csv(workdir / "subs" / "final.csv", dtype=str).set_index("id")
    kit_pred = submission.loc[test_csv[HEADER[0]], "y"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    kit_f1 = macro_f1(y_test, kit_pred, 3)
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
