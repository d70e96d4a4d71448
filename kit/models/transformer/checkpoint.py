"""Resume state on disk: atomic torch files in the fold's workdir, RNG capture, and the fingerprint of a run.

A checkpoint holds only tensors and plain values, so it loads with torch.load(weights_only=True).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kit.artifacts import atomic_write, sha256_json, sha256_strings


def save_atomic(path: Path, payload: dict) -> None:
    """torch.save through kit.artifacts.atomic_write: a kill never leaves a half-written checkpoint."""
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load(path: Path) -> dict | None:
    """The saved payload on the CPU, or None when there is no file."""
    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict:
    """torch's CPU and CUDA generator states (the loop draws its other randomness from seeded numpy generators)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fingerprint(training_settings: dict, seed: int, texts: list[str], y: np.ndarray) -> str:
    """Hash of what decides the training run: a checkpoint with another fingerprint belongs to another run."""
    return sha256_json({"settings": training_settings, "seed": seed, "data": sha256_strings(texts, y.tolist())})
