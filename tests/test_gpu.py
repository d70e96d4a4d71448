"""GPU leases with fake device counts and a private lock dir: real processes compete, crash and time out; files
planted in a shared lock dir are refused or left untouched; Snakemake runs GPU fold jobs that never share a card."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from kit.demo import make_demo
from kit.gpu import (
    LEASED,
    RELEASED,
    LockDirError,
    gpu_indices_from_nvidia_smi,
    gpu_lease,
    lock_path,
    parse_cuda_visible_devices,
    read_lease_log,
    simultaneous_holds,
    visible_devices,
)

REPO = Path(__file__).resolve().parents[1]

# A fold job in miniature: lease, report what it got, hold the lease until stdin closes (or die holding it).
HOLDER_JOB = """
import os, sys
from kit.gpu import gpu_lease
n, lock_dir, timeout_s, ending = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
with gpu_lease(n=n, lock_dir=lock_dir, timeout_s=timeout_s, poll_s=0.02) as devices:
    print(",".join(devices), os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
    if ending == "os._exit":
        os._exit(3)
    sys.stdin.read()
"""


def start_job(
    lock_dir: Path, gpu_count: int, n: int = 1, timeout_s: float = 10.0, ending: str = "stdin"
) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(KIT_FAKE_GPU_COUNT=str(gpu_count), PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER_JOB, str(n), str(lock_dir), str(timeout_s), ending],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def leased_by(job: subprocess.Popen) -> str:
    """The devices a job leased, once it has them; checks that it set CUDA_VISIBLE_DEVICES to exactly those."""
    line = job.stdout.readline().split()
    assert len(line) == 2, f"job printed {line}; stderr: {job.stderr.read() if job.poll() is not None else '(running)'}"
    devices, cuda_visible = line
    assert cuda_visible == devices
    return devices


def finish(job: subprocess.Popen) -> None:
    job.stdin.close()
    assert job.wait(timeout=10) == 0, job.stderr.read()


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"CUDA_VISIBLE_DEVICES": "2,5"}, ["2", "5"]),
        ({"CUDA_VISIBLE_DEVICES": " 0, 1 "}, ["0", "1"]),
        ({"CUDA_VISIBLE_DEVICES": ""}, []),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, []),
        ({"CUDA_VISIBLE_DEVICES": "0,-1,1"}, ["0"]),  # CUDA drops everything from the first invalid id
        ({"CUDA_VISIBLE_DEVICES": "GPU-8e0f,GPU-11aa"}, ["GPU-8e0f", "GPU-11aa"]),
        ({"KIT_FAKE_GPU_COUNT": "3"}, ["0", "1", "2"]),
        ({"KIT_FAKE_GPU_COUNT": "0"}, []),
        ({"KIT_FAKE_GPU_COUNT": "4", "CUDA_VISIBLE_DEVICES": "3"}, ["3"]),  # the scheduler's choice wins
    ],
)
def test_visible_devices(env, expected):
    assert visible_devices(env) == expected


def test_parse_cuda_visible_devices_keeps_order():
    assert parse_cuda_visible_devices("5,2") == ["5", "2"]


def test_bad_fake_gpu_count_names_the_variable():
    with pytest.raises(ValueError, match="KIT_FAKE_GPU_COUNT"):
        visible_devices({"KIT_FAKE_GPU_COUNT": "two"})


def test_nvidia_smi_listing_gives_card_indices_not_mig_slices():
    listing = (
        "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-5d1c2a4e-0000-1111-2222-333344445555)\n"
        "  MIG 3g.40gb     Device  0: (UUID: MIG-1f2e3d4c-0000-1111-2222-333344445555)\n"
        "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-77aa2a4e-0000-1111-2222-333344445555)\n"
    )
    assert gpu_indices_from_nvidia_smi(listing) == ["0", "1"]


def test_lock_file_names_stay_inside_the_lock_dir(tmp_path):
    path = lock_path(tmp_path, "MIG-4f/../1")
    assert path.parent == tmp_path and path.name == "gpuMIG-4f_.._1.lock"


def test_concurrent_jobs_get_distinct_devices_and_a_fourth_waits_for_a_free_one(tmp_path):
    jobs = [start_job(tmp_path, gpu_count=3) for _ in range(3)]
    leased = [leased_by(job) for job in jobs]
    assert sorted(leased) == ["0", "1", "2"]

    late_job = start_job(tmp_path, gpu_count=3)
    finish(jobs[1])
    assert leased_by(late_job) == leased[1]
    for job in (jobs[0], jobs[2], late_job):
        finish(job)


@pytest.mark.parametrize("ending", ["SIGKILL", "os._exit"])
def test_a_job_that_dies_holding_a_lease_frees_it(tmp_path, ending):
    job = start_job(tmp_path, gpu_count=1, ending=ending)
    assert leased_by(job) == "0"
    if ending == "SIGKILL":
        job.kill()
    job.wait(timeout=10)
    job.stdin.close()

    with gpu_lease(n=1, lock_dir=tmp_path, timeout_s=1.0, poll_s=0.01, env={"KIT_FAKE_GPU_COUNT": "1"}) as devices:
        assert devices == ["0"]


def test_waiting_times_out_with_the_lock_dir_and_the_holder(tmp_path):
    job = start_job(tmp_path, gpu_count=1)
    leased_by(job)
    env = {"KIT_FAKE_GPU_COUNT": "1", "KIT_GPU_TIMEOUT_S": "0.2"}
    with pytest.raises(TimeoutError) as error:
        with gpu_lease(n=1, lock_dir=tmp_path, poll_s=0.05, env=env):
            pytest.fail("leased a device another process holds")
    message = str(error.value)
    assert "after waiting 0.2 s" in message
    assert str(tmp_path) in message and f"gpu0: pid={job.pid} " in message
    finish(job)


@pytest.mark.parametrize("timeout", ["soon", "-1", "nan"])
def test_bad_timeout_setting_names_the_variable(tmp_path, timeout):
    with pytest.raises(ValueError, match="KIT_GPU_TIMEOUT_S"):
        with gpu_lease(n=1, lock_dir=tmp_path, env={"KIT_FAKE_GPU_COUNT": "1", "KIT_GPU_TIMEOUT_S": timeout}):
            pytest.fail("leased with an invalid timeout setting")


def test_a_waiting_multi_gpu_job_holds_no_card_while_it_waits(tmp_path):
    job = start_job(tmp_path, gpu_count=2)
    assert leased_by(job) == "0"
    outcome = {}

    def wait_for_two():
        try:
            with gpu_lease(n=2, lock_dir=tmp_path, timeout_s=0.6, poll_s=0.05, env={"KIT_FAKE_GPU_COUNT": "2"}):
                outcome["leased"] = True
        except TimeoutError as error:
            outcome["error"] = error

    waiter = threading.Thread(target=wait_for_two)
    waiter.start()
    with gpu_lease(n=1, lock_dir=tmp_path, timeout_s=0.5, poll_s=0.01, env={"KIT_FAKE_GPU_COUNT": "2"}) as devices:
        assert devices == ["1"]
    waiter.join()
    assert isinstance(outcome.get("error"), TimeoutError)
    finish(job)


def test_scheduler_devices_are_respected_and_env_is_restored(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "2,5", "SLURM_JOB_ID": "77"}
    with gpu_lease(n=1, lock_dir=tmp_path, timeout_s=0.5, poll_s=0.01, env=env) as first:
        assert first == ["2"] and env["CUDA_VISIBLE_DEVICES"] == "2"
        second_env = {"CUDA_VISIBLE_DEVICES": "2,5", "SLURM_JOB_ID": "77"}
        with gpu_lease(n=1, lock_dir=tmp_path, timeout_s=0.5, poll_s=0.01, env=second_env) as second:
            assert second == ["5"] and second_env["CUDA_VISIBLE_DEVICES"] == "5"
        assert (tmp_path / "slurm-job-77" / "gpu2.lock").is_file()
    assert env == {"CUDA_VISIBLE_DEVICES": "2,5", "SLURM_JOB_ID": "77"}


def test_two_slurm_jobs_on_one_node_both_see_device_0_and_neither_waits(tmp_path):
    # With cgroup-confined GPUs SLURM numbers each job's card 0, though they are different cards.
    job_a = {"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "101"}
    job_b = {"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "102"}
    with gpu_lease(n=1, lock_dir=tmp_path, timeout_s=0, env=job_a) as devices_a:
        with gpu_lease(n=1, lock_dir=tmp_path, timeout_s=0, env=job_b) as devices_b:
            assert devices_a == devices_b == ["0"]


def test_detected_devices_are_pinned_to_pci_bus_order(tmp_path):
    env = {"KIT_FAKE_GPU_COUNT": "2"}
    with gpu_lease(n=2, lock_dir=tmp_path, timeout_s=0, env=env) as devices:
        assert devices == ["0", "1"]
        assert env["CUDA_VISIBLE_DEVICES"] == "0,1" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env == {"KIT_FAKE_GPU_COUNT": "2"}


def test_n_zero_hides_the_gpus_and_takes_no_lock(tmp_path):
    env = {"KIT_FAKE_GPU_COUNT": "2"}
    with gpu_lease(n=0, lock_dir=tmp_path / "locks", env=env) as devices:
        assert devices == [] and env["CUDA_VISIBLE_DEVICES"] == ""
    assert "CUDA_VISIBLE_DEVICES" not in env
    assert not (tmp_path / "locks").exists()


def test_asking_for_a_gpu_on_a_machine_without_one_runs_on_cpu_and_says_so(tmp_path, caplog):
    env = {"KIT_FAKE_GPU_COUNT": "0"}
    with caplog.at_level(logging.WARNING, logger="kit.gpu"):
        with gpu_lease(n=1, lock_dir=tmp_path, env=env) as devices:
            assert devices == [] and env["CUDA_VISIBLE_DEVICES"] == ""
    assert "running on CPU" in caplog.text


def test_more_gpus_than_visible_is_an_error_not_a_wait(tmp_path):
    with pytest.raises(ValueError, match=r"asked for 3 GPU\(s\) but only 2"):
        with gpu_lease(n=3, lock_dir=tmp_path, env={"KIT_FAKE_GPU_COUNT": "2"}):
            pytest.fail("leased more devices than exist")


def test_default_lock_dir_comes_from_the_environment(tmp_path):
    env = {"KIT_FAKE_GPU_COUNT": "1", "KIT_GPU_LOCK_DIR": str(tmp_path / "node-local")}
    with gpu_lease(n=1, timeout_s=0, env=env):
        assert (tmp_path / "node-local" / "gpu0.lock").is_file()


# The lock dir is shared by every user's jobs: what is in it may have been planted (issue 8).
ANOTHER_UID = 4242  # an account that does not exist here, standing in for another user


def belong_to_another_user(path: Path, monkeypatch) -> None:
    """Make path another user's: chown it where running as root allows, else make this process another user."""
    if os.geteuid() == 0:
        os.chown(path, ANOTHER_UID, ANOTHER_UID, follow_symlinks=False)
    else:
        real_uid = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)


@pytest.fixture
def victim(tmp_path):
    """A file of the user's that a planted lock file points at: (path, its content, its mode)."""
    path = tmp_path / "thesis.tex"
    path.write_text("months of work\n")
    path.chmod(0o600)
    return path, "months of work\n", 0o600


def lease_one(lock_dir: Path, env: dict | None = None):
    return gpu_lease(n=1, lock_dir=lock_dir, timeout_s=0, env=env if env is not None else {"KIT_FAKE_GPU_COUNT": "1"})


def test_a_symlink_planted_as_a_lock_file_is_refused_and_its_target_untouched(tmp_path, victim):
    path, content, mode = victim
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "gpu0.lock").symlink_to(path)
    with pytest.raises(LockDirError, match=r"gpu0\.lock is a symbolic link .*Remove it"):
        with lease_one(locks):
            pytest.fail("leased through a planted symlink")
    assert path.read_text() == content and stat.S_IMODE(path.stat().st_mode) == mode


def test_a_hard_link_planted_as_a_lock_file_locks_but_never_writes_its_target(tmp_path, victim):
    path, content, mode = victim
    locks = tmp_path / "locks"
    locks.mkdir()
    os.link(path, locks / "gpu0.lock")
    with lease_one(locks) as devices:
        assert devices == ["0"]
        assert path.read_text() == content
    assert path.read_text() == content and stat.S_IMODE(path.stat().st_mode) == mode


def test_a_fifo_planted_as_a_lock_file_is_refused_without_hanging(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()
    os.mkfifo(locks / "gpu0.lock")
    with pytest.raises(LockDirError, match="not a regular file"):
        with lease_one(locks):
            pytest.fail("leased a FIFO")


def test_another_users_lock_file_is_locked_but_never_chmod_or_truncated(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(0o1777)
    lock_file = locks / "gpu0.lock"
    lock_file.write_text("pid=1 host=theirs since=yesterday\n")
    lock_file.chmod(0o640)
    belong_to_another_user(lock_file, monkeypatch)
    with lease_one(locks) as devices:
        assert devices == ["0"]
        with pytest.raises(TimeoutError, match="busy: gpu0: pid=1 host=theirs"):
            with lease_one(locks):
                pytest.fail("the read-only lock did not hold")
    assert lock_file.read_text() == "pid=1 host=theirs since=yesterday\n"
    assert stat.S_IMODE(lock_file.stat().st_mode) == 0o640


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_lock_dir_others_can_write_without_the_sticky_bit_is_refused(tmp_path, mode):
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(mode)
    with pytest.raises(LockDirError, match=rf"mode {mode:04o}\) can be written by other users but has no sticky bit"):
        with lease_one(locks):
            pytest.fail("leased in an unsafe lock dir")
    assert not (locks / "gpu0.lock").exists()


def test_a_shared_sticky_lock_dir_of_another_user_is_used(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(0o1777)
    belong_to_another_user(locks, monkeypatch)
    with lease_one(locks) as devices:
        assert devices == ["0"]


def test_another_users_lock_dir_that_is_not_shared_is_refused(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(0o755)
    belong_to_another_user(locks, monkeypatch)
    with pytest.raises(LockDirError, match=r"belongs to .* but should be a sticky folder shared by all users"):
        with lease_one(locks):
            pytest.fail("leased in another user's private folder")


def test_a_slurm_job_folder_made_by_another_user_is_refused_even_when_sticky(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    (locks / "slurm-job-77").mkdir(parents=True)
    locks.chmod(0o1777)
    (locks / "slurm-job-77").chmod(0o1777)
    belong_to_another_user(locks / "slurm-job-77", monkeypatch)
    with pytest.raises(LockDirError, match="should be a folder of this SLURM job's own"):
        with lease_one(locks, env={"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "77"}):
            pytest.fail("leased in a job folder someone else made")


def test_a_symlinked_lock_dir_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "locks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LockDirError, match="is a symbolic link"):
        with lease_one(tmp_path / "locks"):
            pytest.fail("leased through a symlinked lock dir")
    assert not (tmp_path / "elsewhere" / "gpu0.lock").exists()


def test_a_new_lock_dir_is_shared_and_sticky_and_lock_files_readable_whatever_the_umask(tmp_path):
    umask = os.umask(0o077)
    try:
        with lease_one(tmp_path / "locks"):
            pass
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "locks").stat().st_mode) == 0o1777
    assert stat.S_IMODE((tmp_path / "locks" / "gpu0.lock").stat().st_mode) == 0o644


# The lease's log lines are the record that no card was held twice (CI's SLURM run and bench/gpu_check.py read them).
def test_a_lease_logs_lines_that_read_back_as_a_span_enclosing_the_hold(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="kit.gpu"):
        before = time.time()
        with lease_one(tmp_path, env={"CUDA_VISIBLE_DEVICES": "3,4", "SLURM_JOB_ID": "9"}):
            inside = time.time()
        after = time.time()
    assert "of 3,4 (CUDA_VISIBLE_DEVICES set by SLURM job 9)" in caplog.text
    [record] = read_lease_log(caplog.text)
    assert record.devices == ["3"] and record.lock_dir == str(tmp_path / "slurm-job-9")
    assert before <= record.start <= inside <= record.end <= after


def lease_lines(lock_dir: str, devices: str, start: int, end: int | None) -> str:
    """A fold job's log of one lease from second `start` to `end` of a minute (None: killed while holding it)."""
    at = "2026-11-29T12:00:{:02d}.000000+00:00".format
    leased = LEASED.format(devices=devices, visible="0,1", source="KIT_FAKE_GPU_COUNT=2", lock_dir=lock_dir,
                           start=at(start))
    lines = f"12:00:00 info: {leased}\n"
    if end is not None:
        lines += f"12:00:09 info: {RELEASED.format(devices=devices, lock_dir=lock_dir, end=at(end))}\n"
    return lines


def clashes(*logs: str) -> list[str]:
    return simultaneous_holds(read_lease_log("".join(logs)))


def test_simultaneous_holds_are_found_per_device_and_lock_dir():
    assert clashes(lease_lines("/l", "0", 0, 5), lease_lines("/l", "0", 5, 9)) == []  # back to back
    assert clashes(lease_lines("/l", "0", 0, 5), lease_lines("/l", "1", 1, 4), lease_lines("/job", "0", 1, 4)) == []
    [clash] = clashes(lease_lines("/l", "0,1", 0, 5), lease_lines("/l", "1", 4, 6))
    assert clash.startswith("GPU 1 (lock dir /l) held from")
    [killed] = clashes(lease_lines("/l", "0", 0, None), lease_lines("/l", "0", 30, 31))
    assert "never released" in killed


def run_snakemake(workdir: Path, env: dict, *args: str) -> None:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
def test_snakemake_runs_four_gpu_fold_jobs_on_two_fake_cards_never_sharing_one(tmp_path):
    config = {
        "data": {"train": "comp/train.csv", "test": "comp/test.csv"},
        "folds": {"k": 2, "seed": 1},
        "variants": ["raw"],
        "models": {
            "one_gpu": {"kind": "sklearn", "gpu": 1, "features": "char", "min_df": 1},
            "two_gpus": {"kind": "sklearn", "gpu": 2, "features": "char", "estimator": "linear_svm", "min_df": 1},
        },
    }
    files = make_demo(tmp_path / "comp", n_train=300, n_test=60, n_unlabeled=50, seed=2)
    files["train"].rename(tmp_path / "comp" / "train.csv")
    files["test"].rename(tmp_path / "comp" / "test.csv")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {key: value for key, value in os.environ.items() if key not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(KIT_FAKE_GPU_COUNT="2", KIT_GPU_LOCK_DIR=str(tmp_path / "locks"), PYTHONPATH=str(REPO))
    fold_files = [f"oof/{model}.raw.s0/fold{fold}.npz" for model in config["models"] for fold in (0, 1)]
    run_snakemake(tmp_path, env, *fold_files, "--configfile", "config.yaml", "-j4", "--resources", "gpu=2")

    logs = sorted((tmp_path / "logs" / "fit").glob("*.log"))
    assert len(logs) == 4 and all((tmp_path / path).is_file() for path in fold_files)
    records = []
    for path in logs:
        [record] = read_lease_log(path.read_text())
        assert record.end is not None and record.lock_dir == str(tmp_path / "locks")
        assert len(record.devices) == (2 if path.name.startswith("two_gpus") else 1)
        records.append(record)
    assert {device for record in records for device in record.devices} == {"0", "1"}
    assert simultaneous_holds(records) == []
