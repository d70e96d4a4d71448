"""The real data the benchmarks read: where it is, its labeled file, the held-out split, the competition files made
from it, and the plain TF-IDF + LR reference on that split.

KIT_SHARED_DATA names the shared/data folder (default: ../shared/data beside the repository), as for the tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KIT_SHARED_DATA", REPO.parent / "shared" / "data"))
DEV_TXT = "ncov/processed_dev.txt"
UNLABELED = "covid_weibo_unlabeled/covid_weibo_unlabeled_100k.csv"
LABELS = ("-1", "0", "1")


def read_processed_dev(path: Path) -> tuple[list[str], list[str]]:
    """(texts, labels) of processed_dev.txt: `__label__<y> word word ...` per line, the jieba words joined back
    into character strings (the character models read them so); a line without a valid label stops with its number."""
    texts, labels = [], []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        label, _, words = line.partition(" ")
        if not label.startswith("__label__") or label.removeprefix("__label__") not in LABELS:
            raise ValueError(f"{path}: line {line_no} has no __label__{{-1,0,1}} prefix")
        labels.append(label.removeprefix("__label__"))
        texts.append("".join(words.split()))
    return texts, labels


def held_out_split(limit: int | None = None):
    """(train, test) frames `label`, `text`: processed_dev.txt without empty texts (a seeded sample of `limit` rows
    when given), split 80/20 stratified and seeded, as every real-label bench does; exits when the data is absent."""
    import sys

    import pandas as pd
    from sklearn.model_selection import train_test_split

    source = SHARED_DATA / DEV_TXT
    if not source.is_file():
        sys.exit(f"real data not found at {source} (set KIT_SHARED_DATA to the shared/data folder)")
    texts, labels = read_processed_dev(source)
    labeled = pd.DataFrame({"label": labels, "text": texts})
    labeled = labeled[labeled["text"] != ""].reset_index(drop=True)
    if limit:
        labeled = labeled.sample(n=limit, random_state=0).reset_index(drop=True)
    return train_test_split(labeled, test_size=0.2, stratify=labeled["label"], random_state=2020)


def competition_frame(frame, first_id: int, with_label: bool):
    """frame (`text`, `label`) in the competition's columns, ids counting from first_id."""
    import pandas as pd

    from kit.demo import HEADER, LABEL_COLUMN

    out = pd.DataFrame({HEADER[0]: [str(first_id + i) for i in range(len(frame))], HEADER[1]: "02月01日 12:00",
                        HEADER[2]: "bench", HEADER[3]: frame["text"].to_numpy(), HEADER[4]: "[]", HEADER[5]: "[]"})
    if with_label:
        out[LABEL_COLUMN] = frame["label"].to_numpy()
    return out


def write_competition_files(train, test, folder: Path):
    """folder/train.csv and folder/test.csv in the competition's layout and encoding (GB18030, CRLF); a file is
    rewritten only when its bytes change, so a rerun in a finished workdir keeps its mtime and Snakemake runs only
    what is new. Returns the two competition frames."""
    from kit.demo import write_competition_csv

    folder.mkdir(parents=True, exist_ok=True)
    frames = competition_frame(train, 4400000000000000, True), competition_frame(test, 4500000000000000, False)
    for frame, name in zip(frames, ("train.csv", "test.csv")):
        path, fresh = folder / name, folder / f".{name}.new"
        write_competition_csv(frame, fresh)
        if path.is_file() and path.read_bytes() == fresh.read_bytes():
            fresh.unlink()
        else:
            fresh.replace(path)
    return frames


def plain_baseline_f1(train, test) -> float:
    """Held-out macro-F1 of a plain TfidfVectorizer(char 1-3) + LogisticRegression fitted on train: the reference."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from kit.metrics import macro_f1

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    model = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    index = {label: i for i, label in enumerate(LABELS)}
    predicted = [index[label] for label in model.predict(vectorizer.transform(test["text"]))]
    return macro_f1(test["label"].map(index).to_numpy(), np.asarray(predicted), len(LABELS))


def held_out_f1(artifact, truth) -> float:
    """Macro-F1 of a kit Artifact's test logits on the held-out labels (truth: a Series of label by test id)."""
    from kit.metrics import macro_f1

    predicted = artifact.test_logits.argmax(axis=1)
    y = truth.loc[artifact.test_ids.astype(str)].map({c: i for i, c in enumerate(LABELS)}).to_numpy()
    return macro_f1(y, predicted, len(LABELS))


def stage_seconds(artifact) -> float:
    """Seconds an experiment's fold jobs took to train and predict, summed over its folds (0 for an ensemble)."""
    return sum(fold.get("seconds", 0.0) for fold in artifact.manifest.get("folds", []))
