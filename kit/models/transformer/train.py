"""The one training loop for every backbone and head, and the length-sorted prediction.

TrainingLoop is what fine-tuning (Trainer, here) and domain post-training (post_train.PostTrainer) share: gradient
accumulation over length-bucketed, dynamically padded micro-batches under torch.amp autocast, one Optimization step
(AdamW, warmup + linear decay, clipping, loss scaling) per group, progress lines, and the resume contract: a
checkpoint (model, optimizer, scheduler, scaler, RNG, position in the epoch) in the workdir at every epoch end and
on the configured cadence, and a run that finds a checkpoint of the same fingerprint resumes from it, ending with
the same weights as an uninterrupted run.

train() fine-tunes a TextClassifier with layer-wise LR decay, optional gradual unfreezing and FGM/PGD.
The default precision is bf16 on CUDA and on CPUs that multiply bf16 natively, fp32 on other CPUs; on a CPU,
training runs with kernels.py's dropout and attention. Each run logs its precision and kernels in one line.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from kit.metrics import macro_f1
import kit.models.transformer.checkpoint as checkpoint
from kit.models.transformer.adversarial import fgm_backward, pgd_backward
from kit.models.transformer.config import TransformerConfig
from kit.models.transformer.data import bucketed_batches, pad_batch, sorted_batches
from kit.models.transformer.kernels import cpu_training_kernels, describe
from kit.models.transformer.losses import class_weight_vector, make_loss
from kit.models.transformer.optim import Optimization, apply_gradual_unfreezing, layerwise_param_groups
from kit.models.transformer.progress import EpochProgress
from kit.progress import Progress

CHECKPOINT = "checkpoint.pt"
BEST_WEIGHTS = "best.pt"
@dataclass
class AmpPlan:
    dtype: torch.dtype | None  # autocast dtype; None = full precision
    loss_scaling: bool  # fp16 gradients underflow without a GradScaler; bf16 has fp32's range

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def cpu_multiplies_bf16() -> bool:
    """Whether the CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), which oneDNN's bf16 matmuls use."""
    # torch.cpu's feature probes are private; a torch without them gets fp32, which is always correct.
    probes = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return any(probe is not None and probe() for probe in probes)


def resolve_amp(setting: str, device: torch.device) -> AmpPlan:
    """The config's amp ('auto', 'off', 'bf16', 'fp16') on this device."""
    if setting == "auto":
        if device.type == "cuda":
            setting = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:  # without the instructions bf16 is emulated, slower than fp32 (bench/bench_transformer.py)
            setting = "bf16" if device.type == "cpu" and cpu_multiplies_bf16() else "off"
    if setting == "off":
        return AmpPlan(None, False)
    if setting == "fp16" and device.type != "cuda":
        raise ValueError("transformer config: 'amp' fp16 needs a CUDA device (use bf16 or off on the CPU)")
    return AmpPlan(torch.bfloat16 if setting == "bf16" else torch.float16, setting == "fp16")


def prediction_amp(setting: str, device: torch.device) -> AmpPlan:
    """The amp a kept fold model predicts with on `device`: its training setting, except that fp16 (CUDA only) falls
    back to 'auto' on a machine without CUDA, so a model trained on a GPU still predicts on a CPU."""
    return resolve_amp("auto" if setting == "fp16" and device.type != "cuda" else setting, device)


def autocast(device: torch.device, amp: AmpPlan):
    return torch.autocast(device.type, dtype=amp.dtype) if amp.dtype is not None else nullcontext()


def pad_multiple(device: torch.device, amp: AmpPlan) -> int:
    """Batch widths are rounded up to a multiple of this: 8 for CUDA's tensor cores, and for bf16 on the CPU, whose
    oneDNN matmuls cache a compiled kernel per shape (fewer widths: about 100 MB less, same speed); else 1."""
    return 8 if device.type == "cuda" or amp.dtype is not None else 1


def batch_tensors(token_ids: list[list[int]], rows: np.ndarray, pad_id: int, device: torch.device, amp: AmpPlan):
    """input_ids, attention_mask [B x L] on `device` for the given rows, padded to the batch's longest."""
    input_ids, attention_mask = pad_batch([token_ids[r] for r in rows], pad_id, pad_multiple(device, amp))
    return torch.from_numpy(input_ids).to(device), torch.from_numpy(attention_mask).to(device)


def predict(model, token_ids: list[list[int]], batch_size: int, pad_id: int, amp: AmpPlan,
            log: Callable[[str], None] | None = None, stage: str = "predicting") -> np.ndarray:
    """np array [len(token_ids) x C] float32: logits in input order, from batches sorted by length. With log, progress
    lines (kit/progress.py) name the stage: a pool of unlabelled posts on a CPU takes minutes."""
    device = next(model.parameters()).device
    progress = Progress(log, stage, len(token_ids), "texts") if log is not None else None
    logits = np.zeros((len(token_ids), model.classifier.out_features), dtype=np.float32)
    lengths = np.array([len(ids) for ids in token_ids])
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(device, amp):
        for rows in sorted_batches(lengths, batch_size):
            input_ids, attention_mask = batch_tensors(token_ids, rows, pad_id, device, amp)
            logits[rows] = model(input_ids, attention_mask)[0].float().cpu().numpy()
            if progress is not None:
                progress.advance(len(rows))
    model.train(was_training)
    return logits


@dataclass
class LoopSettings:
    """What a TrainingLoop reads: fine-tuning gathers it from its config's groups, post-training from its spec."""

    epochs: int
    batch_size: int  # texts per micro-batch
    grad_accum: int  # micro-batches per optimizer step
    bucket_batches: int  # batches drawn from one length bucket (data.bucketed_batches)
    amp: str  # 'auto', 'off', 'bf16' or 'fp16' (resolve_amp)
    lr: float  # the top layer's learning rate, which progress lines show
    warmup_ratio: float
    max_grad_norm: float | None
    checkpoint_every_steps: int | None
    checkpoint_minutes: float | None


@dataclass
class LoopState:
    """Where a training loop stands; every checkpoint saves it."""

    epoch: int = 0  # the epoch in progress; epochs run once training is over
    batch: int = 0  # micro-batches of `epoch` already trained
    step: int = 0  # optimizer steps so far
    loss_sum: float = 0.0  # this epoch's summed micro-batch losses, for the running mean
    loss_batches: int = 0
    epoch_seconds: float = 0.0  # this epoch's training time so far, across resumes
    history: list = field(default_factory=list)  # one dict per finished epoch (each loop says what it holds)

    def next_epoch(self) -> None:
        self.epoch, self.batch, self.loss_sum, self.loss_batches, self.epoch_seconds = self.epoch + 1, 0, 0.0, 0, 0.0


class TrainingLoop(ABC):
    """The loop every transformer training shares (see the module docstring). A subclass gives micro_batch() (the
    forward/backward of one micro-batch) and end_epoch() (its record of the epoch), and calls resume() and then
    train_to_end().

    other_run says, in the log, what a checkpoint of another fingerprint comes from; run_files are the workdir's
    files that belong to one run, deleted with such a checkpoint.
    """

    other_run = "config or data"
    run_files: tuple[str, ...] = (CHECKPOINT,)

    def __init__(self, model, backbone, param_groups: list[dict], settings: LoopSettings, state: LoopState,
                 lengths: np.ndarray, seed: int, workdir: Path, fingerprint: str, log: Callable[[str], None]):
        """backbone: the transformers model inside `model` whose attention CPU training swaps (kernels.py);
        lengths [n]: each training text's token count."""
        self.model, self.backbone, self.settings, self.state, self.lengths = model, backbone, settings, state, lengths
        self.seed, self.workdir, self.fingerprint, self.log = seed, Path(workdir), fingerprint, log
        self.device = next(model.parameters()).device
        self.amp = resolve_amp(settings.amp, self.device)
        steps_per_epoch = math.ceil(math.ceil(len(lengths) / settings.batch_size) / settings.grad_accum)
        self.optimization = Optimization(param_groups, self.device, self.amp.loss_scaling,
                                         settings.epochs * steps_per_epoch, settings.warmup_ratio,
                                         settings.max_grad_norm)
        self.resumed_from: dict | None = None  # {'epoch', 'batch'} (0-based epoch) once a checkpoint is resumed
        self.last_saved = time.monotonic()

    def resume(self) -> None:
        """Load the workdir's checkpoint if it belongs to this run; delete it (and the run's other files) if not."""
        saved = checkpoint.load(self.workdir / CHECKPOINT)
        if saved is None:
            return
        if saved["fingerprint"] != self.fingerprint:
            self.log(f"checkpoint in {self.workdir} is from another {self.other_run}; starting afresh")
            for name in self.run_files:
                (self.workdir / name).unlink(missing_ok=True)
            return
        self.model.load_state_dict(saved["model"])
        self.optimization.load_state_dict(saved)
        checkpoint.restore_rng(saved["rng"])
        self.state = state = type(self.state)(**saved["state"])
        self.resumed_from = {"epoch": state.epoch, "batch": state.batch}
        self.log(f"resuming from checkpoint: epoch {state.epoch + 1}, batch {state.batch}, step {state.step}")

    def save_checkpoint(self) -> None:
        checkpoint.save_atomic(self.workdir / CHECKPOINT, {
            "fingerprint": self.fingerprint, "state": asdict(self.state), "model": self.model.state_dict(),
            **self.optimization.state_dict(), "rng": checkpoint.rng_state(),
        })
        self.last_saved = time.monotonic()

    def finished(self) -> bool:
        return self.state.epoch >= self.settings.epochs

    def train_to_end(self, on_step: Callable[[int], None] | None) -> int:
        """Train the remaining epochs, a checkpoint after each; the texts trained on."""
        samples = 0
        self.model.train()
        if not self.finished():
            self.log(self.kernels_line())
        while not self.finished():
            samples += self.train_epoch(on_step)
            self.end_epoch()
            self.state.next_epoch()
            self.save_checkpoint()
        return samples

    def kernels_line(self) -> str:
        """The log's line on the precision and kernels this run trains with."""
        precision = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast, loss scaling"}
        return (f"training precision {precision[self.amp.dtype]} on {self.device.type} (amp "
                f"'{self.settings.amp}'); {describe(self.device, self.backbone)}")

    def train_epoch(self, on_step: Callable[[int], None] | None) -> int:
        """The rest of the epoch in progress, from state.batch on; the texts it trained on."""
        state, settings = self.state, self.settings
        batches = bucketed_batches(self.lengths, settings.batch_size, settings.bucket_batches, self.seed, state.epoch)
        resumed_at = time.perf_counter() - state.epoch_seconds
        samples = 0
        with (cpu_training_kernels(self.model, self.backbone),
              EpochProgress(self.log, state.epoch, settings.epochs, len(batches), state.batch) as progress):
            while state.batch < len(batches):
                group = batches[state.batch : state.batch + settings.grad_accum]
                for offset, rows in enumerate(group):
                    state.loss_sum += self.micro_batch(rows, state.batch + offset, len(group))
                    state.loss_batches += 1
                self.optimization.step()
                state.batch, state.step = state.batch + len(group), state.step + 1
                group_samples = sum(len(rows) for rows in group)
                samples += group_samples
                state.epoch_seconds = time.perf_counter() - resumed_at
                progress.update(state.batch, group_samples, state.loss_sum / state.loss_batches,
                                settings.lr * self.optimization.lr_factor())
                if state.batch < len(batches) and self.checkpoint_due():
                    self.save_checkpoint()
                if on_step is not None:
                    on_step(state.step)
        return samples

    def checkpoint_due(self) -> bool:
        every, minutes = self.settings.checkpoint_every_steps, self.settings.checkpoint_minutes
        by_steps = every is not None and self.state.step % every == 0
        return by_steps or (minutes is not None and time.monotonic() - self.last_saved >= 60 * minutes)

    @abstractmethod
    def micro_batch(self, rows: np.ndarray, batch_index: int, group_size: int) -> float:
        """Forward and backward (of the loss / group_size) of the training rows [B]; batch_index: the micro-batch's
        place in the epoch. Returns the micro-batch's mean loss."""

    @abstractmethod
    def end_epoch(self) -> None:
        """Record the finished epoch in state.history."""


@dataclass
class TrainState(LoopState):
    """LoopState, with fine-tuning's history (epoch, train_loss[, inner_macro_f1]) and inner early stopping."""

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


class Trainer(TrainingLoop):
    """Fine-tuning of a TextClassifier on token_ids / y [n] class indices: layer-wise LR decay, gradual unfreezing,
    the configured loss, FGM/PGD, and inner early stopping that keeps the best epoch's weights (best.pt)."""

    run_files = (CHECKPOINT, BEST_WEIGHTS)

    def __init__(self, model, config: TransformerConfig, token_ids: list[list[int]], y: np.ndarray, pad_id: int,
                 seed: int, workdir: Path, fingerprint: str, log: Callable[[str], None], inner: InnerSet | None):
        schedule, optimizer, output = config.schedule, config.optimizer, config.output
        settings = LoopSettings(
            epochs=schedule.epochs, batch_size=schedule.batch_size, grad_accum=schedule.grad_accum,
            bucket_batches=schedule.bucket_batches, amp=schedule.amp, lr=optimizer.lr,
            warmup_ratio=optimizer.warmup_ratio, max_grad_norm=optimizer.max_grad_norm,
            checkpoint_every_steps=output.checkpoint_every_steps, checkpoint_minutes=output.checkpoint_minutes)
        super().__init__(model, model.backbone, layerwise_param_groups(model, optimizer), settings, TrainState(),
                         np.array([len(ids) for ids in token_ids]), seed, workdir, fingerprint, log)
        self.config, self.token_ids, self.y, self.pad_id, self.inner = config, token_ids, y, pad_id, inner
        self.n_classes = model.classifier.out_features
        self.loss_fn = make_loss(config.loss, class_weight_vector(config.loss.class_weights, y, self.n_classes))
        self.embedding = model.backbone.get_input_embeddings().weight
        self.trainable: list[torch.nn.Parameter] = []  # PGD's gradients to set aside; set per epoch (unfreezing)

    def run(self, on_step: Callable[[int], None] | None) -> TrainOutcome:
        self.resume()
        started = time.perf_counter()
        samples = self.train_to_end(on_step)
        seconds = time.perf_counter() - started
        if self.inner is not None:
            self.model.load_state_dict(checkpoint.load(self.workdir / BEST_WEIGHTS)["model"])
        return TrainOutcome(state=self.state, resumed_from=self.resumed_from, seconds=seconds, samples=samples)

    def finished(self) -> bool:
        return super().finished() or self.state.stopped_early

    def train_epoch(self, on_step: Callable[[int], None] | None) -> int:
        gradual_unfreeze = self.config.optimizer.gradual_unfreeze
        trainable_layers = apply_gradual_unfreezing(self.model, self.state.epoch, gradual_unfreeze)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        if gradual_unfreeze:
            self.log(f"epoch {self.state.epoch + 1}: top {trainable_layers} encoder layers trainable")
        return super().train_epoch(on_step)

    def micro_batch(self, rows: np.ndarray, batch_index: int, group_size: int) -> float:
        """Forward/backward of one micro-batch (plus its adversarial pass); its mean loss."""
        input_ids, attention_mask = batch_tensors(self.token_ids, rows, self.pad_id, self.device, self.amp)
        labels = torch.from_numpy(self.y[rows]).to(self.device)

        def loss_here() -> torch.Tensor:
            with autocast(self.device, self.amp):
                sample_logits = self.model(input_ids, attention_mask)  # [S x B x C]
            # All dropout samples in one call: the mean over S x B rows is the mean of the S samples' losses.
            return self.loss_fn(sample_logits.flatten(0, 1), labels.repeat(sample_logits.shape[0]))

        attacking = self.config.adversarial.adversarial is not None and self.embedding.requires_grad
        earlier_grad = self.embedding.grad.clone() if attacking and self.embedding.grad is not None else None
        loss = loss_here()
        self.optimization.backward(loss / group_size)
        if attacking:
            grad = self.embedding.grad if earlier_grad is None else self.embedding.grad - earlier_grad  # this batch's
            self.attack(grad, lambda: loss_here() / group_size)
        return loss.item()

    def attack(self, grad: torch.Tensor, adversarial_loss: Callable[[], torch.Tensor]) -> None:
        """Add the adversarial gradient; grad: this micro-batch's clean gradient of the embedding matrix [V x H]."""
        attack, backward = self.config.adversarial, self.optimization.backward
        if attack.adversarial == "fgm":
            fgm_backward(self.embedding, grad, attack.adv_epsilon, adversarial_loss, backward)
        else:
            pgd_backward(self.embedding, grad, attack.adv_epsilon, attack.adv_alpha, attack.adv_steps, self.trainable,
                         adversarial_loss, backward)

    def end_epoch(self) -> None:
        """Record the epoch (and its inner score, keeping the best weights and deciding on early stopping)."""
        state, schedule = self.state, self.config.schedule
        record = {"epoch": state.epoch + 1, "train_loss": state.loss_sum / max(state.loss_batches, 1)}
        summary = f"epoch {state.epoch + 1}/{schedule.epochs} done: train loss {record['train_loss']:.4f}"
        if self.inner is not None:
            inner_pred = predict(self.model, self.inner.token_ids, schedule.predict_batch_size, self.pad_id,
                                 self.amp).argmax(1)
            record["inner_macro_f1"] = score = macro_f1(self.inner.y, inner_pred, self.n_classes)
            if score > state.best_score:  # ties keep the earlier, cheaper epoch
                state.best_score, state.best_epoch = score, state.epoch + 1
                checkpoint.save_atomic(self.workdir / BEST_WEIGHTS, {"fingerprint": self.fingerprint,
                                                                      "epoch": state.best_epoch,
                                                                      "model": self.model.state_dict()})
            state.stopped_early = state.epoch + 1 - state.best_epoch >= self.config.epoch_policy.patience
            summary += (f", inner macro-F1 {score:.4f} (best {state.best_score:.4f} at epoch {state.best_epoch})"
                        + ("; stopping early" if state.stopped_early else ""))
        self.log(summary)
        state.history.append(record)


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
    return Trainer(model, config, token_ids, y, pad_id, seed, workdir, fingerprint, log, inner).run(on_step)
