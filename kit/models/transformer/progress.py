"""Per-epoch progress: a transient rich bar on a terminal, and kit.progress lines through `log` (batches done, rate,
time left in the epoch, then loss, learning rate and samples/s, and while epochs remain after this one the time
left for all of them at this epoch's rate) at most one per 10 s, the first and last always.

The bar is drawn only when stderr is a terminal and vanishes when the epoch ends, so a rule's log file gets the
plain lines and nothing else.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

from kit.progress import EVERY_S, Progress, duration


class EpochProgress:
    """Use as `with EpochProgress(...) as progress: progress.update(...)` once per optimizer step."""

    def __init__(self, log: Callable[[str], None], epoch: int, epochs: int, total_batches: int, start_batch: int = 0,
                 show_bar: bool | None = None, every: float = EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.title = f"epoch {epoch + 1}/{epochs}"
        self.epochs, self.epochs_after = epochs, epochs - epoch - 1
        self.total, self.start_batch = total_batches, start_batch
        self.show_bar = sys.stderr.isatty() if show_bar is None else show_bar
        self.lines = Progress(log, self.title, total_batches, "batches", start=start_batch, every=every, clock=clock)
        self.samples = 0
        self.started = clock()
        self.bar = None

    def __enter__(self) -> "EpochProgress":
        if self.show_bar:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"), console=Console(file=sys.stderr), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.title, total=self.total, completed=self.start_batch, stats="")
        return self

    def samples_per_s(self) -> float:
        return self.samples / max(self.lines.clock() - self.started, 1e-9)

    def update(self, batches_done: int, samples: int, mean_loss: float, lr: float) -> None:
        """batches_done: micro-batches finished in this epoch; samples: texts trained since the last update."""
        self.samples += samples
        stats = f"loss {mean_loss:.4f}  lr {lr:.3g}  {self.samples_per_s():.1f} samples/s"
        batches_per_s = (batches_done - self.start_batch) / max(self.lines.clock() - self.started, 1e-9)
        if self.epochs_after and batches_done > self.start_batch:
            left = (self.total - batches_done + self.epochs_after * self.total) / batches_per_s
            stats += f"; all {self.epochs} epochs: about {duration(left)} left"
        if self.bar is not None:
            self.bar.update(self.task, completed=batches_done, stats=stats)
        self.lines.update(batches_done, note=stats)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
