"""kit.word_vectors: probe neighbours on a tiny corpus, identical vectors for a seed in two processes, the entry's
settings, and the folder the rule writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kit import config as kit_config
from kit.word_vectors import WordVectorSettings
from kit.settings import SettingsError, parse
from kit.word_vectors import (PAD_ID, UNK_ID, build_word_vectors, capped, config_hash, fold_vocabulary,
                              load_vectors, nearest, sentences_of, train_vectors)

# Each pair shares every context, so each word's nearest neighbour is its partner.
PAIRS = ((("今天", "戴", None, "出门"), ("口罩", "面罩")), (("我们", "为", None, "加油"), ("武汉", "湖北")),
         (("不信", None, "不传", "假话"), ("谣言", "传言")))
TINY = dict(dim=16, window=2, min_count=1, epochs=20, sample=0)


def tiny_corpus(n: int = 300, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    sentences = []
    for i in range(n):
        template, fillers = PAIRS[i % len(PAIRS)]
        sentences.append([word or fillers[rng.integers(2)] for word in template])
    return sentences


@pytest.mark.parametrize("algorithm", ["word2vec", "fasttext"])
def test_the_probe_words_nearest_neighbour_is_the_word_that_shares_their_contexts(algorithm):
    vectors = train_vectors(tiny_corpus(), WordVectorSettings(algorithm=algorithm, **TINY))
    found = nearest(vectors, ["口罩", "武汉", "谣言"], topn=3)
    assert {probe: neighbours[0][0] for probe, neighbours in found.items()} == {
        "口罩": "面罩", "武汉": "湖北", "谣言": "传言"}
    assert all(len(neighbours) == 3 and neighbours[0][1] > neighbours[1][1] for neighbours in found.values())


def test_fasttext_gives_an_unseen_word_a_vector_and_word2vec_none():
    sentences = tiny_corpus()
    assert nearest(train_vectors(sentences, WordVectorSettings(**TINY)), ["防护服"]) == {"防护服": []}
    fasttext = train_vectors(sentences, WordVectorSettings(algorithm="fasttext", **TINY))
    assert not fasttext.has_index_for("防护服") and len(nearest(fasttext, ["防护服"], topn=4)["防护服"]) == 4


TRAIN_IN_A_PROCESS = """
import sys
import numpy as np
from kit.word_vectors import WordVectorSettings
from kit.word_vectors import train_vectors
sys.path.insert(0, {tests!r})
from test_word_vectors import TINY, tiny_corpus
arrays = {{}}
for algorithm in ("word2vec", "fasttext"):
    vectors = train_vectors(tiny_corpus(), WordVectorSettings(algorithm=algorithm, **TINY))
    arrays[algorithm] = vectors[vectors.index_to_key]
    arrays[algorithm + "_words"] = np.array(vectors.index_to_key)
np.savez({out!r}, **arrays)
"""


@pytest.mark.parametrize("algorithm", ["word2vec", "fasttext"])
def test_a_fold_vocabulary_holds_the_fold_s_words_and_fasttext_s_subword_vectors(algorithm):
    vectors = train_vectors(tiny_corpus(), WordVectorSettings(algorithm=algorithm, **TINY))
    vocabulary = fold_vocabulary([["武汉", "防护服", "口罩"], ["武汉"], []], vectors)
    subword = algorithm == "fasttext"
    assert list(vocabulary.index) == ["武汉", "口罩"] + (["防护服"] if subword else [])
    assert (vocabulary.subword_words, vocabulary.unknown_words) == ((1, 0) if subword else (0, 1))
    assert vocabulary.matrix.shape == (2 + len(vocabulary.index), 16) and not vocabulary.matrix[PAD_ID].any()
    assert np.array_equal(vocabulary.matrix[vocabulary.index["口罩"]], vectors["口罩"])
    if subword:
        assert np.array_equal(vocabulary.matrix[vocabulary.index["防护服"]], vectors.get_vector("防护服"))
    assert vocabulary.ids(["口罩", "防护服"]) == [3, 4 if subword else UNK_ID]


def test_one_worker_and_a_seed_give_identical_vectors_in_two_processes(tmp_path):
    """Python's hash is randomised per process (PYTHONHASHSEED): the vectors must not depend on it."""
    runs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"hash{hash_seed}.npz"
        script = TRAIN_IN_A_PROCESS.format(tests=os.path.dirname(__file__), out=str(out))
        subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        runs.append(np.load(out))
    assert set(runs[0].files) == set(runs[1].files) == {"word2vec", "word2vec_words", "fasttext", "fasttext_words"}
    for key in runs[0].files:
        assert np.array_equal(runs[0][key], runs[1][key]), key


def test_the_seed_decides_the_vectors():
    vectors = [train_vectors(tiny_corpus(), WordVectorSettings(seed=seed, **TINY)) for seed in (0, 0, 1)]
    assert np.array_equal(vectors[0].vectors, vectors[1].vectors)
    assert not np.array_equal(vectors[0].vectors, vectors[2].vectors)


@pytest.mark.parametrize("algorithm", ["word2vec", "fasttext"])
def test_progress_lines_count_every_epoch_s_texts_and_change_no_vector(algorithm):
    settings, lines = WordVectorSettings(algorithm=algorithm, **TINY), []
    counted = train_vectors(tiny_corpus(), settings, log=lines.append)
    assert np.array_equal(counted.vectors, train_vectors(tiny_corpus(), settings).vectors)
    assert lines[0] == f"{algorithm}, 20 epochs: 0/6,000 (0%), starting"  # 300 texts x 20 epochs
    assert lines[-1].startswith(f"{algorithm}, 20 epochs: 6,000/6,000 (100%)")


def test_the_entry_s_settings_are_typed_and_checked():
    config = kit_config.load({"data": {"train": "t.csv", "test": "s.csv"}, "models": {"m": {"kind": "sklearn"}},
                              "word_vectors": {"ft": {"algorithm": "fasttext", "subwords": [1, 2]}}})
    assert config.word_vectors["ft"].subwords == (1, 2) and config.word_vectors["ft"].dim == 100
    with pytest.raises(SettingsError, match=r"'word_vectors.w2v.subwords': applies to algorithm 'fasttext' only"):
        parse(WordVectorSettings, {"subwords": [1, 2]}, "word_vectors.w2v")
    with pytest.raises(SettingsError, match=r"'word_vectors.ft.subwords': must be \[low, high\]"):
        parse(WordVectorSettings, {"algorithm": "fasttext", "subwords": [3, 1]}, "word_vectors.ft")
    with pytest.raises(SettingsError, match=r"'word_vectors.w2v.dimm': is not a key here; did you mean 'dim'"):
        parse(WordVectorSettings, {"dimm": 50}, "word_vectors.w2v")
    with pytest.raises(SettingsError, match=r"'word_vectors.w2v.source'"):
        parse(WordVectorSettings, {"source": "test"}, "word_vectors.w2v")


def test_the_config_hash_covers_the_settings_and_the_corpus_not_the_probes():
    settings = WordVectorSettings()
    assert config_hash(settings, "a") == config_hash(WordVectorSettings(probes=("疫情",)), "a")
    assert config_hash(settings, "a") != config_hash(settings, "b")
    assert config_hash(settings, "a") != config_hash(WordVectorSettings(dim=50), "a")


@pytest.fixture
def corpus_files(tmp_path):
    """A corpus parquet in the contract's columns (train rows, then unlabelled ones) and its meta.json."""
    sentences = tiny_corpus(300)
    frame = pd.DataFrame({"text": ["".join(s) + str(i) for i, s in enumerate(sentences)],
                          "words": [" ".join(s) for s in sentences],
                          "source": ["train"] * 100 + ["unlabeled"] * 200})
    frame.to_parquet(tmp_path / "corpus.parquet", index=False)
    (tmp_path / "meta.json").write_text(json.dumps({"corpus_hash": "c0ffee"}), encoding="utf-8")
    return tmp_path / "corpus.parquet", tmp_path / "meta.json"


def test_build_word_vectors_writes_gensim_s_files_and_their_meta(tmp_path, corpus_files):
    lines = []
    settings = WordVectorSettings(probes=("口罩", "疫情"), **TINY)
    files = (tmp_path / "models" / "w2v.kv", tmp_path / "models" / "w2v.json")
    meta = build_word_vectors("w2v", settings, *corpus_files, *files, log=lines.append)
    vectors, stored = load_vectors(*files)
    assert stored == meta and sorted(p.name for p in (tmp_path / "models").iterdir()) == ["w2v.json", "w2v.kv"]
    assert meta["corpus_hash"] == "c0ffee" and meta["config_hash"] == config_hash(settings, "c0ffee")
    assert (meta["texts"], meta["words"], meta["vocabulary"]) == (300, 1200, len(vectors.index_to_key))
    assert meta["neighbours"]["口罩"][0][0] == "面罩" and meta["neighbours"]["疫情"] == []
    assert any(line.startswith("  口罩: 面罩 ") for line in lines) and "  疫情: (not in the vocabulary)" in lines
    assert any(line.startswith("word2vec, 20 epochs: 6,000/6,000 (100%)") for line in lines)
    train_only = build_word_vectors("train", WordVectorSettings(source="train", **TINY), *corpus_files,
                                    tmp_path / "models" / "train.kv", tmp_path / "models" / "train.json",
                                    log=lines.append)
    assert train_only["texts"] == 100


def test_max_texts_learns_from_a_seeded_sample_in_corpus_order():
    sentences = [[f"w{i}", "x"] for i in range(10)]
    assert capped(sentences, None, 0) is sentences and capped(sentences, 10, 0) is sentences
    five = capped(sentences, 5, 0)
    assert len(five) == 5 and five == sorted(five, key=lambda words: int(words[0][1:]))
    assert capped(sentences, 5, 0) == five and capped(sentences, 5, 1) != five


def test_too_few_words_and_a_missing_folder_are_errors_naming_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="no word of the 2 texts is seen min_count=5 times; lower min_count"):
        train_vectors(sentences_of(["口罩 戴", "武汉 加油"]), WordVectorSettings(min_count=5))
    with pytest.raises(FileNotFoundError, match=r"w2v.kv is missing; rebuild it with `snakemake --forcerun"):
        load_vectors(tmp_path / "w2v.kv", tmp_path / "w2v.json")
