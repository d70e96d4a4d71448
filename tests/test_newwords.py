"""kit.newwords: PMI and neighbour entropy on corpora small enough to check by hand, each threshold, the words that
are not new, hashtags and emoticon words, and what the real test file yields."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kit.cleaning import clean_text
from kit.newwords import NewWordSettings
from kit.newwords import (
    EMOTICON,
    HASHTAG,
    find_new_words,
    has_a_free_piece,
    is_compound,
    marked_words,
    ngram_statistics,
)

# 子甲乙 | 丑甲乙 | 子甲乙丙: N = 10 Chinese characters; 甲 and 乙 3 times each, 甲乙 3 times, 子甲 twice.
TINY = ["子甲乙", "丑甲乙", "子甲乙丙"]


def h(*shares: float) -> float:
    return -sum(p * math.log2(p) for p in shares)


def stats(texts, max_len=3, min_count=1):
    return {word.word: word for word in ngram_statistics(texts, max_len, min_count)}


def test_pmi_and_entropy_by_hand():
    found = stats(TINY)
    assert set(found) == {"子甲", "甲乙", "丑甲", "乙丙", "子甲乙", "丑甲乙", "甲乙丙"}
    pair = found["甲乙"]
    assert pair.count == 3 and pair.kind == "new_word"
    assert pair.pmi == pytest.approx(math.log2(3 * 10 / (3 * 3)))
    assert pair.left_entropy == pytest.approx(h(2 / 3, 1 / 3))  # 子, 丑, 子
    # end of a text, end of another, 丙: each boundary is a neighbour of its own
    assert pair.right_entropy == pytest.approx(math.log2(3))
    triple = found["子甲乙"]  # its weakest split: 子|甲乙 = log2(2*10/(2*3)), 子甲|乙 the same
    assert triple.pmi == pytest.approx(math.log2(2 * 10 / (2 * 3)))
    assert (triple.left_entropy, triple.right_entropy) == pytest.approx((1.0, 1.0))
    assert found["丑甲"].left_entropy == 0 and found["乙丙"].right_entropy == pytest.approx(0)  # seen once


# 甲乙丙 | 甲乙丙 | 丙丙: N = 8; 甲 and 乙 twice, 丙 4 times.
SKEWED = ["甲乙丙", "甲乙丙", "丙丙"]


def test_the_weakest_split_decides():
    found = stats(SKEWED)
    assert found["甲乙"].pmi == pytest.approx(math.log2(2 * 8 / (2 * 2)))  # 2 bits
    assert found["乙丙"].pmi == pytest.approx(math.log2(2 * 8 / (2 * 4)))  # 1 bit: 丙 is common alone
    assert found["丙丙"].pmi == pytest.approx(math.log2(1 * 8 / (4 * 4)))  # -1 bit
    # 甲|乙丙 gives 2 bits, 甲乙|丙 gives 1 bit: the weaker split is the word's PMI
    assert found["甲乙丙"].pmi == pytest.approx(1.0)


def test_ngrams_never_span_texts_or_punctuation():
    found = stats(["甲乙，甲乙", "丙"])
    assert set(found) == {"甲乙"}
    assert (found["甲乙"].left_entropy, found["甲乙"].right_entropy) == (1.0, 1.0)  # four boundaries


def test_min_count_filters():
    assert set(stats(TINY, max_len=2, min_count=2)) == {"子甲", "甲乙"}
    assert set(stats(SKEWED, min_count=2)) == {"甲乙", "乙丙", "甲乙丙"}


def settings(**changes) -> NewWordSettings:
    defaults = dict(min_count=1, max_len=2, min_pmi=0.0, min_entropy=0.9, max_piece_entropy=3.0, hashtag_min_count=1,
                    emoticon_min_count=1)
    return NewWordSettings(**{**defaults, **changes})


def new_words(texts, known=frozenset(), **changes) -> list[str]:
    return [word.word for word in find_new_words(texts, known, settings(**changes)) if word.kind == "new_word"]


def test_each_threshold_admits_or_refuses_a_word():
    # 甲乙: count 3, PMI log2(10/3) = 1.74, entropies 0.918 (left) and 1.585 (right); 子甲's right entropy is 0.
    assert new_words(TINY) == ["甲乙"]
    assert new_words(TINY, min_count=4) == []
    assert new_words(TINY, min_pmi=1.8) == []
    assert new_words(TINY, min_entropy=0.92) == []
    assert new_words(TINY, known={"甲乙"}) == []


def test_a_string_with_a_free_piece_is_a_phrase_not_a_word():
    # 甲乙 is followed by 丙, 丙, 丁, 戊 and a text's end: H(2/5, 1/5, 1/5, 1/5) = 1.922 bits. 甲乙丙 (count 2, PMI
    # log2(3), 1 bit each side) is a word while that is not too free, a phrase of 甲乙 and 丙 once it is.
    texts = ["甲乙丙", "甲乙丙", "甲乙丁", "甲乙戊", "子甲乙"]
    piece = stats(texts)["甲乙"]
    assert piece.right_entropy == pytest.approx(h(2 / 5, 1 / 5, 1 / 5, 1 / 5))
    assert "甲乙丙" in new_words(texts, max_len=3, max_piece_entropy=1.93)
    assert "甲乙丙" not in new_words(texts, max_len=3, max_piece_entropy=1.92)
    assert has_a_free_piece("甲乙丙", stats(texts), 1.92) and not has_a_free_piece("甲乙", stats(texts), 0)


def test_compounds_of_known_words_are_not_new():
    known = {"确诊", "病例", "肺炎", "钟南山", "甲乙", "丙丁", "乙", "甲"}
    assert is_compound("确诊病例", known)
    assert is_compound("甲乙丙丁", known)
    assert not is_compound("新冠肺炎", known)  # jieba lacks 新冠
    assert not is_compound("钟南山称", known)  # a single character is no word of a compound
    assert not is_compound("甲乙丙", known)
    assert is_compound("甲乙", known) and not is_compound("乙甲", known)


def test_hashtags_and_emoticon_words_are_counted_whole():
    texts = ["#武汉加油#转发#中国加油#", "#武汉加油# 好[哈哈][doge][1]", "# 不是话题 #", "[哈哈]"]
    assert marked_words(texts, HASHTAG) == {"#武汉加油#": 2, "#中国加油#": 1}
    assert marked_words(texts, EMOTICON) == {"[哈哈]": 2, "[doge]": 1}
    found = find_new_words(texts, set(), settings(hashtag_min_count=2, emoticon_min_count=2))
    assert [(word.word, word.kind, word.count) for word in found if word.kind != "new_word"] == [
        ("#武汉加油#", "hashtag", 2), ("[哈哈]", "emoticon", 2)]
    assert all(math.isnan(word.pmi) for word in found if word.kind != "new_word")


def test_new_words_come_first_then_hashtags_then_emoticons_most_frequent_first():
    texts = TINY + ["#乙#", "#甲#", "#甲#", "[笑]"]
    found = find_new_words(texts, set(), settings())
    assert [word.kind for word in found] == sorted((word.kind for word in found),
                                                   key=("new_word", "hashtag", "emoticon").index)
    hashtags = [word.word for word in found if word.kind == "hashtag"]
    assert hashtags == ["#甲#", "#乙#"]


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="max_len must be 2..4"):
        ngram_statistics(TINY, 5, 1)
    with pytest.raises(ValueError, match="min_count at least 1"):
        ngram_statistics(TINY, 2, 0)


def test_an_empty_corpus_has_no_words():
    assert find_new_words([], set(), settings()) == []
    assert find_new_words(["", "abc，。"], set(), settings()) == []


@pytest.mark.realdata
def test_the_real_test_file_yields_the_epidemic_s_words(shared_data):
    from kit.segment import base_tokenizer, known_words

    texts = pd.read_csv(shared_data / "ncov" / "nCov_10k_test.csv", dtype=str, encoding="gb18030",
                        encoding_errors="replace", keep_default_na=False)["微博中文内容"].tolist()
    found = find_new_words([clean_text(text) for text in texts], known_words(base_tokenizer()), NewWordSettings())
    by_kind = {kind: [word.word for word in found if word.kind == kind] for kind in ("new_word", "hashtag", "emoticon")}
    assert {"卫健委", "火神山", "雷神山", "李兰娟", "封城"} <= set(by_kind["new_word"][:20])
    assert by_kind["hashtag"][0] == "#武汉加油#" and "[爱心]" in by_kind["emoticon"]
    assert not {"口罩", "武汉", "确诊病例"} & set(by_kind["new_word"])  # jieba has them, or their words
    assert not {"戴口罩", "钟南山称"} & set(by_kind["new_word"])  # phrases of a free word
