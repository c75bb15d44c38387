"""Training runs: smoke, resume after SIGKILL, NaN stop, and mirrored == one device."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gladnet_tf import config as config_lib
from tests.conftest import REPO, run_python, write_pairs

# A narrow GLADNet keeps these runs to seconds; the graph is the same.
TINY = ["--global_filters", "8", "--detail_filters", "8", "--patch_size", "24", "--batch_size", "2", "--deterministic"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs"), count=6, height=36, width=44, low=40, divisor=5)


def assert_same_weights(path_a, path_b):
    from gladnet_tf import model as model_lib

    def weights(path):
        model = model_lib.GLADNet(global_filters=8, detail_filters=8)
        model.load_weights(path)
        return [np.asarray(v) for v in model.weights]

    a, b = weights(path_a), weights(path_b)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def train_args(dataset, run_dir, *extra):
    return ["train.py", "--preset", "smoke", "--data", str(dataset), "--val_data", str(dataset),
            "--run_dir", str(run_dir), *TINY, *extra]


def test_config_round_trips_through_json():
    config = config_lib.TrainConfig(data="d", patch_size=64, channel_order="original")
    assert config_lib.TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown config keys"):
        config_lib.TrainConfig.from_json('{"nope": 1}')


def test_smoke_run_writes_the_run_folder_and_resumes(dataset, tmp_path):
    run_dir = tmp_path / "run"
    first = run_python(train_args(dataset, run_dir, "--steps", "4", "--checkpoint_every", "2"))
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ["config.json", "final.weights.h5", "final.json", "best.weights.h5", "best.json", "log.txt", "tensorboard"]:
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "final.json").read_text())["step"] == 4
    assert "step 4/4 loss" in (run_dir / "log.txt").read_text()
    # The model part of the step-4 checkpoint is what final.weights.h5 holds.
    extracted = run_python(["-m", "gladnet_tf.checkpoints", "--run_dir", str(run_dir), "--step", "4"])
    assert extracted.returncode == 0, extracted.stderr[-3000:]
    assert_same_weights(run_dir / "weights" / "step-4.weights.h5", run_dir / "final.weights.h5")
    missing = run_python(["-m", "gladnet_tf.checkpoints", "--run_dir", str(run_dir), "--step", "3"])
    assert missing.returncode == 1 and "ckpt-3: no such checkpoint (kept: ckpt-2, ckpt-4)" in missing.stderr
    second = run_python(train_args(dataset, run_dir, "--steps", "6", "--checkpoint_every", "2"))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stderr and "at step 4 of 6" in second.stderr
    assert "step 5/6" in second.stderr and "step 1/" not in second.stderr
    assert json.loads((run_dir / "final.json").read_text())["step"] == 6
    mismatch = run_python(train_args(dataset, run_dir, "--steps", "6", "--seed", "5"))
    assert mismatch.returncode == 1 and "another configuration" in mismatch.stderr


def test_bad_pairs_stop_training_unless_skipped(dataset, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    (data / "low" / "lonely.png").write_bytes((data / "low" / "0.png").read_bytes())
    result = run_python(train_args(data, tmp_path / "r1", "--steps", "1"))
    assert result.returncode == 1 and "lonely.png: no partner" in result.stderr
    result = run_python(train_args(data, tmp_path / "r2", "--steps", "1", "--skip_bad_pairs"))
    assert result.returncode == 0, result.stderr[-2000:]


def test_killed_run_resumes_to_the_same_weights(dataset, tmp_path):
    """SIGKILL after the first checkpoint; the rerun finishes with the uninterrupted weights."""
    import h5py

    reference = tmp_path / "reference"
    args = ["--steps", "8", "--checkpoint_every", "2", "--val_every", "0"]
    done = run_python(train_args(dataset, reference, *args))
    assert done.returncode == 0, done.stderr[-2000:]

    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen([sys.executable, *train_args(dataset, killed, *args)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    state = killed / "checkpoints" / "checkpoint"  # written after the shards: ckpt-4 is complete

    def has_checkpoint_4():
        try:
            return '"ckpt-4"' in state.read_text()
        except OSError:
            return False

    while time.time() < deadline and not has_checkpoint_4():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "final.weights.h5").exists(), "the run finished before it could be killed"
    resumed = run_python(train_args(dataset, killed, *args))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    restored_step = int(resumed.stderr.split("at step ")[1].split(" ")[0])
    assert restored_step >= 4  # at most one checkpoint interval (2 steps) was lost

    def weights(path):
        with h5py.File(path) as f:
            out = {}
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None)
            return out

    a, b = weights(reference / "final.weights.h5"), weights(killed / "final.weights.h5")
    assert a.keys() == b.keys() and len(a) == 34
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


MIRRORED_SCRIPT = r"""
import json, sys
import numpy as np, tensorflow as tf, keras
from gladnet_tf import config as config_lib, training
training.configure_cpu_replicas(2)
config = config_lib.TrainConfig(global_filters=8, detail_filters=8, batch_size=4)
rng = np.random.default_rng(0)
high = rng.random((4, 24, 24, 3), dtype=np.float32)
low = high * 0.3
results = {}
for name in ["default", "mirrored"]:
    strategy = training.make_strategy(name, 2)
    per_replica = 4 // strategy.num_replicas_in_sync
    keras.utils.set_random_seed(1)
    model, optimizer, loss_fn = training.build(config, strategy)
    step = training.make_train_step(model, optimizer, loss_fn, strategy, global_batch_size=4)
    dataset = tf.data.Dataset.from_tensors((low, high)).repeat(3)
    losses = [float(step(batch)) for batch in strategy.experimental_distribute_dataset(dataset)]
    results[name] = {"replicas": strategy.num_replicas_in_sync, "losses": losses,
                     "weights": [w.tolist() for w in model.get_weights()]}
print(json.dumps(results))
"""


def test_mirrored_over_two_cpus_matches_one_device():
    result = run_python(["-c", MIRRORED_SCRIPT])
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["default"]["replicas"] == 1 and results["mirrored"]["replicas"] == 2
    np.testing.assert_allclose(results["mirrored"]["losses"], results["default"]["losses"], rtol=1e-5)
    assert results["default"]["losses"][2] != results["default"]["losses"][0]  # the weights did move
    for a, b in zip(results["default"]["weights"], results["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=1e-6, rtol=1e-5)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(dataset, tmp_path, monkeypatch):
    from gladnet_tf import losses, training

    config = config_lib.TrainConfig(data=str(dataset), patch_size=24, batch_size=2, steps=6, checkpoint_every=2,
                                    global_filters=8, detail_filters=8, val_every=0, log_every=1)
    original_call = losses.WeightedL1.call
    # Two good steps (one checkpoint), then a loss that turns NaN from step 3 on.
    summary = training.run(config, str(tmp_path / "ok"), max_steps_this_session=2)
    assert summary["step"] == 2

    def nan_loss(self, y_true, y_pred):
        return original_call(self, y_true, y_pred) * np.float32("nan")

    monkeypatch.setattr(losses.WeightedL1, "call", nan_loss)
    with pytest.raises(training.TrainingError, match="loss is nan at step 3"):
        training.run(config, str(tmp_path / "ok"))
    assert (tmp_path / "ok" / "checkpoints" / "ckpt-2.index").exists()
    assert not (tmp_path / "ok" / "checkpoints" / "ckpt-4.index").exists()


def test_init_weights_starts_from_the_file_once_and_names_a_bad_one(dataset, tmp_path):
    first = run_python(train_args(dataset, tmp_path / "a", "--steps", "2"))
    assert first.returncode == 0, first.stderr[-3000:]
    start = tmp_path / "a" / "final.weights.h5"
    # With a zero learning rate Adam changes nothing, so the run must end on the file's weights.
    tuned = run_python(train_args(dataset, tmp_path / "b", "--steps", "1", "--learning_rate", "0",
                                  "--init_weights", str(start)))
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    assert f"starting from {start}" in tuned.stderr
    record = json.loads((tmp_path / "b" / "init_weights.json").read_text())
    from gladnet_tf.checkpoints import sha256_of

    assert record["sha256"] == sha256_of(start)

    assert_same_weights(start, tmp_path / "b" / "final.weights.h5")
    # A resumed run continues from its own checkpoint and does not reload the file.
    resumed = run_python(train_args(dataset, tmp_path / "b", "--steps", "2", "--learning_rate", "0",
                                    "--init_weights", str(start)))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and "starting from" not in resumed.stderr
    missing = run_python(train_args(dataset, tmp_path / "c", "--steps", "1", "--init_weights", str(tmp_path / "nope.h5")))
    assert missing.returncode == 1 and "nope.h5: no such file" in missing.stderr
    assert not (tmp_path / "c" / "config.json").exists()  # nothing written for a run that cannot start


def test_mixed_bfloat16_steps_like_float32_and_writes_float32_weights(dataset, tmp_path):
    import tensorflow as tf

    from gladnet_tf import data as data_lib, model as model_lib, training

    base = config_lib.TrainConfig(data=str(dataset), patch_size=24, batch_size=2, global_filters=8,
                                  detail_filters=8, learning_rate=1e-3)
    strategy = tf.distribute.get_strategy()
    pairs = data_lib.find_pairs(str(dataset), 24).pairs
    batch = next(iter(data_lib.training_dataset(pairs, 24, 2, seed=0)))
    runs = {}
    for precision in ("float32", "mixed_bfloat16"):
        model, optimizer, loss_fn = training.build(base.replace(precision=precision), strategy)
        if precision != "float32":
            model.set_weights(runs["float32"]["start"])
        start = [np.array(w) for w in model.get_weights()]
        step = training.make_train_step(model, optimizer, loss_fn, strategy, 2)
        losses = [float(step(batch)) for _ in range(3)]
        runs[precision] = {"start": start, "losses": losses, "model": model,
                           "moved": [np.array(w) - s for w, s in zip(model.get_weights(), start)]}
    mixed = runs["mixed_bfloat16"]["model"]
    assert mixed.get_layer("detail_conv_1").compute_dtype == "bfloat16"
    assert all(w.dtype == np.float32 for w in mixed.get_weights())  # float32 master weights
    assert model_lib.GLADNet().get_layer("detail_conv_1").compute_dtype == "float32"  # policy did not leak
    # bfloat16 has an 8-bit mantissa: the same losses to ~1 %, and Adam's first updates point
    # the same way (Adam's first step is ~lr * sign(gradient) per weight).
    np.testing.assert_allclose(runs["mixed_bfloat16"]["losses"], runs["float32"]["losses"], rtol=0.02)
    a = np.concatenate([m.ravel() for m in runs["float32"]["moved"]])
    b = np.concatenate([m.ravel() for m in runs["mixed_bfloat16"]["moved"]])
    assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.9
    with pytest.raises(training.TrainingError, match="precision 'float16'"):
        training.build(base.replace(precision="float16"), strategy)


def test_mixed_bfloat16_run_resumes_and_its_weights_load_anywhere(dataset, tmp_path):
    run_dir = tmp_path / "run"
    first = run_python(train_args(dataset, run_dir, "--steps", "4", "--checkpoint_every", "2",
                                  "--precision", "mixed_bfloat16", "--max_steps_this_session", "2"))
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_python(train_args(dataset, run_dir, "--steps", "4", "--checkpoint_every", "2",
                                   "--precision", "mixed_bfloat16"))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stderr
    extracted = run_python(["-m", "gladnet_tf.checkpoints", "--run_dir", str(run_dir), "--step", "4"])
    assert extracted.returncode == 0, extracted.stderr[-3000:]
    # final.weights.h5 (saved by the bfloat16 model) and the float32 extraction of ckpt-4 agree.
    assert_same_weights(run_dir / "final.weights.h5", run_dir / "weights" / "step-4.weights.h5")
    changed = run_python(train_args(dataset, run_dir, "--steps", "6", "--precision", "float32"))
    assert changed.returncode != 0 and "precision" in changed.stderr
