"""EDA for Chinese (Wei and Zou, 2019): augmented copies of each fold's training texts, never of OOF or test texts.

An augment variant (the config's `augment:` block) trains on its base text variant plus `copies` altered copies of
each training row of the fold: synonym replacement, random insertion (of a synonym), random swap and random
deletion, over the text's jieba words, each copy made by one operation in turn. Synonyms are a word's nearest
neighbours in the kit's own word vectors (a `word_vectors:` entry); without them the two synonym operations are
skipped. Everything is seeded by (seed, fold, row), so a fold's augmented rows are a function of its inputs.
The held-out fold and the test set are predicted as they are: augmentation only ever adds training rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kit import layout
from kit.registry import VariantKind, register
from kit.settings import Settings, fail, near, setting

Synonyms = Callable[[str], Sequence[str]]


@dataclass
class AugmentSettings(Settings):
    """One `augment:` entry: a training-only text variant."""

    base_variant: str = setting("cleaned", "the text variant augmented (and predicted as it is)")
    copies: int = setting(2, "augmented copies of each training row", ge=1, le=16)
    # EDA's paper found 0.1 a good rate for every operation on small data sets.
    alpha_sr: float = setting(0.1, "share of a text's words replaced by a synonym", ge=0, le=1)
    alpha_ri: float = setting(0.1, "share of a text's length inserted as synonyms of its words", ge=0, le=1)
    alpha_rs: float = setting(0.1, "share of a text's length in swaps of two words", ge=0, le=1)
    p_rd: float = setting(0.1, "chance each word is deleted", ge=0, lt=1)
    synonyms: str | None = setting(None, "a word_vectors entry whose nearest neighbours are the synonyms; null: "
                                         "no synonym replacement or insertion")
    synonym_topn: int = setting(5, "neighbours a synonym is drawn from", ge=1)
    min_similarity: float = setting(0.6, "the least cosine similarity of a synonym", ge=-1, le=1)
    seed: int = setting(0, "seed of the operations", ge=0)

    def check(self, path: str) -> None:
        if not any(self.operations(with_synonyms=True)):
            raise fail(path, "every operation has a rate of 0: nothing would change")

    def operations(self, with_synonyms: bool) -> list[str]:
        """The operations with a positive rate, in the order copies take turns; the synonym ones only with_synonyms."""
        rates = {"sr": self.alpha_sr, "ri": self.alpha_ri, "rs": self.alpha_rs, "rd": self.p_rd}
        return [op for op, rate in rates.items() if rate > 0 and (with_synonyms or op not in ("sr", "ri"))]


def _count(alpha: float, n_words: int) -> int:
    return max(1, int(alpha * n_words))


def synonym_replacement(words: list[str], alpha: float, synonyms: Synonyms, rng: random.Random) -> list[str]:
    out = list(words)
    candidates = [i for i, word in enumerate(words) if synonyms(word)]
    rng.shuffle(candidates)
    for i in candidates[: _count(alpha, len(words))]:
        out[i] = rng.choice(list(synonyms(words[i])))
    return out


def random_insertion(words: list[str], alpha: float, synonyms: Synonyms, rng: random.Random) -> list[str]:
    out = list(words)
    with_synonyms = [word for word in words if synonyms(word)]
    for _ in range(_count(alpha, len(words)) if with_synonyms else 0):
        out.insert(rng.randrange(len(out) + 1), rng.choice(list(synonyms(rng.choice(with_synonyms)))))
    return out


def random_swap(words: list[str], alpha: float, rng: random.Random) -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(_count(alpha, len(words))):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    if len(words) <= 1:
        return list(words)
    kept = [word for word in words if rng.random() >= p]
    return kept or [rng.choice(words)]  # never an empty text


def augment_words(words: list[str], settings: AugmentSettings, synonyms: Synonyms | None, rng: random.Random
                  ) -> list[list[str]]:
    """settings.copies altered copies of one text's words, each by the next operation in turn."""
    operations = settings.operations(with_synonyms=synonyms is not None)
    copies = []
    for copy in range(settings.copies):
        op = operations[copy % len(operations)]
        if op == "sr":
            copies.append(synonym_replacement(words, settings.alpha_sr, synonyms, rng))
        elif op == "ri":
            copies.append(random_insertion(words, settings.alpha_ri, synonyms, rng))
        elif op == "rs":
            copies.append(random_swap(words, settings.alpha_rs, rng))
        else:
            copies.append(random_deletion(words, settings.p_rd, rng))
    return copies


def augment_rows(word_lists: Sequence[list[str]], labels: Sequence[int], settings: AugmentSettings,
                 synonyms: Synonyms | None, fold: int) -> tuple[list[str], list[int]]:
    """The augmented training rows of one fold: (texts, labels), settings.copies per row, words joined without
    spaces (Chinese is written without them). word_lists: the jieba words of each training row."""
    texts, out_labels = [], []
    for row, (words, label) in enumerate(zip(word_lists, labels)):
        rng = random.Random(f"{settings.seed}/{fold}/{row}")
        for copy in augment_words(list(words), settings, synonyms, rng):
            texts.append("".join(copy))
            out_labels.append(int(label))
    return texts, out_labels


@dataclass(frozen=True)
class AugmentRows:
    """An augment variant's training-only rows for a fold job (kit.experiment.TrainingRows): EDA copies of the
    fold's training rows, from their jieba words as the corpus segments them (kit.corpus.words_of, so copies are of
    the cleaned text), with synonyms from word vectors when the variant names some."""

    settings: AugmentSettings
    corpus: Path
    userdict: Path
    vectors: Path | None = None

    def rows(self, fold: int, train_text: list[str], train_y) -> tuple[list[str], object, dict]:
        import numpy as np

        from kit.corpus import words_of

        synonyms = self.synonym_lookup() if self.vectors is not None else None
        texts, labels = augment_rows(words_of(train_text, self.corpus, self.userdict), train_y, self.settings,
                                     synonyms, fold)
        summary = {"augmented_rows": len(texts), "copies": self.settings.copies,
                   "operations": self.settings.operations(with_synonyms=synonyms is not None)}
        return texts, np.asarray(labels, dtype=np.int64), summary

    def synonym_lookup(self) -> Synonyms:
        """word -> its nearest neighbours in the vectors at or above min_similarity (cached per word)."""
        import functools

        from kit.word_vectors import load_vectors

        vectors, _ = load_vectors(self.vectors)
        topn, least = self.settings.synonym_topn, self.settings.min_similarity

        @functools.cache
        def lookup(word: str) -> tuple[str, ...]:
            if word not in vectors.key_to_index:
                return ()
            return tuple(other for other, similarity in vectors.most_similar(word, topn=topn) if similarity >= least)

        return lookup


def fold_inputs(name: str, settings: AugmentSettings) -> dict[str, str]:
    """What an augmented fold job reads: the corpus's words and dictionary, and the synonyms' word vectors."""
    corpus = layout.corpus_files()
    files = {"corpus": corpus["corpus"], "userdict": corpus["userdict"]}
    return files | ({"synonyms": layout.word_vectors(settings.synonyms)["vectors"]} if settings.synonyms else {})


def training_rows(name: str, settings: AugmentSettings, inputs, classes) -> AugmentRows:
    synonyms = inputs.get("synonyms")
    return AugmentRows(settings, Path(inputs["corpus"]), Path(inputs["userdict"]),
                       Path(synonyms) if synonyms else None)


def check_entry(name: str, settings: AugmentSettings, config) -> None:
    if settings.synonyms is not None and settings.synonyms not in config.word_vectors:
        raise fail(f"augment.{name}.synonyms", f"{settings.synonyms!r} is not a word_vectors entry; "
                                               f"{near(settings.synonyms, config.word_vectors)}")


register(VariantKind("augment", AugmentSettings, training_rows, inputs=fold_inputs, check=check_entry,
                     help="EDA copies of every fold's training rows (never of OOF or test rows)"))
