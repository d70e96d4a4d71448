"""kit.models.transformer.checkpoint: atomic save, weights-only load, RNG capture, run fingerprints."""

import numpy as np
import torch

from kit.models.transformer.checkpoint import fingerprint, load, restore_rng, rng_state, save_atomic


def test_save_atomic_round_trips_a_weights_only_payload(tmp_path):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))])
    optimizer.param_groups[0]["params"][0].grad = torch.ones(3)
    optimizer.step()
    payload = {"model": {"w": torch.arange(4.0)}, "optimizer": optimizer.state_dict(),
               "state": {"epoch": 1, "history": [{"epoch": 1, "train_loss": 0.5}]}, "rng": rng_state()}
    save_atomic(tmp_path / "ckpt.pt", payload)
    loaded = load(tmp_path / "ckpt.pt")
    assert torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert loaded["state"] == payload["state"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left
    assert load(tmp_path / "missing.pt") is None


def test_restoring_the_rng_replays_the_same_draws():
    state = rng_state()
    first = torch.rand(5)
    restore_rng(state)
    assert torch.equal(torch.rand(5), first)


def test_fingerprint_changes_with_settings_seed_and_data():
    texts, y = ["a", "b"], np.array([0, 1])
    base = fingerprint({"lr": 1e-3}, 0, texts, y)
    assert base == fingerprint({"lr": 1e-3}, 0, list(texts), y.copy())
    assert base != fingerprint({"lr": 2e-3}, 0, texts, y)
    assert base != fingerprint({"lr": 1e-3}, 1, texts, y)
    assert base != fingerprint({"lr": 1e-3}, 0, ["a", "c"], y)
    assert base != fingerprint({"lr": 1e-3}, 0, texts, np.array([1, 1]))
