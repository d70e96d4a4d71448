"""jieba segmentation with the corpus's user dictionary, on a jieba.Tokenizer of its own.

jieba's module functions (jieba.lcut, jieba.load_userdict) share one global tokenizer: a user dictionary loaded
there would change every later jieba call in the process, the sklearn family's word features among them. A
`Segmenter` owns its Tokenizer, so the corpus's words reach only the texts it segments.

The user dictionary (data/corpus/userdict.txt) is jieba's format, `word freq tag` per line, tag one of TAGS. Each
word's freq is its count in the corpus, raised where needed to what jieba's `suggest_freq` says keeps the word
whole against the pieces its own dictionary would cut it into: a new word seen 50 times must outweigh two common
characters.

jieba first splits a text into blocks at every character outside Han, letters, digits and `+#&._%-`, so `[哈哈]`
never reaches its dictionary whole, nor does a hashtag with punctuation inside (`#武汉，加油#`). The segmenter cuts
the dictionary's hashtags and emoticon words out of the text first and lets jieba segment what lies between.
Whitespace tokens are dropped; every other token (punctuation included) is a word.
"""

from __future__ import annotations

import functools
import multiprocessing
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kit.newwords import EMOTICON, HASHTAG
from kit.progress import tracked

if TYPE_CHECKING:
    import jieba

    from kit.newwords import NewWord

# jieba's tag must be lowercase letters (its user-dictionary parser reads `( [a-z]+)?$`), so new_word loses its _.
TAGS = {"hashtag": "hashtag", "emoticon": "emoticon", "new_word": "newword"}
_CUT_OUT_TAGS = (TAGS["hashtag"], TAGS["emoticon"])
_MARKED = re.compile(f"{HASHTAG.pattern}|{EMOTICON.pattern}")
# Below this many texts a pool costs more to start than it saves.
_PARALLEL_FROM = 2000


@functools.cache
def _jieba_dictionary() -> jieba.Tokenizer:
    """A Tokenizer with jieba's own dictionary, loaded once per process (from jieba's cache: about a second)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary banner would fill every log
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def base_tokenizer() -> jieba.Tokenizer:
    """A new jieba Tokenizer with jieba's own dictionary only, in a word table of its own (a copy of the one loaded
    per process, so that a second tokenizer costs milliseconds)."""
    import jieba

    loaded = _jieba_dictionary()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = dict(loaded.FREQ), loaded.total, True
    return tokenizer


def known_words(tokenizer: jieba.Tokenizer) -> set[str]:
    """The words of the tokenizer's dictionary (its table also holds every word's prefixes, with frequency 0)."""
    return {word for word, freq in tokenizer.FREQ.items() if freq}


def userdict_lines(words: Iterable[NewWord], tokenizer: jieba.Tokenizer) -> list[str]:
    """`word freq tag` lines of jieba's user-dictionary format; tokenizer: one with jieba's own dictionary."""
    return [f"{w.word} {max(w.count, tokenizer.suggest_freq(w.word))} {TAGS[w.kind]}" for w in words]


def read_userdict(path: Path) -> list[tuple[str, int, str]]:
    """(word, freq, tag) of each line of a user dictionary written by userdict_lines; a malformed line is an error
    naming the file and line."""
    entries = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.rsplit(" ", 2)
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or parts[2] not in TAGS.values():
            raise ValueError(f"{path}: line {line_no} is not `word freq tag` with tag one of "
                             f"{sorted(TAGS.values())}: {line!r}; rebuild it with `snakemake --forcerun {path}`")
        entries.append((parts[0], int(parts[1]), parts[2]))
    return entries


class Segmenter:
    """jieba with a user dictionary, on a Tokenizer of its own: `words(text)` -> list of words."""

    def __init__(self, entries: Iterable[tuple[str, int, str]] = ()):
        self.tokenizer = base_tokenizer()
        self.cut_out = set()
        for word, freq, tag in entries:
            self.tokenizer.add_word(word, freq, tag)
            if tag in _CUT_OUT_TAGS:
                self.cut_out.add(word)

    @classmethod
    def from_userdict(cls, path: Path) -> Segmenter:
        return cls(read_userdict(path))

    def _jieba_words(self, text: str) -> list[str]:
        return [word for word in self.tokenizer.cut(text) if not word.isspace()]

    def words(self, text: str) -> list[str]:
        """The words of text: the dictionary's hashtags and emoticon words whole, jieba's words between them."""
        words, start, search_from = [], 0, 0
        while (match := _MARKED.search(text, search_from)) is not None:
            if match.group() in self.cut_out:
                words += self._jieba_words(text[start:match.start()])
                words.append(match.group())
                start = search_from = match.end()
            else:
                # `#a#b#`: the first `#a#` may be no hashtag of the dictionary while `#b#` is one.
                search_from = match.start() + 1
        return words + self._jieba_words(text[start:])


_worker_segmenter: Segmenter | None = None


def _adopt(segmenter: Segmenter) -> None:
    global _worker_segmenter
    _worker_segmenter = segmenter


def _joined_words(text: str) -> str:
    return " ".join(_worker_segmenter.words(text))


def segment_texts(segmenter: Segmenter, texts: Sequence[str], workers: int = 1,
                  log: Callable[[str], None] | None = None) -> list[str]:
    """list [len(texts)] of str: each text's words joined by single spaces, in order; the same for any workers.

    Several workers are forked processes that inherit the loaded segmenter (no second dictionary load, nothing
    pickled but the texts); where fork is not available (Windows) the texts are segmented in this process.
    With log, progress lines (kit/progress.py) as the texts come back: a million posts take minutes.
    """
    def counted(joined: Iterable[str]) -> list[str]:
        return list(joined if log is None else tracked(joined, log, "segmenting", len(texts), "texts"))

    if workers <= 1 or len(texts) < _PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return counted(" ".join(segmenter.words(text)) for text in texts)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_adopt, initargs=(segmenter,)) as pool:
        # imap, not map: the texts come back in order as chunks finish, so progress can be counted.
        return counted(pool.imap(_joined_words, texts, chunksize=max(1, min(1000, len(texts) // (workers * 8)))))
