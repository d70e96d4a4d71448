"""GPU leases: each GPU fold job takes its own card(s), so parallel jobs on one machine never share device 0.

Snakemake counts GPUs (`snakemake -j4 --resources gpu=2`) but does not say which card a job gets. A fold job
therefore leases its devices first, before torch starts CUDA, and trains on what it was given:

    with gpu_lease(n=1) as devices:   # e.g. ["1"]; inside, CUDA_VISIBLE_DEVICES == "1", so torch sees cuda:0
        train()

Each device has one lock file, `<lock dir>/gpu<id>.lock`, held with flock. The kernel drops a flock lock when the
holding process ends for any reason (normal exit, exception, os._exit, SIGKILL, OOM killer), so a crashed job frees
its card at once and no stale lock ever needs cleaning. Lock files are never deleted: deleting a locked file would
let a second process lock a new file of the same name.

Locks are node-local on purpose (default `$KIT_GPU_LOCK_DIR`, else `<system temp dir>/kit-gpu-locks`): a card
belongs to one machine, and lock files on a shared file system would make jobs on different nodes wait for each
other. Under a scheduler (SLURM) that already set CUDA_VISIBLE_DEVICES, the lease only chooses among those devices.

Environment: CUDA_VISIBLE_DEVICES (read, and set for the lease), KIT_GPU_LOCK_DIR, KIT_GPU_TIMEOUT_S (how long to
wait for busy cards), KIT_FAKE_GPU_COUNT (tests: stands in for detection), SLURM_JOB_ID (scopes the locks to the
job, see `lock_namespace`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "KIT_GPU_LOCK_DIR"
FAKE_COUNT_ENV = "KIT_FAKE_GPU_COUNT"
TIMEOUT_ENV = "KIT_GPU_TIMEOUT_S"
NVIDIA_PROC_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per card, written by the driver, no CUDA needed
NVIDIA_SMI_TIMEOUT_S = 30.0  # nvidia-smi can hang on a wedged driver; past this, fall back to /proc

# A training job waits for a card rather than failing at once (another run may be finishing), but not forever:
# an hour covers a fold of most models, and after it the error names who holds the cards. $KIT_GPU_TIMEOUT_S overrides.
DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_POLL_S = 2.0


def parse_cuda_visible_devices(value: str) -> list[str]:
    """Device ids in a CUDA_VISIBLE_DEVICES value: "2,5" -> ["2", "5"]; "" and "-1" -> [] (no GPU).

    Ids may be indices or UUIDs ("GPU-...", "MIG-..."). CUDA ignores an invalid id and every id after it, so the
    list stops at the first negative one, as CUDA's does.
    """
    devices = []
    for token in value.split(","):
        token = token.strip()
        if token.startswith("-"):
            break
        if token:
            devices.append(token)
    return devices


def gpu_indices_from_nvidia_smi(listing: str) -> list[str]:
    """Card indices in `nvidia-smi -L` output ("GPU 0: NVIDIA A100 (UUID: ...)"); indented MIG lines are skipped."""
    return re.findall(r"^GPU (\d+):", listing, flags=re.MULTILINE)


def detect_devices() -> list[str]:
    """Indices of the machine's NVIDIA cards, found without initialising CUDA; [] on a machine without any.

    nvidia-smi (NVML) first, since inside a container it lists only the cards the container was given;
    the driver's /proc folder when nvidia-smi is missing or fails.
    """
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=True
        ).stdout
        return gpu_indices_from_nvidia_smi(listing)
    except (OSError, subprocess.SubprocessError):
        pass
    if NVIDIA_PROC_GPUS.is_dir():
        return [str(index) for index in range(len(list(NVIDIA_PROC_GPUS.iterdir())))]
    return []


def fake_gpu_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"{FAKE_COUNT_ENV} must be a whole number >= 0, got {value!r}")
    return count


def wait_timeout_s(env: Mapping[str, str] = os.environ) -> float:
    """$KIT_GPU_TIMEOUT_S in seconds, else DEFAULT_TIMEOUT_S."""
    value = env.get(TIMEOUT_ENV)
    if value is None:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also rejects nan
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds >= 0, got {value!r}")
    return seconds


def visible_devices(env: Mapping[str, str] = os.environ) -> list[str]:
    """Device ids this process may use: CUDA_VISIBLE_DEVICES when set (a scheduler or the user chose), else
    KIT_FAKE_GPU_COUNT=N as ["0", ..., "N-1"] (tests), else the cards detected on the machine."""
    if "CUDA_VISIBLE_DEVICES" in env:
        return parse_cuda_visible_devices(env["CUDA_VISIBLE_DEVICES"])
    if FAKE_COUNT_ENV in env:
        return [str(index) for index in range(fake_gpu_count(env[FAKE_COUNT_ENV]))]
    return detect_devices()


def default_lock_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "kit-gpu-locks")


def lock_namespace(lock_dir: Path, env: Mapping[str, str] = os.environ) -> Path:
    """The folder whose lock files this process competes for.

    SLURM numbers a job's GPUs from 0 when it confines them with cgroups, so two jobs on one node can both see
    device "0" while holding different cards. A SLURM allocation is the job's alone, so when SLURM chose the devices
    the job's locks get their own folder: processes inside one job still share cards fairly, jobs never wait on each
    other. Keyed by job id, never by node name, so nothing here has to be shared between nodes.
    """
    job_id = env.get("SLURM_JOB_ID")
    if job_id and "CUDA_VISIBLE_DEVICES" in env:
        return lock_dir / f"slurm-job-{job_id}"
    return lock_dir


def lock_path(lock_dir: Path, device: str) -> Path:
    """<lock_dir>/gpu<id>.lock; characters outside [A-Za-z0-9_.-] (possible in MIG ids) become "_"."""
    return lock_dir / f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


@dataclass
class HeldLock:
    device: str
    fd: int  # open file holding the flock; closing it (or the process dying) releases the card
    writable: bool  # False for another user's lock file opened read-only: flock works, the holder note does not


def make_lock_dir(lock_dir: Path) -> None:
    try:
        lock_dir.mkdir(parents=True)
    except FileExistsError:
        return
    # Other users' jobs share the same cards, so they must be able to add lock files here; sticky, like /tmp,
    # so that nobody can delete another's.
    lock_dir.chmod(0o1777)


def try_lock(path: Path, device: str) -> HeldLock | None:
    """The device's lock if it is free now, else None. Never blocks."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        writable = True
    except PermissionError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise PermissionError(
                f"cannot create the GPU lock file {path}; set {LOCK_DIR_ENV} to a folder that every GPU job on "
                f"this machine can write"
            ) from None
        writable = False
    try:
        if writable and os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)  # the umask took write access from other users, who need it for the holder note
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return HeldLock(device, fd, writable)


def write_holder_note(lock: HeldLock) -> None:
    """pid, host and start time in the lock file, for humans and for the timeout error; the lock is the flock."""
    if not lock.writable:
        return
    note = f"pid={os.getpid()} host={socket.gethostname()} since={time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    os.ftruncate(lock.fd, 0)
    os.pwrite(lock.fd, note.encode(), 0)


def release(locks: list[HeldLock]) -> None:
    for lock in locks:
        try:
            if lock.writable:
                os.ftruncate(lock.fd, 0)  # a free card's file then says nothing about a past holder
            fcntl.flock(lock.fd, fcntl.LOCK_UN)
        finally:
            os.close(lock.fd)


def describe_holders(lock_dir: Path, devices: list[str]) -> str:
    """'gpu0: pid=123 host=a since=...; gpu1: ...' from the lock files of busy devices."""
    notes = []
    for device in devices:
        try:
            note = lock_path(lock_dir, device).read_text().strip()
        except OSError:
            note = ""
        notes.append(f"gpu{device}: {note or 'holder unknown'}")
    return "; ".join(notes)


def acquire(devices: list[str], n: int, lock_dir: Path, timeout_s: float, poll_s: float) -> list[HeldLock]:
    """Locks on n of `devices`, waiting (polling every poll_s) up to timeout_s for enough of them to be free."""
    deadline = time.monotonic() + timeout_s
    told_waiting = False
    while True:
        held: list[HeldLock] = []
        busy: list[str] = []
        try:
            for device in devices:
                lock = try_lock(lock_path(lock_dir, device), device)
                if lock is None:
                    busy.append(device)
                    continue
                held.append(lock)
                if len(held) == n:
                    for taken in held:
                        write_holder_note(taken)
                    return held
        except BaseException:
            release(held)
            raise
        # All or nothing: two 2-GPU jobs that each kept one card while waiting would wait for each other forever.
        release(held)
        holders = describe_holders(lock_dir, busy)
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no {n} free GPU(s) among {devices} after waiting {timeout_s:g} s (lock dir {lock_dir}); "
                f"busy: {holders}. Wait for those jobs, run fewer GPU jobs at once (snakemake --resources gpu=N), "
                f"or wait longer ({TIMEOUT_ENV}=seconds)."
            )
        if not told_waiting:
            log.warning("waiting for %d free GPU(s) among %s (lock dir %s); busy: %s", n, devices, lock_dir, holders)
            told_waiting = True
        time.sleep(poll_s)


@contextmanager
def environment(env: MutableMapping[str, str], values: dict[str, str]) -> Iterator[None]:
    """Set `values` in env for the block, then put back what was there (or remove what was not)."""
    previous = {key: env.get(key) for key in values}
    env.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value


@contextmanager
def gpu_lease(
    n: int = 1,
    lock_dir: str | Path | None = None,
    timeout_s: float | None = None,
    poll_s: float = DEFAULT_POLL_S,
    env: MutableMapping[str, str] = os.environ,
) -> Iterator[list[str]]:
    """Lease n free GPUs for the block and set CUDA_VISIBLE_DEVICES to them; yields the leased ids.

    Enter it before anything initialises CUDA (best: before importing torch), since CUDA reads
    CUDA_VISIBLE_DEVICES once. n == 0 (a CPU model) yields [] with CUDA_VISIBLE_DEVICES="" so the job cannot take
    memory on a card another job leased; n > 0 on a machine without a GPU does the same and logs that the job runs on
    CPU. Raises ValueError when n exceeds the visible devices (waiting could never succeed) and TimeoutError, naming
    the lock dir and the holders, when n devices stay busy for timeout_s (None: $KIT_GPU_TIMEOUT_S, else an hour).
    On exit the locks are released and env is put back as it was.
    """
    if n < 0:
        raise ValueError(f"a GPU lease needs n >= 0 devices, got n={n}")
    devices = visible_devices(env)
    if n == 0 or not devices:
        if n > 0:
            preset = env.get("CUDA_VISIBLE_DEVICES")
            source = "none found" if preset is None else f"CUDA_VISIBLE_DEVICES={preset!r}"
            log.warning("asked for %d GPU(s) but none is visible (%s); running on CPU", n, source)
        with environment(env, {"CUDA_VISIBLE_DEVICES": ""}):
            yield []
        return
    if n > len(devices):
        raise ValueError(f"asked for {n} GPU(s) but only {len(devices)} are visible to this job: {devices}")

    settings = {}
    if "CUDA_VISIBLE_DEVICES" not in env and "CUDA_DEVICE_ORDER" not in env:
        # nvidia-smi numbers cards in PCI bus order, CUDA by default fastest first: make the id we locked name the
        # card CUDA opens.
        settings["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    namespace = lock_namespace(Path(lock_dir) if lock_dir is not None else default_lock_dir(env), env)
    make_lock_dir(namespace)
    held = acquire(devices, n, namespace, wait_timeout_s(env) if timeout_s is None else timeout_s, poll_s)
    leased = [lock.device for lock in held]
    log.info("leased GPU(s) %s (lock dir %s)", ",".join(leased), namespace)
    try:
        with environment(env, {**settings, "CUDA_VISIBLE_DEVICES": ",".join(leased)}):
            yield leased
    finally:
        release(held)
