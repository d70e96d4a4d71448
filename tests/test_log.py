"""kit.log: the log contract of every command (plain lines, data errors as one line and exit 2, bugs as a
traceback in the log too, Python warnings and the kit's own warnings as log lines)."""

import logging
import subprocess
import sys
import warnings

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


def test_a_reader_that_closes_the_pipe_stops_the_command_quietly():
    """`kit config --schema | head -1`: the schema (about 100 kB) outgrows the pipe once head has gone."""
    process = subprocess.Popen([sys.executable, "-m", "kit", "config", "--schema"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout.read(1) == b"{"
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait() == 1 and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_warnings_and_kit_log_records_become_log_lines(tmp_path):
    path = tmp_path / "job.log"
    with warnings.catch_warnings(), running(str(path)):  # catch_warnings restores showwarning afterwards
        warnings.simplefilter("always")
        warnings.warn("lbfgs failed to converge", RuntimeWarning)
        logging.getLogger("kit.gpu").warning("waiting for a GPU")
    text = path.read_text(encoding="utf-8")
    assert "warning: RuntimeWarning: lbfgs failed to converge (test_log.py:" in text
    assert "warning: waiting for a GPU" in text
