"""The competition matrix (configs/competition.yaml) projected on one or two GPUs, from measured sizes and a stated
model of GPU throughput; every figure is marked measured or projected.

Measured here:
- the matrix itself: kit.config.matrix expands the config into its fold jobs (model x variant x seed x fold);
- tokens per text: the real posts' lengths (the competition's real 10k test file and 100k real unlabelled posts from
  ../shared/data), one token per character plus [CLS] and [SEP] (Chinese BERT vocabularies hold single characters;
  Latin words and numbers become fewer word pieces, so this errs high), capped at each model's max_len;
- padded tokens per text: those lengths batched exactly as the kit batches them (kit.models.transformer.data's
  bucketed_batches, then each batch padded to its longest text), so padding is counted, not assumed.
Projected:
- FLOPs per token: 6 x the encoder's parameters (forward 2, backward 4) plus attention's 6 x layers x context x
  hidden (Kaplan et al. 2020's accounting), plus the head's; prediction a third of that. The encoder sizes are the
  hub models' config.json values (12 layers, hidden 768, intermediate 3072, vocabulary 21,128);
- adversarial training repeats the forward and backward once per perturbation (FGM x2, PGD x(1 + adv_steps));
- GPU time = FLOPs / (peak dense bf16 FLOP/s x MFU). The peaks are NVIDIA's datasheet figures; the model FLOP
  utilisation (MFU) of BERT-base fine-tuning with dynamic padding is assumed at 0.30, with 0.20 and 0.45 as the
  ends of the range (the lower end is what short, padded batches and a sequential BiGRU/BiLSTM head give).
  bench/gpu_check.py measures the kit's real training throughput on a GPU when one is lent; none has been yet.
- fold jobs are independent and lease one GPU each, so two GPUs halve them; a post-training job must finish before
  its fine-tuning folds start, and two post-trainings run side by side on two GPUs.
Word-vector models with a GRU or CNN over 200-d vectors (w2v_bigru, ft_textcnn) are left out of the FLOP model:
their GPU time is bound by kernel launches, not FLOPs, and is small beside the 12-layer encoders.

    python bench/project_gpu.py [--config configs/competition.yaml]

writes bench/results/gpu_projection.json; docs/gpu_projection.md explains the table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from shared_data import REPO, SHARED_DATA  # bench/ is on the path

sys.path.insert(0, str(REPO))

from kit import config as kit_config  # noqa: E402
from kit.data import read_posts  # noqa: E402
from kit.models.transformer.data import bucketed_batches  # noqa: E402

TEXTS = ("ncov/nCov_10k_test.csv", "covid_weibo_unlabeled/covid_weibo_unlabeled_100k.csv")
SIZES = {"train": 100_000, "test": 10_000, "unlabeled": 900_000}  # the competition's files
K_VALID = 5
PEAK = {"A100 (312 TFLOP/s bf16)": 312e12, "H100 SXM (989 TFLOP/s bf16)": 989e12}
MFU = {"low": 0.20, "mid": 0.30, "high": 0.45}


@dataclass(frozen=True)
class Encoder:
    layers: int = 12
    hidden: int = 768
    intermediate: int = 3072
    vocab: int = 21_128

    def params(self) -> float:
        """Parameters of the encoder layers (embeddings are lookups, not FLOPs)."""
        return self.layers * (4 * self.hidden**2 + 2 * self.hidden * self.intermediate)

    def train_flops_per_token(self, context: float) -> float:
        return 6 * self.params() + 6 * self.layers * context * self.hidden


def head_flops_per_token(head, hidden: int) -> float:
    """Training FLOPs per token of the head (a third of it for prediction)."""
    if head.head in ("bigru", "bilstm"):
        units = head.rnn_hidden or hidden // 2
        gates = 3 if head.head == "bigru" else 4
        return 6 * 2 * gates * (hidden + units) * units
    if head.head == "textcnn":
        return 6 * sum(head.cnn_filters * hidden * k for k in head.cnn_kernels)
    return 0.0


def text_lengths() -> np.ndarray:
    """Characters of the real posts (missing files are skipped; none found exits)."""
    lengths = []
    for name in TEXTS:
        path = SHARED_DATA / name
        if path.is_file():
            lengths.append(read_posts(path)["text"].str.len().to_numpy())
    if not lengths:
        sys.exit(f"no real posts under {SHARED_DATA} (set KIT_SHARED_DATA)")
    return np.concatenate(lengths)


def padded_tokens_per_text(lengths: np.ndarray, max_len: int, batch_size: int, bucket_batches: int) -> float:
    """Mean tokens per text after the kit's length bucketing and per-batch padding (one epoch, seed 0)."""
    tokens = np.minimum(lengths + 2, max_len)
    batches = bucketed_batches(tokens, batch_size, bucket_batches, seed=0, epoch=0)
    return float(sum(tokens[batch].max() * len(batch) for batch in batches) / len(tokens))


def adversarial_passes(params) -> int:
    kind = params.adversarial.adversarial
    return 1 if kind is None else 2 if kind == "fgm" else 1 + params.adversarial.adv_steps


def projected_jobs(config, lengths: np.ndarray, encoder: Encoder) -> list[dict]:
    """One row per transformer-sized model: its fold jobs (every variant and seed) and their projected FLOPs, and its post-training."""
    by_model, post_trainings = {}, {}
    train_rows = SIZES["train"] * (K_VALID - 1) / K_VALID
    predict_rows = SIZES["train"] / K_VALID + SIZES["test"]
    for exp in kit_config.matrix(config):
        entry = config.models[exp.model]
        params = entry.params
        backbone = getattr(getattr(params, "backbone", None), "backbone", None)
        if backbone is None:
            continue  # a linear model or a word-vector model without an encoder: CPU or launch-bound, not projected
        schedule = params.schedule
        padded = padded_tokens_per_text(lengths, params.backbone.max_len, schedule.batch_size, schedule.bucket_batches)
        per_token = encoder.train_flops_per_token(padded) + head_flops_per_token(params.head, encoder.hidden)
        flops = (schedule.epochs * train_rows * padded * per_token * adversarial_passes(params)
                 + predict_rows * padded * per_token / 3)
        row = by_model.setdefault(exp.model, {"experiment": exp.model, "fold jobs": 0,
                                              "padded tokens/text": round(padded, 1), "FLOPs": 0.0})
        row["fold jobs"] += K_VALID
        row["FLOPs"] += flops * K_VALID
        post = getattr(backbone, "post_train", None)
        if post is not None:
            corpus = sum(SIZES.values())
            padded_post = padded_tokens_per_text(lengths, post.max_len, post.batch_size, post.bucket_batches)
            mlm_head = 6 * post.mask_prob * encoder.vocab * encoder.hidden
            post_trainings[backbone.folder_name()] = {
                "experiment": f"post-training ({post.base}, {post.epochs} epoch(s) on {corpus:,} texts)",
                "fold jobs": 0, "padded tokens/text": round(padded_post, 1),
                "FLOPs": post.epochs * corpus * padded_post * (encoder.train_flops_per_token(padded_post) + mlm_head)}
    for row in by_model.values():
        row["experiment"] += f" ({row['fold jobs']} fold jobs)"
    return list(post_trainings.values()) + list(by_model.values())


def hours(flops: float, peak: float, mfu: float) -> float:
    return flops / (peak * mfu) / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "competition.yaml"))
    args = parser.parse_args()
    config = kit_config.load(kit_config.load_yaml(args.config))
    lengths = text_lengths()
    jobs = projected_jobs(config, lengths, Encoder())
    rows = []
    for job in jobs:
        row = {"stage": job["experiment"], "padded tokens/text (measured)": job["padded tokens/text"],
               "PFLOP (projected)": round(job["FLOPs"] / 1e15, 1)}
        for gpu, peak in PEAK.items():
            row[f"{gpu.split(' (')[0]} GPU-h at MFU {MFU['mid']} (projected)"] = round(hours(job["FLOPs"], peak,
                                                                                        MFU["mid"]), 2)
        rows.append(row)
    total = sum(job["FLOPs"] for job in jobs)
    post = [job["FLOPs"] for job in jobs if job["fold jobs"] == 0]
    folds = total - sum(post)
    summary_parts, totals = [], []
    for gpu, peak in PEAK.items():
        name = gpu.split(" (")[0]
        for count in (1, 2):
            walls = {level: hours(max(post, default=0) if count == 2 else sum(post), peak, mfu)
                     + hours(folds, peak, mfu) / count for level, mfu in MFU.items()}
            totals.append({"stage": f"whole matrix, {count} x {name}: wall h at MFU "
                                    f"{MFU['high']} / {MFU['mid']} / {MFU['low']} (projected)",
                           "padded tokens/text (measured)": "",
                           "PFLOP (projected)": round(total / 1e15, 1),
                           **{key: "" for key in rows[0] if "GPU-h" in key},
                           })
            totals[-1][next(key for key in rows[0] if key.startswith(name))] = (
                f"{walls['high']:.1f} / {walls['mid']:.1f} / {walls['low']:.1f}")
            summary_parts.append(f"{count}x {name} {walls['mid']:.1f} h")
    rows += totals
    for row in rows:
        print(row)
    from results import save

    save("gpu_projection", command="python bench/project_gpu.py",
         compares="configs/competition.yaml's transformer stages on one or two GPUs: measured token counts of the "
                  "real posts, projected FLOPs and GPU time (docs/gpu_projection.md)",
         rows=rows,
         summary="projected wall at MFU 0.30: " + ", ".join(summary_parts) + " (no GPU measured yet)",
         notes=f"{len(lengths):,} real posts measured for their lengths; the wall rows give MFU 0.45 / 0.30 / 0.20; "
               "CPU stages (ingest, corpus, word vectors, TF-IDF models, ensembles) are in scale.json")


if __name__ == "__main__":
    main()
