"""kit.models.transformer.post_train: why the kit masks word spans itself (transformers' collator, checked), whole-word
masking, the held-out split, post-training that lowers the held-out MLM loss, resume after a kill (in process and
through a real SIGKILL), the config checks, and the rules (one shared build; a workflow run to an artifact)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jieba
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from kit.artifacts import Artifact
from kit.cleaning import clean_text
from kit.data import ingest
from kit.demo import make_demo
from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
from kit.models.transformer.config import BackboneSource, PostTrainSpec, parse_config
from kit.models.transformer.post_train import (
    CHECKPOINT,
    IGNORE,
    META,
    base_location,
    epochs_within_budget,
    encode_corpus,
    mask_batch,
    masked_lm_loss,
    prediction_head,
    run_post_train,
    split_rows,
    word_spans,
)
from kit.hashing import canonical_json
from kit.settings import parse, to_dict
from tests.conftest import job_counts

REPO = Path(__file__).resolve().parents[1]
SCRATCH = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "max_position": 64}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_corpus(folder: Path, texts_by_split: dict[str, list[str]]) -> tuple[Path, Path]:
    """corpus.parquet and meta.json as the corpus contract has them (cleaned, distinct, jieba words, first source)."""
    segmenter = jieba.Tokenizer()
    sources: dict[str, str] = {}
    for split, texts in texts_by_split.items():
        for text in map(clean_text, texts):
            if text.strip():
                sources.setdefault(text, split)
    words = [" ".join(word for word in segmenter.lcut(text) if word.strip()) for text in sources]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": list(sources), "words": words, "source": list(sources.values())}).to_parquet(
        folder / "corpus.parquet", index=False)
    (folder / "meta.json").write_text(json.dumps({"corpus_hash": f"test-{len(sources)}"}))
    return folder / "corpus.parquet", folder / "meta.json"


def demo_texts(folder: Path, seed: int, n: int = 150) -> dict[str, list[str]]:
    files = make_demo(folder, n_train=n, n_test=50, n_unlabeled=n, seed=seed)
    ingested = ingest(files["train"], files["test"], files["unlabeled"])
    return {split: getattr(ingested, split)["text"].tolist() for split in ("train", "test", "unlabeled")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return write_corpus(folder / "corpus", demo_texts(folder / "raw", seed=1))


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, corpus):
    texts = pd.read_parquet(corpus[0])["text"].tolist() + ["武汉加油今天天气很好 hello iphone11"]  # the tests' own
    return build_scratch_backbone(tmp_path_factory.mktemp("bb") / "scratch", texts, **SCRATCH)


@pytest.fixture(scope="module")
def tokenizer(base_dir):
    return load_backbone(base_dir)[0]


def post_spec(**overrides) -> PostTrainSpec:
    spec = {"base": {"scratch": SCRATCH}, "epochs": 2, "max_len": 48, "batch_size": 16, "lr": 2e-3,
            "heldout_fraction": 0.1, **overrides}
    return parse(PostTrainSpec, spec, "post_train")


# ------------------------------------------------------------------------------------------------ the collator


@pytest.fixture
def collator_class():
    from transformers import DataCollatorForLanguageModeling

    if "whole_word_mask" not in DataCollatorForLanguageModeling.__dataclass_fields__:
        pytest.skip("this transformers has no whole_word_mask in DataCollatorForLanguageModeling (it came in 5.x)")
    return DataCollatorForLanguageModeling


def collate(collator, tokenizer, texts: list[str]) -> torch.Tensor:
    encoded = tokenizer(texts, return_offsets_mapping=True, return_special_tokens_mask=True)
    return collator([{key: encoded[key][i] for key in encoded} for i in range(len(texts))])["labels"]


def test_transformers_whole_word_collator_takes_unsegmented_chinese_for_one_word(collator_class, tokenizer):
    """Its word boundaries are gaps between token offsets, and Chinese characters have none."""
    with pytest.warns(UserWarning, match="Random token replacement is not supported"):
        collator = collator_class(tokenizer, whole_word_mask=True, mlm_probability=0.3, seed=0)
    assert collator.mask_replace_prob == 1  # and so it drops BERT's 80/10/10 split
    labels = collate(collator, tokenizer, ["武汉加油今天天气很好"] * 64)
    predicted = (labels[:, 1:-1] != IGNORE).sum(1)
    assert set(predicted.tolist()) == {0, 10}  # all ten characters or none: one "word"


def test_space_joined_jieba_words_keep_chinese_tokens_and_give_the_collator_words(collator_class, tokenizer):
    """The second claim, and its limit: a tokenizer splits a Latin or digit run that jieba cut otherwise."""
    text, words = "武汉加油今天天气很好", ["武汉", "加油", "今天", "天气", "很", "好"]
    assert tokenizer(" ".join(words))["input_ids"] == tokenizer(text)["input_ids"]
    with pytest.warns(UserWarning):
        collator = collator_class(tokenizer, whole_word_mask=True, mlm_probability=0.3, seed=0)
    labels = collate(collator, tokenizer, [" ".join(words)] * 64)[:, 1:-1] != IGNORE
    spans = np.cumsum([0] + [len(word) for word in words])
    for row in labels.numpy():
        assert all(row[a:b].all() or not row[a:b].any() for a, b in zip(spans[:-1], spans[1:]))
    assert len({tuple(row) for row in labels.numpy()}) > 2  # words are chosen one by one
    assert tokenizer("iphone 11")["input_ids"] != tokenizer("iphone11")["input_ids"]  # '1' vs '##1'


# ------------------------------------------------------------------------------------------------ words and masks


def test_word_spans_locate_the_words_in_the_text_and_refuse_words_that_do_not_spell_it():
    assert word_spans("武汉加油 hello！", "武汉 加油 hello ！").tolist() == [[0, 2], [2, 4], [5, 10], [10, 11]]
    assert word_spans("", "").shape == (0, 2)
    with pytest.raises(ValueError, match="'加油' does not continue the text at character 2"):
        word_spans("武汉必胜", "武汉 加油")
    with pytest.raises(ValueError, match="the words end at character 2"):
        word_spans("武汉必胜", "武汉")


def test_encode_corpus_maps_each_token_to_its_word(tokenizer):
    texts, words = ["武汉加油 hello", "好"], ["武汉 加油 hello", "好"]
    corpus = encode_corpus(tokenizer, texts, words, np.array([0, 1]), max_len=32, where="c.parquet")
    assert tokenizer.convert_ids_to_tokens(corpus.token_ids[0].tolist())[5:7] == ["h", "##e"]
    assert corpus.word_ids[0].tolist() == [-1, 0, 0, 1, 1, 2, 2, 2, 2, 2, -1]
    assert corpus.word_ids[1].tolist() == [-1, 0, -1]
    by_token = encode_corpus(tokenizer, texts, None, np.array([0]), max_len=6, where="c.parquet")
    assert by_token.word_ids[0].tolist() == [-1, 1, 2, 3, 4, -1]  # truncated to 6, every token its own word
    with pytest.raises(ValueError, match=r"c\.parquet row 1: word '坏'.*rebuild the corpus"):
        encode_corpus(tokenizer, ["好", "好"], ["好", "坏"], np.array([1]), max_len=8, where="c.parquet")


def test_encode_corpus_in_chunks_gives_what_one_call_gives(tokenizer, monkeypatch):
    import kit.models.transformer.post_train as post_train

    texts, words = ["武汉加油 hello", "好", "加油", "hello 武汉"], ["武汉 加油 hello", "好", "加油", "hello 武汉"]
    rows = np.array([3, 0, 2])
    whole = encode_corpus(tokenizer, texts, words, rows, max_len=32, where="c.parquet")
    monkeypatch.setattr(post_train, "ENCODE_CHUNK", 2)
    done = []
    chunked = encode_corpus(tokenizer, texts, words, rows, max_len=32, where="c.parquet", on_chunk=done.append)
    assert done == [2, 3]
    for one, other in ((whole.token_ids, chunked.token_ids), (whole.word_ids, chunked.word_ids)):
        assert [a.tolist() for a in one] == [b.tolist() for b in other]


def test_whole_word_masking_chooses_whole_words_for_15_percent_of_tokens_80_10_10():
    rng = np.random.default_rng(0)
    n_rows, width = 2000, 40
    word_lengths = rng.integers(1, 5, size=(n_rows, width))  # words of 1-4 tokens, as jieba's Chinese words
    word_ids = np.stack([np.repeat(np.arange(width), lengths)[:width] for lengths in word_lengths])
    word_ids[:, 0] = word_ids[:, -1] = -1  # [CLS] and [SEP]
    input_ids = rng.integers(10, 1000, size=(n_rows, width))
    inputs, labels = mask_batch(input_ids, word_ids, np.random.default_rng(1), 0.15, mask_id=4,
                                random_ids=np.arange(5, 1000))
    chosen = labels != IGNORE
    assert not chosen[word_ids < 0].any()
    assert np.array_equal(labels[chosen], input_ids[chosen])
    for row in range(200):
        for word in np.unique(word_ids[row][chosen[row]]):
            assert chosen[row][word_ids[row] == word].all()  # a chosen token's whole word is chosen
    assert abs(chosen.sum() / (word_ids >= 0).sum() - 0.15) < 0.005
    shares = [np.mean(inputs[chosen] == 4), np.mean((inputs[chosen] != 4) & (inputs[chosen] != input_ids[chosen])),
              np.mean(inputs[chosen] == input_ids[chosen])]
    np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=0.01)
    assert np.array_equal(inputs[~chosen], input_ids[~chosen])
    again = mask_batch(input_ids, word_ids, np.random.default_rng(1), 0.15, 4, np.arange(5, 1000))
    assert all(np.array_equal(a, b) for a, b in zip(again, (inputs, labels)))  # a function of the generator


def test_a_batch_without_a_chosen_word_gets_one():
    word_ids = np.array([[-1, 0, 1, -1]])
    _, labels = mask_batch(np.array([[2, 7, 8, 3]]), word_ids, np.random.default_rng(0), 1e-9, 4, np.arange(5, 9))
    assert (labels != IGNORE).sum() == 1


def test_the_held_out_rows_are_a_capped_seeded_share_that_max_texts_leaves_alone():
    train, heldout = split_rows(1000, post_spec(heldout_fraction=0.05, heldout_max=30))
    assert len(heldout) == 30 and len(train) == 970 and not set(train) & set(heldout)
    capped, heldout_again = split_rows(1000, post_spec(heldout_fraction=0.05, heldout_max=30, max_texts=100))
    assert np.array_equal(heldout, heldout_again) and len(capped) == 100 and set(capped) <= set(train)
    assert len(split_rows(10, post_spec(heldout_fraction=0.01))[1]) == 1  # at least one held-out text
    with pytest.raises(ValueError, match="none to train on"):
        split_rows(1, post_spec())


def test_a_budget_in_texts_gives_a_small_corpus_more_epochs_and_a_large_one_fewer():
    budgeted = post_spec(epochs=3, budget_texts=100_000)
    assert epochs_within_budget(98_000, budgeted) == 1  # the competition's capped corpus: one pass
    assert epochs_within_budget(40_000, budgeted) == 3  # 2.5 rounds half up
    assert epochs_within_budget(45_000, budgeted) == 2
    assert epochs_within_budget(8_680, budgeted) == 3  # the demo corpus: as many as `epochs` allows
    assert epochs_within_budget(900_000, budgeted) == 1  # never fewer than one
    assert epochs_within_budget(10, post_spec(epochs=2)) == 2  # no budget: `epochs`


# ------------------------------------------------------------------------------------------------ training


def test_the_masked_positions_only_head_gives_the_whole_models_loss(base_dir, tokenizer):
    torch.manual_seed(0)
    _, model = load_backbone(base_dir, masked_lm=True)
    model.eval()
    encoded = tokenizer(["武汉加油今天天气很好", "好"], padding=True, return_tensors="pt")
    labels = encoded["input_ids"].clone()
    labels[:, [0, 2, 4]] = IGNORE
    labels[encoded["attention_mask"] == 0] = IGNORE
    head = prediction_head(model)
    assert head is model.cls.predictions
    fast, n = masked_lm_loss(model, head, encoded["input_ids"], encoded["attention_mask"], labels)
    slow, _ = masked_lm_loss(model, None, encoded["input_ids"], encoded["attention_mask"], labels)
    reference = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], labels=labels).loss
    assert n == 10 and torch.allclose(fast, slow, atol=1e-5) and torch.allclose(fast, reference, atol=1e-5)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, base_dir, corpus):
    """One uninterrupted post-training: (out folder, meta)."""
    folder = tmp_path_factory.mktemp("straight")
    lines = []
    meta = run_post_train(post_spec(checkpoint_every_steps=1), base_dir, *corpus, folder / "out", folder / "work",
                          log=lines.append)
    return folder / "out", meta, lines


def test_post_training_lowers_the_held_out_loss_and_writes_a_backbone_the_fold_jobs_load(straight, base_dir, corpus):
    out, meta, lines = straight
    history = meta["history"]
    assert [record["epoch"] for record in history] == [0, 1, 2]
    assert history[2]["heldout_mlm_loss"] < history[1]["heldout_mlm_loss"] < history[0]["heldout_mlm_loss"]
    assert meta["heldout_perplexity_after"] < meta["heldout_perplexity_before"]
    assert meta["corpus_hash"].startswith("test-")
    assert meta["train_texts"] + meta["heldout_texts"] == meta["corpus_texts"]
    assert json.loads((out / META).read_text()) == meta
    assert not (out.parent / "work" / CHECKPOINT).exists()  # removed once the folder is written
    assert any(line.startswith("epoch 2/2 done: train MLM loss") and "perplexity" in line for line in lines)
    assert any(line.startswith("held-out MLM loss over ") and ": done in " in line for line in lines)
    assert any(line.startswith("epoch 2/2: ") and "(100%)" in line for line in lines)  # kit.progress lines
    _, backbone = load_backbone(out)
    _, base = load_backbone(base_dir)
    assert type(backbone).__name__ == "BertModel"
    # Trained without attention dropout (the spec's default), saved with the base's own for fine-tuning to decide.
    assert backbone.config.attention_probs_dropout_prob == base.config.attention_probs_dropout_prob == 0.1
    assert torch.equal(backbone.pooler.dense.weight, base.pooler.dense.weight)  # kept: MLM training has no pooler
    assert not torch.equal(backbone.embeddings.word_embeddings.weight, base.embeddings.word_embeddings.weight)


def test_a_budgeted_run_trains_the_epochs_it_works_out_exactly_as_that_many(straight, base_dir, corpus, tmp_path):
    out, meta, _ = straight
    budget = 2 * meta["train_texts"] + 1  # two passes over the texts trained on, at most five
    lines = []
    budgeted = run_post_train(post_spec(epochs=5, budget_texts=budget, checkpoint_every_steps=1), base_dir, *corpus,
                              tmp_path / "out", tmp_path / "work", log=lines.append)
    assert budgeted["epochs"] == meta["epochs"] == 2 and budgeted["spec"]["epochs"] == 5
    assert f"budget: {budget:,} texts over the {meta['train_texts']:,} trained on: 2 epoch(s) (at most 5)" in lines
    assert all(torch.equal(tensor, weights(out)[name]) for name, tensor in weights(tmp_path / "out").items())


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def assert_same_run(folder: Path, straight_out: Path) -> None:
    resumed, reference = weights(folder), weights(straight_out)
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[name], reference[name]) for name in reference)
    meta, reference_meta = (json.loads((f / META).read_text()) for f in (folder, straight_out))

    def scores(history: list[dict]) -> list[dict]:
        return [{key: value for key, value in record.items() if key != "seconds"} for record in history]

    assert scores(meta["history"]) == scores(reference_meta["history"]) and meta["resumed_from"] is not None


def test_a_killed_run_resumes_to_the_same_weights(straight, base_dir, corpus, tmp_path):
    class Killed(Exception):
        pass

    def kill_after_5(step: int) -> None:
        if step == 5:
            raise Killed

    spec = post_spec(checkpoint_every_steps=1)
    with pytest.raises(Killed):
        run_post_train(spec, base_dir, *corpus, tmp_path / "out", tmp_path / "work", log=lambda line: None,
                       on_step=kill_after_5)
    assert (tmp_path / "work" / CHECKPOINT).exists() and not (tmp_path / "out").exists()
    lines = []
    meta = run_post_train(spec, base_dir, *corpus, tmp_path / "out", tmp_path / "work", log=lines.append)
    assert meta["resumed_from"] == {"epoch": 0, "batch": 5}
    assert "resuming from checkpoint: epoch 1, batch 5, step 5" in "\n".join(lines)
    assert_same_run(tmp_path / "out", straight[0])


def test_a_checkpoint_of_another_spec_is_not_resumed(base_dir, corpus, tmp_path):
    (tmp_path / "work").mkdir()
    torch.save({"fingerprint": "another run"}, tmp_path / "work" / CHECKPOINT)
    lines = []
    meta = run_post_train(post_spec(epochs=1), base_dir, *corpus, tmp_path / "b", tmp_path / "work", log=lines.append)
    assert meta["resumed_from"] is None and any("from another spec, base or corpus" in line for line in lines)


@pytest.mark.slow
def test_a_sigkilled_post_train_command_resumes_to_the_same_weights(straight, base_dir, corpus, tmp_path):
    spec = canonical_json(to_dict(post_spec(checkpoint_every_steps=1)))
    command = [sys.executable, "-m", "kit", "post-train", "--settings-json", spec, "--base-dir", str(base_dir),
               "--corpus", str(corpus[0]), "--corpus-meta", str(corpus[1]), "--threads", "1",
               "--workdir", str(tmp_path / "work"), "--out-backbone", str(tmp_path / "out"), "--log", str(tmp_path / "log")]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (tmp_path / "work" / CHECKPOINT).exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL and not (tmp_path / "out").exists()
    subprocess.run(command, check=True, capture_output=True)
    assert "resuming from checkpoint" in (tmp_path / "log").read_text()
    assert_same_run(tmp_path / "out", straight[0])


def test_the_base_comes_from_the_built_folder_only_for_a_scratch_spec(tmp_path):
    assert base_location(post_spec(), tmp_path) == str(tmp_path)
    assert base_location(post_spec(base="hfl/chinese-roberta-wwm-ext"), None) == "hfl/chinese-roberta-wwm-ext"
    with pytest.raises(ValueError, match="needs its built folder"):
        base_location(post_spec(), None)
    with pytest.raises(ValueError, match="not a scratch build"):
        base_location(post_spec(base="some/folder"), tmp_path)


# ------------------------------------------------------------------------------------------------ the config


def backbone(source: dict, max_len: int = 48):
    return parse_config({"backbone": source, "max_len": max_len}, "models.m").backbone.backbone


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"scratch": SCRATCH, "post_train": {"base": "b"}}, r"'models\.m\.backbone': must hold exactly one of "
                                                            r"'scratch' and 'post_train' \(got scratch and post_train"),
        ({}, r"'models\.m\.backbone': must hold exactly one .*\(got none\)"),
        ({"post_train": {"base": "b", "epoch": 2}}, r"'models\.m\.backbone\.post_train\.epoch'.*did you mean 'epochs'"),
        ({"post_train": {"from": "b"}}, r"'models\.m\.backbone\.post_train\.from': is not a key here.*'base'"),
        ({"post_train": {"epochs": 2}}, r"'models\.m\.backbone\.post_train\.base': is required"),
        ({"post_train": {"base": {"scratch": {**SCRATCH, "heads": 4, "hidden": 30}}, "max_len": 48}},
         r"post_train\.base\.scratch\.hidden.*multiple of heads"),
        ({"post_train": {"base": {"scratch": SCRATCH}, "max_len": 96}},
         r"post_train\.max_len': 96 exceeds the scratch base's max_position 64"),
        ({"post_train": {"base": "b", "mask_prob": 0}}, r"post_train\.mask_prob': must be greater than 0"),
    ],
)
def test_a_wrong_backbone_spec_is_named_at_plan_time(source, message):
    with pytest.raises(ValueError, match=message):
        backbone(source)


def test_fine_tuning_longer_than_the_scratch_base_can_take_is_refused():
    with pytest.raises(ValueError, match=r"'models\.m\.max_len': 96 exceeds the scratch backbone's max_position 64"):
        backbone({"post_train": {"base": {"scratch": SCRATCH}, "max_len": 48}}, max_len=96)


def test_a_built_backbone_is_named_by_what_decides_its_weights():
    spec = {"base": {"scratch": SCRATCH}, "epochs": 2, "max_len": 48}
    name = backbone({"post_train": spec}).folder_name()
    assert name.startswith("post-") and len(name) == len("post-") + 16
    assert backbone({"post_train": dict(reversed(list(spec.items())))}).folder_name() == name
    assert backbone({"post_train": {**spec, "checkpoint_minutes": 1}}).folder_name() == name  # cadence only
    assert backbone({"post_train": {**spec, "epochs": 3}}).folder_name() != name
    base = backbone({"post_train": spec}).base_source()
    assert base == BackboneSource(scratch=backbone({"scratch": SCRATCH}).scratch)
    assert base.folder_name().startswith("scratch-") and backbone({"post_train": {"base": "b"}}).base_source() is None


# ------------------------------------------------------------------------------------------------ the rules


def snakemake(workdir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def tiny_transformer(**overrides) -> dict:
    return {"kind": "transformer", "head": "mean", "max_len": 32, "epochs": 1, "batch_size": 8, "lr": 0.003,
            "backbone": {"post_train": {"base": {"scratch": SCRATCH}, "epochs": 1, "max_len": 32, "batch_size": 16,
                                        "lr": 0.002}}, **overrides}


def write_config(workdir: Path, models: dict, data: dict) -> None:
    config = {"data": data, "folds": {"k": 2, "seed": 0}, "variants": ["raw"], "models": models, "ensembles": {}}
    (workdir / "c.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))


def test_two_models_on_one_post_trained_backbone_plan_one_build_and_post_training(tmp_path):
    write_corpus(tmp_path / "data" / "corpus", {"train": ["武汉加油"]})  # the corpus rule's outputs, made here
    models = {"a": tiny_transformer(threads=2), "b": tiny_transformer(head="bigru", gpu=1),
              "c": {**tiny_transformer(), "backbone": {"scratch": SCRATCH}}}
    write_config(tmp_path, models, {"train": "train.csv", "test": "test.csv"})
    make_demo(tmp_path / "raw", n_train=50, n_test=50, n_unlabeled=50, seed=0)
    for split, name in (("train", "nCoV_100k_train.labled.csv"), ("test", "nCov_10k_test.csv")):
        (tmp_path / "raw" / name).rename(tmp_path / f"{split}.csv")
    out = snakemake(tmp_path, "--configfile", "c.yaml", "-n", "-p", "--cores", "4")
    jobs = job_counts(out)
    assert (jobs["build_backbone"], jobs["post_train"], jobs["fit_fold"]) == (1, 1, 6)
    post_train = next(line for line in out.splitlines() if "python -m kit post-train" in line)
    assert "--base-dir models/backbones/scratch-" in post_train
    assert "--gpus 1 --threads 2" in post_train  # the most any of its users asks
    fold_jobs = [line for line in out.splitlines() if "python -m kit fit-fold" in line]
    # The built folder is the family's declared input, passed as every family input is.
    assert sum("--inputs backbone=models/backbones/post-" in line for line in fold_jobs) == 4


@pytest.mark.slow
def test_a_post_trained_scratch_backbone_goes_through_the_workflow_to_an_artifact(tmp_path):
    texts = demo_texts(tmp_path / "raw", seed=5, n=120)
    files = {split: tmp_path / "raw" / name for split, name in
             (("train", "nCoV_100k_train.labled.csv"), ("test", "nCov_10k_test.csv"))}
    write_corpus(tmp_path / "data" / "corpus", texts)
    write_config(tmp_path, {"tiny": tiny_transformer()}, {key: str(path) for key, path in files.items()})
    snakemake(tmp_path, "--configfile", "c.yaml", "-j2", "oof/tiny.raw.s0/manifest.json")
    artifact = Artifact.load(tmp_path / "oof" / "tiny.raw.s0")
    assert artifact.manifest["family"] == "transformer" and artifact.oof_logits.shape == (len(artifact.ids), 3)
    assert "post_train" in artifact.manifest["params"]["backbone"]
    (built,) = (tmp_path / "models" / "backbones").glob("post-*")
    meta = json.loads((built / META).read_text())
    assert meta["heldout_perplexity_after"] < meta["heldout_perplexity_before"]
    log = next((tmp_path / "logs" / "backbone").glob("post-*.log")).read_text()
    assert "before post-training: held-out MLM loss" in log and "epoch 1/1 done" in log
