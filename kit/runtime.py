"""Where a command computes: its BLAS and torch threads and the GPUs it leases, set up in one place.

Snakemake runs several jobs side by side, so each gets its own threads, not every core; a job that asks for GPUs
leases them (kit.gpu) before anything imports torch, since the lease sets CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def set_threads(threads: int) -> None:
    """BLAS and OpenMP threads for this process; must run before numpy loads to bind."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    # OpenMP threads that spin while they wait starve each other on a shared machine: an MLM epoch on 2 threads took
    # 241.7 s spinning against 16.8 s passive (3,000 texts, load 6-13 on 2 cores). Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_torch_threads(threads: int) -> None:
    """torch's intra-op threads, when torch is loaded (a command that never needs it does not import it)."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


@contextmanager
def compute(gpus: int, threads: int, log: Callable[[str], None], torch: bool = True) -> Iterator[list[str]]:
    """Lease `gpus` GPUs (0: the CPU), then load torch (when `torch`) with the job's threads; yields the leased
    device ids and logs where the job runs."""
    from kit.gpu import gpu_lease

    with gpu_lease(gpus) as devices:
        log(f"devices: {'cuda ' + ','.join(devices) if devices else 'cpu'}; threads {threads}")
        if torch:
            import torch as torch_module  # after the lease: it reads CUDA_VISIBLE_DEVICES once

            torch_module.set_num_threads(threads)
        yield devices
