"""SIGKILL at chosen moments of a training run and of test.py, then the same command again.

Training is killed three times: in the middle of steps, while a checkpoint is being written,
and during validation. Each time the rerun must resume from a complete checkpoint, repeat at
most one checkpoint interval, continue the step counter and learning rate, and the finished
run must end with exactly the weights of an uninterrupted run (the data order is a pure
function of the seed and the step, and the CPU kernels run with op determinism).
"""

import hashlib
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, random_weights, run_python

pytestmark = pytest.mark.slow

CHECKPOINT_EVERY = 2
VAL_EVERY = 6
STEPS = 24
# Full-width GLADNet (so a checkpoint with its Adam slots takes a while to write), tiny patches.
ARGS = ["--preset", "smoke", "--patch_size", "24", "--batch_size", "2", "--deterministic",
        "--steps", str(STEPS), "--checkpoint_every", str(CHECKPOINT_EVERY), "--val_every", str(VAL_EVERY),
        "--log_every", "1", "--keep_checkpoints", "2"]
ENV = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill_data")
    rng = np.random.default_rng(1)
    for split, size, count in (("train", (40, 48), 6), ("val", (160, 200), 3)):
        for sub in ("low", "high"):
            (root / split / sub).mkdir(parents=True)
        for i in range(count):
            high = (rng.random((*size, 3)) * 200 + 30).astype(np.uint8)
            Image.fromarray(high).save(root / split / "high" / f"{i}.png")
            Image.fromarray(high // 4).save(root / split / "low" / f"{i}.png")
    return root


def command(data, run_dir):
    return [sys.executable, "train.py", *ARGS, "--data", str(data / "train"), "--val_data", str(data / "val"),
            "--run_dir", str(run_dir)]


class Run:
    """A training process whose log lines are read as they come."""

    def __init__(self, args):
        self.process = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, pattern, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.log.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"never saw {pattern!r}; log tail:\n{''.join(self.log[-20:])}")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        while not self.lines.empty():
            self.log.append(self.lines.get())

    def last_step(self):
        steps = [int(m.group(1)) for m in (re.search(r"step (\d+)/", l) for l in self.log) if m]
        return max(steps, default=0)


def final_weights(path):
    import h5py

    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
    return out


def test_training_survives_kills_at_steps_checkpoints_and_validation(data, tmp_path):
    reference = tmp_path / "reference"
    done = subprocess.run(command(data, reference), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

    run_dir = tmp_path / "killed"
    checkpoints = run_dir / "checkpoints"
    rng = random.Random(20180519)
    kills = []

    # 1. In the middle of a step: after a random step's log line, plus a random delay.
    run = Run(command(data, run_dir))
    run.wait_for(rf"step {rng.randrange(3, 6)}/")
    time.sleep(rng.uniform(0.0, 0.1))
    run.kill()
    kills.append(("step", run.last_step()))

    # 2. While a checkpoint is being written: TensorFlow writes into "<prefix>_temp/" first.
    run = Run(command(data, run_dir))
    deadline, caught = time.time() + 120, False
    while time.time() < deadline and run.process.poll() is None:
        if any("_temp" in name for name in os.listdir(checkpoints)):
            run.process.send_signal(signal.SIGKILL)
            caught = True
            break
        time.sleep(0.0005)
    run.kill()
    assert caught, "no checkpoint write was observed"
    kills.append(("checkpoint write", run.last_step()))

    # 3. During validation: validation starts right after the log line of a multiple of VAL_EVERY.
    run = Run(command(data, run_dir))
    line = run.wait_for(r"resumed from")
    resumed = int(re.search(r"at step (\d+)", line).group(1))
    target = (resumed // VAL_EVERY + 1) * VAL_EVERY
    run.wait_for(rf"step {target}/")
    run.kill()
    assert not any(f"step {target}: validation" in l for l in run.log), "validation finished before the kill"
    kills.append(("validation", target))

    # Every rerun: resumes from a complete checkpoint, loses at most one interval, and the
    # learning rate continues from the step.
    final = Run(command(data, run_dir))
    line = final.wait_for(r"resumed from")
    resumed = int(re.search(r"at step (\d+)", line).group(1))
    assert resumed % CHECKPOINT_EVERY == 0 and resumed >= kills[-1][1] - CHECKPOINT_EVERY
    first = final.wait_for(rf"step {resumed + 1}/")
    lr = float(re.search(r"lr ([0-9.e-]+)", first).group(1))
    assert lr == pytest.approx(1e-3 * 0.96 ** ((resumed + 1) / 100), rel=1e-3)
    final.wait_for(r"done:", timeout=300)
    final.process.wait()
    assert final.process.returncode == 0

    a, b = final_weights(reference / "final.weights.h5"), final_weights(run_dir / "final.weights.h5")
    assert len(a) == 34
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # No temporary checkpoint folder or file was left behind, and the kept ones restore.
    assert not [n for n in os.listdir(checkpoints) if "_temp" in n]
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp") or n.startswith(".tmp-")]


def test_test_py_killed_mid_folder_finishes_with_skip_existing(tmp_path):
    weights = random_weights(tmp_path, 5, "w.weights.h5")
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(10):
        Image.fromarray((rng.random((180, 240, 3)) * 70).astype(np.uint8)).save(folder / f"{i:02d}.png")
    args = ["test.py", "--input", str(folder), "--weights", str(weights)]

    reference = run_python(args + ["--output_dir", str(tmp_path / "reference")])
    assert reference.returncode == 0, reference.stderr[-2000:]

    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, *args, "--output_dir", str(out)], cwd=REPO, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and len([p for p in out.iterdir() if p.suffix == ".png"]) >= 3):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert 3 <= len(finished) < 10
    leftovers = [p.name for p in out.iterdir() if p.suffix != ".png"]  # a temp file from the kill, if any
    assert all(name.startswith(".tmp-") for name in leftovers)
    before = {name: (out / name).stat().st_mtime_ns for name in finished}

    rerun = run_python(args + ["--output_dir", str(out), "--skip_existing"])
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{10 - len(finished)} enhanced, {len(finished)} skipped, 0 failed" in rerun.stderr
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == before  # not redone

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "reference").iterdir())
    for path in sorted((tmp_path / "reference").iterdir()):
        assert digest(out / path.name) == digest(path), path.name  # complete and not corrupted
