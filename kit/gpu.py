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

Trust model (docs/gpu_and_cluster.md): the lock dir is shared by every user's jobs, so nothing in it is trusted to
be what its name says. Lock files are opened relative to the checked folder, never through a symbolic link, and the
lease writes (holder note, chmod) only into a regular, single-link file of this user's, which is what a lease
creates; another user's lock file is locked read-only and left exactly as it is. A folder in which someone other
than this user and root could delete or replace a held lock file (writable by others without the sticky bit,
or another user's non-sticky folder) is refused with LockDirError.

Each lease logs one line when it has its devices and one when it has let them go, with times that enclose the whole
hold (read_lease_log parses them; simultaneous_holds checks that no device was held twice at once).

Environment: CUDA_VISIBLE_DEVICES (read, and set for the lease), KIT_GPU_LOCK_DIR, KIT_GPU_TIMEOUT_S (how long to
wait for busy cards), KIT_FAKE_GPU_COUNT (tests: stands in for detection), SLURM_JOB_ID (scopes the locks to the
job, see `slurm_job_folder`).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import pwd
import re
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
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

# Never follow a link; O_NONBLOCK so that a FIFO planted under a lock file's name cannot hang the job in open().
LOCK_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
HOLDER_NOTE_MAX_CHARS = 200  # another user's lock file may hold anything: show a short, printable part of it


class LockDirError(ValueError):
    """A lock dir or lock file the lease cannot use safely; the message names it and says what to do."""


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


def device_source(env: Mapping[str, str] = os.environ) -> str:
    """Where visible_devices(env) came from, for the lease's log line."""
    if "CUDA_VISIBLE_DEVICES" in env:
        setter = f"SLURM job {env['SLURM_JOB_ID']}" if env.get("SLURM_JOB_ID") else "the environment"
        return f"CUDA_VISIBLE_DEVICES set by {setter}"
    if FAKE_COUNT_ENV in env:
        return f"{FAKE_COUNT_ENV}={env[FAKE_COUNT_ENV]}"
    return "the cards nvidia-smi lists"


def default_lock_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "kit-gpu-locks")


def safe_name(text: str) -> str:
    """text with characters outside [A-Za-z0-9_.-] (possible in MIG ids) replaced by "_", for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def slurm_job_folder(env: Mapping[str, str] = os.environ) -> str | None:
    """The subfolder of the lock dir whose lock files this process competes for, or None for the lock dir itself.

    SLURM numbers a job's GPUs from 0 when it confines them with cgroups, so two jobs on one node can both see
    device "0" while holding different cards. A SLURM allocation is the job's alone, so when SLURM chose the devices
    the job's locks get their own folder: processes inside one job still share cards fairly, jobs never wait on each
    other. Keyed by job id, never by node name, so nothing here has to be shared between nodes.
    """
    job_id = env.get("SLURM_JOB_ID")
    if job_id and "CUDA_VISIBLE_DEVICES" in env:
        return f"slurm-job-{safe_name(job_id)}"
    return None


def lock_path(lock_dir: Path, device: str) -> Path:
    """<lock_dir>/gpu<id>.lock; the id goes through safe_name, so the file stays inside the lock dir."""
    return lock_dir / f"gpu{safe_name(device)}.lock"


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_lock_dir(path: Path, info: os.stat_result, shared: bool) -> None:
    """Refuse a lock dir in which someone other than this user and root could delete or replace a lock file.

    Such a person could make two jobs lock one card (a second file of the same name), or swap a lock file for a
    link. With the sticky bit only a file's owner, the folder's owner and root can remove or rename a file, as in
    /tmp. shared: the machine-wide folder, which may belong to another user (whoever's job made it first) when it is
    sticky; that owner is one more user of the cards, who could take a card without any lease anyway. Not shared:
    a SLURM job's own folder, which must be this user's or root's.
    """
    mode = stat.S_IMODE(info.st_mode)
    owner = user_name(info.st_uid)
    sticky = bool(mode & stat.S_ISVTX)
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
        raise LockDirError(
            f"GPU lock dir {path} (owner {owner}, mode {mode:04o}) can be written by other users but has no sticky "
            f"bit, so any of them could delete or replace a lock file another job holds. Make it sticky "
            f"(`chmod +t {path}`, as {owner} or root), or set {LOCK_DIR_ENV} to a folder of your own."
        )
    if info.st_uid not in (os.geteuid(), 0) and not (shared and sticky):
        kind = "a sticky folder shared by all users" if shared else "a folder of this SLURM job's own"
        raise LockDirError(
            f"GPU lock dir {path} belongs to {owner} (mode {mode:04o}) but should be {kind}; {owner} could replace "
            f"its lock files. Remove it (as {owner} or root), or set {LOCK_DIR_ENV} to a folder of your own."
        )


def open_lock_dir(path: Path, shared: bool, parent_fd: int | None = None) -> int:
    """An open descriptor of the lock dir `path`, made when missing and checked by check_lock_dir.

    Lock files are then opened relative to this descriptor, so the folder checked is the folder used even if
    someone renames the path meanwhile. A new shared folder is made sticky and writable by all (mode 1777, like /tmp),
    since other users' jobs must add their lock files to it; a job's own folder gets 0755. parent_fd: `path` is the
    subfolder `path.name` of this already checked folder.
    """
    name: str | Path = path
    if parent_fd is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        name = path.name
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)  # 0700 until chmod below: nobody else can slip a file in first
        created = True
    except FileExistsError:
        created = False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    except OSError as error:
        if error.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a folder"
        raise LockDirError(
            f"GPU lock dir {path} is {kind} (owner {user_name(info.st_uid)}); the lease only uses a real folder. "
            f"Set {LOCK_DIR_ENV} to the folder itself, or remove {path} (as its owner or root)."
        ) from None
    try:
        if created:
            os.fchmod(fd, 0o1777 if shared else 0o755)
        check_lock_dir(path, os.fstat(fd), shared)
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass
class HeldLock:
    device: str
    fd: int  # open file holding the flock; closing it (or the process dying) releases the card
    # The file is a regular, single-link file of this user's, as a lease creates it: the only kind the lease writes
    # its holder note into. Any other file (another user's, or one with a second name elsewhere) is locked read-only.
    ours: bool


def open_lock_file(dir_fd: int, lock_dir: Path, device: str) -> tuple[int, bool]:
    """(descriptor, ours) of the device's lock file in the checked folder dir_fd, creating it when missing."""
    name = lock_path(lock_dir, device).name
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | LOCK_FILE_FLAGS, 0o644, dir_fd=dir_fd)
        # The umask may have hidden it from other users' jobs, which must be able to open it to lock it.
        os.fchmod(fd, 0o644)
        return fd, True
    except FileExistsError:
        pass
    except PermissionError:
        raise LockDirError(
            f"cannot create the GPU lock file {lock_dir / name}; set {LOCK_DIR_ENV} to a folder that every GPU job "
            f"on this machine can write"
        ) from None
    try:
        try:
            fd, writable = os.open(name, os.O_RDWR | LOCK_FILE_FLAGS, dir_fd=dir_fd), True
        except PermissionError:
            fd, writable = os.open(name, os.O_RDONLY | LOCK_FILE_FLAGS, dir_fd=dir_fd), False
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        owner = user_name(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_uid)
        raise LockDirError(
            f"GPU lock file {lock_dir / name} is a symbolic link (owner {owner}); the lease never follows one, since "
            f"a planted link could make a job write to another file. Remove it (as {owner} or root), or set "
            f"{LOCK_DIR_ENV} to a folder of your own."
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise LockDirError(
            f"GPU lock file {lock_dir / name} is not a regular file (owner {user_name(info.st_uid)}); remove it "
            f"(as its owner or root), or set {LOCK_DIR_ENV} to a folder of your own."
        )
    return fd, writable and info.st_uid == os.geteuid() and info.st_nlink == 1


def try_lock(dir_fd: int, lock_dir: Path, device: str) -> HeldLock | None:
    """The device's lock if it is free now, else None. Never blocks."""
    fd, ours = open_lock_file(dir_fd, lock_dir, device)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return HeldLock(device, fd, ours)


def write_holder_note(lock: HeldLock) -> None:
    """pid, host and start time in the lock file, for humans and for the timeout error; the lock is the flock."""
    if not lock.ours:
        return
    note = f"pid={os.getpid()} host={socket.gethostname()} since={time.strftime('%Y-%m-%d %H:%M:%S')}\n"
    os.ftruncate(lock.fd, 0)
    os.pwrite(lock.fd, note.encode(), 0)


def release(locks: list[HeldLock]) -> None:
    for lock in locks:
        try:
            if lock.ours:
                os.ftruncate(lock.fd, 0)  # a free card's file then says nothing about a past holder
            fcntl.flock(lock.fd, fcntl.LOCK_UN)
        finally:
            os.close(lock.fd)


def holder_note(dir_fd: int, lock_dir: Path, device: str) -> str:
    """The printable start of a lock file's holder note, '' when there is none or the file is not a regular one."""
    try:
        fd = os.open(lock_path(lock_dir, device).name, os.O_RDONLY | LOCK_FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        text = os.read(fd, 4 * HOLDER_NOTE_MAX_CHARS).decode("utf-8", errors="replace")
    finally:
        os.close(fd)
    return "".join(char for char in text.strip() if char.isprintable())[:HOLDER_NOTE_MAX_CHARS]


def describe_holders(dir_fd: int, lock_dir: Path, devices: list[str]) -> str:
    """'gpu0: pid=123 host=a since=...; gpu1: ...' from the lock files of busy devices."""
    return "; ".join(f"gpu{device}: {holder_note(dir_fd, lock_dir, device) or 'holder unknown'}" for device in devices)


def acquire(
    devices: list[str], n: int, dir_fd: int, lock_dir: Path, timeout_s: float, poll_s: float
) -> tuple[list[HeldLock], float]:
    """Locks on n of `devices` in the checked folder dir_fd, waiting (polling every poll_s) up to timeout_s for
    enough of them to be free; and the wall-clock time the successful attempt began (before any of its locks)."""
    deadline = time.monotonic() + timeout_s
    told_waiting = False
    while True:
        attempt_started = time.time()
        held: list[HeldLock] = []
        busy: list[str] = []
        try:
            for device in devices:
                lock = try_lock(dir_fd, lock_dir, device)
                if lock is None:
                    busy.append(device)
                    continue
                held.append(lock)
                if len(held) == n:
                    for taken in held:
                        write_holder_note(taken)
                    return held, attempt_started
        except BaseException:
            release(held)
            raise
        # All or nothing: two 2-GPU jobs that each kept one card while waiting would wait for each other forever.
        release(held)
        holders = describe_holders(dir_fd, lock_dir, busy)
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


def timestamp(seconds: float) -> str:
    """Wall-clock seconds as local ISO time with microseconds and UTC offset, comparable across processes."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="microseconds")


# The lease's two log lines; read_lease_log parses them back (the rule log puts its own prefix before each).
LEASED = "leased GPU(s) {devices} of {visible} ({source}); lock dir {lock_dir}; held from {start}"
RELEASED = "released GPU(s) {devices}; lock dir {lock_dir}; held until {end}"
LEASED_LINE = re.compile(
    r"leased GPU\(s\) (?P<devices>\S+) of .*; lock dir (?P<lock_dir>.+); held from (?P<start>\S+)$"
)
RELEASED_LINE = re.compile(r"released GPU\(s\) (?P<devices>\S+); lock dir (?P<lock_dir>.+); held until (?P<end>\S+)$")


@dataclass
class LeaseRecord:
    """One lease read back from a log: a time span that encloses the whole hold of its locks."""

    devices: list[str]
    lock_dir: str
    start: float  # wall-clock seconds, taken before the lock attempt that succeeded
    end: float | None  # after the locks were let go; None when the log ends first (the job was killed)


def read_lease_log(text: str) -> list[LeaseRecord]:
    """The leases in a log (one job's, or several concatenated), in order; each release closes the lease before it."""
    records: list[LeaseRecord] = []
    for line in text.splitlines():
        if leased := LEASED_LINE.search(line):
            start = datetime.fromisoformat(leased["start"]).timestamp()
            records.append(LeaseRecord(leased["devices"].split(","), leased["lock_dir"], start, None))
        elif (released := RELEASED_LINE.search(line)) and records and records[-1].end is None:
            records[-1].end = datetime.fromisoformat(released["end"]).timestamp()
    return records


def simultaneous_holds(records: list[LeaseRecord]) -> list[str]:
    """Every time one device of one lock dir was held by two leases at once, as a sentence; [] when never.

    A lease without an end (its job was killed) counts as held to the end of time.
    """
    spans: dict[tuple[str, str], list[LeaseRecord]] = {}
    for record in records:
        for device in record.devices:
            spans.setdefault((record.lock_dir, device), []).append(record)
    clashes = []
    for (lock_dir, device), holds in spans.items():
        holds.sort(key=lambda record: record.start)
        for earlier, later in zip(holds, holds[1:]):
            if earlier.end is None or later.start < earlier.end:
                clashes.append(
                    f"GPU {device} (lock dir {lock_dir}) held from {timestamp(earlier.start)} until "
                    f"{'never released' if earlier.end is None else timestamp(earlier.end)} and again from "
                    f"{timestamp(later.start)}"
                )
    return clashes


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
    CPU. Raises ValueError when n exceeds the visible devices (waiting could never succeed), LockDirError when the
    lock dir or a lock file in it is unsafe to use (see check_lock_dir), and TimeoutError, naming the lock dir and
    the holders, when n devices stay busy for timeout_s (None: $KIT_GPU_TIMEOUT_S, else an hour).
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
    namespace = Path(lock_dir) if lock_dir is not None else default_lock_dir(env)
    timeout_s = wait_timeout_s(env) if timeout_s is None else timeout_s
    with ExitStack() as folders:
        dir_fd = open_lock_dir(namespace, shared=True)
        folders.callback(os.close, dir_fd)
        if (job_folder := slurm_job_folder(env)) is not None:
            dir_fd = open_lock_dir(namespace / job_folder, shared=False, parent_fd=dir_fd)
            folders.callback(os.close, dir_fd)
            namespace = namespace / job_folder
        held, started = acquire(devices, n, dir_fd, namespace, timeout_s, poll_s)
    leased = ",".join(lock.device for lock in held)
    log.info(LEASED.format(devices=leased, visible=",".join(devices), source=device_source(env),
                           lock_dir=namespace, start=timestamp(started)))
    try:
        with environment(env, {**settings, "CUDA_VISIBLE_DEVICES": leased}):
            yield [lock.device for lock in held]
    finally:
        release(held)
        log.info(RELEASED.format(devices=leased, lock_dir=namespace, end=timestamp(time.time())))
