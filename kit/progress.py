"""Progress lines for long jobs: `<stage>: <done>/<total> (<pct>%), <rate> <unit>/s, about <time> left`.

At full size (100k labelled + 900k unlabelled posts) a corpus, word-vector or training job runs for minutes; its
log (logs/..., and Snakemake's output through stderr) must say where it stands. `Progress` writes through the
command's `log` callable (kit/log.py) at most once per `every` seconds of a monotonic clock: a first line when it
starts (no estimate yet: one item's rate says nothing), then the done count with its rate and time left, and always
a last line (done == total) with the elapsed time. Calling it per item costs a comparison and a clock read.
`stage` times a step that cannot report inside itself (one scikit-learn fit, one numpy pass): a line when it starts
and one with its elapsed time when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

Item = TypeVar("Item")
EVERY_S = 10.0  # issue 24: a long job says where it stands, yet a log of a ten-hour run stays readable


def duration(seconds: float) -> str:
    """'0.4 s', '7 s', '3 min 05 s', '2 h 04 min': coarse enough to read at a glance."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def rate_text(per_s: float) -> str:
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"


class Progress:
    """`progress.update(done)` (absolute) or `progress.advance(count)` as work gets done; see the module docstring.

    start: what was done before this process began (a resumed epoch), so the rate and time left count only the
    work this process did. note: extra text after the estimate (a training loss), shown when a line is written.
    """

    def __init__(self, log: Callable[[str], None], stage: str, total: int, unit: str = "", start: int = 0,
                 every: float = EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.log, self.stage, self.total, self.unit = log, stage, max(0, int(total)), unit
        self.start = self.done = start
        self.every, self.clock = every, clock
        self.started = self.last_line = clock()
        pct = 100.0 * start / self.total if self.total else 100.0
        log(f"{stage}: {start:,}/{self.total:,} ({pct:.0f}%), starting")

    def line(self, now: float) -> str:
        elapsed = now - self.started
        per_s = (self.done - self.start) / elapsed if elapsed > 0 else 0.0
        pct = 100.0 * self.done / self.total if self.total else 100.0
        unit = f" {self.unit}" if self.unit else ""
        if self.done >= self.total:
            left = f"done in {duration(elapsed)}"
        elif per_s > 0:
            left = f"about {duration((self.total - self.done) / per_s)} left"
        else:
            left = "time left unknown yet"
        return f"{self.stage}: {self.done:,}/{self.total:,} ({pct:.0f}%), {rate_text(per_s)}{unit}/s, {left}"

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        now = self.clock()
        if done >= self.total or now - self.last_line >= self.every:
            self.last_line = now
            self.log(self.line(now) + (f"; {note}" if note else ""))

    def advance(self, count: int = 1, note: str = "") -> None:
        self.update(self.done + count, note)


def tracked(items: Iterable[Item], log: Callable[[str], None], stage: str, total: int, unit: str = "",
            clock: Callable[[], float] = time.monotonic) -> Iterator[Item]:
    """Yield items, advancing a Progress of `total` after each (a loop over texts says where it stands)."""
    progress = Progress(log, stage, total, unit, clock=clock)
    for item in items:
        yield item
        progress.advance()


@contextmanager
def stage(log: Callable[[str], None], name: str, clock: Callable[[], float] = time.monotonic):
    """Log `<name> ...` on entry and `<name>: done in <elapsed>` on exit, for a step that cannot report inside."""
    started = clock()
    log(f"{name} ...")
    yield
    log(f"{name}: done in {duration(clock() - started)}")
