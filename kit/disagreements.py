"""The posts on which the members of the final ensemble disagree most: where to read, and what to change next.

The B-board winners found their biggest late gain here: test posts that turn positive after a negative start
(先抑后扬) split their models, and the split pointed at max_len. Each post is ranked by its vote split (the share of
members that do not vote with the majority), ties broken by the spread of the members' probabilities (their mean
total-variation distance from the members' average). OOF posts come with their true label; every post with its
length against the members' max_len.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kit.artifacts import Artifact, read_json
from kit.metrics import softmax

TEXT_SHOWN = 48  # characters of a post in the table (the CSV has the whole text)
FIGURE_ROWS, FIGURE_TEXT = 20, 24  # test posts in the figure, and the characters shown of each


def vote_split(prob_stack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(votes [M x n] class indices, minority [n] share of members not voting with the majority, spread [n] mean
    total-variation distance of each member's probabilities from the members' mean) for prob_stack [M x n x C]."""
    n_members, _, n_classes = prob_stack.shape
    votes = prob_stack.argmax(axis=2)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(n_classes)], axis=1)  # [n x C]
    minority = 1.0 - counts.max(axis=1) / n_members
    spread = 0.5 * np.abs(prob_stack - prob_stack.mean(axis=0, keepdims=True)).sum(axis=2).mean(axis=0)
    return votes, minority, spread


def split_label(votes: np.ndarray, n_classes: int) -> str:
    """How the members' votes [M] on one post split: members per class, the largest first ('2-2', '3-1', '2-1-1')."""
    counts = np.bincount(votes, minlength=n_classes)
    return "-".join(str(count) for count in sorted(counts[counts > 0], reverse=True))


def most_disagreed(minority: np.ndarray, spread: np.ndarray, top: int) -> np.ndarray:
    """Row indices [<= top] by vote split, then probability spread, both descending (ties: the earlier row)."""
    order = np.lexsort((np.arange(len(minority)), -spread, -minority))
    return order[:top]


def closure(name: str, manifests: dict[str, dict]) -> list[str]:
    """The experiments under an artifact (itself when it is one), however deep its ensembles go."""
    manifest = manifests[name]
    if manifest["kind"] == "experiment":
        return [name]
    return [exp for member in manifest["members"] for exp in closure(member, manifests)]


def voters(final_source: str, manifests: dict[str, dict]) -> list[str]:
    """The members of the final ensemble; when the final source is an experiment, every experiment given."""
    if manifests[final_source]["kind"] == "ensemble":
        return list(manifests[final_source]["members"])
    return [name for name, manifest in manifests.items() if manifest["kind"] == "experiment"]


def shortest_max_len(names: Sequence[str], manifests: dict[str, dict]) -> int | None:
    """The smallest max_len among the experiments under these artifacts (None when no model truncates)."""
    found = [manifests[exp]["params"]["max_len"] for name in names for exp in closure(name, manifests)
             if "max_len" in manifests[exp].get("params", {})]
    return min(found) if found else None


def disagreement_rows(final: Artifact, members: Sequence[Artifact], texts: dict[str, pd.Series],
                      max_len: int | None, top: int) -> pd.DataFrame:
    """The `top` most disagreed test posts and OOF posts, one row each (split, rank, id, text, label, the final
    decision and its probability, vote split, minority share, spread, length, max_len, then each member's vote and the
    probability of its vote). texts: 'test' and 'train' -> text by id."""
    classes = [str(label) for label in final.classes]
    frames = []
    for split, ids, member_logits, final_logits, labels in (
        ("test", final.test_ids, [m.test_logits for m in members], final.test_logits, None),
        ("oof", final.ids[final.fold_of >= 0], [m.oof_logits[m.fold_of >= 0] for m in members],
         final.oof_logits[final.fold_of >= 0], final.labels[final.fold_of >= 0]),
    ):
        prob_stack = np.stack([softmax(logits.astype(np.float64)) for logits in member_logits])
        votes, minority, spread = vote_split(prob_stack)
        rows = most_disagreed(minority, spread, top)
        final_probs = softmax(final_logits[rows].astype(np.float64))
        text = texts["test" if split == "test" else "train"].reindex(ids[rows].astype(str)).fillna("").to_numpy()
        length = np.array([len(t) for t in text])
        frame = pd.DataFrame({
            "split": split,
            "rank": np.arange(1, len(rows) + 1),
            "id": ids[rows].astype(str),
            "text": text,
            "label": [classes[c] for c in labels[rows]] if labels is not None else "",
            "final": [classes[c] for c in final_probs.argmax(axis=1)],
            "final_p": final_probs.max(axis=1).round(4),
            "vote_split": [split_label(votes[:, row], len(classes)) for row in rows],
            "minority_share": minority[rows].round(4),
            "spread": spread[rows].round(4),
            "length": length,
            "max_len": max_len if max_len is not None else "",
            # [CLS] and [SEP] take two of max_len's tokens; a Chinese character is about one token.
            "cut": (length > max_len - 2) if max_len is not None else False,
        })
        for m, member in enumerate(members):
            frame[f"vote:{member.name}"] = [classes[c] for c in votes[m, rows]]
            frame[f"p:{member.name}"] = prob_stack[m, rows, votes[m, rows]].round(4)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def disagreement_table(frame: pd.DataFrame, members: Sequence[str], split: str):
    """A rich Table of one split's rows; each member's vote and probability in member order (the caption lists
    them)."""
    from rich.table import Table

    rows = frame[frame["split"] == split]
    title = {"test": "test posts", "oof": "OOF posts (true label known)"}[split]
    caption = ("split: members per class, the largest first (2-2: two against two), the ranking; spread: how far "
               "the members' probabilities are apart (0 to 1), which ranks posts of the same split; final: the "
               "ensemble's decision (its probability); length / max_len: characters against the shortest max_len "
               "of the members (✂: the text was cut); votes: each member's class (its probability), members "
               + ", ".join(f"{i + 1}={name}" for i, name in enumerate(members)))
    table = Table(title=f"Members disagree most on these {title}", show_lines=False, caption=caption,
                  caption_justify="left")
    for column, justify in (("#", "right"), ("id", "left"), ("text", "left"), ("label", "center"),
                            ("final", "center"), ("split", "right"), ("spread", "right"),
                            ("length / max_len", "right"), ("votes (probability)", "left")):
        if column == "label" and split == "test":
            continue
        table.add_column(column, justify=justify, overflow="fold")
    for _, row in rows.iterrows():
        text = row["text"] if len(row["text"]) <= TEXT_SHOWN else row["text"][:TEXT_SHOWN] + "…"
        length = f"{row['length']} / {row['max_len']}" + (" ✂" if row["cut"] else "") if row["max_len"] != "" \
            else str(row["length"])
        votes = " ".join(f"{row[f'vote:{name}']}({row[f'p:{name}']:.2f})" for name in members)
        cells = [str(row["rank"]), row["id"], text, row["label"], f"{row['final']} ({row['final_p']:.2f})",
                 row["vote_split"], f"{row['spread']:.2f}", length, votes]
        if split == "test":
            del cells[3]
        table.add_row(*cells)
    return table


def write_disagreements(sidecar_path: Path, artifact_files: list[tuple[Path, Path]], train: Path, test: Path,
                        top: int, out_csv: Path | None, out_png: Path | None, log) -> pd.DataFrame:
    """Rank the posts the final ensemble's members disagree on; log the tables (log: a kit.log.Log), write the CSV
    and the figure (the top test posts).

    artifact_files: (oof.npz, manifest.json) of the artifacts to find the final source and its members among;
    train, test: the ingested splits (their texts are shown as read, before any variant).
    """
    from kit.artifacts import atomic_write_bytes

    source = read_json(sidecar_path)["source"]
    manifests, files = {}, {}
    for npz, manifest_path in artifact_files:
        manifest = read_json(manifest_path)
        manifests[manifest["name"]], files[manifest["name"]] = manifest, (npz, manifest_path)
    if source not in files:
        raise ValueError(f"{sidecar_path}: its source {source!r} is not among the artifacts given ({sorted(files)})")
    names = voters(source, manifests)
    missing = [name for name in names if name not in files]
    if missing:
        raise ValueError(f"the members {missing} of {source} are not among the artifacts given ({sorted(files)})")
    final = Artifact.read(*files[source])
    texts = {split: pd.read_parquet(path, columns=["id", "text"]).astype(str).set_index("id")["text"]
             for split, path in (("train", train), ("test", test))}
    frame = disagreement_rows(final, [Artifact.read(*files[name]) for name in names], texts,
                              shortest_max_len(names, manifests), top)
    for split in ("test", "oof"):
        log.rich(disagreement_table(frame, names, split))
    if out_csv is not None:
        atomic_write_bytes(Path(out_csv), frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    if out_png is not None:
        from kit.figures import disagreement_figure
        from kit.results import prepare_font, write_png

        prepare_font(log)
        shown = frame[frame["split"] == "test"].head(FIGURE_ROWS)
        classes = [str(label) for label in final.classes]
        columns = [(f"vote:{name}", f"p:{name}") for name in names] + [("final", "final_p")]  # the decision last
        votes = np.array([[classes.index(vote) for vote in shown[vote]] for vote, _ in columns]).T
        vote_probs = np.stack([shown[p].to_numpy(dtype=float) for _, p in columns], axis=1)
        snippets = [" ".join(text.split()) for text in shown["text"]]  # one line per post
        snippets = [text if len(text) <= FIGURE_TEXT else text[:FIGURE_TEXT] + "…" for text in snippets]
        write_png(disagreement_figure(snippets, [f"#{rank}" for rank in shown["rank"]], [*names, f"{source} (final)"],
                                      vote_probs, votes, classes), out_png)
    log(f"{source}: the {top} most disagreed test and OOF posts among {len(names)} members"
        + (f" written to {out_csv}" if out_csv else ""))
    return frame
