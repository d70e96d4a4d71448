"""The text corpus for representation learning: every distinct cleaned text of train, test and the unlabelled
posts, with its words, segmented once (rule `corpus`, `python -m kit corpus`).

Using the test texts is legitimate: the corpus holds no label, and the competition gives every team the test
texts; word vectors or a language model that read them learn the words of the test posts, as the winners' did.

`build_corpus`, step by step:
1. texts: train, then test, then the unlabelled posts (when `data.unlabeled` is set), each cleaned like the
   `cleaned` variant (kit.cleaning.clean_text); a text that cleans to nothing is dropped, and each distinct text
   is kept once, its `source` the first split it was seen in.
2. `max_texts`: at most that many of the unlabelled texts left, spread evenly over the file (the posts are in time
   order, so every week of the epidemic stays in); train and test texts are always in.
3. the corpus's own words (kit/newwords.py), found over those texts, become jieba's user dictionary.
4. every text is segmented once with it (kit/segment.py), in forked workers when the rule has threads.

The files, each named by the rule:
  corpus.parquet  one row per text: text (str), words (str: its words joined by single spaces), source (str:
                  train, test or unlabeled)
  userdict.txt    jieba's user-dictionary format, `word freq tag` per line (kit/segment.py)
  new_words.tsv   word, count, kind, pmi, left_entropy, right_entropy: each word and what admitted it
  meta.json       corpus_hash, rows per source (and per source: read, empty, duplicate, over max_texts, kept), the
                  new words per kind, the settings, timings
`corpus_hash` is sha256 over the text, words and source columns; everything built on the corpus records it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kit import layout
from kit.hashing import sha256_strings
from kit.newwords import NewWordSettings
from kit.progress import tracked
from kit.registry import BuildStep, register
from kit.settings import Settings, setting

if TYPE_CHECKING:
    import pandas as pd

    from kit.newwords import NewWord

SOURCES = ("train", "test", "unlabeled")
COLUMNS = ("text", "words", "source")
NEW_WORD_COLUMNS = ("word", "count", "kind", "pmi", "left_entropy", "right_entropy")


@dataclass
class CorpusSettings(Settings):
    """The text corpus that representations learn from: train + test + unlabelled texts, cleaned and deduplicated
    (label-free, so using the test texts is legitimate), segmented once with its own words (kit/corpus.py)."""

    max_texts: int | None = setting(None, "most unlabelled texts kept, spread evenly over the file (train and test "
                                          "texts are always in); null keeps all", ge=1)
    new_words: NewWordSettings = setting(NewWordSettings(), "the corpus's own words added to jieba's dictionary")


@dataclass(frozen=True)
class CorpusFiles:
    corpus: Path
    userdict: Path
    new_words: Path
    meta: Path


def spread(items: Sequence, most: int) -> list:
    """At most `most` of items, evenly spaced from the first, in their order."""
    if len(items) <= most:
        return list(items)
    return [items[i * len(items) // most] for i in range(most)]


def corpus_texts(texts_by_source: Mapping[str, Sequence[str]], max_texts: int | None,
                 log: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """(frame [n_texts x 2] of text and source, rows per source): the distinct cleaned texts of steps 1 and 2 (module
    docstring). texts_by_source: 'train' and 'test', optionally 'unlabeled', each a sequence of ingested texts.
    rows: per source, how many were read, empty once cleaned, copies of a text seen before, over max_texts, kept.
    With log, progress lines per source (kit/progress.py)."""
    import pandas as pd

    from kit.cleaning import clean_text

    unknown = set(texts_by_source) - set(SOURCES)
    if unknown or not {"train", "test"} <= set(texts_by_source):
        raise ValueError(f"corpus: texts must come from train, test and optionally unlabeled, got "
                         f"{sorted(texts_by_source)}")
    seen: set[str] = set()
    texts, sources, rows = [], [], {}
    for source in SOURCES:
        if source not in texts_by_source:
            continue
        counts = {"read": len(texts_by_source[source]), "empty": 0, "duplicate": 0, "over_max_texts": 0}
        kept = []
        cleaned = map(clean_text, texts_by_source[source])
        if log is not None:
            cleaned = tracked(cleaned, log, f"cleaning {source}", counts["read"], "texts")
        for text in cleaned:
            if not text:
                counts["empty"] += 1
            elif text in seen:
                counts["duplicate"] += 1
            else:
                seen.add(text)
                kept.append(text)
        if source == "unlabeled" and max_texts is not None:
            counts["over_max_texts"] = max(0, len(kept) - max_texts)
            kept = spread(kept, max_texts)
        counts["kept"] = len(kept)
        rows[source] = counts
        texts += kept
        sources += [source] * len(kept)
    return pd.DataFrame({"text": texts, "source": sources}, dtype="str"), rows


def corpus_hash(frame: pd.DataFrame) -> str:
    return sha256_strings(*(frame[column] for column in COLUMNS))


def new_words_table(words: Sequence[NewWord]) -> str:
    """new_words.tsv: a header, then one tab-separated line per word (statistics to 3 decimals, empty where a kind
    has none)."""

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.3f}"
        return str(value)

    lines = ["\t".join(NEW_WORD_COLUMNS)]
    lines += ["\t".join(cell(getattr(word, column)) for column in NEW_WORD_COLUMNS) for word in words]
    return "\n".join(lines) + "\n"


def build_corpus(inputs: Mapping[str, Path], settings: CorpusSettings, outputs: CorpusFiles, workers: int = 1,
                 log=print) -> dict:
    """Write the corpus's four files (module docstring) from the ingested split files in inputs (source -> parquet
    path); return its meta."""
    import jieba

    from kit.artifacts import atomic_write_bytes, provenance, write_json, write_parquet
    from kit.data import read_texts
    from kit.newwords import KINDS, find_new_words
    from kit.progress import stage
    from kit.segment import Segmenter, base_tokenizer, known_words, segment_texts, userdict_lines
    from kit.settings import to_dict

    seconds = {}
    started = time.perf_counter()
    frame, rows = corpus_texts({source: read_texts([path]) for source, path in inputs.items()}, settings.max_texts,
                               log)
    seconds["clean"] = time.perf_counter() - started

    started = time.perf_counter()
    tokenizer = base_tokenizer()
    # n-gram statistics are whole-array numpy passes that cannot report inside: the stage's start and end only.
    with stage(log, f"finding new words in {len(frame)} texts"):
        new_words = find_new_words(frame["text"].tolist(), known_words(tokenizer), settings.new_words)
    lines = userdict_lines(new_words, tokenizer)
    atomic_write_bytes(outputs.userdict, "".join(line + "\n" for line in lines).encode("utf-8"))
    atomic_write_bytes(outputs.new_words, new_words_table(new_words).encode("utf-8"))
    seconds["new_words"] = time.perf_counter() - started
    per_kind = {kind: sum(word.kind == kind for word in new_words) for kind in KINDS}
    top = [f"{word.word} {word.count}" for word in new_words if word.kind == "new_word"][:30]
    log(f"corpus: {per_kind} words for jieba's dictionary; the most frequent new words: {', '.join(top)}")

    started = time.perf_counter()
    segmenter = Segmenter.from_userdict(outputs.userdict)
    frame["words"] = segment_texts(segmenter, frame["text"].tolist(), workers, log)
    frame = frame[list(COLUMNS)]
    seconds["segment"] = time.perf_counter() - started
    write_parquet(frame, outputs.corpus)

    meta = {
        "corpus_hash": corpus_hash(frame),
        "rows": {source: counts["kept"] for source, counts in rows.items()},
        "texts": rows,
        "new_words": per_kind,
        "settings": to_dict(settings),
        "jieba_version": jieba.__version__,
        "workers": workers,
        "seconds": {step: round(value, 2) for step, value in seconds.items()},
        **provenance(),
    }
    write_json(outputs.meta, meta)
    for source, counts in rows.items():
        log(f"corpus {source}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
    log(f"corpus {meta['corpus_hash'][:12]}: {len(frame)} texts; seconds {meta['seconds']} ({workers} worker(s) "
        "segmenting)")
    return meta


def read_corpus(path: Path, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """The corpus file's columns (all str); a file without them is an error naming it and the rebuild."""
    import pandas as pd
    import pyarrow.parquet

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (build it with `snakemake {path}`)")
    present = pyarrow.parquet.read_schema(path).names
    missing = [column for column in columns if column not in present]
    if missing:
        raise ValueError(f"{path}: lacks column(s) {missing} of a corpus (written by an older kit?); rebuild it with "
                         f"`snakemake --forcerun {path}`")
    return pd.read_parquet(path, columns=list(columns)).astype(str)


def words_of(texts: Sequence[str], corpus: Path, userdict: Path, workers: int = 1) -> list[list[str]]:
    """list [len(texts)] of the words of each text once cleaned (kit.cleaning.clean_text), for models that read
    words: the words the corpus's vectors know, whatever the text variant.

    Where the cleaned text is in the corpus (every train and test text is: `raw` and `cleaned` texts alike, since
    cleaning a cleaned text changes nothing) its words are the corpus's, segmented once when the corpus was built.
    The rest (a text of another variant that cleaning does not bring back, a new text) is segmented here with the
    corpus's user dictionary, as the corpus would have segmented it, in forked workers when workers > 1.
    """
    from kit.cleaning import clean_text
    from kit.segment import Segmenter, segment_texts

    cleaned = [clean_text(text) for text in texts]
    stored = read_corpus(corpus, ("text", "words"))
    words_by_text = dict(zip(stored["text"], stored["words"]))
    # A text that cleans to nothing (the corpus keeps none) has no words: no need to load jieba for it.
    words_by_text[""] = ""
    missing = list(dict.fromkeys(text for text in cleaned if text not in words_by_text))
    if missing:
        words_by_text.update(zip(missing, segment_texts(Segmenter.from_userdict(userdict), missing, workers)))
    return [words_by_text[text].split(" ") if words_by_text[text] else [] for text in cleaned]


# ------------------------------------------------------------------------------------------ the corpus's build step


def step_inputs(config, entry: str, settings: CorpusSettings) -> dict[str, str | list[str]]:
    """The ingested splits the corpus reads: train, test and, when the config names one, the unlabelled file."""
    unlabeled = [layout.interim("unlabeled")] if config.data.unlabeled else []
    return {"train": layout.interim("train"), "test": layout.interim("test"), "unlabeled": unlabeled}


def step_outputs(entry: str) -> dict[str, str]:
    return layout.corpus_files()


def build_step(entry: str, settings: CorpusSettings, inputs: Mapping[str, Path | None], outputs: Mapping[str, Path],
               log=print, workers: int = 1) -> dict:
    """The build step's work (kit.registry.BuildStep): build_corpus from the splits given."""
    splits = {source: Path(path) for source, path in inputs.items() if path is not None}
    return build_corpus(splits, settings, CorpusFiles(**outputs), workers=workers, log=log)


register(BuildStep(
    "corpus", CorpusSettings, "corpus", build_step, step_inputs, step_outputs,
    reads={"train": "ingested train parquet", "test": "ingested test parquet",
           "unlabeled": "ingested unlabelled parquet (optional)"},
    writes={"corpus": "the corpus parquet (text, words, source) to write", "userdict": "jieba's user dictionary to write",
            "new_words": "the readable table of the corpus's own words to write",
            "meta": "the corpus's meta.json to write"},
    optional=("unlabeled",),
    help="train + test (+ unlabelled) texts cleaned, deduplicated and segmented once with their own words",
))
