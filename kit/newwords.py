"""The corpus's own words: #hashtags#, emoticon words like [哈哈], and new words found by statistics.

jieba's dictionary predates the epidemic: it cuts 火神山 into 火神|山 and 雷神山 into 雷|神山, and its own rules
split every `#话题#` and `[表情]` at their marks. The winners of this competition added the corpus's own words to jieba's
dictionary before segmenting; this module finds them, as pure functions of the texts.

Three kinds, each admitted by its own test (the thresholds are the config's `corpus.new_words`, kit/config.py):
- `new_word`: a string of 2 to `max_len` Chinese characters that is
  * frequent: seen at least `min_count` times;
  * cohesive: its pointwise mutual information, taken at its weakest split, is at least `min_pmi` bits:
    PMI(w) = min over splits w = a|b of log2( c(w) N / (c(a) c(b)) ), with c() the counts and N the number of
    Chinese characters in the corpus (so c/N is a probability). 新冠 is cohesive, 的人 is not;
  * free on both sides: the entropy of the character just before it, and of the one just after it, are each at
    least `min_entropy` bits: H = -sum p log2 p over the neighbours' shares. A word is used in many contexts; a
    piece of a longer word is not (钟南 is always followed by 山: right entropy 0). Where an occurrence starts or
    ends a run of Chinese characters (the text's start or end, punctuation, Latin letters), that boundary counts
    as a neighbour seen once, unlike any other, because a boundary is what a free word stands next to;
  * whole, not a phrase: no piece of it of two or more characters that starts it is followed, and none that ends
    it is preceded, by more than `max_piece_entropy` bits of different characters. Such a piece stands on its own
    and the string is that word and more: 口罩 is followed by anything, so 口罩都卖 is a phrase; 火神 is nearly
    always followed by 山, so 火神山 is a word;
  * new: neither a word of jieba's dictionary nor its words of two or more characters one after the other
    (确诊病例 = 确诊 + 病例 is cut right already; 新冠肺炎, whose 新冠 jieba lacks, is not).
  Only Chinese characters (jieba's Han range U+4E00-U+9FD5) make new words: jieba keeps Latin and digit runs
  (N95, 2019) whole by itself.
- `hashtag`: a whole `#topic#` (1-30 characters between the marks, no whitespace), seen at least
  `hashtag_min_count` times;
- `emoticon`: a Weibo emoticon word `[...]` (1-6 Chinese or Latin letters between the brackets), seen at least
  `emoticon_min_count` times.

Counting is numpy over character n-grams: each character is a 15-bit code, an n-gram of up to 4 characters one
int64, and counting them a sort. 100k posts take seconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kit.settings import Settings, setting

if TYPE_CHECKING:
    import numpy as np


HASHTAG = re.compile(r"#[^#\s]{1,30}#")
EMOTICON = re.compile(r"\[[\u4e00-\u9fd5A-Za-z]{1,6}\]")


@dataclass
class NewWordSettings(Settings):
    """How the corpus finds its own words for jieba's dictionary (kit/newwords.py defines each test)."""

    # Read off 126k real posts (shared/data's 20k labelled and 10k test posts, 100k unlabelled ones): below 10
    # occurrences a string's neighbours are too few for their entropy to mean anything; PMI 6.5 keeps 新冠肺炎 (6.7)
    # and drops collocations like 一定要 or 真的很; entropy 2 drops the pieces of longer words; a piece entropy of 3
    # drops phrases like 戴口罩, 钟南山称 or 口罩都卖 and keeps 新冠肺炎. A corpus ten times larger may raise min_count.
    min_count: int = setting(10, "a new word is seen at least this many times in the corpus", ge=1)
    # Four characters cover the new names of this epidemic (新冠肺炎, 瑞德西韦); longer phrases come as hashtags.
    max_len: int = setting(4, "longest new word, in Chinese characters", ge=2, le=4)
    min_pmi: float = setting(6.5, "least pointwise mutual information (bits) at a new word's weakest split")
    min_entropy: float = setting(2.0, "least entropy (bits) of the character before and of the one after", ge=0)
    max_piece_entropy: float = setting(3.0, "most entropy (bits) of the character after a piece that starts a new word "
                                            "(before one that ends it): a freer piece is a word of its own", ge=0)
    hashtag_min_count: int = setting(3, "a #hashtag# seen this many times becomes one word", ge=1)
    emoticon_min_count: int = setting(3, "an emoticon word like [哈哈] seen this many times becomes one word", ge=1)
KINDS = ("new_word", "hashtag", "emoticon")

_HAN_FIRST, _HAN_LAST = 0x4E00, 0x9FD5
_BITS = 15  # 0x9FD5 - 0x4E00 + 1 codes (and 0 for "not Chinese") fit in 15 bits
MAX_NGRAM = 63 // _BITS  # 4: the longest n-gram one int64 holds


@dataclass(frozen=True)
class NewWord:
    """One word of the corpus's user dictionary and the statistics that admitted it (NaN where they do not apply:
    a hashtag or emoticon is admitted by its count alone)."""

    word: str
    kind: str  # one of KINDS
    count: int
    pmi: float = math.nan
    left_entropy: float = math.nan
    right_entropy: float = math.nan


def marked_words(texts: Iterable[str], pattern: re.Pattern) -> Counter:
    """word -> occurrences over texts of what pattern matches (HASHTAG or EMOTICON), marks included."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(pattern.findall(text))
    return counts


def _char_codes(texts: Sequence[str]) -> np.ndarray:
    """codes [n_chars + len(texts) + 1] int64: each character's Han code (1..0x9FD5-0x4E00+1), 0 for anything
    else; texts are joined by newlines, one also before the first and after the last, so no n-gram spans two texts
    and every n-gram has a neighbour on each side."""
    import numpy as np

    joined = "\n" + "\n".join(texts) + "\n"
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    han = (points >= _HAN_FIRST) & (points <= _HAN_LAST)
    return np.where(han, points - _HAN_FIRST + 1, 0)


def _decode(key: int, n: int) -> str:
    return "".join(chr(((key >> (_BITS * (n - 1 - i))) & ((1 << _BITS) - 1)) + _HAN_FIRST - 1) for i in range(n))


def _entropy_by_group(group: np.ndarray, neighbour: np.ndarray, n_groups: int) -> np.ndarray:
    """entropy [n_groups] float64 in bits of the neighbours seen with each group (every group is seen): H = log2 T -
    sum c log2 c / T, with c the count of each distinct neighbour of a group and T their total."""
    import numpy as np

    pairs, pair_counts = np.unique(group.astype(np.uint64) << np.uint64(40) | neighbour.astype(np.uint64),
                                   return_counts=True)
    pair_group = (pairs >> np.uint64(40)).astype(np.int64)
    total = np.bincount(pair_group, weights=pair_counts, minlength=n_groups)
    weighted = np.bincount(pair_group, weights=pair_counts * np.log2(pair_counts), minlength=n_groups)
    return np.log2(total) - weighted / total


def ngram_statistics(texts: Sequence[str], max_len: int, min_count: int) -> list[NewWord]:
    """Count, PMI and left/right neighbour entropy (definitions in the module docstring) of every Chinese n-gram of
    2..max_len characters seen at least min_count times, as `new_word`s in order of length, then code."""
    import numpy as np

    if not 2 <= max_len <= MAX_NGRAM or min_count < 1:
        raise ValueError(f"ngram_statistics: max_len must be 2..{MAX_NGRAM} and min_count at least 1, got "
                         f"{max_len} and {min_count}")
    codes = _char_codes(texts)
    n_chars = int(np.count_nonzero(codes))
    char_counts = np.bincount(codes, minlength=1 << _BITS)
    char_counts[0] = 0
    # By length: the n-grams that reach min_count, as sorted keys and their counts, and for n >= 2 where each
    # occurs and which of them it is. An n-gram can reach min_count only where the (n-1)-grams at its start and one
    # character later do (each is seen wherever it is), so each length looks only there: that also guarantees
    # the PMI's lookups of the pieces.
    tables = {1: (np.flatnonzero(char_counts >= min_count), char_counts[char_counts >= min_count])}
    entropies: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    boundary = np.int64(1 << _BITS)  # neighbour codes above every character's
    keys, frequent_at = codes, char_counts[codes] >= min_count
    for n in range(2, max_len + 1):
        keys = (keys[:-1] << _BITS) | codes[n - 1:]
        # int32 positions: a million posts are some 70 million characters, and every array here is that long
        positions = np.flatnonzero(frequent_at[:-1] & frequent_at[1:]).astype(np.int32)
        ordered = np.sort(keys[positions])
        first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        counts = np.diff(np.r_[first, len(ordered)])
        frequent = counts >= min_count
        table = ordered[first[frequent]]
        del ordered, first
        tables[n] = table, counts[frequent]
        frequent_at = np.zeros(len(keys), dtype=bool)
        if len(table):
            index = np.minimum(np.searchsorted(table, keys[positions]), len(table) - 1).astype(np.int32)
            hit = table[index] == keys[positions]
            positions, group = positions[hit], index[hit]
            del index, hit
            frequent_at[positions] = True
            # The neighbours of this length's occurrences now, so that only one length's occurrences are held.
            before, after = codes[positions - 1], codes[positions + n]
            # Each boundary occurrence gets its own neighbour code, so boundaries add entropy instead of one symbol.
            before = np.where(before > 0, before, boundary + positions)
            after = np.where(after > 0, after, boundary + positions)
            entropies[n] = tuple(_entropy_by_group(group, side, len(table)) for side in (before, after))
            del before, after, group
        del positions
    found = []
    for n in range(2, max_len + 1):
        table, counts = tables[n]
        if not len(table):
            continue
        pmi = np.full(len(table), np.inf)
        for split in range(1, n):
            shift = _BITS * (n - split)
            left_keys, right_keys = table >> shift, table & ((1 << shift) - 1)
            left_counts = tables[split][1][np.searchsorted(tables[split][0], left_keys)]
            right_counts = tables[n - split][1][np.searchsorted(tables[n - split][0], right_keys)]
            pmi = np.minimum(pmi, np.log2(counts * n_chars / (left_counts * right_counts)))
        left, right = entropies[n]
        found += [NewWord(_decode(int(key), n), "new_word", int(count), float(p), float(lh), float(rh))
                  for key, count, p, lh, rh in zip(table, counts, pmi, left, right)]
    return found


def is_compound(word: str, known: Container[str]) -> bool:
    """Whether word is a known word of two or more characters, or such words one after the other."""
    if len(word) > 1 and word in known:
        return True
    return any(word[:cut] in known and is_compound(word[cut:], known) for cut in range(2, len(word) - 1))


def has_a_free_piece(word: str, stats: Mapping[str, NewWord], max_piece_entropy: float) -> bool:
    """Whether a piece of word of two or more characters that starts it is followed, or one that ends it is preceded,
    by more than max_piece_entropy bits of different characters. stats: the statistics of word's pieces."""
    return any(stats[word[:cut]].right_entropy > max_piece_entropy
               or stats[word[-cut:]].left_entropy > max_piece_entropy for cut in range(2, len(word)))


def find_new_words(texts: Sequence[str], known: Container[str], settings: NewWordSettings) -> list[NewWord]:
    """The corpus's own words (kinds and tests in the module docstring): new words, then hashtags, then emoticon
    words, each kind most frequent first (then by word). known: the words of jieba's dictionary."""
    stats = {candidate.word: candidate for candidate in ngram_statistics(texts, settings.max_len, settings.min_count)}
    found = [candidate for candidate in stats.values()
             if candidate.pmi >= settings.min_pmi
             and min(candidate.left_entropy, candidate.right_entropy) >= settings.min_entropy
             and not is_compound(candidate.word, known)
             and not has_a_free_piece(candidate.word, stats, settings.max_piece_entropy)]
    for kind, pattern, least in (("hashtag", HASHTAG, settings.hashtag_min_count),
                                 ("emoticon", EMOTICON, settings.emoticon_min_count)):
        counts = marked_words(texts, pattern)
        found += [NewWord(word, kind, count) for word, count in counts.items() if count >= least]
    return sorted(found, key=lambda w: (KINDS.index(w.kind), -w.count, w.word))
