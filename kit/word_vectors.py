"""Word vectors learnt from the corpus's words with gensim: skip-gram word2vec, or fastText, whose character
n-grams give a vector to any word, seen or not (rule `word_vectors`, `python -m kit word-vectors`).

Each entry of the config's `word_vectors:` writes two files, named by kit.layout.word_vectors(name) and passed by
the rule:
  vectors  models/word_vectors/<name>.kv: gensim's own format in one file (no .npy beside it): `load_vectors` or
           gensim's KeyedVectors.load (a FastTextKeyedVectors for fastText)
  meta     models/word_vectors/<name>.json: the settings, config_hash (the settings that decide the numbers and the
           corpus_hash), corpus_hash, texts and words learnt from, vocabulary size, the probe words' nearest
           neighbours, seconds, versions

`source: train` learns from the corpus's train texts only, no test or unlabelled text, so that what the unlabelled
posts add can be measured with everything else equal. Its words are still the corpus's, segmented with the user
dictionary found over the whole corpus.

A fold job of a model that reads vectors (Family.inputs: `fold_inputs`) gets the vectors' two files and the corpus
files, reads each text's words as the vectors know them (`read_fold_words`, through kit.corpus.words_of) and looks
them up in a `FoldVocabulary`: the distinct words of the fold's texts, each with its vector (fastText's subword
vector for a word it never saw), and two reserved rows, [PAD] and [UNK], for padding and the words without one.
A kept fold model (kit/kept.py) saves its vocabulary and a copy of the corpus's user dictionary (`KeptWords`), so
that `kit predict` reads a new text's words as the fold job read its texts, with no corpus at hand;
a word the fold's texts did not have is [UNK] there.

Determinism: with one worker and a seed, two runs give identical vectors, in one process or two. gensim 4 draws the
initial vectors from numpy generators seeded with `seed` (not from Python's `hash`, which is randomised per process
and which older gensim used) and its samples from a RandomState seeded with it; tests/test_word_vectors.py trains in
two processes with different PYTHONHASHSEED and compares. With several workers the order in which threads update
the vectors varies and so do the vectors, slightly: run the rule with `--set-threads word_vectors=1` where
identical vectors matter.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kit import layout
from kit.registry import BuildStep, register
from kit.settings import Settings, fail, setting

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors


@dataclass
class WordVectorSettings(Settings):
    """One `word_vectors:` entry: gensim vectors trained on the corpus's words (kit/word_vectors.py)."""

    algorithm: Literal["word2vec", "fasttext"] = setting(
        "word2vec", "skip-gram word2vec, or fastText (skip-gram with character n-grams: vectors for unseen words)")
    source: Literal["corpus", "train"] = setting(
        "corpus", "the texts it learns from: the whole corpus, or the train texts only (to measure what the "
                  "unlabelled posts add)")
    dim: int = setting(100, "vector size", ge=1)
    window: int = setting(5, "words on each side that count as context", ge=1)
    min_count: int = setting(2, "words seen fewer times get no vector of their own", ge=1)
    epochs: int = setting(5, "passes over the texts", ge=1)
    negative: int = setting(5, "negative samples per positive one", ge=1)
    # word2vec's default; 0 suits a tiny corpus, in which every word counts as frequent.
    sample: float = setting(1e-3, "frequent words are downsampled above this share of the words (0: off)", ge=0)
    # Chinese words are one to four characters: their character 1-3-grams are the subwords worth sharing.
    subwords: tuple[int, int] = setting((1, 3), "fasttext only: [shortest, longest] character n-gram of a word",
                                        ge=1)
    # gensim's default of 2M buckets costs 800 MB at dim 100; the corpus's character 1-3-grams number far fewer.
    buckets: int = setting(200_000, "fasttext only: hash buckets of the character n-gram vectors", ge=1)
    seed: int = setting(0, "seed of the initial vectors and the sampling (identical vectors with one thread)",
                        ge=0)
    # One worker (for identical vectors) reads about 2,000 posts a second per epoch here: the 900k posts' five
    # epochs would take 40 minutes, so a budget caps the texts (the vocabulary's counts come from the same rows).
    max_texts: int | None = setting(None, "learn from at most this many texts, a sample drawn with the seed (null: "
                                          "all)", ge=1)
    probes: tuple[str, ...] = setting(("口罩", "武汉", "加油", "谣言"), "words whose nearest neighbours the log shows",
                                      identity=False)

    def check(self, path: str) -> None:
        low, high = self.subwords
        if low > high:
            raise fail(f"{path}.subwords", f"must be [low, high] with low <= high, got [{low}, {high}]")
        if self.algorithm == "word2vec":
            defaults = WordVectorSettings()
            for name in ("subwords", "buckets"):
                if getattr(self, name) != getattr(defaults, name):
                    raise fail(f"{path}.{name}", "applies to algorithm 'fasttext' only")
NEIGHBOURS = 8  # nearest neighbours shown per probe word
FOLD_INPUTS = ("vectors", "vectors_meta", "corpus", "userdict")
VOCABULARY_FILE, USERDICT_FILE = "vocabulary.json", "userdict.txt"  # in a kept model's folder
RESERVED = ("[PAD]", "[UNK]")  # the first rows of every FoldVocabulary
PAD_ID, UNK_ID = 0, 1


def sentences_of(words_column: Sequence[str]) -> list[list[str]]:
    """Each corpus row's words (`words`: joined by single spaces) as a list."""
    return [words.split(" ") for words in words_column if words]


def capped(sentences: list, max_texts: int | None, seed: int) -> list:
    """At most max_texts of the sentences (or texts), a seeded sample kept in corpus order (all of them when they
    fit)."""
    if max_texts is None or len(sentences) <= max_texts:
        return sentences
    import numpy as np

    chosen = np.sort(np.random.default_rng(seed).choice(len(sentences), max_texts, replace=False))
    return [sentences[row] for row in chosen]


def train_vectors(sentences: list[list[str]], settings: WordVectorSettings, workers: int = 1,
                  log: Callable[[str], None] | None = None) -> KeyedVectors:
    """The vectors (KeyedVectors, FastTextKeyedVectors for fastText) of every word seen min_count times. With log,
    progress lines (kit/progress.py) over every epoch's texts: a million posts take minutes per epoch."""
    from gensim.models import FastText, Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    from kit.progress import Progress

    class Counted(CallbackAny2Vec):
        """The texts as a restartable iterable (gensim reads it once for the vocabulary, then once per epoch in
        one job-producer thread), counted once training begins. The producer runs at most a few jobs of 10,000
        words ahead of the workers, so what it has read is what has been trained, near enough; the texts come in
        the same order as from the list, so the vectors are the same (tests/test_word_vectors.py)."""

        def __init__(self):
            self.progress = None

        def __iter__(self):
            for sentence in sentences:
                yield sentence
                if self.progress is not None:
                    self.progress.advance()

        def on_train_begin(self, model) -> None:
            self.progress = Progress(log, f"{settings.algorithm}, {settings.epochs} epochs", settings.epochs *
                                     len(sentences), "texts")

    counted = Counted() if log is not None else None
    counts = Counter(word for sentence in sentences for word in sentence)
    if not any(count >= settings.min_count for count in counts.values()):
        raise ValueError(f"word vectors: no word of the {len(sentences)} texts is seen min_count="
                         f"{settings.min_count} times; lower min_count or learn from more texts")
    shared = dict(sentences=sentences if counted is None else counted, vector_size=settings.dim, window=settings.window, sg=1,
                  min_count=settings.min_count, epochs=settings.epochs, negative=settings.negative,
                  sample=settings.sample, seed=settings.seed, workers=workers,
                  callbacks=() if counted is None else [counted])
    if settings.algorithm == "fasttext":
        low, high = settings.subwords
        return FastText(**shared, min_n=low, max_n=high, bucket=settings.buckets).wv
    return Word2Vec(**shared).wv


def nearest(vectors: KeyedVectors, probes: Sequence[str], topn: int = NEIGHBOURS) -> dict[str, list]:
    """probe -> [[word, cosine similarity], ...], most similar first; a word2vec probe outside the vocabulary gets
    none (fastText builds its vector from its character n-grams)."""
    from gensim.models.fasttext import FastTextKeyedVectors

    found = {}
    for probe in probes:
        if vectors.has_index_for(probe) or isinstance(vectors, FastTextKeyedVectors):
            found[probe] = [[word, round(float(similarity), 4)]
                            for word, similarity in vectors.most_similar(probe, topn=topn)]
        else:
            found[probe] = []
    return found


def config_hash(settings: WordVectorSettings, corpus_hash: str) -> str:
    """sha256 of what decides the vectors: the entry's settings (not its probes) and the corpus."""
    from kit.hashing import sha256_json
    from kit.settings import identity

    return sha256_json({"settings": identity(settings), "corpus_hash": corpus_hash})


def build_word_vectors(name: str, settings: WordVectorSettings, corpus: Path, corpus_meta: Path, out_vectors: Path,
                       out_meta: Path, workers: int = 1, log=print) -> dict:
    """Train one entry's vectors on the corpus and write its two files (module docstring); return its meta.

    Each file is written beside its path and renamed into place, so a killed job never leaves half of one.
    """
    import gensim

    from kit.artifacts import atomic_file, provenance, read_json, write_json
    from kit.corpus import read_corpus
    from kit.settings import to_dict

    started = time.perf_counter()
    rows = read_corpus(corpus, ("words", "source"))
    if settings.source == "train":
        rows = rows[rows["source"] == "train"]
    # Capped before the texts are split into words: a million posts' word lists took 4.7 GB (bench_scale.py).
    texts = [words for words in rows["words"].tolist() if words]
    del rows
    sentences = sentences_of(capped(texts, settings.max_texts, settings.seed))
    del texts
    corpus_hash = read_json(corpus_meta)["corpus_hash"]
    vectors = train_vectors(sentences, settings, workers, log)
    seconds = time.perf_counter() - started
    neighbours = nearest(vectors, settings.probes)
    meta = {
        "name": name,
        "algorithm": settings.algorithm,
        "config_hash": config_hash(settings, corpus_hash),
        "corpus_hash": corpus_hash,
        "source": settings.source,
        "texts": len(sentences),
        "words": sum(map(len, sentences)),
        "vocabulary": len(vectors.index_to_key),
        "neighbours": neighbours,
        "settings": to_dict(settings),
        "workers": workers,
        "seconds": round(seconds, 2),
        "gensim_version": gensim.__version__,
        **provenance(),
    }
    # gensim pickles a log of "lifecycle events" (each save's time, path and platform) with the vectors; without it
    # the file is a function of the vectors alone, the same bytes on a rerun.
    vectors.lifecycle_events = None
    with atomic_file(Path(out_vectors)) as staging:
        vectors.save(str(staging), separately=[])  # every array in the one file: no .npy beside it
    write_json(Path(out_meta), meta)
    log(f"word vectors {name}: {settings.algorithm} on {meta['texts']} {settings.source} texts ({meta['words']} "
        f"words), vocabulary {meta['vocabulary']}, {seconds:.1f}s with {workers} worker(s)")
    for probe, found in neighbours.items():
        shown = ", ".join(f"{word} {similarity:.2f}" for word, similarity in found) or "(not in the vocabulary)"
        log(f"  {probe}: {shown}")
    return meta


def load_vectors(vectors: Path, meta: Path | None = None) -> tuple[KeyedVectors, dict | None]:
    """(vectors, meta) of a word_vectors entry from its files (kit.layout.word_vectors); meta None without its path.
    A missing file is an error naming it and the rebuild."""
    from gensim.models import KeyedVectors

    from kit.artifacts import read_json

    for path in (vectors, meta):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{path} is missing; rebuild it with `snakemake --forcerun {path}`")
    return KeyedVectors.load(str(vectors)), None if meta is None else read_json(Path(meta))


def fold_inputs(name: str) -> dict[str, str]:
    """role -> workflow path (kit.layout) of what a fold job reading the word_vectors entry `name` needs (a family's
    inputs, kit.registry.Family): the vectors and their meta, and the corpus and user dictionary
    kit.corpus.words_of reads."""
    corpus, vectors = layout.corpus_files(), layout.word_vectors(name)
    return {"vectors": vectors["vectors"], "vectors_meta": vectors["meta"], "corpus": corpus["corpus"],
            "userdict": corpus["userdict"]}


def read_fold_words(inputs: Mapping[str, Path], texts: Sequence[str], who: str
                    ) -> tuple[list[list[str]], KeyedVectors, dict]:
    """(words of each text [len(texts)], vectors, their meta) from a fold job's inputs (FoldData.inputs, roles of
    fold_inputs); who names the model in the error when the inputs are missing."""
    from kit.corpus import words_of

    missing = [role for role in FOLD_INPUTS if role not in inputs]
    if missing:
        example = " ".join(f"{role}={path}" for role, path in fold_inputs("<name>").items())
        raise ValueError(f"{who}: the fold job lacks its inputs {missing} (the workflow passes them as --inputs "
                         f"{example})")
    vectors, meta = load_vectors(inputs["vectors"], inputs["vectors_meta"])
    return words_of(texts, Path(inputs["corpus"]), Path(inputs["userdict"])), vectors, meta


@dataclass
class FoldVocabulary:
    """The distinct words of a fold's texts that have a vector: what a word model looks up, in a table no larger
    than the fold needs."""

    index: dict[str, int]  # word -> its row of matrix (the rows after RESERVED)
    matrix: np.ndarray  # [len(RESERVED) + len(index) x dim] float32; the reserved rows are zeros
    subword_words: int  # words of index without a vector of their own, built by fastText from character n-grams
    unknown_words: int  # distinct words without any vector: their id is UNK_ID

    def ids(self, words: Sequence[str]) -> list[int]:
        """The row of each word, UNK_ID for a word without a vector."""
        return [self.index.get(word, UNK_ID) for word in words]

    def summary(self) -> str:
        own = len(self.index) - self.subword_words
        return (f"{len(self.index)} words with a vector ({own} their own, {self.subword_words} from fastText "
                f"subwords), {self.unknown_words} without one ([UNK])")


def fold_vocabulary(word_lists: Iterable[Sequence[str]], vectors: KeyedVectors) -> FoldVocabulary:
    """The FoldVocabulary of the words in word_lists: the vectors' own words first, then (fastText) the words it
    builds from their character n-grams, each group in first-seen order."""
    import numpy as np
    from gensim.models.fasttext import FastTextKeyedVectors

    distinct = dict.fromkeys(word for words in word_lists for word in words)
    own = [word for word in distinct if vectors.has_index_for(word)]
    subword, vectors_of_subword = [], []
    if isinstance(vectors, FastTextKeyedVectors):
        for word in distinct:
            if not vectors.has_index_for(word):
                try:
                    vectors_of_subword.append(vectors.get_vector(word))
                except KeyError:  # none of its n-grams was seen either
                    continue
                subword.append(word)
    dim = vectors.vector_size
    rows = [np.zeros((len(RESERVED), dim), dtype=np.float32),
            vectors.vectors[[vectors.get_index(word) for word in own]].reshape(-1, dim)]
    if subword:
        rows.append(np.stack(vectors_of_subword))
    matrix = np.concatenate(rows).astype(np.float32)
    index = {word: row for row, word in enumerate(own + subword, start=len(RESERVED))}
    return FoldVocabulary(index, matrix, len(subword), len(distinct) - len(index))



@dataclass
class KeptWords:
    """A kept fold model's words: each new text cleaned and segmented with the corpus's user dictionary (as
    kit.corpus.words_of segments a text the corpus lacks, so a text the corpus has gets the same words), then
    looked up in the fold's vocabulary. save/load: the vocabulary's words and a copy of the user dictionary; the
    vectors are the model's to save."""

    index: dict[str, int]  # word -> its row, as in the fold's FoldVocabulary
    userdict: Path

    def save(self, folder: Path) -> None:
        import shutil

        from kit.artifacts import write_json

        write_json(Path(folder) / VOCABULARY_FILE, sorted(self.index, key=self.index.__getitem__))
        shutil.copyfile(self.userdict, Path(folder) / USERDICT_FILE)

    @classmethod
    def load(cls, folder: Path) -> KeptWords:
        from kit.artifacts import read_json

        words = read_json(Path(folder) / VOCABULARY_FILE)
        return cls({word: row for row, word in enumerate(words, start=len(RESERVED))}, Path(folder) / USERDICT_FILE)

    def words_of(self, texts: Sequence[str]) -> list[list[str]]:
        """list [len(texts)] of each text's words."""
        from kit.cleaning import clean_text
        from kit.segment import Segmenter, segment_texts

        joined = segment_texts(Segmenter.from_userdict(self.userdict), [clean_text(text) for text in texts])
        return [words.split(" ") if words else [] for words in joined]

    def ids(self, words: Sequence[str]) -> list[int]:
        """The row of each word, UNK_ID for a word the fold's texts did not have."""
        return [self.index.get(word, UNK_ID) for word in words]


# ------------------------------------------------------------------------------------------- the vectors' build step


def step_inputs(config, entry: str, settings: WordVectorSettings) -> dict[str, str]:
    """What one entry's vectors learn from: the corpus and its meta (the corpus_hash they record)."""
    corpus = layout.corpus_files()
    return {"corpus": corpus["corpus"], "corpus_meta": corpus["meta"]}


def build_step(entry: str, settings: WordVectorSettings, inputs: Mapping[str, Path], outputs: Mapping[str, Path],
               log=print, workers: int = 1) -> dict:
    """The build step's work (kit.registry.BuildStep): build_word_vectors into the two files given."""
    return build_word_vectors(entry, settings, Path(inputs["corpus"]), Path(inputs["corpus_meta"]),
                              Path(outputs["vectors"]), Path(outputs["meta"]), workers=workers, log=log)


register(BuildStep(
    "word_vectors", WordVectorSettings, "word_vectors", build_step, step_inputs, layout.word_vectors,
    reads={"corpus": "the corpus parquet", "corpus_meta": "the corpus's meta.json (its hash)"},
    writes={"vectors": "the vectors to write (gensim's format, one file)", "meta": "their meta (JSON) to write"},
    wildcard="vectors", named=True,
    help="gensim word2vec or fastText vectors of one word_vectors entry, learnt from the corpus's words",
))
