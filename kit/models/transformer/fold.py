"""One fold of the transformer family: load, tokenize, train under the epoch policy, predict, clean up.

The held-out (OOF) fold is only predicted: the epoch is either fixed or chosen by early stopping on an inner
split carved from the training folds, and `info` says which. The trained model comes back as a TransformerPredictor,
which the fold job keeps (save_pretrained + head) when keep_models asks, and load_predictor reads back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from kit.artifacts import read_json, write_json
from kit.metrics import macro_f1
from kit.models import FoldData, FoldResult
from kit.models.transformer.backbone import load_backbone
from kit.models.transformer.checkpoint import fingerprint
from kit.models.transformer.config import TransformerConfig, config_to_params, parse_config, with_built_backbone
from kit.progress import stage
from kit.settings import identity
from kit.models.transformer.data import encode, inner_split
from kit.models.transformer.heads import TextClassifier
from kit.models.transformer.numpy_predictor import CLASSIFIER_CONFIG, HEAD_WEIGHTS
from kit.models.transformer.train import BEST_WEIGHTS, CHECKPOINT, InnerSet, prediction_amp, predict, resolve_amp, train


def training_settings(config: TransformerConfig, n_classes: int) -> dict:
    """The settings that decide the trained weights (not checkpoint cadence, keeping files or predict batch size)."""
    return {**identity(config), "n_classes": n_classes}


def check_labels(data: FoldData) -> None:
    if len(data.train_y) != len(data.train_text):
        raise ValueError(f"fold data: {len(data.train_text)} training texts but {len(data.train_y)} labels")
    bad = np.flatnonzero((data.train_y < 0) | (data.train_y >= data.n_classes))
    if len(bad):
        raise ValueError(f"fold data: train_y row {bad[0]} is {data.train_y[bad[0]]}, outside 0..{data.n_classes - 1}")


def save_fold_model(model: TextClassifier, tokenizer, config: TransformerConfig, out_dir: Path) -> None:
    """The backbone and tokenizer save_pretrained-style, plus the head weights and the config that rebuilds it."""
    out_dir = Path(out_dir)
    model.backbone.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    torch.save({"head": model.head.state_dict(), "classifier": model.classifier.state_dict()}, out_dir / HEAD_WEIGHTS)
    write_json(out_dir / CLASSIFIER_CONFIG, {"params": config_to_params(config),
                                            "n_classes": model.classifier.out_features})


def load_fold_model(model_dir: Path):
    """(model, tokenizer, config) of a fold model saved by save_fold_model, on the CPU in eval mode: a plain BERT
    backbone without importing transformers (kit.models.transformer.lite: the same numbers, 3 s less CPU at a cold
    start), any other through transformers."""
    from kit.models.transformer.lite import load_lite_backbone

    model_dir = Path(model_dir)
    saved = read_json(model_dir / CLASSIFIER_CONFIG)
    config = parse_config(saved["params"])
    tokenizer, backbone = load_lite_backbone(model_dir) or load_backbone(model_dir)
    model = TextClassifier(backbone, config.head, saved["n_classes"])
    weights = torch.load(model_dir / HEAD_WEIGHTS, map_location="cpu", weights_only=True)
    model.head.load_state_dict(weights["head"])
    model.classifier.load_state_dict(weights["classifier"])
    return model.eval(), tokenizer, config


def load_checked_backbone(source: str, max_len: int, *, attention_dropout: float | None):
    """(tokenizer, backbone) of a hub name or folder, to train with attention_dropout (load_backbone); a ValueError
    when max_len exceeds the backbone's positions or its tokenizer cannot pad."""
    tokenizer, backbone = load_backbone(source, attention_dropout=attention_dropout,
                                        setting="the model entry's attention_dropout")
    max_positions = getattr(backbone.config, "max_position_embeddings", None)
    if max_positions is not None and max_len > max_positions:
        raise ValueError(f"transformer config: 'max_len' {max_len} exceeds the backbone's {max_positions} positions "
                         f"({source})")
    if tokenizer.pad_token_id is None:
        raise ValueError(f"backbone {source!r}: its tokenizer has no padding token")
    return tokenizer, backbone


@dataclass
class TransformerPredictor:
    """A fold's fine-tuned classifier and its tokenizer: logits [n x C] for any texts, predicted as the fold did
    (truncated to max_len, length-sorted batches of predict_batch_size)."""

    model: TextClassifier
    tokenizer: object
    config: TransformerConfig

    def predict(self, texts: list[str]) -> np.ndarray:
        token_ids = encode(self.tokenizer, list(texts), self.config.backbone.max_len, "texts")
        amp = prediction_amp(self.config.schedule.amp, next(self.model.parameters()).device)
        return predict(self.model, token_ids, self.config.schedule.predict_batch_size, self.tokenizer.pad_token_id,
                       amp)

    def save(self, folder: Path) -> None:
        save_fold_model(self.model, self.tokenizer, self.config, folder)


def load_predictor(folder: Path) -> TransformerPredictor:
    """The TransformerPredictor a fold kept in folder, on the CPU."""
    return TransformerPredictor(*load_fold_model(folder))


def run_fold(
    config: TransformerConfig,
    data: FoldData,
    seed: int,
    workdir: Path,
    log: Callable[[str], None] = print,
    on_step: Callable[[int], None] | None = None,
) -> FoldResult:
    """Train on data.train_*, predict data.valid_text and data.test_text; on_step(step) is a hook for tests."""
    check_labels(data)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = resolve_amp(config.schedule.amp, device)
    torch.manual_seed(seed)  # the head's initial weights, and the dropout stream after them

    tokenizer, backbone = load_checked_backbone(config.backbone.backbone, config.backbone.max_len,
                                                attention_dropout=config.backbone.attention_dropout)
    model = TextClassifier(backbone, config.head, data.n_classes).to(device)

    started = time.perf_counter()
    max_len = config.backbone.max_len
    with stage(log, "tokenizing the fold's texts"):
        train_ids = encode(tokenizer, data.train_text, max_len, "train_text")
        valid_ids = encode(tokenizer, data.valid_text, max_len, "valid_text")
        test_ids = encode(tokenizer, data.test_text, max_len, "test_text")
    log(f"tokenized {len(train_ids)} train, {len(valid_ids)} valid, {len(test_ids)} test texts "
        f"in {time.perf_counter() - started:.1f}s; device {device}, amp {amp.name}")

    run_id = fingerprint(training_settings(config, data.n_classes), seed, data.train_text, data.train_y)
    pool_ids = encode(tokenizer, data.pool_text, max_len, "pool_text")
    result = train_and_predict(model, config, EncodedFold(train_ids, valid_ids, test_ids, pool_ids),
                               tokenizer.pad_token_id, data, seed, workdir, run_id, log, on_step)
    result.info = {"family": "transformer", "backbone": config.backbone.backbone, "head": config.head.head,
                   **result.info, "config": config_to_params(config)}
    result.predictor = TransformerPredictor(model, tokenizer, config)
    return result


@dataclass
class EncodedFold:
    """A fold's texts as token ids, one list [L_i] per text, unpadded: what train() and predict() read."""

    train: list
    valid: list
    test: list
    pool: list  # empty unless the fold labels the pseudo-label pool


def train_and_predict(model, config, encoded: EncodedFold, pad_id: int, data: FoldData, seed: int, workdir: Path,
                      run_id: str, log: Callable[[str], None], on_step: Callable[[int], None] | None = None
                      ) -> FoldResult:
    """Train a TextClassifier under the epoch policy (the one loop), predict the held-out fold, the test set and
    the pool, remove the checkpoints unless kept. config: a TransformerConfig or a family's settings with the same
    groups; run_id: the fingerprint a checkpoint must carry to be resumed. info: the epoch policy and timings."""
    device = next(model.parameters()).device
    amp = resolve_amp(config.schedule.amp, device)
    early_stopping = config.epoch_policy.epoch_policy == "inner_early_stopping"
    if early_stopping:
        fit_rows, inner_rows = inner_split(data.train_y, config.epoch_policy.inner_fraction, seed)
        inner = InnerSet([encoded.train[r] for r in inner_rows], data.train_y[inner_rows])
    else:
        fit_rows, inner = np.arange(len(encoded.train)), None
    outcome = train(model, config, [encoded.train[r] for r in fit_rows], data.train_y[fit_rows], pad_id, seed,
                    workdir, run_id, log, inner, on_step)

    started = time.perf_counter()
    batch_size = config.schedule.predict_batch_size
    valid_logits = predict(model, encoded.valid, batch_size, pad_id, amp, log, "predicting valid")
    test_logits = predict(model, encoded.test, batch_size, pad_id, amp, log, "predicting test")
    pool_logits = None
    if encoded.pool:
        pool_logits = predict(model, encoded.pool, batch_size, pad_id, amp, log, "predicting pool")
    predict_seconds = time.perf_counter() - started
    if len(data.valid_y) == len(encoded.valid) and len(encoded.valid):
        log(f"held-out fold macro-F1 {macro_f1(data.valid_y, valid_logits.argmax(1), data.n_classes):.4f} "
            f"(logged only: nothing was chosen on it)")
    if not config.output.keep_checkpoints:
        for name in (CHECKPOINT, BEST_WEIGHTS):
            (workdir / name).unlink(missing_ok=True)

    state = outcome.state
    policy = {"epoch_policy": config.epoch_policy.epoch_policy, "max_epochs": config.schedule.epochs,
              "epochs_run": state.epoch}
    if early_stopping:
        policy.update(inner_size=len(inner_rows), inner_fraction=config.epoch_policy.inner_fraction,
                      chosen_epoch=state.best_epoch, inner_macro_f1=state.best_score,
                      stopped_early=state.stopped_early)
    else:
        policy.update(chosen_epoch=config.schedule.epochs)
    info = {
        **policy,
        "history": state.history,
        "train_rows": len(fit_rows),
        "optimizer_steps": state.step,
        "device": str(device),
        "amp": amp.name,
        "resumed_from": outcome.resumed_from,
        "train_seconds": round(outcome.seconds, 2),
        "train_samples_per_s": round(outcome.samples / max(outcome.seconds, 1e-9), 2),
        "predict_seconds": round(predict_seconds, 2),
    }
    return FoldResult(valid_logits=valid_logits, test_logits=test_logits, info=info, pool_logits=pool_logits)


def fit_predict(config: TransformerConfig, data: FoldData, seed: int, workdir: Path,
                log: Callable[[str], None] = print) -> FoldResult:
    """The model family's entry point (kit.models.fit_predict), with the model's entry parsed; a built backbone is
    read from the folder the fold job was given."""
    return run_fold(with_built_backbone(config, data.inputs), data, seed, workdir, log)
