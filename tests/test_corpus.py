"""kit.corpus: which texts the corpus holds and from where, its four files, words for any texts, its errors, and the
`corpus` and `word_vectors` rules through Snakemake (run once: a second run, or a new word-vectors entry, does not
segment again)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit import cli, layout
from kit.corpus import CorpusSettings
from kit.newwords import NewWordSettings
from kit.corpus import (
    CorpusFiles,
    build_corpus,
    corpus_hash,
    corpus_texts,
    new_words_table,
    read_corpus,
    spread,
    words_of,
)
from kit.demo import make_demo
from kit.newwords import NewWord
from kit.segment import read_userdict
from tests.conftest import job_counts

REPO = Path(__file__).resolve().parents[1]
SPLITS = {
    "train": ["武汉加油!!!", "醫護人員辛苦了", "", "武汉加油！"],
    "test": ["武汉加油!", "新的一天 http://t.cn/abc"],
    "unlabeled": ["新的一天", "第一", "第二", "第三", "第四", "第五"],
}


def test_spread_keeps_evenly_spaced_items_in_order():
    assert spread(list(range(10)), 3) == [0, 3, 6]
    assert spread(list(range(4)), 4) == [0, 1, 2, 3] and spread(["a"], 5) == ["a"]


def test_the_corpus_holds_each_cleaned_text_once_from_the_first_split_that_has_it():
    frame, rows = corpus_texts(SPLITS, max_texts=None)
    assert frame.to_dict("list") == {
        "text": ["武汉加油！", "医护人员辛苦了", "新的一天", "第一", "第二", "第三", "第四", "第五"],
        "source": ["train", "train", "test", "unlabeled", "unlabeled", "unlabeled", "unlabeled", "unlabeled"],
    }
    assert rows["train"] == {"read": 4, "empty": 1, "duplicate": 1, "over_max_texts": 0, "kept": 2}
    assert rows["test"] == {"read": 2, "empty": 0, "duplicate": 1, "over_max_texts": 0, "kept": 1}
    assert rows["unlabeled"] == {"read": 6, "empty": 0, "duplicate": 1, "over_max_texts": 0, "kept": 5}


def test_max_texts_caps_only_the_unlabelled_texts_spread_over_the_file():
    frame, rows = corpus_texts(SPLITS, max_texts=2)
    assert frame["text"].tolist() == ["武汉加油！", "医护人员辛苦了", "新的一天", "第一", "第三"]
    assert rows["unlabeled"]["over_max_texts"] == 3 and rows["unlabeled"]["kept"] == 2


def test_without_unlabelled_texts_the_corpus_is_train_and_test():
    frame, rows = corpus_texts({"train": SPLITS["train"], "test": SPLITS["test"]}, max_texts=1)
    assert set(frame["source"]) == {"train", "test"} and set(rows) == {"train", "test"} and len(frame) == 3
    with pytest.raises(ValueError, match=r"texts must come from train, test and optionally unlabeled, got \['train'"):
        corpus_texts({"train": SPLITS["train"]}, max_texts=None)
    with pytest.raises(ValueError, match=r"got \['test', 'train', 'valid'\]"):
        corpus_texts({"train": [], "test": [], "valid": []}, max_texts=None)


def test_new_words_table_is_readable_with_the_statistics_that_admitted_each_word():
    table = new_words_table([NewWord("新冠肺炎", "new_word", 519, 6.6842, 7.171, 8.3099), NewWord("#武汉加油#", "hashtag", 111)])
    assert table.splitlines() == ["word\tcount\tkind\tpmi\tleft_entropy\tright_entropy",
                                  "新冠肺炎\t519\tnew_word\t6.684\t7.171\t8.310", "#武汉加油#\t111\thashtag\t\t\t"]


def write_splits(folder: Path, splits: dict) -> dict[str, Path]:
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for split, texts in splits.items():
        paths[split] = folder / f"{split}.parquet"
        pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}).to_parquet(paths[split])
    return paths


def corpus_outputs(folder: Path) -> CorpusFiles:
    return CorpusFiles(folder / "corpus.parquet", folder / "userdict.txt", folder / "new_words.tsv", folder / "meta.json")


# A word jieba lacks (云监工, which it cuts 云|监工), a hashtag and an emoticon word, each seen often enough.
POSTS = [f"{start}云监工{end}" for start in ("我在", "大家", "一起", "天天", "今天") for end in ("中", "啊", "了", "呢")]
POSTS += ["#火神山医院#今天交付[哈哈]", "#火神山医院#开始收治[哈哈]", "看#火神山医院#直播[哈哈]"]


@pytest.fixture
def built(tmp_path):
    inputs = write_splits(tmp_path / "interim", {"train": POSTS[:12], "test": POSTS[12:], "unlabeled": POSTS + ["新的帖子"]})
    settings = CorpusSettings(new_words=NewWordSettings(min_count=6, min_pmi=2.5, min_entropy=1.5,
                                                        hashtag_min_count=3, emoticon_min_count=3))
    outputs = corpus_outputs(tmp_path / "corpus")
    lines = []
    return build_corpus(inputs, settings, outputs, log=lines.append), outputs, lines


def test_build_corpus_writes_the_corpus_its_dictionary_its_words_and_its_meta(built):
    meta, outputs, lines = built
    corpus = pd.read_parquet(outputs.corpus)
    assert corpus.columns.tolist() == ["text", "words", "source"]
    assert corpus["source"].value_counts().to_dict() == {"train": 12, "test": 11, "unlabeled": 1}
    words = dict(zip(corpus["text"], corpus["words"]))
    assert words["大家云监工啊"] == "大家 云监工 啊"
    assert words["看#火神山医院#直播[哈哈]"] == "看 #火神山医院# 直播 [哈哈]"
    assert {(word, tag) for word, _, tag in read_userdict(outputs.userdict)} == {
        ("云监工", "newword"), ("#火神山医院#", "hashtag"), ("[哈哈]", "emoticon")}
    table = pd.read_csv(outputs.new_words, sep="\t")
    assert table.loc[table["word"] == "云监工", ["count", "kind"]].values.tolist() == [[20, "new_word"]]
    assert meta == json.loads(outputs.meta.read_text(encoding="utf-8"))
    assert meta["corpus_hash"] == corpus_hash(corpus) and meta["rows"] == {"train": 12, "test": 11, "unlabeled": 1}
    assert meta["texts"]["unlabeled"]["duplicate"] == 23 and meta["new_words"] == {
        "new_word": 1, "hashtag": 1, "emoticon": 1}
    assert meta["settings"]["new_words"]["min_pmi"] == 2.5 and set(meta["seconds"]) == {"clean", "new_words", "segment"}
    assert any("the most frequent new words: 云监工 20" in line for line in lines)
    # Each long stage says where it stands: the cleaning per source, the new words, the segmentation.
    assert any(line.startswith("cleaning unlabeled: ") and "(100%)" in line for line in lines)
    assert any(line.startswith("finding new words in 24 texts: done in ") for line in lines)
    assert any(line.startswith("segmenting: 24/24 (100%)") for line in lines)


def test_words_of_takes_the_corpus_s_words_and_segments_the_rest_with_its_dictionary(built):
    _, outputs, _ = built
    corpus = pd.read_parquet(outputs.corpus)
    corpus.loc[corpus["text"] == "我在云监工中", "words"] = "我在 云 监工中"  # proof that they are looked up
    corpus.to_parquet(outputs.corpus)
    # the raw form of a corpus text is looked up by its cleaned form; the others are segmented, cleaned
    texts = ["我在云监工中", "我在云监工中 http://t.cn/x", "我在云监工中!!!", "", "#火神山医院#  [哈哈]"]
    assert words_of(texts, outputs.corpus, outputs.userdict) == [
        ["我在", "云", "监工中"], ["我在", "云", "监工中"], ["我", "在", "云监工", "中", "！"], [],
        ["#火神山医院#", "[哈哈]"]]


def test_a_missing_or_foreign_corpus_file_names_its_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"corpus.parquet: missing \(build it with `snakemake "):
        read_corpus(tmp_path / "corpus.parquet")
    pd.DataFrame({"text": ["a"]}).to_parquet(tmp_path / "corpus.parquet")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['words', 'source'\] of a corpus.*--forcerun"):
        read_corpus(tmp_path / "corpus.parquet")


def test_the_command_refuses_a_misspelt_setting_naming_its_key(tmp_path, capsys):
    inputs = write_splits(tmp_path, {"train": ["武汉加油"], "test": ["加油"]})
    with pytest.raises(SystemExit) as stopped:
        cli.main(["corpus", "--train", str(inputs["train"]), "--test", str(inputs["test"]), "--settings-json",
                  '{"max_text": 5}', "--out-corpus", "c.parquet", "--out-userdict", "u.txt", "--out-new-words",
                  "n.tsv", "--out-meta", "m.json"])
    assert stopped.value.code == 2
    assert "config key 'corpus.max_text': is not a key here; did you mean 'max_texts'?" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the workflow


def snakemake(workdir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def planned(workdir: Path, configfile: str, *targets: str) -> dict[str, int]:
    # --configfile takes every word after it
    return job_counts(snakemake(workdir, "-n", *targets, "--configfile", configfile))


TARGETS = ("data/corpus/corpus.parquet", layout.word_vectors("w2v")["vectors"])


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("corpus_run")
    files = make_demo(workdir / "comp", n_train=300, n_test=100, n_unlabeled=200, seed=7)
    config = {
        "data": {split: str(path.relative_to(workdir)) for split, path in files.items()},
        "models": {"lr": {"kind": "sklearn"}},
        "corpus": {"new_words": {"min_count": 3}},
        "word_vectors": {"w2v": {"dim": 8, "epochs": 1, "min_count": 1}},
    }
    (workdir / "wv.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(workdir, "--configfile", "wv.yaml", "-j2", *TARGETS)
    return workdir, config


@pytest.mark.slow
def test_the_rules_build_the_corpus_and_the_vectors_only_when_asked(workflow):
    workdir, _ = workflow
    corpus = pd.read_parquet(workdir / "data" / "corpus" / "corpus.parquet")
    assert set(corpus["source"]) == {"train", "test", "unlabeled"} and corpus["text"].is_unique
    meta = json.loads((workdir / "data" / "corpus" / "meta.json").read_text())
    vectors_meta = json.loads((workdir / layout.word_vectors("w2v")["meta"]).read_text())
    assert vectors_meta["corpus_hash"] == meta["corpus_hash"] == corpus_hash(corpus.astype(str))
    assert "口罩:" in (workdir / "logs" / "word_vectors" / "w2v.log").read_text(encoding="utf-8")
    assert "corpus" not in planned(workdir, "wv.yaml") and "word_vectors" not in planned(workdir, "wv.yaml")


@pytest.mark.slow
def test_a_rerun_or_another_vectors_entry_does_not_segment_again(workflow):
    workdir, config = workflow
    assert planned(workdir, "wv.yaml", *TARGETS) == {}
    reordered = {**config, "corpus": {"new_words": {"min_count": 3}, "max_texts": None}}
    (workdir / "reordered.yaml").write_text(yaml.safe_dump(reordered, allow_unicode=True, sort_keys=True))
    assert planned(workdir, "reordered.yaml", *TARGETS) == {}
    more = {**config, "word_vectors": {**config["word_vectors"], "ft": {"algorithm": "fasttext", "dim": 8,
                                                                        "epochs": 1, "min_count": 1}}}
    (workdir / "more.yaml").write_text(yaml.safe_dump(more, allow_unicode=True))
    fasttext = layout.word_vectors("ft")["vectors"]
    assert planned(workdir, "more.yaml", *TARGETS, fasttext) == {"word_vectors": 1}
    snakemake(workdir, "--configfile", "more.yaml", "-j2", fasttext)
    corpus_log = (workdir / "logs" / "corpus.log").read_text(encoding="utf-8")
    assert corpus_log.count("texts; seconds") == 1  # segmented once, in the first run
    capped = {**config, "corpus": {**config["corpus"], "max_texts": 50}}
    (workdir / "capped.yaml").write_text(yaml.safe_dump(capped, allow_unicode=True))
    assert planned(workdir, "capped.yaml", *TARGETS) == {"corpus": 1, "word_vectors": 1}


@pytest.mark.slow
def test_without_an_unlabelled_file_the_corpus_reads_train_and_test(tmp_path):
    files = make_demo(tmp_path / "comp", n_train=100, n_test=50, n_unlabeled=50, seed=8)
    config = {"data": {"train": str(files["train"]), "test": str(files["test"])}, "models": {"lr": {"kind": "sklearn"}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    out = snakemake(tmp_path, "-n", "-p", "data/corpus/corpus.parquet", "--configfile", "c.yaml")
    command = next(line for line in out.splitlines() if "python -m kit corpus" in line)
    # The whole command is written out: its --unlabeled option is there, with no file.
    assert "--train data/interim/train.parquet --test data/interim/test.parquet --unlabeled  --settings-json" in command
    assert "unlabeled.parquet" not in command
