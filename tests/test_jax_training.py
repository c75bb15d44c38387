"""Training without TensorFlow: the numpy data stream, and train.py on KERAS_BACKEND=jax.

The stream tests run here (numpy only). The training runs are subprocesses with
``KERAS_BACKEND=jax``: a smoke run that lowers the loss, and a run killed with SIGKILL just
after a checkpoint and started again, which must end with exactly the weights of the
uninterrupted run.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from PIL import Image

from gladnet_tf import numpy_data
from tests.conftest import REPO

STEPS = 8
ARGS = ["--preset", "smoke", "--patch_size", "24", "--batch_size", "2", "--steps", str(STEPS),
        "--checkpoint_every", "2", "--log_every", "1", "--val_every", "0", "--keep_checkpoints", "2",
        "--learning_rate", "0.002"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Six pairs whose low image is the high image // 4 (so a crop shows whether it is shared)."""
    root = tmp_path_factory.mktemp("jax_data")
    rng = np.random.default_rng(3)
    for sub in ("low", "high"):
        (root / sub).mkdir()
    for i in range(6):
        high = (rng.random((40, 48, 3)) * 200 + 40).astype(np.uint8)
        Image.fromarray(high).save(root / "high" / f"{i}.png")
        Image.fromarray(high // 4).save(root / "low" / f"{i}.png")
    return root


def pairs_of(root):
    return [(str(root / "low" / f"{i}.png"), str(root / "high" / f"{i}.png")) for i in range(6)]


def test_stream_is_a_pure_function_of_seed_and_step(data):
    pairs = pairs_of(data)
    stream = numpy_data.PairStream(pairs, 24, 2, seed=5, workers=2)
    first = [next(stream) for _ in range(5)]
    stream.close()
    resumed = numpy_data.PairStream(pairs, 24, 2, seed=5, start_step=3, workers=1)
    for step in (3, 4):
        low, high = next(resumed)
        np.testing.assert_array_equal(low, first[step][0])
        np.testing.assert_array_equal(high, first[step][1])
    resumed.close()
    other = numpy_data.PairStream(pairs, 24, 2, seed=6).batch(0)
    assert not np.array_equal(other[0], first[0][0])
    for low, high in first:  # one crop and one flip/rotation for both images
        assert low.shape == high.shape == (2, 24, 24, 3) and low.dtype == np.float32
        np.testing.assert_array_equal(np.round(low * 255), np.round(high * 255) // 4)


def test_every_pair_once_per_epoch():
    for seed in (0, 1):
        for epoch in (0, 3):
            seen = sorted(numpy_data.file_index(seed, epoch * 7 + p, 7) for p in range(7))
            assert seen == list(range(7))
    orders = {tuple(numpy_data.file_index(0, e * 7 + p, 7) for p in range(7)) for e in range(4)}
    assert len(orders) > 1  # reshuffled each epoch


def test_augmentation_uses_all_eight_modes():
    image = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    results = {numpy_data.crop_and_augment(image, image, 4, np.random.default_rng(s))[0].tobytes()
               for s in range(200)}
    assert len(results) == 8


def jax_env():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install -r requirements-jax.txt)")
    return dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")


def train(data, run_dir, extra=()):
    return subprocess.run([sys.executable, "train.py", *ARGS, "--data", str(data), "--run_dir",
                           str(run_dir), *extra], cwd=REPO, env=jax_env(), capture_output=True,
                          text=True, timeout=900)


def weights(path):
    with h5py.File(path, "r") as f:
        arrays = []
        f.visititems(lambda name, item: arrays.append((name, item[()]))
                     if isinstance(item, h5py.Dataset) else None)
    return dict(arrays)


def losses(run_dir):
    lines = (run_dir / "log.txt").read_text().splitlines()
    return [float(line.split(" loss ")[1].split()[0]) for line in lines]


@pytest.mark.slow
def test_jax_run_lowers_the_loss_and_resumes_exactly_after_a_kill(data, tmp_path):
    whole = tmp_path / "whole"
    result = train(data, whole)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 JAX device(s)" in result.stderr
    assert (whole / "final.weights.h5").exists()
    final = json.loads((whole / "final.json").read_text())
    assert final["step"] == STEPS and final["backend"] == "jax"
    curve = losses(whole)
    assert len(curve) == STEPS and np.mean(curve[-3:]) < np.mean(curve[:3])

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "train.py", *ARGS, "--data", str(data), "--run_dir",
                                str(killed)], cwd=REPO, env=jax_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    marker = killed / "checkpoints" / "ckpt-4.optimizer.npz"
    deadline = time.time() + 600
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert marker.exists() and not (killed / "final.weights.h5").exists()
    result = train(data, killed)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from checkpoint" in result.stderr
    expected, got = weights(whole / "final.weights.h5"), weights(killed / "final.weights.h5")
    assert expected.keys() == got.keys() and len(expected) == 34
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert_ships_like_a_tensorflow_run(killed, tmp_path / "shipped")


def assert_ships_like_a_tensorflow_run(run_dir, checkpoint_dir):
    """A JAX run folder goes through gladnet_tf.ship as a TensorFlow one does."""
    from gladnet_tf import checkpoints, run_folder, ship

    kept = run_folder.jax_checkpoint_steps(str(run_dir / "checkpoints"))
    assert kept and kept[-1] == STEPS
    path, written = ship.step_weights(run_dir, kept[-1])
    assert not written and path.endswith(f"ckpt-{STEPS}.weights.h5")
    with pytest.raises(run_folder.TrainingError, match="kept"):
        ship.step_weights(run_dir, 1)
    target, record = ship.ship(str(run_dir / "final.weights.h5"), run_dir, "gladnet_jaxsmoke",
                               checkpoint_dir=str(checkpoint_dir))
    manifest = json.loads((checkpoint_dir / "MANIFEST.json").read_text())
    assert manifest["default"] == os.path.basename(target)
    assert record["sha256"] == checkpoints.sha256_of(target) == checkpoints.sha256_of(run_dir / "final.weights.h5")
    assert record["final"]["backend"] == "jax" and record["final"]["step"] == STEPS
    assert record["config"]["steps"] == STEPS
    # The average of the two kept checkpoints, shipped with how to rebuild it.
    from types import SimpleNamespace

    chosen = SimpleNamespace(step=None, average_steps=[str(s) for s in kept], run_dir=str(run_dir), weights=None)
    averaged, steps = ship._weights_to_ship(chosen)
    assert steps == kept and os.path.basename(averaged) == f"avg-{kept[0]}-{kept[-1]}-2.weights.h5"
    got, ends = weights(averaged), [weights(run_dir / "checkpoints" / f"ckpt-{s}.weights.h5") for s in kept]
    for name in got:
        np.testing.assert_allclose(got[name], (ends[0][name].astype(np.float64) + ends[1][name]) / 2, rtol=1e-6)
    recipe = REPO / "recipes" / "gladnet_bright12.json"
    _, record = ship.ship(averaged, run_dir, "gladnet_jaxavg", checkpoint_dir=str(checkpoint_dir),
                          made_by={"recipe": str(recipe), "stage": "bright12", "steps": steps})
    assert record["made_by"] == {"recipe": "recipes/gladnet_bright12.json", "stage": "bright12", "steps": kept}


@pytest.mark.slow
def test_data_parallel_over_two_devices_gives_the_one_device_losses(data, tmp_path):
    """keras.distribution.DataParallel over 2 virtual CPU devices: the batch is split, the
    gradients are combined, and the losses are those of one device with the same batch."""
    curves = {}
    for devices in (1, 2):
        env = jax_env()
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
        run_dir = tmp_path / f"devices{devices}"
        result = subprocess.run([sys.executable, "train.py", *ARGS, "--steps", "3", "--data", str(data),
                                 "--run_dir", str(run_dir)], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"{devices} JAX device(s)" in result.stderr
        curves[devices] = losses(run_dir)
    np.testing.assert_allclose(curves[2], curves[1], rtol=1e-4)
