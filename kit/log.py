"""The log contract of every command a rule runs: plain timestamped lines into the rule's log file, echoed to stderr.

`running(log_path)` wraps a command: the kit's own warnings (the GPU lease waiting) and Python warnings
(scikit-learn's ConvergenceWarning) become log lines; a data or config error (a ValueError, which names its file and
field) becomes one `error:` line and exit code 2; any other exception (a bug) leaves its traceback in the log too.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path


class Log:
    """Plain timestamped lines into the rule's log file, echoed to stderr."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, file=sys.stderr, flush=True)
        self.file_only(line)

    def file_only(self, text: str) -> None:
        """Text into the log file only (what stderr shows already, a traceback say), ending in a newline."""
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")

    def rich(self, renderable) -> None:
        """Render a rich object (a table) to stderr and as plain text into the log."""
        from rich.console import Console

        Console(stderr=True).print(renderable)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                Console(file=handle, width=160, no_color=True).print(renderable)


class ForwardToLog(logging.Handler):
    """Library warnings (the GPU lease waiting, a job falling back to CPU) belong in the rule's log too."""

    def __init__(self, log: Log):
        super().__init__(level=logging.INFO)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        self.log(f"{record.levelname.lower()}: {record.getMessage()}")


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end is closed (poll reports an error on it); False where that cannot
    be told (no poll, stdout not a file)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def running(log_path: str | None):
    """Yield the command's Log; route warnings into it; turn a data or config error into `error:` and exit 2."""
    log = Log(log_path)
    kit_logger = logging.getLogger("kit")
    for handler in [h for h in kit_logger.handlers if isinstance(h, ForwardToLog)]:
        kit_logger.removeHandler(handler)  # a second command in one process (tests) logs to its own file only
    kit_logger.addHandler(ForwardToLog(log))
    kit_logger.setLevel(logging.INFO)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        log(f"warning: {category.__name__}: {message} ({Path(filename).name}:{lineno})")

    warnings.showwarning = show
    try:
        yield log
        sys.stdout.flush()  # here, where a reader that went away is caught, not at the interpreter's exit
    except (ValueError, FileNotFoundError) as error:
        # Data and config errors already name their file and field: show them plainly, not as a traceback.
        log(f"error: {error}")
        sys.exit(2)
    except BrokenPipeError:
        if not stdout_reader_gone():  # another pipe or socket broke: a bug, with its traceback
            log.file_only(traceback.format_exc())
            raise
        # The reader of the output went away (`kit scores --json | head -1`): stop quietly, as a Unix tool does, with
        # stdout pointed at /dev/null so that the interpreter's last flush finds no closed pipe either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        log.file_only("stopped: the reader of the output closed it")
        sys.exit(1)
    except Exception:
        log.file_only(traceback.format_exc())  # a bug's traceback belongs in the rule's log, not only on stderr
        raise
