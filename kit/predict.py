"""`kit predict`: classify new posts with what a finished run kept, exactly as its artifacts were made.

A source is an artifact under oof/ (by default the one behind subs/final.csv). An experiment's logits are the mean
of its K fold models' logits (kit.artifacts.mean_of_folds) on the posts in its text variant; an ensemble's are its
members' probabilities combined by the fit on every OOF row that it kept (combination.skops), class weights
included. Everything is read from the run folder: the manifests say which family, variant, members and method made
each artifact, so the config is not read again. Models load once; then `predict(texts)` costs only the models.

A person's `kit predict --text` waits for the imports too, so only what the source needs is imported: pandas for
a CSV in or out, the ensemble code for an ensemble, torch only for a model numpy cannot compute
(kit.models.transformer.numpy_predictor); bench/bench_predict.py measures the cold start.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kit import layout
from kit.artifacts import mean_of_folds, read_json
from kit.data_settings import ROW_ID_CHARS, Columns
from kit.encoding import HAN_RANGES, UNDECODABLE, decode_payload
from kit.kept import COMBINATION
from kit.settings import near

PROBABILITY_PREFIX = "p_"  # the output's probability columns: p_-1, p_0, p_1
NUL = "\x00"
CHINESE = re.compile("[" + "".join(f"{chr(first)}-{chr(last)}" for first, last in HAN_RANGES) + "]")


@dataclass
class Node:
    """One artifact of the source's tree: an experiment (its fold predictors) or an ensemble (its members and fit)."""

    name: str
    manifest: dict
    folds: list = field(default_factory=list)  # experiments: one predictor per fold, in the merge's fold order
    entry: object = None  # ensembles: kit.config.EnsembleEntry
    fitted: object = None  # ensembles: kit.ensemble.fitted.Fitted on every OOF row


@dataclass
class Source:
    """A loaded artifact and everything under it; predict(texts) -> logits [n x C] float32."""

    name: str
    classes: list[str]
    nodes: dict[str, Node]
    load_seconds: float = 0.0

    @property
    def n_models(self) -> int:
        return sum(len(node.folds) for node in self.nodes.values())

    def predict(self, texts: list[str]) -> np.ndarray:
        """np array [len(texts) x C] float32: the source's logits for raw posts, as its test_logits were made."""
        from kit.variants import apply_variant

        texts = list(texts)
        in_variant: dict[str, list[str]] = {}
        done: dict[str, np.ndarray] = {}

        def logits_of(name: str) -> np.ndarray:
            if name in done:  # an experiment shared by two member ensembles is predicted once
                return done[name]
            node = self.nodes[name]
            if node.entry is None:
                variant = text_variant(node.manifest)
                if variant not in in_variant:
                    in_variant[variant] = apply_variant(texts, variant)
                logits = mean_of_folds([predictor.predict(in_variant[variant]) for predictor in node.folds])
            else:
                from kit.ensemble.build import apply_combination, combination_input, to_logits

                # A member the fit gave no weight is never read by the blend: it is not loaded or predicted.
                used, nothing = set(used_members(node)), np.zeros((len(texts), len(self.classes)), np.float32)
                members = combination_input(node.entry, [logits_of(member) if member in used else nothing
                                                         for member in node.manifest["members"]])
                logits = to_logits(apply_combination(node.entry, node.fitted, members))
            done[name] = logits
            return logits

        return logits_of(self.name)


def used_members(node: Node) -> list[str]:
    """The members an ensemble's kept fit reads: for a blend (mean, fixed, weighted, Caruana) those with a weight
    above 0 (a Caruana fit usually leaves most at 0), else every member."""
    members, weights = node.manifest["members"], node.fitted.weights
    return list(members) if weights is None else [name for name, weight in zip(members, weights) if weight > 0]


def text_variant(manifest: dict) -> str:
    """The text variant an experiment's models read (a pseudo or augment variant trains on its base's texts)."""
    return manifest.get("text_variant", manifest["variant"])


def source_name(source: str | None, final_sidecar: Path, oof_dir: Path) -> str:
    """The artifact name: given (a name, or its folder oof_dir/<name>), or the source of subs/final.csv.

    A path to an artifact outside oof_dir (another run's) is refused: its name alone would pick this run's artifact
    of that name, or none, and only its own run folder holds the models it was made with."""
    if source:
        given = Path(source)
        if given.is_file():
            raise ValueError(f"{source}: is a file; --source takes an artifact's name or its folder "
                             f"({oof_dir}/<name>)")
        if given.parent != Path(".") and given.parent.resolve() != Path(oof_dir).resolve():
            run = given.parent.parent if given.parent.name == layout.OOF else Path("<its run folder>")
            raise ValueError(f"{source}: is not in this run's {oof_dir}/ (another run's artifact?); run kit predict "
                             f"in {run}, or pass --directory {run} --source {given.name}")
        return given.name
    if not Path(final_sidecar).is_file():
        raise FileNotFoundError(f"{final_sidecar}: missing, so there is no final submission to predict with; run "
                                "`snakemake -j2 subs/final.csv` or name an artifact with --source")
    return read_json(final_sidecar)["source"]


def load_source(name: str, oof_dir: Path, models_dir: Path) -> Source:
    """The artifact `name` under oof_dir with its fold models (models_dir/<exp>/fold<k>/) and ensemble fits."""
    import time

    from kit.config import EnsembleEntry
    from kit.kept import load_fold_predictor

    for folder, flag, default in ((oof_dir, "--oof-dir", layout.OOF), (models_dir, "--models-dir",
                                                                          layout.FOLD_MODELS)):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such folder; {flag} names a run's {default}/ (--directory names "
                                    "the run's folder)")
    started = time.perf_counter()
    nodes: dict[str, Node] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in nodes:
            continue
        manifest_path = Path(oof_dir) / current / "manifest.json"
        if not manifest_path.is_file():
            from kit.settings import near

            built = [folder.name for folder in Path(oof_dir).glob("*/")]
            raise FileNotFoundError(f"{manifest_path}: missing; artifact {current!r} was not built in this run folder "
                                    f"({near(current, built) if built else 'no artifacts here'})")
        manifest = read_json(manifest_path)
        node = Node(current, manifest)
        if manifest["kind"] == "ensemble":
            node.entry = EnsembleEntry.parse_setting(manifest["spec"], f"{manifest_path} spec")
            node.fitted = load_fitted(manifest_path.parent / COMBINATION, node.entry)
            pending += used_members(node)
        else:
            node.folds = [load_fold_predictor(Path(models_dir) / current / f"fold{meta['fold']}", manifest,
                                               meta["fold"])
                          for meta in manifest["folds"]]
        nodes[current] = node
    classes = [str(label) for label in nodes[name].manifest["classes"]]
    return Source(name, classes, nodes, load_seconds=time.perf_counter() - started)


def load_fitted(path: Path, entry):
    """An ensemble's kept fit (kit.ensemble.build.Fitted): read without skops when it is plain data (a blend's
    weights, class weights), else by kit.kept.load_combination with its checks."""
    from kit.skops_lite import read_plain

    saved = read_plain(path)
    if not isinstance(saved, dict) or {"combination", "class_weights"} - set(saved):
        from kit.kept import load_combination

        return load_combination(path, entry)
    from kit.ensemble.fitted import Fitted

    return Fitted(saved["combination"], saved["class_weights"])


# ------------------------------------------------------------------------------------------------ posts in and out


def unreadable(posts: Posts) -> str | None:
    """A warning naming the posts that hold no Chinese character (empty, blank, emoji, another language): the models
    learnt from Chinese posts, so such a post's label says what the models guess from nothing they know. None when
    every post has one."""
    ids = [post_id for post_id, text in zip(posts.ids, posts.texts) if not CHINESE.search(text)]
    if not ids:
        return None
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return (f"warning: {len(ids)} post(s) hold no Chinese character (id {shown}): the models learnt from Chinese "
            "posts, so their labels are guesses from nothing the models know")


# Delimiters a header line may use; kit predict reads the comma's, as the competition's files are.
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
# A column name: short, letters, digits and a few signs, never a post's sentence punctuation (，。！ or ?).
COLUMN_NAME = re.compile(r"\w[\w .()#/-]{0,39}")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
HEADER_SAMPLE = 1000  # the records after the first line that decide whether it is a header


def first_record(text: str, delimiter: str = ",") -> list[str]:
    """The first line's fields, stripped, read as CSV (a quoted field may hold the delimiter)."""
    try:
        return [name.strip() for name in next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])]
    except csv.Error:  # not a CSV line, whatever else the file is
        return []


def csv_header(text: str) -> tuple[str, list[str]] | None:
    """(delimiter, column names) when the first line reads as a CSV header, else None.

    A post may hold commas (Chinese posts with ASCII commas), so a delimiter alone does not make a header: the
    first line's fields must be two or more distinct column names (COLUMN_NAME, not a number), most of the next
    records must have as many fields, and one of their columns must hold numbers (ids, labels)."""
    from itertools import islice

    for delimiter in DELIMITERS:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)  # read once: header, then sample
        try:
            names = [name.strip() for name in next(records, [])]
            if (len(names) < 2 or len(set(names)) < len(names)
                    or not all(COLUMN_NAME.fullmatch(name) and not NUMBER.fullmatch(name) for name in names)):
                continue
            rows = [record for record in islice(records, HEADER_SAMPLE) if any(f.strip() for f in record)]
        except csv.Error:  # not a CSV with this delimiter, whatever else the file is
            continue
        full = [row for row in rows if len(row) == len(names)]
        if rows and 2 * len(full) > len(rows) and _has_number_column(full, len(names)):
            return delimiter, names
    return None


def _has_number_column(rows: list[list[str]], width: int) -> bool:
    """Whether a column of rows holds numbers in 4 of 5 rows (an id, a label, a score): what a CSV of posts has and
    a file of short posts cut at a comma ("武汉加油,中国加油") has not."""
    return any(5 * sum(bool(NUMBER.fullmatch(row[column].strip())) for row in rows) >= 4 * len(rows)
               for column in range(width))


def headerless_id(text: str, columns: Columns) -> str | None:
    """The first line's id when most lines start with an id (columns.id_pattern, ROW_ID_CHARS or more: not a year
    or a count a post may start with) and a comma, as the rows of a CSV whose header line is missing; else None."""
    if columns.id_pattern is None:
        return None
    from itertools import islice

    pattern = re.compile(rf"\s*\"?((?:{columns.id_pattern}))\"?\s*,")
    starts = [pattern.match(line) for line in islice((line for line in text.splitlines() if line.strip()),
                                                     HEADER_SAMPLE)]
    ids = [match.group(1) for match in starts if match and len(match.group(1)) >= ROW_ID_CHARS]
    return starts[0].group(1) if starts and starts[0] and 2 * len(ids) > len(starts) and len(ids) else None


def column_hint(name: str, names: list[str]) -> str:
    """' (did you mean ...?)' when a column name differs from one of names only by case or a little, else ''."""
    same_but_case = [other for other in names if other.casefold() == name.casefold()]
    said = f"did you mean {same_but_case[0]!r}?" if same_but_case else near(name, names)
    return f" ({said})" if said.startswith("did you mean") else ""


def is_competition_layout(text: str, where: str, columns: Columns, columns_given: bool = False) -> bool:
    """True when the first line is a CSV header naming the id and text columns (the rest of such a file is read by
    the ingest rules, undecodable bytes and all); False for one post per line.

    A first line that reads as another header (csv_header), or any first line when --column-* said the file is a
    CSV, is refused naming the columns it lacks: read line by line, the header would be classified as a post and
    each id glued to its text."""
    names = first_record(text)
    if columns.id in names and columns.text in names:
        return True
    found = csv_header(text)
    if found is None and not columns_given:
        headless = headerless_id(text, columns)
        if headless is not None:
            raise ValueError(f"{where}: its lines start with an id and a comma (line 1: {headless!r}), as a CSV "
                             f"without its header line; add the header (naming {columns.id!r} and {columns.text!r}), "
                             "or pass --lines to read each whole line as a post")
        return False
    as_lines = "or pass --lines to read each line, the first too, as one post"
    delimiter, names = found or (",", names)
    if delimiter != ",":
        raise ValueError(f"{where}: its first line is a {DELIMITERS[delimiter]}-separated header {names}; kit predict "
                         f"reads a comma-separated CSV: convert the file, {as_lines}")
    missing = [(role, name) for role, name in (("id", columns.id), ("text", columns.text)) if name not in names]
    lacks = " and ".join(f"no {role} column {name!r}{column_hint(name, names)}" for role, name in missing)
    roles = " and ".join(role for role, _ in missing)
    flags = " and ".join(f"--column-{role}" for role, _ in missing)
    raise ValueError(f"{where}: its first line, read as a CSV header, names the columns {names}: {lacks}; name "
                     f"the file's {roles} column{'s' if len(missing) > 1 else ''} with {flags}, {as_lines}")


@dataclass
class Posts:
    """The posts to classify: ids [n] str and texts [n] str, in input order."""

    ids: list[str]
    texts: list[str]


def numbered(texts: list[str]) -> Posts:
    """Posts with ids 1, 2, ... (--text, or one post per line)."""
    return Posts([str(number) for number in range(1, len(texts) + 1)], list(texts))


def read_input(path: str | None, texts: list[str] | None, columns: Columns, log=print, *,
               columns_given: bool = False, lines: bool = False) -> Posts:
    """The posts to classify.

    texts (--text): ids 1, 2, ...; path (--input, '-' for stdin): a CSV in the competition layout (read by the
    test file's rules, kit.data.read_posts) or one post per line (id = line number; a blank line is an empty post).
    columns_given: --column-* named the columns, so the file must be such a CSV; lines (--lines): one post per line,
    whatever the first line looks like.
    """
    if texts:
        unread = [flag for flag, given in (("--input", path is not None), ("--lines", lines),
                                           ("--column-*", columns_given)) if given]
        if unread:
            raise ValueError(f"--text gives the posts, so {' and '.join(unread)} would be ignored: give the posts "
                             "with --text or with --input, not both")
        return numbered(texts)
    if lines and columns_given:
        raise ValueError("--lines reads one post per line, which has no columns: drop --column-* (for a CSV) or "
                         "--lines")
    where = "stdin" if path in (None, "-") else str(path)
    payload = sys.stdin.buffer.read() if where == "stdin" else read_posts_file(Path(path))
    # The encoding is detected as ingest detects it (UTF-8 with or without BOM, else GB18030; UTF-16, Big5 and
    # binary files refused).
    text, _, n_undecodable = decode_payload(Path(where), payload, "auto")
    if not lines and is_competition_layout(text, where, columns, columns_given):
        return read_csv_posts(path, payload, where, columns)
    return read_lines(text, n_undecodable, where, log)


def read_csv_posts(path: str | None, payload: bytes, where: str, columns: Columns) -> Posts:
    """The posts of a CSV in the competition layout, read by the test file's rules (stdin through a copy)."""
    from kit.data import read_posts

    if where == "stdin":
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "stdin.csv"
            copy.write_bytes(payload)
            frame = read_posts(copy, columns)
    else:
        frame = read_posts(path, columns)
    return Posts(frame["id"].astype(str).tolist(), frame["text"].tolist())


def read_lines(text: str, n_undecodable: int, where: str, log) -> Posts:
    """One post per line (id = line number; a blank line is an empty post). Any undecodable byte is refused, since
    a post must not change silently; a NUL byte is removed, as ingest does."""
    if n_undecodable:
        line = text[: text.index(UNDECODABLE)].count("\n") + 1
        raise ValueError(f"{where}: line {line}: {n_undecodable} byte sequence(s) are neither UTF-8 nor GB18030; "
                         "convert the file to UTF-8 (iconv -f <its encoding> -t utf-8)")
    if NUL in text:
        log(f"{where}: {text.count(NUL)} NUL byte(s) removed")
        text = text.replace(NUL, "")
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise ValueError(f"{where}: holds no posts; give one post per line, a CSV in the competition layout, or "
                         "--text")
    blank = sum(1 for line in lines if not line.strip())
    if blank:
        log(f"{where}: {blank} blank line(s) are predicted as empty posts (ids are line numbers)")
    return numbered(lines)


def read_posts_file(path: Path) -> bytes:
    """The bytes of --input; a missing file or a folder is a ValueError naming it."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; --input takes a file of posts ('-' reads stdin)")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; --input takes a file of posts ('-' reads stdin)")
    from kit.input_files import read_bytes

    return read_bytes(path)  # never a device, a pipe or a socket, and never past the size bound


def check_out(out: str | None, input_path: str | None, workflow_folders: tuple[str, ...] = ()) -> None:
    """Refuse, before any model loads, an --out that cannot take the predictions: a folder, a device or a pipe
    (the file written is renamed into its place), a path under a file, a file in the folders the workflow writes
    (layout.WORKFLOW_FOLDERS and workflow_folders, the run's --oof-dir and --models-dir: subs/final.csv would be
    replaced; data/raw/, the competition's own files, is not one), or the --input file itself (by any spelling or
    link), whose posts the predictions would replace."""
    if not out:
        return
    target = Path(out)
    if target.is_dir():
        raise ValueError(f"{out}: is a folder; --out takes the predictions file to write (e.g. "
                         f"{target / 'predictions.csv'})")
    if target.exists() and not target.is_file():
        raise ValueError(f"{out}: is not a regular file (a device or a pipe?), and --out writes a file in its place; "
                         "give a file's path, or leave --out out for the CSV on stdout")
    above = next((folder for folder in target.parents if folder.exists()), None)
    if above is not None and not above.is_dir():
        raise ValueError(f"{out}: {above} is a file, not a folder; give --out a path in a folder")
    resolved = target.resolve()
    owned = next((folder for folder in (*layout.WORKFLOW_FOLDERS, *workflow_folders)
                  if Path(folder).resolve() in (resolved, *resolved.parents)), None)
    if owned is not None:
        raise ValueError(f"{out}: is in the run's {owned}, which the workflow writes (subs/final.csv, the artifacts, "
                         "the data it rebuilds from); write the predictions elsewhere, e.g. --out predictions.csv")
    if input_path not in (None, "-") and target.exists() and Path(input_path).exists() \
            and os.path.samefile(target, input_path):
        raise ValueError(f"{out}: is the --input file {input_path}; the predictions would replace its posts: give "
                         "--out another file")


def labels_and_probabilities(logits: np.ndarray, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """(the decision of each row, a competition label; the class probabilities [n x C] float64, rounded to 6
    places as the CSV writes them)."""
    from kit.metrics import softmax

    return [classes[column] for column in logits.argmax(axis=1)], softmax(logits.astype(np.float64)).round(6)


def predictions(posts: Posts, logits: np.ndarray, classes: list[str]):
    """Frame `id`, `y` (the decision, a competition label), then one probability column per class (p_<label>)."""
    import pandas as pd

    labels, probs = labels_and_probabilities(logits, classes)
    frame = pd.DataFrame({"id": list(posts.ids), "y": labels})
    for column, label in enumerate(classes):
        frame[f"{PROBABILITY_PREFIX}{label}"] = probs[:, column]
    return frame


def write_predictions(frame, out: str | None) -> None:
    """The predictions as CSV into out (atomically), or on stdout."""
    from kit.artifacts import atomic_write_bytes

    payload = frame.to_csv(index=False, lineterminator="\n")
    if out:
        atomic_write_bytes(Path(out), payload.encode("utf-8"))
    else:
        sys.stdout.write(payload)
        sys.stdout.flush()


def display_width(text: str) -> int:
    """Terminal cells the text takes: a wide (CJK) character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def shorten(text: str, width: int) -> str:
    """The text on one line, cut to `width` terminal cells with '…' where it was cut."""
    text = " ".join(text.split())
    if display_width(text) <= width:
        return text
    kept = ""
    for char in text:
        if display_width(kept + char) > width - 1:
            break
        kept += char
    return kept + "…"


def readable(posts: Posts, logits: np.ndarray, classes: list[str], width: int) -> str:
    """The predictions for a person: one line per post with its label, each class's probability and the post
    (shortened to the terminal's width)."""
    labels, probs = labels_and_probabilities(logits, classes)
    label_width = max(len("label"), *(len(label) for label in labels))
    header = [f"{'label':<{label_width}}", *(f"{'p(' + label + ')':>6}" for label in classes)]
    lines = ["  ".join([*header, "text"])]
    room = max(width - display_width("  ".join(header)) - 2, 10)
    for label, row, text in zip(labels, probs, posts.texts):
        cells = [f"{label:<{label_width}}", *(f"{probability:>6.3f}" for probability in row)]
        lines.append("  ".join([*cells, shorten(text, room)]))
    return "\n".join(lines) + "\n"


def describe_load(source: Source) -> str:
    """One log line: what was loaded and how long it took."""
    experiments = sum(1 for node in source.nodes.values() if node.entry is None)
    return (f"{source.name}: {experiments} experiment(s), {source.n_models} fold models and "
            f"{len(source.nodes) - experiments} ensemble fit(s) loaded in {source.load_seconds:.2f}s")
