"""GPU leases with fake device counts and a private lock dir: real processes compete, crash and time out."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kit.gpu import (
    gpu_indices_from_nvidia_smi,
    gpu_lease,
    lock_path,
    parse_cuda_visible_devices,
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
