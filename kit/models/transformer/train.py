"""The one training loop for every backbone and head, and the length-sorted prediction.

train() runs AdamW with layer-wise LR decay, warmup + linear decay, optional gradual unfreezing, FGM/PGD,
gradient accumulation and clipping under torch.amp autocast, over length-bucketed, dynamically padded batches.
It writes a checkpoint (model, optimizer, scheduler, scaler, RNG, position in the epoch) into the fold's
workdir at every epoch end and on the configured cadence, and a run that finds a checkpoint of the same
fingerprint resumes from it, ending with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from kit.metrics import macro_f1
from kit.models.transformer import checkpoint
from kit.models.transformer.adversarial import fgm_backward, pgd_backward
from kit.models.transformer.config import TransformerConfig
from kit.models.transformer.data import bucketed_batches, pad_batch, sorted_batches
from kit.models.transformer.losses import class_weight_vector, make_loss
from kit.models.transformer.optim import apply_gradual_unfreezing, layerwise_param_groups, warmup_linear_schedule
from kit.models.transformer.progress import EpochProgress

CHECKPOINT = "checkpoint.pt"
BEST_WEIGHTS = "best.pt"


@dataclass
class AmpPlan:
    dtype: torch.dtype | None  # autocast dtype; None = full precision
    loss_scaling: bool  # fp16 gradients underflow without a GradScaler; bf16 has fp32's range

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_amp(setting: str, device: torch.device) -> AmpPlan:
    """The config's amp ('auto', 'off', 'bf16', 'fp16') on this device."""
    if setting == "auto":
        if device.type != "cuda":
            return AmpPlan(None, False)  # CPU bf16 autocast is usually slower than fp32
        setting = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if setting == "off":
        return AmpPlan(None, False)
    if setting == "fp16" and device.type != "cuda":
        raise ValueError("transformer config: 'amp' fp16 needs a CUDA device (use bf16 or off on the CPU)")
    return AmpPlan(torch.bfloat16 if setting == "bf16" else torch.float16, setting == "fp16")


def autocast(device: torch.device, amp: AmpPlan):
    return torch.autocast(device.type, dtype=amp.dtype) if amp.dtype is not None else nullcontext()


def pad_multiple(device: torch.device) -> int:
    return 8 if device.type == "cuda" else 1  # tensor cores want multiples of 8; the CPU gains nothing


def fused_adamw_supported(device: torch.device) -> bool:
    """The fused AdamW kernel updates all tensors in one pass (about 8x the per-tensor loop's speed on a CPU);
    torch has it for CUDA, and for the CPU since 2.4."""
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return device.type == "cuda" or (device.type == "cpu" and (major, minor) >= (2, 4))


def batch_tensors(token_ids: list[list[int]], rows: np.ndarray, pad_id: int, device: torch.device):
    """input_ids, attention_mask [B x L] on `device` for the given rows, padded to the batch's longest."""
    input_ids, attention_mask = pad_batch([token_ids[r] for r in rows], pad_id, pad_multiple(device))
    return torch.from_numpy(input_ids).to(device), torch.from_numpy(attention_mask).to(device)


def predict(model, token_ids: list[list[int]], batch_size: int, pad_id: int, amp: AmpPlan) -> np.ndarray:
    """np array [len(token_ids) x C] float32: logits in input order, from batches sorted by length."""
    device = next(model.parameters()).device
    logits = np.zeros((len(token_ids), model.classifier.out_features), dtype=np.float32)
    lengths = np.array([len(ids) for ids in token_ids])
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(device, amp):
        for rows in sorted_batches(lengths, batch_size):
            input_ids, attention_mask = batch_tensors(token_ids, rows, pad_id, device)
            logits[rows] = model(input_ids, attention_mask)[0].float().cpu().numpy()
    model.train(was_training)
    return logits


@dataclass
class TrainState:
    """Where training stands; every checkpoint saves it."""

    epoch: int = 0  # the epoch in progress; epochs run once training is over
    batch: int = 0  # micro-batches of `epoch` already trained
    step: int = 0  # optimizer steps so far
    loss_sum: float = 0.0  # this epoch's summed micro-batch losses, for the running mean
    loss_batches: int = 0
    history: list = field(default_factory=list)  # one dict per finished epoch: epoch, train_loss[, inner_macro_f1]
    best_epoch: int = 0  # inner early stopping only: the epoch with the best inner macro-F1
    best_score: float = -1.0
    stopped_early: bool = False


@dataclass
class TrainOutcome:
    state: TrainState
    resumed_from: dict | None  # {'epoch', 'batch'} (0-based epoch) when a checkpoint was resumed
    seconds: float  # training time in this process
    samples: int  # texts trained on in this process (adversarial passes not counted)


@dataclass
class InnerSet:
    """The inner early-stopping split: token ids and labels [n_inner]."""

    token_ids: list[list[int]]
    y: np.ndarray


def _restore(ckpt: dict, model, optimizer, scheduler, scaler) -> TrainState:
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None:
        scaler.load_state_dict(ckpt["scaler"])
    checkpoint.restore_rng(ckpt["rng"])
    return TrainState(**ckpt["state"])


def train(
    model,
    config: TransformerConfig,
    token_ids: list[list[int]],
    y: np.ndarray,
    pad_id: int,
    seed: int,
    workdir: Path,
    fingerprint: str,
    log: Callable[[str], None] = print,
    inner: InnerSet | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainOutcome:
    """Train `model` (a TextClassifier on its device) on token_ids / y [n] class indices, resuming when it can.

    With `inner`, each epoch is scored on it (macro-F1), training stops after `patience` epochs without a better
    score, and the model ends with the best epoch's weights. on_step(step) runs after every optimizer step.
    """
    schedule, optim_config = config.schedule, config.optimizer
    workdir = Path(workdir)
    device = next(model.parameters()).device
    amp = resolve_amp(schedule.amp, device)
    scaler = torch.amp.GradScaler(device.type) if amp.loss_scaling else None
    optimizer = torch.optim.AdamW(layerwise_param_groups(model, optim_config), fused=fused_adamw_supported(device))
    batches_per_epoch = math.ceil(len(token_ids) / schedule.batch_size)
    total_steps = schedule.epochs * math.ceil(batches_per_epoch / schedule.grad_accum)
    scheduler = warmup_linear_schedule(optimizer, total_steps, optim_config.warmup_ratio)
    n_classes = model.classifier.out_features
    loss_fn = make_loss(config.loss, class_weight_vector(config.loss.class_weights, y, n_classes))
    embedding = model.backbone.get_input_embeddings().weight
    lengths = np.array([len(ids) for ids in token_ids])

    state, resumed_from = TrainState(), None
    saved = checkpoint.load(workdir / CHECKPOINT)
    if saved is not None and saved["fingerprint"] != fingerprint:
        log(f"checkpoint in {workdir} is from another config or data; starting afresh")
        for name in (CHECKPOINT, BEST_WEIGHTS):
            (workdir / name).unlink(missing_ok=True)
    elif saved is not None:
        state = _restore(saved, model, optimizer, scheduler, scaler)
        resumed_from = {"epoch": state.epoch, "batch": state.batch}
        log(f"resuming from checkpoint: epoch {state.epoch + 1}, batch {state.batch}, step {state.step}")
    del saved

    def save_checkpoint() -> None:
        checkpoint.save_atomic(workdir / CHECKPOINT, {
            "fingerprint": fingerprint, "state": asdict(state), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": None if scaler is None else scaler.state_dict(), "rng": checkpoint.rng_state(),
        })

    def backward(loss: torch.Tensor) -> None:
        (loss if scaler is None else scaler.scale(loss)).backward()

    def micro_batch(rows: np.ndarray, group_size: int) -> float:
        """Forward/backward of one micro-batch (plus its adversarial pass); its mean loss."""
        input_ids, attention_mask = batch_tensors(token_ids, rows, pad_id, device)
        labels = torch.from_numpy(y[rows]).to(device)

        def loss_here() -> torch.Tensor:
            with autocast(device, amp):
                sample_logits = model(input_ids, attention_mask)  # [S x B x C]
            # All dropout samples in one call: the mean over S x B rows is the mean of the S samples' losses.
            return loss_fn(sample_logits.flatten(0, 1), labels.repeat(sample_logits.shape[0]))

        attacking = config.adversarial.adversarial is not None and embedding.requires_grad
        earlier_grad = embedding.grad.clone() if attacking and embedding.grad is not None else None
        loss = loss_here()
        backward(loss / group_size)
        if attacking:
            grad = embedding.grad if earlier_grad is None else embedding.grad - earlier_grad  # this batch's only

            def adversarial_loss() -> torch.Tensor:
                return loss_here() / group_size

            if config.adversarial.adversarial == "fgm":
                fgm_backward(embedding, grad, config.adversarial.adv_epsilon, adversarial_loss, backward)
            else:
                pgd_backward(embedding, grad, config.adversarial.adv_epsilon, config.adversarial.adv_alpha,
                             config.adversarial.adv_steps, trainable, adversarial_loss, backward)
        return loss.item()

    def optimizer_step() -> None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        if optim_config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None],
                                           optim_config.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    def checkpoint_due(last_saved: float) -> bool:
        every, minutes = config.output.checkpoint_every_steps, config.output.checkpoint_minutes
        by_steps = every is not None and state.step % every == 0
        return by_steps or (minutes is not None and time.monotonic() - last_saved >= 60 * minutes)

    def end_epoch() -> None:
        record = {"epoch": state.epoch + 1, "train_loss": state.loss_sum / max(state.loss_batches, 1)}
        summary = f"epoch {state.epoch + 1}/{schedule.epochs} done: train loss {record['train_loss']:.4f}"
        if inner is not None:
            inner_pred = predict(model, inner.token_ids, schedule.predict_batch_size, pad_id, amp).argmax(1)
            record["inner_macro_f1"] = score = macro_f1(inner.y, inner_pred, n_classes)
            if score > state.best_score:  # ties keep the earlier, cheaper epoch
                state.best_score, state.best_epoch = score, state.epoch + 1
                checkpoint.save_atomic(workdir / BEST_WEIGHTS, {"fingerprint": fingerprint,
                                                                 "epoch": state.best_epoch,
                                                                 "model": model.state_dict()})
            state.stopped_early = state.epoch + 1 - state.best_epoch >= config.epoch_policy.patience
            summary += (f", inner macro-F1 {score:.4f} (best {state.best_score:.4f} at epoch {state.best_epoch})"
                        + ("; stopping early" if state.stopped_early else ""))
        log(summary)
        state.history.append(record)
        state.epoch, state.batch, state.loss_sum, state.loss_batches = state.epoch + 1, 0, 0.0, 0

    started, samples, last_saved = time.perf_counter(), 0, time.monotonic()
    model.train()
    while state.epoch < schedule.epochs and not state.stopped_early:
        trainable_layers = apply_gradual_unfreezing(model, state.epoch, optim_config.gradual_unfreeze)
        trainable = [p for p in model.parameters() if p.requires_grad]  # PGD's gradients to set aside; fixed per epoch
        if optim_config.gradual_unfreeze:
            log(f"epoch {state.epoch + 1}: top {trainable_layers} encoder layers trainable")
        batches = bucketed_batches(lengths, schedule.batch_size, schedule.bucket_batches, seed, state.epoch)
        with EpochProgress(log, state.epoch, schedule.epochs, len(batches), state.batch) as progress:
            while state.batch < len(batches):
                group = batches[state.batch : state.batch + schedule.grad_accum]
                for rows in group:
                    state.loss_sum += micro_batch(rows, len(group))
                    state.loss_batches += 1
                optimizer_step()
                state.batch, state.step = state.batch + len(group), state.step + 1
                group_samples = sum(len(rows) for rows in group)
                samples += group_samples
                top_lr = optim_config.lr * scheduler.get_last_lr()[0] / scheduler.base_lrs[0]  # lr x schedule factor
                progress.update(state.batch, group_samples, state.loss_sum / state.loss_batches, top_lr)
                if state.batch < len(batches) and checkpoint_due(last_saved):
                    save_checkpoint()
                    last_saved = time.monotonic()
                if on_step is not None:
                    on_step(state.step)
        end_epoch()
        save_checkpoint()
        last_saved = time.monotonic()
    seconds = time.perf_counter() - started
    if inner is not None:
        model.load_state_dict(checkpoint.load(workdir / BEST_WEIGHTS)["model"])
    return TrainOutcome(state=state, resumed_from=resumed_from, seconds=seconds, samples=samples)
