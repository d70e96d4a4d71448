"""kit.log: the log contract of every command (plain lines, data errors as one line and exit 2, bugs as a
traceback in the log too, Python warnings and the kit's own warnings as log lines)."""

import logging
import os
import subprocess
import sys
import warnings

from pathlib import Path

import pytest

from kit.log import running


def test_a_data_error_is_one_error_line_and_exit_2(tmp_path):
    path = tmp_path / "job.log"
    with pytest.raises(SystemExit) as exit_info, running(str(path)):
        raise ValueError("train.csv: line 3: no column 'label'")
    assert exit_info.value.code == 2
    assert path.read_text(encoding="utf-8").splitlines()[-1].endswith("error: train.csv: line 3: no column 'label'")


def test_a_bug_leaves_its_traceback_in_the_log_and_is_raised(tmp_path):
    path = tmp_path / "job.log"
    with pytest.raises(RuntimeError, match="a bug"), running(str(path)):
        raise RuntimeError("a bug")
    text = path.read_text(encoding="utf-8")
    assert "Traceback" in text and "RuntimeError: a bug" in text


@pytest.mark.parametrize("argv, read", [
    (["config", "--schema"], 1),  # `| head -c 1`: the schema (about 100 kB) outgrows the pipe once head has gone
    (["config", "--show", "configs/config.yaml"], 0),  # `| true`: 6 kB, buffered until the command's end
])
def test_a_reader_that_closes_the_pipe_stops_the_command_quietly(argv, read):
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    process = subprocess.Popen([sys.executable, "-m", "kit", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment, cwd=Path(__file__).parents[1])
    assert len(process.stdout.read(read)) == read
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait() == 1 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_a_broken_pipe_that_is_not_the_output_is_a_bug_with_its_traceback(tmp_path):
    path = tmp_path / "job.log"
    with pytest.raises(BrokenPipeError), running(str(path)):
        raise BrokenPipeError(32, "a worker's pipe")
    assert "BrokenPipeError: [Errno 32] a worker's pipe" in path.read_text(encoding="utf-8")


def test_warnings_and_kit_log_records_become_log_lines(tmp_path):
    path = tmp_path / "job.log"
    with warnings.catch_warnings(), running(str(path)):  # catch_warnings restores showwarning afterwards
        warnings.simplefilter("always")
        warnings.warn("lbfgs failed to converge", RuntimeWarning)
        logging.getLogger("kit.gpu").warning("waiting for a GPU")
    text = path.read_text(encoding="utf-8")
    assert "warning: RuntimeWarning: lbfgs failed to converge (test_log.py:" in text
    assert "warning: waiting for a GPU" in text
