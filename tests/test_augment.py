"""kit.augment: EDA's four operations over jieba words, seeded per fold and row, and its settings."""

import random

import pytest

from kit.augment import (
    AugmentSettings,
    augment_rows,
    augment_words,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
)
from kit.settings import parse

WORDS = ["武汉", "加油", "医护", "人员", "辛苦", "了"]
SYNONYMS = {"加油": ["挺住", "坚持"], "辛苦": ["劳累"]}


def synonyms(word):
    return SYNONYMS.get(word, [])


def test_synonym_replacement_only_swaps_in_synonyms():
    out = synonym_replacement(WORDS, 0.5, synonyms, random.Random(0))
    assert len(out) == len(WORDS)
    changed = {(a, b) for a, b in zip(WORDS, out) if a != b}
    assert changed and all(b in SYNONYMS[a] for a, b in changed)


def test_random_insertion_adds_synonyms_and_keeps_the_words():
    out = random_insertion(WORDS, 0.3, synonyms, random.Random(1))
    assert len(out) == len(WORDS) + 1
    extra = list(out)
    for word in WORDS:
        extra.remove(word)
    assert extra[0] in {"挺住", "坚持", "劳累"}


def test_swap_and_deletion():
    swapped = random_swap(WORDS, 0.2, random.Random(2))
    assert sorted(swapped) == sorted(WORDS) and swapped != WORDS
    deleted = random_deletion(WORDS, 0.5, random.Random(3))
    assert 1 <= len(deleted) < len(WORDS) and all(word in WORDS for word in deleted)
    assert random_deletion(["独"], 0.99, random.Random(0)) == ["独"]
    assert len(random_deletion(WORDS, 0.999, random.Random(0))) == 1  # never empty


def test_copies_take_the_operations_in_turn_and_skip_synonyms_without_vectors():
    settings = parse(AugmentSettings, {"copies": 4}, "augment.a")
    with_synonyms = augment_words(WORDS, settings, synonyms, random.Random(0))
    assert len(with_synonyms) == 4 and len(with_synonyms[1]) == len(WORDS) + 1  # sr, ri, rs, rd
    without = augment_words(WORDS, settings, None, random.Random(0))
    assert sorted(without[0]) == sorted(WORDS) and len(without[1]) < len(WORDS)  # rs, rd, rs, rd


def test_rows_are_seeded_by_fold_and_row():
    settings = parse(AugmentSettings, {"copies": 2}, "augment.a")
    first = augment_rows([WORDS, WORDS[:3]], [1, 0], settings, synonyms, fold=0)
    assert first == augment_rows([WORDS, WORDS[:3]], [1, 0], settings, synonyms, fold=0)
    assert first[1] == [1, 1, 0, 0] and len(first[0]) == 4
    assert first != augment_rows([WORDS, WORDS[:3]], [1, 0], settings, synonyms, fold=1)


@pytest.mark.parametrize(("entry", "message"), [
    ({"copies": 0}, r"'augment\.a\.copies': must be at least 1"),
    ({"alpha_sr": 0, "alpha_ri": 0, "alpha_rs": 0, "p_rd": 0}, r"'augment\.a': every operation has a rate of 0"),
    ({"p_rd": 1}, r"'augment\.a\.p_rd': must be less than 1"),
])
def test_bad_entries_name_their_key(entry, message):
    with pytest.raises(ValueError, match=message):
        parse(AugmentSettings, entry, "augment.a")
