"""Multi-worker training: 2 worker processes on loopback match `mirrored`, and a job that
loses a worker resumes from the last checkpoint when restarted."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO, run_python
from tests.test_training import TINY, dataset  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(dataset, run_dir, steps, log_dir):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log = open(log_dir / f"worker{index}-{time.monotonic_ns()}.log", "w")
        processes.append(subprocess.Popen(
            [sys.executable, "train.py", "--preset", "smoke", "--data", str(dataset), "--run_dir", str(run_dir),
             *TINY, "--strategy", "multi_worker", "--steps", str(steps), "--checkpoint_every", "2", "--val_every", "0"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def wait_all(processes, timeout=240):
    deadline = time.time() + timeout
    try:
        for p in processes:
            p.wait(timeout=max(1, deadline - time.time()))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [p.returncode for p in processes]


def final_weights(run_dir):
    import h5py

    out = {}
    with h5py.File(run_dir / "final.weights.h5") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
    return out


def test_two_workers_match_mirrored_and_survive_a_lost_worker(dataset, tmp_path):  # noqa: F811
    logs = tmp_path / "logs"
    logs.mkdir()
    steps = 24
    # 1. Uninterrupted multi-worker run (2 workers x 1 CPU replica, batch 2 each: global 4).
    reference = tmp_path / "multi_worker"
    assert wait_all(start_workers(dataset, reference, steps, logs)) == [0, 0], [p.read_text()[-2000:] for p in logs.iterdir()]
    # 2. The same global batch with `mirrored` over 2 logical CPU devices in one process.
    mirrored = tmp_path / "mirrored"
    result = run_python(["train.py", "--preset", "smoke", "--data", str(dataset), "--run_dir", str(mirrored), *TINY,
                         "--strategy", "mirrored", "--cpu_replicas", "2", "--steps", str(steps),
                         "--checkpoint_every", "2", "--val_every", "0"])
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = final_weights(reference), final_weights(mirrored)
    assert len(a) == 34
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, rtol=1e-5, err_msg=key)

    # 3. Lose worker 1 after the checkpoint of step 4, then restart the whole job.
    interrupted = tmp_path / "interrupted"
    processes = start_workers(dataset, interrupted, steps, logs)
    deadline = time.time() + 180
    while time.time() < deadline and not (interrupted / "checkpoints" / "ckpt-4.index").exists():
        time.sleep(0.02)
    processes[1].send_signal(signal.SIGKILL)
    time.sleep(1.0)
    processes[0].kill()  # the chief cannot go on without its peer; the job is restarted
    wait_all(processes, timeout=30)
    assert not (interrupted / "final.weights.h5").exists(), "the job finished before a worker was lost"

    before = set(logs.iterdir())
    assert wait_all(start_workers(dataset, interrupted, steps, logs)) == [0, 0]
    chief_log = next(p for p in set(logs.iterdir()) - before if p.name.startswith("worker0")).read_text()
    assert "resumed from" in chief_log
    resumed_at = int(chief_log.split("at step ")[1].split(" ")[0])
    assert resumed_at >= 4 and resumed_at % 2 == 0
    c = final_weights(interrupted)
    for key in a:  # the data order and the optimizer state continued exactly
        np.testing.assert_array_equal(c[key], a[key], err_msg=key)
