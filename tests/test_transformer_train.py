"""kit.models.transformer.train: amp plans, the loop (accumulation, bf16 autocast, the CPU's kernels, PGD,
early stopping, stale checkpoints) and length-sorted prediction."""

import numpy as np
import pytest
import torch

from kit.models.transformer.backbone import build_scratch_backbone, load_backbone
from kit.models.transformer.config import parse_config
from kit.models.transformer.data import encode
from kit.models.transformer.heads import TextClassifier
from kit.models.transformer.kernels import ATTENTION
from kit.models.transformer.train import (
    BEST_WEIGHTS,
    CHECKPOINT,
    InnerSet,
    pad_multiple,
    predict,
    prediction_amp,
    resolve_amp,
    train,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy(toy_texts):
    return toy_texts(n_classes=2)


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory, toy):
    return build_scratch_backbone(tmp_path_factory.mktemp("bb") / "bert", [toy.vocab], layers=2,
                                  hidden=32, heads=2, max_position=64)


def setup(backbone_dir, **params):
    config = parse_config({"backbone": str(backbone_dir), "lr": 3e-3, "batch_size": 8, "max_len": 24, **params})
    torch.manual_seed(0)
    tokenizer, bert = load_backbone(backbone_dir)
    return config, tokenizer, TextClassifier(bert, config.head, 2)


@pytest.mark.parametrize("native_bf16, cpu_auto", [(True, torch.bfloat16), (False, None)])
def test_amp_plans(monkeypatch, native_bf16, cpu_auto):
    monkeypatch.setattr("kit.models.transformer.train.cpu_multiplies_bf16", lambda: native_bf16)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_amp("auto", cpu).dtype is cpu_auto and not resolve_amp("auto", cpu).loss_scaling
    assert resolve_amp("off", cpu).dtype is None
    assert resolve_amp("bf16", cpu).dtype == torch.bfloat16 and not resolve_amp("bf16", cpu).loss_scaling
    assert resolve_amp("fp16", cuda).loss_scaling
    with pytest.raises(ValueError, match="fp16 needs a CUDA"):
        resolve_amp("fp16", cpu)
    # A kept model trained in fp16 on a GPU still predicts on a CPU (as 'auto' would there); other settings hold.
    assert prediction_amp("fp16", cpu) == resolve_amp("auto", cpu) and prediction_amp("fp16", cuda).loss_scaling
    assert prediction_amp("off", cpu).dtype is None
    off, bf16 = resolve_amp("off", cpu), resolve_amp("bf16", cpu)
    assert (pad_multiple(cpu, off), pad_multiple(cpu, bf16), pad_multiple(cuda, off)) == (1, 8, 8)


@pytest.mark.parametrize("amp, precision", [("bf16", "bf16 autocast"), ("off", "fp32")])
def test_cpu_training_uses_the_kits_kernels_logs_them_and_predicts_with_the_backbones_own(backbone_dir, tmp_path,
                                                                                        toy, amp, precision):
    config, tokenizer, model = setup(backbone_dir, epochs=1, amp=amp)
    attention_seen = []
    model.backbone.register_forward_pre_hook(
        lambda module, args: attention_seen.append((module.training, module.config._attn_implementation)))
    texts, y = toy(16, seed=1)
    lines = []
    train(model, config, encode(tokenizer, texts, 24, "t"), y, 0, 0, tmp_path, "run", lines.append)
    predict(model, encode(tokenizer, texts, 24, "t"), 8, 0, resolve_amp(amp, torch.device("cpu")))
    assert set(attention_seen) == {(True, ATTENTION), (False, "sdpa")}
    assert model.backbone.config._attn_implementation == "sdpa"  # put back after training
    assert lines[0] == (f"training precision {precision} on cpu (amp '{amp}'); attention: eager with mask dropout "
                        f"({ATTENTION}); dropout: 16-bit masks (kernels.MaskDropout)")


def test_training_learns_with_accumulation_and_counts_steps(backbone_dir, tmp_path, toy):
    config, tokenizer, model = setup(backbone_dir, epochs=3, grad_accum=3, head="mean")
    texts, y = toy(80, seed=0)
    lines = []
    outcome = train(model, config, encode(tokenizer, texts, 24, "t"), y, 0, 0, tmp_path, "run", lines.append)
    assert outcome.state.step == 3 * 4  # 10 batches per epoch in groups of 3 -> 4 optimizer steps
    losses = [record["train_loss"] for record in outcome.state.history]
    assert losses[-1] < losses[0]
    assert any(line.startswith("epoch 3/3: 10/10 (100%)") for line in lines)
    assert (tmp_path / CHECKPOINT).is_file()


def test_bf16_autocast_runs_on_the_cpu(backbone_dir, tmp_path, toy):
    config, tokenizer, model = setup(backbone_dir, epochs=1, amp="bf16", adversarial="fgm")
    dtypes = set()
    model.classifier.register_forward_hook(lambda module, args, output: dtypes.add(output.dtype))
    texts, y = toy(16, seed=1)
    ids = encode(tokenizer, texts, 24, "t")
    outcome = train(model, config, ids, y, 0, 0, tmp_path, "run", lambda line: None)
    assert dtypes == {torch.bfloat16} and np.isfinite(outcome.state.history[0]["train_loss"])
    logits = predict(model, ids, 4, 0, resolve_amp("bf16", torch.device("cpu")))
    assert logits.dtype == np.float32 and np.isfinite(logits).all()


def test_predict_restores_input_order(backbone_dir, toy):
    config, tokenizer, model = setup(backbone_dir, head="bigru")
    ids = encode(tokenizer, toy(13, seed=2)[0], 24, "t")
    off = resolve_amp("off", torch.device("cpu"))
    batched = predict(model, ids, 4, 0, off)
    one_by_one = np.concatenate([predict(model, [row], 1, 0, off) for row in ids])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert model.training  # predict puts the mode back


def test_inner_early_stopping_ends_on_the_best_epochs_weights(backbone_dir, tmp_path, toy):
    config, tokenizer, model = setup(backbone_dir, epochs=4, patience=1, epoch_policy="inner_early_stopping")
    texts, y = toy(48, seed=3)
    inner_texts, inner_y = toy(16, seed=4)
    inner = InnerSet(encode(tokenizer, inner_texts, 24, "t"), inner_y)
    outcome = train(model, config, encode(tokenizer, texts, 24, "t"), y, 0, 0, tmp_path, "run", lambda line: None,
                    inner=inner)
    state = outcome.state
    scores = [record["inner_macro_f1"] for record in state.history]
    assert state.best_epoch == 1 + int(np.argmax(scores)) and state.best_score == max(scores)
    assert state.stopped_early == (len(scores) < 4)
    best = torch.load(tmp_path / BEST_WEIGHTS, weights_only=True)["model"]
    assert all(torch.equal(value, best[name]) for name, value in model.state_dict().items())


def test_a_checkpoint_of_another_run_is_not_resumed(backbone_dir, tmp_path, toy):
    config, tokenizer, model = setup(backbone_dir, epochs=1)
    texts, y = toy(16, seed=5)
    ids = encode(tokenizer, texts, 24, "t")
    train(model, config, ids, y, 0, 0, tmp_path, "first-run", lambda line: None)
    lines = []
    outcome = train(model, config, ids, y, 0, 0, tmp_path, "other-run", lines.append)
    assert outcome.resumed_from is None and "another config or data" in lines[0]
    resumed = train(model, config, ids, y, 0, 0, tmp_path, "other-run", lambda line: None)
    assert resumed.resumed_from == {"epoch": 1, "batch": 0} and resumed.samples == 0  # already finished


class BackbonePasses:
    """Counts the backbone's forward passes per epoch; pass its log to train() (each epoch ends with a 'done' line)."""

    def __init__(self, model):
        self.per_epoch = [0]
        model.backbone.register_forward_pre_hook(self.count)

    def count(self, module, args) -> None:
        self.per_epoch[-1] += 1

    def log(self, line: str) -> None:
        if " done: " in line:
            self.per_epoch.append(0)


def test_pgd_attacks_through_the_loop_once_the_embeddings_train(backbone_dir, tmp_path, toy):
    texts, y = toy(24, seed=6)
    passes, weights = {}, {}
    for adversarial in ("pgd", None):
        config, tokenizer, model = setup(backbone_dir, epochs=2, grad_accum=2, adversarial=adversarial, adv_steps=2,
                                         gradual_unfreeze=1)
        counter = BackbonePasses(model)
        outcome = train(model, config, encode(tokenizer, texts, 24, "t"), y, 0, 0, tmp_path / str(adversarial),
                        "run", counter.log)
        assert outcome.state.step == 2 * 2  # 3 batches an epoch in groups of 2
        assert all(np.isfinite(record["train_loss"]) for record in outcome.state.history)
        passes[adversarial], weights[adversarial] = counter.per_epoch[:-1], model.state_dict()
    # One pass per micro-batch, plus adv_steps once the embeddings train: gradual unfreezing opens the top one
    # of the 2 layers in epoch 1, and the bottom one with the embeddings in epoch 2.
    assert passes == {"pgd": [3, 3 * (1 + 2)], None: [3, 3]}
    assert not torch.equal(weights["pgd"]["classifier.weight"], weights[None]["classifier.weight"])
