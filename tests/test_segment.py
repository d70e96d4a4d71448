"""kit.segment: the user-dictionary file, segmentation with it (a new word, a hashtag, an emoticon word kept whole),
its isolation from jieba's global tokenizer, and parallel segmentation."""

from __future__ import annotations

import jieba
import pytest

from kit.newwords import NewWord
from kit.segment import Segmenter, base_tokenizer, known_words, read_userdict, segment_texts, userdict_lines


@pytest.fixture(scope="module")
def tokenizer():
    return base_tokenizer()


def written(tmp_path, lines):
    path = tmp_path / "userdict.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_userdict_lines_are_jieba_s_format_with_a_freq_that_keeps_the_word_whole(tokenizer, tmp_path):
    words = [NewWord("好起来", "new_word", 1), NewWord("#武汉加油#", "hashtag", 7), NewWord("[哈哈]", "emoticon", 3)]
    lines = userdict_lines(words, tokenizer)
    # 好 and 起来 are common: a count of 1 would lose to them, so the freq is what jieba's suggest_freq says wins
    assert lines[0] == f"好起来 {tokenizer.suggest_freq('好起来')} newword" and tokenizer.suggest_freq("好起来") > 1
    assert lines[1:] == ["#武汉加油# 7 hashtag", "[哈哈] 3 emoticon"]
    # jieba's own user-dictionary parser reads each line as written
    assert [jieba.re_userdict.match(line).groups() for line in lines[1:]] == [
        ("#武汉加油#", " 7", " hashtag"), ("[哈哈]", " 3", " emoticon")]
    assert read_userdict(written(tmp_path, lines)) == [
        ("好起来", tokenizer.suggest_freq("好起来"), "newword"), ("#武汉加油#", 7, "hashtag"), ("[哈哈]", 3, "emoticon")]


def test_a_new_word_is_kept_whole(tokenizer):
    sentence = "我们都会好起来的"
    assert Segmenter().words(sentence) == ["我们", "都", "会", "好", "起来", "的"]
    assert Segmenter([("好起来", 1, "newword")]).words(sentence) == ["我们", "都", "会", "好", "起来", "的"]
    raised = Segmenter([("好起来", tokenizer.suggest_freq("好起来"), "newword")])
    assert raised.words(sentence) == ["我们", "都", "会", "好起来", "的"]


def test_hashtags_and_emoticon_words_of_the_dictionary_are_kept_whole():
    segmenter = Segmenter([("#武汉，加油#", 3, "hashtag"), ("#火神山#", 3, "hashtag"), ("[哈哈]", 3, "emoticon")])
    assert segmenter.words("#武汉，加油#一起努力[哈哈] [哈哈]") == ["#武汉，加油#", "一起", "努力", "[哈哈]", "[哈哈]"]
    # not in the dictionary: jieba's words; `#转发#火神山#`: the second pair of marks is the hashtag
    assert segmenter.words("#转发#火神山#") == ["#", "转发", "#火神山#"]
    assert segmenter.words("[嘻嘻]") == ["[", "嘻嘻", "]"]
    assert segmenter.words("  ") == [] and segmenter.words("") == []


def test_each_segmenter_has_its_own_dictionary_and_jieba_s_global_one_is_untouched():
    with_word = Segmenter([("火锅山", 10**6, "newword")])
    assert with_word.words("火锅山") == ["火锅山"]
    assert Segmenter().words("火锅山") != ["火锅山"]
    assert jieba.lcut("火锅山") != ["火锅山"]


def test_known_words_leave_out_the_prefixes_jieba_stores(tokenizer):
    known = known_words(tokenizer)
    assert "口罩" in known and "确诊" in known
    assert tokenizer.FREQ.get("中华人民共") == 0 and "中华人民共" not in known


@pytest.mark.parametrize("line", ["好起来 many newword", "好起来 3 new_word", "好起来", " 3 newword"])
def test_a_malformed_userdict_line_names_the_file_and_line(tmp_path, line):
    path = written(tmp_path, ["封城 5 newword", line])
    with pytest.raises(ValueError, match=rf"userdict.txt: line 2 is not `word freq tag`.*{line!r}"):
        read_userdict(path)


def test_segment_texts_gives_the_same_words_in_parallel():
    segmenter = Segmenter([("#武汉加油#", 3, "hashtag")])
    texts = [f"#武汉加油#第{i}天，大家都在家里" for i in range(2500)]
    serial = segment_texts(segmenter, texts, workers=1)
    assert serial[7] == "#武汉加油# 第 7 天 ， 大家 都 在 家里"
    lines = []
    assert segment_texts(segmenter, texts, workers=2, log=lines.append) == serial
    assert lines[-1].startswith("segmenting: 2,500/2,500 (100%)")  # progress as the workers' chunks come back
