"""Text variants: the same posts as ingested ("raw") or cleaned the way the DataFountain 2020 winners did.

Cleaning is a fixed sequence of small pure rules, `RULES`, applied in order by `clean_text`. The order matters:
- traditional characters become simplified first, so that every later pattern (转发微博, 展开全文...) is written once;
- width is unified to half-width next, so that URLs, `＠name` and `＃tag＃` look the same as their ASCII forms;
- Weibo's debris (fold markers, links, retweet boilerplate, video cards, icon-font glyphs) is deleted before
  mentions are anonymised, so deleting it can never join an `@` to the text that follows it;
- sentence punctuation turns full-width only after links are gone (`http://` must keep its ASCII colon).
Every rule leaves text that no earlier rule would change again, so `clean_text(clean_text(x)) == clean_text(x)`.

Kept on purpose, because they carry sentiment: emoticon words (`[哈哈]`, `[泪]`), `#hashtags#`, `【titles】`.

One form of punctuation: Chinese sentence punctuation is full-width (`，！：；（）`, the form Chinese typists and
Chinese pretraining corpora use), every other full-width letter, digit or symbol becomes half-width (`ＡＢＣ１２３`
-> `ABC123`, `～` -> `~`), and `,`/`:` between two digits stay ASCII (`1,000`, `18:59`).
The one exception is the question mark: `？` and `?` are left as they are, because in these GBK-encoded exports an
ASCII `?` is nearly always an emoji the encoder could not write, not a question (the competition's test file has
13,793 `?` against 2,032 `？`, and `吗?` 57 times against `吗？` 511 times). Merging them would turn every lost
emoji into a question mark. A run of `?` at the very end of a post is that debris and is dropped.

Speed: most posts hold none of what a rule removes, so each rule first checks with `in` or one character-class
search (both far cheaper than a substitution) and returns the text untouched when there is nothing to do.

`clean_text` is the `cleaned` text variant and `raw_text` the `raw` one (both declared in kit/variants.py).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable

# --- Weibo debris -----------------------------------------------------------------------------------------------

# A truncated post ends "…?展开全文c" ("expand full text" plus the link icon's letter); an expanded one "收起全文d".
_FOLD_MARKER = re.compile(r"展开全文(?:\s?c(?![A-Za-z]))?|收起全文(?:\s?d(?![A-Za-z]))?")
# What truncation leaves just before the marker: a half-written emoji (`?`), dots, spaces. Stripped with rstrip,
# not a leading `[...]*` in the pattern, which would rescan a long run from every position (quadratic).
_BEFORE_FOLD_MARKER = "?.…" + string.whitespace + "\u3000"

# `#` and brackets are not URL characters here, so `http://t.cn/x#话题#` keeps its hashtag.
_URL = re.compile(
    r"https?://[A-Za-z0-9\-._~:/?=&%+]*"
    r"|(?<![A-Za-z0-9.])www\.[A-Za-z0-9\-._~:/?=&%+]+"
    r"|(?<![A-Za-z0-9.])t\.cn/[A-Za-z0-9]+"
)

# "O网页链接" is a link card (O is its icon's letter); "L<uploader>的微博视频" a video card; "转发微博" the text
# Weibo fills in for a retweet with no comment.
_BOILERPLATE = re.compile(r"(?:O\s?)?网页链接|转发微博|L[\w\-]{1,30}?的(?:微博|秒拍|酷燃|美拍)视频")

# Private-use glyphs are Weibo's icon font (\ue627 alone is in 459 of the 10k test posts); zero-width and
# control characters are invisible. None of them is text.
_INVISIBLE = re.compile(r"[\ue000-\uf8ff\u200b-\u200d\u2060\ufeff\x00-\x08\x0e-\x1f\x7f]")

# A Weibo name is letters (any script), digits, `_` and `-`, and Weibo ends the link at the first other character.
# `回复@name:` becomes `@:`: the colon stays, so the reply's text can never be read as a name on a second pass.
_MENTION = re.compile(r"(?:回复)?@([\w\-]+)")
# Weibo caps a name at 30 units, a CJK character counting two. These exports lost the space after many names
# ('@聂远一起为坚守在抗击疫情一线的医务人员加油'), so a longer run is a name glued to the post's own words, and
# where the name ends is lost: it is left as it is rather than deleting the sentence behind it.
_WEIBO_NAME_UNITS = 30

# --- punctuation and width ---------------------------------------------------------------------------------------

# What Chinese typing produces as full-width and Chinese text keeps that way.
_SENTENCE_PUNCTUATION = {",": "，", "!": "！", ":": "：", ";": "；", "(": "（", ")": "）"}
_HALFWIDTH_OF = {
    chr(code): chr(code - 0xFEE0)
    for code in range(0xFF01, 0xFF5F)
    if chr(code - 0xFEE0) not in _SENTENCE_PUNCTUATION and chr(code) != "？"
} | {"\u3000": " "}
_TO_HALFWIDTH = str.maketrans(_HALFWIDTH_OF)
_ANY_FULLWIDTH_FORM = re.compile("[" + re.escape("".join(_HALFWIDTH_OF)) + "]")
_TO_FULLWIDTH = str.maketrans(_SENTENCE_PUNCTUATION)
_ANY_ASCII_SENTENCE_PUNCTUATION = re.compile("[" + re.escape("".join(_SENTENCE_PUNCTUATION)) + "]")
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[，：](?=\d)")
_ASCII_OF = {full: ascii_ for ascii_, full in _SENTENCE_PUNCTUATION.items()}

_DOTS = re.compile(r"\.{2,}")
_PUNCTUATION_PAIR = re.compile(r"([！？?，。、；：~…—\-·])\1")
_REPEATED_PUNCTUATION = re.compile(r"([！？?，。、；：~…—\-·])\1+")


@functools.cache
def _t2s():
    # Built once, on first use: importing this module must stay cheap (opencc loads its dictionaries).
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese with OpenCC t2s, repeated until nothing changes.

    One pass is not always enough: t2s maps the phrase 於潛 to 於潜 first and only a second pass turns 於 into 于.
    Simplified text (almost every post) comes back unchanged after one pass, so the repeat costs nothing there.
    Converting a '\\n'-joined block of posts and splitting it again gives the same texts but is no faster (0.75 s
    against 0.68 s for 100k posts), so posts are converted one at a time.
    """
    converter = _t2s()
    for _ in range(4):
        simplified = converter.convert(text)
        if simplified == text:
            break
        text = simplified
    return text


def halfwidth_forms(text: str) -> str:
    """Full-width letters, digits and symbols, and the ideographic space, to ASCII (sentence punctuation stays)."""
    if _ANY_FULLWIDTH_FORM.search(text) is None:
        return text
    return text.translate(_TO_HALFWIDTH)


def drop_fold_markers(text: str) -> str:
    """'…武汉加油?展开全文c' -> '…武汉加油'; also '...展开全文c', '展开全文 c' and ' 收起全文d'."""
    if "全文" not in text:
        return text
    *before_markers, rest = _FOLD_MARKER.split(text)
    return "".join(piece.rstrip(_BEFORE_FOLD_MARKER) for piece in before_markers) + rest


def drop_links(text: str) -> str:
    """http(s) URLs, www. addresses and bare t.cn short links."""
    if "http" not in text and "www." not in text and "t.cn/" not in text:
        return text
    return _URL.sub("", text)


def drop_boilerplate(text: str) -> str:
    """Link cards (O网页链接), video cards (L某某的微博视频) and the automatic '转发微博'."""
    if "网页链接" not in text and "转发微博" not in text and "视频" not in text:
        return text
    return _BOILERPLATE.sub("", text)


def drop_invisible(text: str) -> str:
    """Icon-font glyphs (Unicode private use), zero-width and control characters."""
    return _INVISIBLE.sub("", text)


def _name_units(name: str) -> int:
    return len(name) + sum(1 for char in name if not char.isascii())


def _anonymized(match: re.Match) -> str:
    return "@" if _name_units(match.group(1)) <= _WEIBO_NAME_UNITS else match.group()


def anonymize_mentions(text: str) -> str:
    """'回复@小明:说得对' -> '@:说得对', '//@张三:转发' -> '//@:转发', '@李四 你好' -> '@ 你好'.

    A run of name characters longer than a Weibo name can be is left untouched (see _WEIBO_NAME_UNITS).
    """
    if "@" not in text:
        return text
    return _MENTION.sub(_anonymized, text)


def fullwidth_sentence_punctuation(text: str) -> str:
    """ASCII , ! : ; ( ) to their full-width forms, except , and : between digits ('1,000', '18:59')."""
    if _ANY_ASCII_SENTENCE_PUNCTUATION.search(text) is None:
        return text
    return _DIGIT_SEPARATOR.sub(lambda match: _ASCII_OF[match.group()], text.translate(_TO_FULLWIDTH))


def collapse_repeats(text: str) -> str:
    """Whitespace runs to one space (ends stripped), '...' to '…', a run of one punctuation mark to one mark."""
    text = " ".join(text.split())
    if ".." in text:
        text = _DOTS.sub("…", text)
    if _PUNCTUATION_PAIR.search(text) is None:
        return text
    return _REPEATED_PUNCTUATION.sub(r"\1", text)


def strip_trailing_debris(text: str) -> str:
    """Drop the lost-emoji `?`s and the spaces that end most exported posts (and spaces at the start)."""
    end = len(text)
    while end and (text[end - 1] == "?" or text[end - 1].isspace()):
        end -= 1
    return text[:end].lstrip()


RULES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("to_simplified", to_simplified),
    ("halfwidth_forms", halfwidth_forms),
    ("drop_fold_markers", drop_fold_markers),
    ("drop_links", drop_links),
    ("drop_boilerplate", drop_boilerplate),
    ("drop_invisible", drop_invisible),
    ("anonymize_mentions", anonymize_mentions),
    ("fullwidth_sentence_punctuation", fullwidth_sentence_punctuation),
    ("collapse_repeats", collapse_repeats),
    ("strip_trailing_debris", strip_trailing_debris),
)


def clean_text(text: str) -> str:
    """One post through every rule of `RULES`, in order."""
    for _, rule in RULES:
        text = rule(text)
    return text


def raw_text(text: str) -> str:
    """The text exactly as ingested."""
    return text
