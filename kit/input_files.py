"""What the kit will read as an input file: a regular file (or a link to one) of bounded size.

A data path in the config may name anything the file system holds. Read as a file, `/dev/zero` never ends (ingest
held 3 GiB when memory ran out), a named pipe (FIFO) blocks the opening until some other program writes into it, a
socket cannot be opened at all, and a symbolic link that loops or leads nowhere ends in Snakemake's "Missing input
files" without a word about the link. `problem(path)` says what is wrong with a path from os.stat alone, which
never opens it (so never blocks); `read_bytes(path)` reads a file that passed, checks again on the opened file (a
path swapped for a pipe after the check is still refused without blocking) and reads no more than its size.

The bound: ingest holds a whole file in memory, decoded and parsed, several times its size; the competition's
largest file (900k unlabelled posts) is some hundreds of MiB. MAX_BYTES is 2 GiB; the KIT_MAX_INPUT_GIB environment
variable (a number of GiB) sets another for the machine at hand, like threads, and is no part of any experiment.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_BYTES = 2 * 2**30
MAX_BYTES_VARIABLE = "KIT_MAX_INPUT_GIB"

# What os.stat can find where a file was expected, and why it is no input.
_KINDS = {
    stat.S_ISDIR: ("folder", ""),
    stat.S_ISCHR: ("character device", ": a device is read without end (/dev/zero) or gives nothing (/dev/null)"),
    stat.S_ISBLK: ("block device", ""),
    stat.S_ISFIFO: ("named pipe (FIFO)", ": opening it would wait for some program to write into it"),
    stat.S_ISSOCK: ("socket", ""),
}


class InputFileError(ValueError):
    """A path that is not a readable file of bounded size; the message names the path and why."""


def max_bytes() -> int:
    """The bound on an input file's size: KIT_MAX_INPUT_GIB when set, else MAX_BYTES."""
    value = os.environ.get(MAX_BYTES_VARIABLE)
    if value is None:
        return MAX_BYTES
    try:
        gib = float(value)
    except ValueError:
        gib = -1.0
    if not gib > 0:
        raise InputFileError(f"{MAX_BYTES_VARIABLE}={value!r}: must be a number of GiB greater than 0")
    return int(gib * 2**30)


def _size(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


def problem(path: str | Path) -> str | None:
    """Why path cannot be read as an input file, or None when it can, or does not exist (the caller says what a
    missing file means: a demo file is still to be written, an input is missing). Never opens path."""
    path = Path(path)
    try:
        status = path.stat()
    except ValueError as error:  # a NUL byte in the path
        return f"is not a path ({error})"
    except OSError as error:
        if error.errno == errno.ELOOP:
            try:
                return f"is a symbolic link that loops (it leads back to itself through {os.readlink(path)!r})"
            except OSError:
                return "goes through a symbolic link that loops"
        if error.errno == errno.ENOENT:
            try:
                return f"is a symbolic link to {os.readlink(path)!r}, which does not exist"
            except OSError:
                return None
        return f"cannot be examined ({error.strerror or error})"
    return _problem_of(status, f" (a link to {os.path.realpath(path)})" if path.is_symlink() else "")


def _problem_of(status: os.stat_result, through: str = "") -> str | None:
    for is_kind, (kind, why) in _KINDS.items():
        if is_kind(status.st_mode):
            return f"is a {kind}{through}, not a file{why}"
    if not stat.S_ISREG(status.st_mode):
        return f"is not a regular file{through}"
    if status.st_size > max_bytes():
        return (f"is {_size(status.st_size)}{through}, more than the {_size(max_bytes())} the kit reads from one file "
                f"(ingest holds a whole file in memory); set {MAX_BYTES_VARIABLE} to raise the bound")
    return None


def check(path: str | Path) -> None:
    """InputFileError("<path>: <why>") when path exists and cannot be read as an input file."""
    found = problem(path)
    if found:
        raise InputFileError(f"{path}: {found}")


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, at most the bound: InputFileError for what `problem` refuses, OSError when it cannot be
    opened (missing included). The file is opened without blocking and checked again once open."""
    check(path)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(descriptor)
        found = _problem_of(status)
        if found:
            raise InputFileError(f"{path}: {found}")
        os.set_blocking(descriptor, True)
        payload = handle.read(status.st_size + 1)  # one byte more than it holds: a file still being written shows
    if len(payload) > status.st_size:
        raise InputFileError(f"{path}: grew while being read (is something still writing it?); read it once it is "
                             "complete")
    return payload
