"""Domain post-training: masked-language-model (MLM) training of a backbone continued on the corpus.

The corpus (data/corpus/corpus.parquet: one row per distinct cleaned text of train + test + unlabelled posts, with
its jieba words) is split once: a seeded share of rows is held out and only scored, the rest (optionally capped at
max_texts) is trained on. Each epoch draws new masks (RoBERTa's dynamic masking): with whole-word masking every
jieba word is chosen with probability mask_prob and all its tokens are predicted, so a model cannot fill in 汉 from
武_; of the chosen tokens 80% become [MASK], 10% a random token and 10% stay. The MLM loss is the mean cross-entropy
over the chosen tokens; the held-out loss (and its exp, the perplexity) is scored before training and after each
epoch with masks that never change, so the numbers compare across epochs and runs.

Why not transformers' collator: DataCollatorForLanguageModeling(whole_word_mask=True) finds words from gaps in the
tokenizer's offsets, so unsegmented Chinese is a single word, and with whole words it drops the 80/10/10 split.
Texts joined by spaces between jieba words would give it the boundaries, but a tokenizer splits `iphone 11` other
than `iphone11`, so the model would train on tokens fine-tuning never sees. Here the text is tokenized as it is and
each token is mapped to the jieba word its characters lie in (tests/test_transformer_post_train.py shows all three).

The loop is the fine-tuning loop itself (train.TrainingLoop: length-bucketed batches, AdamW, warmup + linear
decay, accumulation, clipping, torch.amp, the CPU's dropout and attention kernels) with its resume contract:
checkpoints in the workdir at each epoch end and on a cadence, and a run that finds one of the same fingerprint
ends with the weights an uninterrupted run would have. The output
is the backbone alone (AutoModel-shaped, the base's pooler kept, the MLM head left out: fine-tuning does not use
it), its tokenizer and meta.json.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from kit.artifacts import atomic_folder, provenance, read_json, sha256_json, sha256_strings, write_json
from kit.corpus import read_corpus
from kit.models.transformer.backbone import ATTENTION_DROPOUT, load_backbone
from kit.models.transformer.config import PostTrainSpec, ScratchBase
from kit.models.transformer.data import pad_batch, sorted_batches
from kit.models.transformer.train import (
    CHECKPOINT,
    AmpPlan,
    LoopSettings,
    LoopState,
    TrainingLoop,
    autocast,
    pad_multiple,
    resolve_amp,
)
from kit.progress import Progress, stage
from kit.settings import identity, to_dict

META = "meta.json"
IGNORE = -100  # the label of a token that is not predicted (torch's cross_entropy ignore_index)
MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen tokens: BERT's 80% [MASK], 10% random, the rest unchanged
# Fixed streams of numpy generators, [seed, stream, ...]: each use draws apart from the others.
HELDOUT_STREAM, CAP_STREAM, MASK_STREAM, HELDOUT_MASK_STREAM = 1, 2, 3, 4


# ------------------------------------------------------------------------------------------------ the corpus


def word_spans(text: str, words: str) -> np.ndarray:
    """[n_words x 2] int64: each word's [start, end) characters in text. The words must spell the text in order,
    whitespace aside (jieba's whitespace tokens are dropped from the corpus's words); ValueError where they do not."""
    spans, position = [], 0
    for word in words.split():
        while position < len(text) and text[position].isspace():
            position += 1
        if not text.startswith(word, position):
            raise ValueError(f"word {word!r} does not continue the text at character {position} "
                             f"({text[position:position + 10]!r}...)")
        spans.append((position, position + len(word)))
        position += len(word)
    if text[position:].strip():
        raise ValueError(f"the words end at character {position}, before the text does ({text[position:][:10]!r}...)")
    return np.array(spans, dtype=np.int64).reshape(-1, 2)


@dataclass
class EncodedCorpus:
    """Token ids and the word each token lies in, one pair of arrays per text (ragged)."""

    token_ids: list[np.ndarray]  # each [L_i] int64, [CLS] ... [SEP], at most max_len
    word_ids: list[np.ndarray]  # each [L_i] int64: the index of the token's word in its text; -1 for special tokens

    def __len__(self) -> int:
        return len(self.token_ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.token_ids])

    def take(self, rows: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The token ids and word ids of the given rows."""
        return [self.token_ids[r] for r in rows], [self.word_ids[r] for r in rows]


ENCODE_CHUNK = 5000  # texts per tokenizer call: its Python lists of ids and offsets are dropped chunk by chunk


def encode_corpus(tokenizer, texts: list[str], words: list[str] | None, rows: np.ndarray, max_len: int,
                  where: str, on_chunk: Callable[[int], None] | None = None) -> EncodedCorpus:
    """The given rows of the corpus, each text tokenized as it is (truncated to max_len), each token mapped to its
    word: the jieba word its first character lies in, or, with words None, the token itself (token-level masking).
    Errors name the row of `where`, the corpus file. Rows are tokenized ENCODE_CHUNK at a time (the tokenizer's
    lists of a hundred thousand texts took gigabytes); on_chunk(rows done) runs after each chunk."""
    token_ids, word_ids = [], []
    for start in range(0, len(rows), ENCODE_CHUNK):
        chunk = rows[start : start + ENCODE_CHUNK]
        encoded = tokenizer([texts[r] for r in chunk], truncation=True, max_length=max_len,
                            return_offsets_mapping=True, return_special_tokens_mask=True,
                            return_attention_mask=False, return_token_type_ids=False)
        for i, row in enumerate(chunk):
            ids = np.asarray(encoded["input_ids"][i], dtype=np.int64)
            special = np.asarray(encoded["special_tokens_mask"][i], dtype=bool)
            if words is None:
                word = np.arange(len(ids))
            else:
                try:
                    spans = word_spans(texts[row], words[row])
                except ValueError as error:
                    raise ValueError(f"{where} row {row}: {error}; rebuild the corpus") from None
                starts = np.asarray(encoded["offset_mapping"][i], dtype=np.int64)[:, 0]
                word = np.searchsorted(spans[:, 1], starts, side="right")
            token_ids.append(ids)
            word_ids.append(np.where(special, -1, word))
        if on_chunk is not None:
            on_chunk(start + len(chunk))
    return EncodedCorpus(token_ids, word_ids)


def epochs_within_budget(n_train: int, spec: PostTrainSpec) -> int:
    """The passes over n_train texts that spend about spec.budget_texts, rounded half up, between 1 and spec.epochs
    (spec.epochs when there is no budget)."""
    if spec.budget_texts is None:
        return spec.epochs
    return max(1, min(spec.epochs, math.floor(spec.budget_texts / n_train + 0.5)))


def split_rows(n_rows: int, spec: PostTrainSpec) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows), sorted row indices. The held-out rows are drawn from the whole corpus first, so
    runs with another max_texts are scored on the same rows; max_texts then caps the training rows."""
    n_heldout = min(spec.heldout_max, max(1, round(spec.heldout_fraction * n_rows)))
    if n_rows - n_heldout < 1:
        raise ValueError(f"post-training: a corpus of {n_rows} text(s) leaves none to train on after the held-out "
                         f"{n_heldout}")
    order = np.random.default_rng([spec.seed, HELDOUT_STREAM]).permutation(n_rows)
    heldout, train = np.sort(order[:n_heldout]), order[n_heldout:]
    if spec.max_texts is not None and len(train) > spec.max_texts:
        train = np.random.default_rng([spec.seed, CAP_STREAM]).choice(train, spec.max_texts, replace=False)
    return np.sort(train), heldout


# ------------------------------------------------------------------------------------------------ masking


def mask_batch(input_ids: np.ndarray, word_ids: np.ndarray, rng: np.random.Generator, mask_prob: float, mask_id: int,
               random_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) [B x L] int64 for one batch of input_ids and word_ids [B x L] (word -1: never chosen).

    Each word of each text is chosen with probability mask_prob, so each token is predicted with that probability
    whatever its word's length; labels hold the chosen tokens' ids and IGNORE elsewhere. Of the chosen tokens 80%
    become mask_id, 10% a token drawn from random_ids, 10% stay. A batch in which nothing was chosen gets one
    random word, so that its loss is defined.
    """
    maskable = word_ids >= 0
    width = int(word_ids.max()) + 1 if maskable.any() else 1
    keys = np.where(maskable, np.arange(len(word_ids))[:, None] * width + word_ids, -1)
    unique, inverse = np.unique(keys[maskable], return_inverse=True)
    chosen_words = rng.random(len(unique)) < mask_prob
    if len(unique) and not chosen_words.any():
        chosen_words[rng.integers(len(unique))] = True
    chosen = np.zeros(word_ids.shape, dtype=bool)
    chosen[maskable] = chosen_words[inverse]
    labels = np.where(chosen, input_ids, IGNORE)
    inputs = input_ids.copy()
    fate = rng.random(input_ids.shape)
    inputs[chosen & (fate < MASK_SHARE)] = mask_id
    swapped = chosen & (fate >= MASK_SHARE) & (fate < MASK_SHARE + RANDOM_SHARE)
    inputs[swapped] = rng.choice(random_ids, int(swapped.sum()))
    return inputs, labels


class Masker:
    """Masks batches of texts and puts them on the device. What it masks is a function of the generator it is given,
    so a resumed epoch, whose generators are seeded by (seed, epoch, batch), draws the masks the killed run drew."""

    def __init__(self, tokenizer, mask_prob: float, device: torch.device, amp: AmpPlan):
        self.pad_id, self.mask_id = tokenizer.pad_token_id, tokenizer.mask_token_id
        special = set(tokenizer.all_special_ids)
        self.random_ids = np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)
        self.mask_prob, self.device, self.multiple = mask_prob, device, pad_multiple(device, amp)

    def arrays(self, token_ids: list[np.ndarray], word_ids: list[np.ndarray],
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """inputs, attention_mask, labels [B x L] int64 of the texts, padded to the longest."""
        input_ids, attention_mask = pad_batch(token_ids, self.pad_id, self.multiple)
        padded_words, _ = pad_batch(word_ids, -1, self.multiple)
        inputs, labels = mask_batch(input_ids, padded_words, rng, self.mask_prob, self.mask_id, self.random_ids)
        return inputs, attention_mask, labels

    def tensors(self, *arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(array).to(self.device) for array in arrays)


@dataclass
class MaskedTexts:
    """Texts masked once, for scoring: per text, input ids and labels [L_i] int64 (ragged)."""

    inputs: list[np.ndarray]
    labels: list[np.ndarray]


def mask_once(masker: Masker, corpus: EncodedCorpus, seed: int) -> MaskedTexts:
    """Each text masked by a generator of its own ([seed, stream, its index]), so the held-out loss depends on
    neither the epoch nor the batch size; every text gets at least one chosen word."""
    inputs, labels = [], []
    for index, (ids, words) in enumerate(zip(corpus.token_ids, corpus.word_ids)):
        rng = np.random.default_rng([seed, HELDOUT_MASK_STREAM, index])
        masked, _, label = masker.arrays([ids], [words], rng)
        inputs.append(masked[0, : len(ids)])
        labels.append(label[0, : len(ids)])
    return MaskedTexts(inputs, labels)


# ------------------------------------------------------------------------------------------------ the loss


def prediction_head(model):
    """The module that maps hidden states [N x H] to vocabulary logits [N x V] in the MLM layouts the kit knows
    (BERT-like `cls.predictions`, RoBERTa-like `lm_head`), or None: then the whole model runs on every position."""
    for name in ("cls.predictions", "lm_head"):
        try:
            return model.get_submodule(name)
        except AttributeError:
            continue
    return None


def masked_lm_loss(model, head, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(mean cross-entropy over the predicted tokens, their number). With a known head the vocabulary projection,
    most of a small model's cost, runs on the predicted positions only (about 15% of them)."""
    chosen = labels != IGNORE
    if head is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[chosen]
    else:
        hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = head(hidden[chosen])
    return F.cross_entropy(logits.float(), labels[chosen]), int(chosen.sum())


def heldout_loss(model, head, masker: Masker, heldout: MaskedTexts, batch_size: int, amp) -> float:
    """Mean MLM loss over every predicted token of the held-out texts."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.inference_mode(), autocast(masker.device, amp):
        for rows in sorted_batches(np.array([len(ids) for ids in heldout.inputs]), batch_size):
            input_ids, attention_mask = pad_batch([heldout.inputs[r] for r in rows], masker.pad_id, masker.multiple)
            labels, _ = pad_batch([heldout.labels[r] for r in rows], IGNORE, masker.multiple)
            loss, n = masked_lm_loss(model, head, *masker.tensors(input_ids, attention_mask, labels))
            total, tokens = total + loss.item() * n, tokens + n
    model.train(was_training)
    return total / tokens


def scores(loss: float) -> dict:
    return {"heldout_mlm_loss": round(loss, 5), "heldout_perplexity": round(math.exp(loss), 3)}


# ------------------------------------------------------------------------------------------------ the loop


@dataclass
class PostTrainOutcome:
    state: LoopState  # its history: epoch 0, the held-out scores before training; then one record per epoch
    resumed_from: dict | None  # {'epoch', 'batch'} (0-based epoch) when a checkpoint was resumed
    seconds: float  # training time in this process, held-out scoring included
    samples: int  # texts trained on in this process


def param_groups(model, lr: float, weight_decay: float) -> list[dict]:
    """AdamW groups: matrices decayed; biases and LayerNorm weights (1-d) never, as in BERT."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "lr": lr, "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "lr": lr, "weight_decay": 0.0}]


class PostTrainer(TrainingLoop):
    """MLM training of `model` (an AutoModelForMaskedLM on its device) on train_set, scored on heldout_set before
    training and after each epoch, in the fine-tuning loop (train.TrainingLoop) with its resume contract."""

    other_run = "spec, base or corpus"

    def __init__(self, model, tokenizer, spec: PostTrainSpec, train_set: EncodedCorpus, heldout_set: EncodedCorpus,
                 workdir: Path, fingerprint: str, log: Callable[[str], None]):
        settings = LoopSettings(
            epochs=spec.epochs, batch_size=spec.batching.batch_size, grad_accum=spec.batching.grad_accum,
            bucket_batches=spec.batching.bucket_batches, amp=spec.batching.amp, lr=spec.lr,
            warmup_ratio=spec.warmup_ratio, max_grad_norm=spec.max_grad_norm,
            checkpoint_every_steps=spec.checkpoints.checkpoint_every_steps,
            checkpoint_minutes=spec.checkpoints.checkpoint_minutes)
        super().__init__(model, model, param_groups(model, spec.lr, spec.weight_decay), settings, LoopState(),
                         train_set.lengths(), spec.seed, workdir, fingerprint, log)
        self.train_set, self.heldout_texts = train_set, len(heldout_set)
        self.head = prediction_head(model)
        self.masker = Masker(tokenizer, spec.mask_prob, self.device, self.amp)
        self.heldout = mask_once(self.masker, heldout_set, spec.seed)
        self.eval_batch_size = 4 * spec.batching.batch_size  # no activations are kept for backward

    def run(self, on_step: Callable[[int], None] | None) -> PostTrainOutcome:
        self.resume()
        started = time.perf_counter()
        if not self.state.history:
            before = self.heldout_loss()
            self.state.history.append({"epoch": 0, **scores(before)})
            self.log(f"before post-training: held-out MLM loss {before:.4f}, perplexity {math.exp(before):.2f} "
                     f"({self.heldout_texts} texts)")
        samples = self.train_to_end(on_step)
        return PostTrainOutcome(state=self.state, resumed_from=self.resumed_from,
                                seconds=time.perf_counter() - started, samples=samples)

    def heldout_loss(self) -> float:
        with stage(self.log, f"held-out MLM loss over {self.heldout_texts} texts"):
            return heldout_loss(self.model, self.head, self.masker, self.heldout, self.eval_batch_size, self.amp)

    def micro_batch(self, rows: np.ndarray, batch_index: int, group_size: int) -> float:
        """Masks the rows with a generator of (seed, epoch, batch_index): a resumed epoch draws the killed run's."""
        rng = np.random.default_rng([self.seed, MASK_STREAM, self.state.epoch, batch_index])
        inputs = self.masker.tensors(*self.masker.arrays(*self.train_set.take(rows), rng))
        with autocast(self.device, self.amp):
            loss, _ = masked_lm_loss(self.model, self.head, *inputs)
        self.optimization.backward(loss / group_size)
        return loss.item()

    def end_epoch(self) -> None:
        state = self.state
        after = self.heldout_loss()
        record = {"epoch": state.epoch + 1, "train_mlm_loss": round(state.loss_sum / state.loss_batches, 5),
                  **scores(after), "seconds": round(state.epoch_seconds, 2)}
        self.log(f"epoch {state.epoch + 1}/{self.settings.epochs} done: train MLM loss {record['train_mlm_loss']:.4f}, "
                 f"held-out MLM loss {after:.4f}, perplexity {math.exp(after):.2f}, {state.epoch_seconds:.1f}s")
        state.history.append(record)


# ------------------------------------------------------------------------------------------------ the job


def folder_digest(folder: Path) -> str:
    """sha256 over a folder's file names and bytes: what a local base folder holds."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode("utf-8") + b"\x1f")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\x1e")
    return digest.hexdigest()


def base_location(spec: PostTrainSpec, base_dir: Path | None) -> str:
    """Where the base loads from: base_dir (the workflow's scratch build) for a scratch base, else the spec's hub
    name or folder."""
    if isinstance(spec.base, ScratchBase):
        if base_dir is None:
            raise ValueError("post-training: a {scratch: ...} base needs its built folder (--base-dir)")
        return str(base_dir)
    if base_dir is not None:
        raise ValueError(f"post-training: --base-dir given, but the base is {spec.base!r}, not a scratch build")
    return spec.base


def save_backbone(model, tokenizer, base: str, out_dir: Path, meta: dict) -> None:
    """The MLM model's encoder as an AutoModel folder (with the base's pooler, which MLM training neither uses nor
    changes), its tokenizer and meta.json, written together into place."""
    _, encoder = load_backbone(base)
    pooler = getattr(encoder, "pooler", None)
    backbone = model.base_model
    if pooler is not None and getattr(backbone, "pooler", None) is None:
        backbone.pooler = pooler.to(model.device)  # BERT's MLM model has none; fine-tuning's cls head reads it
    if hasattr(encoder.config, ATTENTION_DROPOUT):  # the folder keeps the base's own; training's came from the spec
        setattr(backbone.config, ATTENTION_DROPOUT, getattr(encoder.config, ATTENTION_DROPOUT))
    with atomic_folder(out_dir) as staging:
        backbone.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json(staging / META, meta)


def run_post_train(
    spec: PostTrainSpec,
    base_dir: Path | None,
    corpus_path: Path,
    corpus_meta_path: Path,
    out_dir: Path,
    workdir: Path,
    log: Callable[[str], None] = print,
    on_step: Callable[[int], None] | None = None,
) -> dict:
    """Post-train the spec's base on the corpus and write out_dir (save_pretrained backbone + tokenizer +
    meta.json); return the meta. Checkpoints go to workdir and are removed once out_dir is written."""
    timings, started = {}, time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    corpus_meta = read_json(corpus_meta_path)
    if "corpus_hash" not in corpus_meta:
        raise ValueError(f"{corpus_meta_path}: no 'corpus_hash' key; rebuild the corpus")
    corpus = read_corpus(corpus_path, ("text", "words"))
    texts, words = corpus["text"].tolist(), corpus["words"].tolist()
    del corpus
    base = base_location(spec, base_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = resolve_amp(spec.batching.amp, device)
    torch.manual_seed(spec.seed)  # a head the base lacks starts from this stream, and dropout continues it

    tokenizer, model = load_backbone(base, masked_lm=True, attention_dropout=spec.attention_dropout,
                                     setting="post_train's attention_dropout")
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and spec.max_len > max_positions:
        raise ValueError(f"post_train: 'max_len' {spec.max_len} exceeds the base's {max_positions} positions ({base})")
    if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError(f"post_train: the base {base!r} has no [MASK] or padding token, so it cannot be MLM-trained")
    model.to(device)
    timings["load_seconds"] = round(time.perf_counter() - started, 2)

    mark = time.perf_counter()
    train_rows, heldout_rows = split_rows(len(texts), spec)
    tokenized = Progress(log, "tokenizing the corpus texts trained on and held out",
                         len(train_rows) + len(heldout_rows), "texts")
    train_set = encode_corpus(tokenizer, texts, words if spec.whole_word else None, train_rows, spec.max_len,
                              str(corpus_path), tokenized.update)
    heldout_set = encode_corpus(tokenizer, texts, words if spec.whole_word else None, heldout_rows, spec.max_len,
                                str(corpus_path), lambda done: tokenized.update(len(train_rows) + done))
    timings["tokenize_seconds"] = round(time.perf_counter() - mark, 2)
    log(f"corpus {corpus_path}: {len(texts)} texts, {len(train_rows)} trained on, {len(heldout_rows)} held out; "
        f"tokenized in {timings['tokenize_seconds']:.1f}s; device {device}, amp {amp.name}, "
        f"threads {torch.get_num_threads()}")

    epochs = epochs_within_budget(len(train_rows), spec)
    if spec.budget_texts is not None:
        log(f"budget: {spec.budget_texts:,} texts over the {len(train_rows):,} trained on: {epochs} epoch(s) "
            f"(at most {spec.epochs})")
    base_identity = folder_digest(Path(base)) if Path(base).is_dir() else base
    run_id = sha256_json({"spec": identity(spec), "base": base_identity, "corpus": sha256_strings(texts, words)})
    outcome = PostTrainer(model, tokenizer, replace(spec, epochs=epochs), train_set, heldout_set, workdir, run_id,
                          log).run(on_step)
    timings["train_seconds"] = round(outcome.seconds, 2)

    history = outcome.state.history
    meta = {
        "spec": to_dict(spec),
        "base": base,
        "corpus_hash": corpus_meta["corpus_hash"],
        "corpus_texts": len(texts),
        "train_texts": len(train_rows),
        "heldout_texts": len(heldout_rows),
        "epochs": epochs,
        "history": history,
        "heldout_perplexity_before": history[0]["heldout_perplexity"],
        "heldout_perplexity_after": history[-1]["heldout_perplexity"],
        "optimizer_steps": outcome.state.step,
        "device": str(device),
        "amp": amp.name,
        "threads": torch.get_num_threads(),
        "resumed_from": outcome.resumed_from,
        "train_samples_per_s": round(outcome.samples / max(outcome.seconds, 1e-9), 2),
        **timings,
        **provenance(),
    }
    mark = time.perf_counter()
    save_backbone(model, tokenizer, base, Path(out_dir), meta)
    log(f"post-trained backbone: {out_dir} (held-out perplexity {meta['heldout_perplexity_before']:.2f} -> "
        f"{meta['heldout_perplexity_after']:.2f}, saved in {time.perf_counter() - mark:.1f}s)")
    (workdir / CHECKPOINT).unlink(missing_ok=True)
    return meta


def build_step(entry: str, settings: PostTrainSpec, inputs, outputs, log=print, workdir: Path | None = None) -> dict:
    """The build step's work (kit.registry.BuildStep `post_train`): run_post_train, checkpointing to workdir."""
    if workdir is None:
        raise ValueError("post_train: a workdir for its checkpoints is required")
    return run_post_train(settings, inputs.get("base_dir"), Path(inputs["corpus"]), Path(inputs["corpus_meta"]),
                          Path(outputs["backbone"]), Path(workdir), log=log)
