"""kit.models.wordvec.fold: every head and the hybrid learn the toy task through the fold contract, a killed run
resumes to the same logits, a kept model predicts what the fold did, and a fold job without its inputs says which."""

import json

import numpy as np
import pytest

from kit.metrics import macro_f1
from kit.models import FoldData, fit_predict
from kit.models.transformer.backbone import build_scratch_backbone
from kit.models.transformer.train import CHECKPOINT
from kit.models.wordvec.fold import BACKBONE_DIR, MODEL_CONFIG, MODEL_WEIGHTS, load_predictor, run_fold
from kit.models.wordvec.config import WordvecConfig
from kit.settings import parse
from kit.word_vectors import USERDICT_FILE, VOCABULARY_FILE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy(toy_texts):
    return toy_texts(n_classes=3)


@pytest.fixture(scope="module")
def data(toy, word_inputs, tmp_path_factory) -> FoldData:
    train_text, train_y = toy(96, seed=0)
    valid_text, valid_y = toy(30, seed=1)
    test_text, _ = toy(15, seed=2)
    # An empty text, and one whose characters the vectors never saw: [PAD] and [UNK] positions.
    test_text += ["", "乙丙丁"]
    inputs = word_inputs(tmp_path_factory.mktemp("words"), train_text + valid_text + test_text[:-1])
    return FoldData(train_text, train_y, valid_text, valid_y, test_text, n_classes=3, inputs=inputs)


def params(**overrides) -> dict:
    return {"vectors": "w2v", "lr": 1e-2, "epochs": 3, "batch_size": 8, "embedding_dropout": 0.0, **overrides}


@pytest.mark.parametrize("head", ["bigru", "bilstm", "textcnn"])
def test_each_head_learns_the_toy_task_through_the_family_registry(data, tmp_path, head):
    lines = []
    result = fit_predict("wordvec", params(head=head), data, seed=0, workdir=tmp_path, log=lines.append)
    assert result.valid_logits.shape == (30, 3) and result.test_logits.shape == (17, 3)
    assert macro_f1(data.valid_y, result.valid_logits.argmax(1), 3) > 0.9
    info = result.info
    assert (info["family"], info["head"], info["vectors"], info["backbone"]) == ("wordvec", head, "w2v", None)
    # The 23 toy characters have vectors; jieba cuts the unseen 乙丙丁 into 乙丙 and 丁, neither with one.
    assert info["vocabulary"] == {"words": 23, "subword_words": 0, "unknown_words": 2}
    assert info["corpus_hash"] == "0" * 64 and len(info["vectors_config_hash"]) == 64
    assert any("23 words with a vector" in line and "frozen" in line for line in lines)
    assert not (tmp_path / CHECKPOINT).exists()


def test_the_hybrid_joins_a_scratch_berts_states_with_the_word_vectors(data, toy, tmp_path):
    backbone = build_scratch_backbone(tmp_path / "bert", [toy.vocab], layers=1, hidden=16, heads=2, max_position=64)
    result = fit_predict("wordvec", params(backbone=str(backbone), max_len=24, head="textcnn", attention_dropout=0.25),
                         data, seed=0, workdir=tmp_path / "fold", log=lambda line: None)
    assert macro_f1(data.valid_y, result.valid_logits.argmax(1), 3) > 0.9
    (tmp_path / "kept").mkdir()
    result.predictor.save(tmp_path / "kept")  # the fold trained with the entry's attention dropout
    assert json.loads((tmp_path / "kept" / BACKBONE_DIR / "config.json").read_text())[
        "attention_probs_dropout_prob"] == 0.25
    assert result.info["backbone"] == str(backbone) and result.info["optimizer_steps"] == 3 * 12


@pytest.mark.parametrize("model", ["frozen", "fine-tuned", "hybrid"])
def test_a_kept_model_predicts_the_logits_the_fold_job_wrote(data, toy, word_inputs, tmp_path, model):
    # The corpus segmented by jieba, as the corpus rule does: a kept model segments a new text the same way.
    inputs = word_inputs(tmp_path / "words", data.train_text + data.valid_text + data.test_text, segmented=True)
    fold = FoldData(data.train_text, data.train_y, data.valid_text, data.valid_y, data.test_text, n_classes=3,
                    inputs=inputs)
    settings = params(freeze=model == "frozen", head="textcnn", epochs=1)
    if model == "hybrid":
        settings.update(backbone=str(build_scratch_backbone(tmp_path / "bert", [toy.vocab], layers=1, hidden=16,
                                                            heads=2, max_position=64)), max_len=24)
    result = fit_predict("wordvec", settings, fold, seed=0, workdir=tmp_path / "fold", log=lambda line: None)
    kept = tmp_path / "kept"
    kept.mkdir()
    result.predictor.save(kept)
    assert {path.name for path in kept.iterdir()} == {MODEL_WEIGHTS, MODEL_CONFIG, VOCABULARY_FILE, USERDICT_FILE,
                                                      *([BACKBONE_DIR] if model == "hybrid" else [])}
    loaded = load_predictor(kept)
    assert np.array_equal(loaded.predict(fold.test_text), result.test_logits)
    assert np.array_equal(loaded.predict(fold.valid_text), result.valid_logits)


class Killed(Exception):
    pass


def test_a_killed_run_resumes_to_the_same_logits(data, tmp_path):
    # 12 steps an epoch, checkpoints every 5: a kill at step 17 resumes at epoch 2, batch 3 (after step 15).
    config = params(freeze=False, adversarial="fgm", head="bilstm", checkpoint_every_steps=5)
    straight = fit_predict("wordvec", config, data, seed=1, workdir=tmp_path / "straight", log=lambda line: None)

    def kill_at_17(step: int) -> None:
        if step == 17:
            raise Killed

    with pytest.raises(Killed):
        run_fold(parse(WordvecConfig, config, "wordvec"), data, seed=1, workdir=tmp_path / "killed",
                 log=lambda line: None, on_step=kill_at_17)
    resumed = fit_predict("wordvec", config, data, seed=1, workdir=tmp_path / "killed", log=lambda line: None)
    assert resumed.info["resumed_from"] == {"epoch": 1, "batch": 3}
    assert np.array_equal(resumed.valid_logits, straight.valid_logits)
    assert np.array_equal(resumed.test_logits, straight.test_logits)
    assert resumed.info["history"] == straight.info["history"]


def test_a_checkpoint_of_another_fold_vocabulary_is_not_resumed(data, word_inputs, tmp_path):
    # The same training rows beside test posts with words of their own make a larger fold vocabulary, so other
    # embedding rows: the first run's checkpoint must not be loaded into the second.
    extra = ["甲乙丙 天地玄黄"] * 5
    inputs = word_inputs(tmp_path / "words", data.train_text + data.valid_text + data.test_text + extra)
    config = params(epochs=1, keep_checkpoints=True)
    runs = []
    for test_text in (data.test_text + extra, data.test_text):
        fold = FoldData(data.train_text, data.train_y, data.valid_text, data.valid_y, test_text, n_classes=3,
                        inputs=inputs)
        runs.append(fit_predict("wordvec", config, fold, seed=0, workdir=tmp_path / "fold", log=lambda line: None))
        assert (tmp_path / "fold" / CHECKPOINT).exists()
    assert runs[0].info["vocabulary"]["words"] > runs[1].info["vocabulary"]["words"]
    assert runs[1].info["resumed_from"] is None


def test_a_fold_without_its_inputs_names_them(data, tmp_path):
    bare = FoldData(data.train_text, data.train_y, data.valid_text, data.valid_y, data.test_text, n_classes=3)
    with pytest.raises(ValueError, match=r"vectors 'w2v'.*lacks its inputs \['vectors', 'vectors_meta', 'corpus', 'userdict'\]"):
        fit_predict("wordvec", params(), bare, seed=0, workdir=tmp_path, log=print)
