"""kit.runtime: each command's BLAS and torch threads, and the GPUs it leases, set in one place."""

import os
import subprocess
import sys

from kit.runtime import compute, set_threads, set_torch_threads

BLAS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def test_each_command_caps_every_blas_at_its_threads(monkeypatch):
    for name in BLAS:
        monkeypatch.setenv(name, "8")
    set_threads(2)
    assert {os.environ[name] for name in BLAS} == {"2"}


def test_a_cpu_job_logs_where_it_runs_and_sets_torchs_threads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    lines = []
    try:
        with compute(0, 1, lines.append) as devices:
            assert devices == [] and torch.get_num_threads() == 1
        assert lines == ["devices: cpu; threads 1"]
        set_torch_threads(before)
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_a_job_that_needs_no_torch_does_not_load_it():
    script = ("import sys\nfrom kit.runtime import compute, set_torch_threads\n"
              "with compute(0, 1, print, torch=False):\n    assert 'torch' not in sys.modules\n"
              "set_torch_threads(3)\nassert 'torch' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout == "devices: cpu; threads 1\n"
