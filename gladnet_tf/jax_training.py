"""Training on Keras' JAX backend (``KERAS_BACKEND=jax``): no TensorFlow anywhere.

``run(config, run_dir)`` trains as ``training.run`` does and leaves the same run folder
(``config.json``, ``sessions.json``, ``progress.json``, ``log.txt``, ``final.weights.h5`` +
``final.json``, ``best.weights.h5`` + ``best.json`` when there is validation data), so
``python -m gladnet_tf.ship`` ships the result the same way. What differs:

- data: ``numpy_data.PairStream`` (numpy + Pillow, threads), not ``tf.data``;
- the step: ``model.stateless_call`` and ``optimizer.stateless_apply`` under ``jax.jit``;
- checkpoints: ``checkpoints/ckpt-N.weights.h5`` (the model, the usual weights format) and
  ``checkpoints/ckpt-N.optimizer.npz`` (Adam's slots and step counter), the second written
  last, so a checkpoint counts only once both are complete; the last ``keep_checkpoints``
  are kept. Killed at any moment, the same command resumes from the newest complete one and
  ends with the weights an uninterrupted run ends with (the data stream is a pure function
  of the seed and the step).
- devices: with more than one JAX device, ``keras.distribution.DataParallel`` over all of
  them (variables replicated, each batch split along its first axis; ``batch_size`` is then
  the global batch and must divide by the device count).

``--precision mixed_bfloat16`` computes the convolutions in bfloat16 and keeps float32
weights and Adam state, as on TensorFlow.
"""

from __future__ import annotations

import io
import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence

import keras
import numpy as np

from gladnet_tf import atomic
from gladnet_tf import config as config_lib
from gladnet_tf import images as images_lib
from gladnet_tf import losses as losses_lib
from gladnet_tf import model as model_lib
from gladnet_tf import numpy_data
from gladnet_tf import pairs as pairs_lib
from gladnet_tf import run_folder
from gladnet_tf import session as session_lib
from gladnet_tf.run_folder import TrainingError

if TYPE_CHECKING:  # for annotations only
    import jax

    from gladnet_tf.device_data import DeviceStream

logger = logging.getLogger("gladnet_tf.training")


def _require_jax():
    if keras.backend.backend() != "jax":
        raise TrainingError(f"jax_training needs KERAS_BACKEND=jax (Keras runs on "
                            f"{keras.backend.backend()!r})")


def set_up_devices(batch_size: int) -> int:
    """DataParallel over every JAX device when there are several; returns the device count."""
    import jax

    devices = jax.devices()
    if len(devices) > 1:
        if batch_size % len(devices):
            raise TrainingError(f"batch_size {batch_size} does not divide over {len(devices)} devices")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


def shard(batch: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """A batch laid out by the current distribution (split along axis 0); as it is without one."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return batch
    import jax

    return jax.device_put(batch, distribution.get_data_layout(batch.shape).backend_layout)


def build(config: config_lib.TrainConfig) -> tuple[model_lib.GLADNet, keras.optimizers.Adam, losses_lib.WeightedL1,
                                                   keras.optimizers.schedules.ExponentialDecay]:
    """Model (the config's precision), Adam on the original schedule, the per-example loss."""
    if config.precision not in config_lib.PRECISIONS:
        raise TrainingError(f"precision {config.precision!r}: expected one of "
                            f"{', '.join(config_lib.PRECISIONS)}")
    model = model_lib.create(config.precision, global_size=config.global_size,
                             global_filters=config.global_filters, detail_filters=config.detail_filters)
    schedule = losses_lib.original_schedule(config.learning_rate, config.decay_steps, config.decay_rate)
    optimizer = keras.optimizers.Adam(learning_rate=schedule, beta_1=config.beta_1,
                                      beta_2=config.beta_2, epsilon=config.epsilon)
    optimizer.build(model.trainable_variables)
    loss = losses_lib.WeightedL1(losses_lib.channel_weights(config.channel_order), reduction="none")
    return model, optimizer, loss, schedule


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, loss_fn: Callable) -> Callable:
    """A jitted ``step(state, low, high) -> (loss, state)``; ``state`` = (trainable,
    non-trainable, optimizer variable values)."""
    import jax

    def compute_loss(trainable, non_trainable, low, high):
        output, non_trainable = model.stateless_call(trainable, non_trainable, low, training=True)
        # float32 loss whatever the compute dtype (mixed precision outputs bfloat16).
        loss = keras.ops.mean(loss_fn(high, keras.ops.cast(output, "float32")))
        return loss, non_trainable

    gradient = jax.value_and_grad(compute_loss, has_aux=True)

    @jax.jit
    def step(state, low, high):
        trainable, non_trainable, optimizer_values = state
        (loss, non_trainable), grads = gradient(trainable, non_trainable, low, high)
        trainable, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, trainable)
        return loss, (trainable, non_trainable, optimizer_values)

    return step


def read_state(
    model: keras.Model, optimizer: keras.optimizers.Optimizer,
) -> tuple[list[jax.Array], list[jax.Array], list[jax.Array]]:
    return ([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables])


def write_state(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                state: tuple[Sequence[jax.Array], Sequence[jax.Array], Sequence[jax.Array]]) -> None:
    """Puts the loop's arrays back into the Keras variables (before saving or validating)."""
    trainable, non_trainable, optimizer_values = state
    for variables, values in ((model.trainable_variables, trainable),
                              (model.non_trainable_variables, non_trainable),
                              (optimizer.variables, optimizer_values)):
        for variable, value in zip(variables, values):
            variable.assign(value)


def save_checkpoint(folder: str | os.PathLike, step: int, model: keras.Model,
                    optimizer: keras.optimizers.Optimizer, keep: int) -> None:
    """``ckpt-STEP.weights.h5`` then ``ckpt-STEP.optimizer.npz`` (atomic each); prunes old ones."""
    os.makedirs(folder, exist_ok=True)
    model_lib.save(model, os.path.join(folder, f"ckpt-{step}.weights.h5"))
    buffer = io.BytesIO()
    np.savez(buffer, step=np.int64(step),
             **{f"v{i}": np.asarray(v.value) for i, v in enumerate(optimizer.variables)})
    atomic.write_bytes(os.path.join(folder, f"ckpt-{step}.optimizer.npz"), buffer.getvalue())
    for old in run_folder.jax_checkpoint_steps(folder)[:-keep]:
        for suffix in (".optimizer.npz", ".weights.h5"):
            try:
                os.remove(os.path.join(folder, f"ckpt-{old}{suffix}"))
            except OSError:
                pass


def restore_latest(folder: str | os.PathLike, model: keras.Model,
                   optimizer: keras.optimizers.Optimizer) -> int | None:
    """Loads the newest complete checkpoint that reads; returns its step, or None."""
    for step in reversed(run_folder.jax_checkpoint_steps(folder)):
        try:
            with np.load(os.path.join(folder, f"ckpt-{step}.optimizer.npz")) as saved:
                values = [saved[f"v{i}"] for i in range(len(optimizer.variables))]
                if int(saved["step"]) != step:
                    raise ValueError(f"records step {int(saved['step'])}")
            model.load_weights(os.path.join(folder, f"ckpt-{step}.weights.h5"))
        except (OSError, ValueError, KeyError) as error:
            logger.warning("checkpoint %d in %s does not restore (%s); trying the one before",
                           step, folder, error)
            continue
        for variable, value in zip(optimizer.variables, values):
            variable.assign(value)
        return step
    return None


def evaluate(model: keras.Model, pairs: Sequence[tuple[str, str]]) -> tuple[float, float]:
    """Mean PSNR / SSIM (dB, [0, 1]) of the clipped 8-bit output over full validation images."""
    from gladnet_tf.metrics import fidelity

    psnrs, ssims = [], []
    for low_path, high_path in pairs:
        low, high = numpy_data.read_pair(low_path, high_path)
        output = keras.ops.convert_to_numpy(keras.ops.cast(model(low[None], training=False), "float32"))[0]
        output = images_lib.quantize(np.clip(output, 0.0, 1.0), 8)
        target = images_lib.quantize(high, 8)
        psnrs.append(fidelity.psnr(output, target))
        ssims.append(fidelity.ssim(output, target))
    return float(np.mean(psnrs)), float(np.mean(ssims))


class _JaxSession(session_lib.Session):
    """A session on JAX: the model's and Adam's variables as one state threaded through the
    jitted step, the numpy (or on-device) data stream, ``ckpt-N`` checkpoint files."""

    backend = "jax"

    def __init__(self, config, run_dir, model, optimizer, loss_fn, schedule, pairs, val_pairs,
                 stream=numpy_data.PairStream):
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.val_pairs = val_pairs
        self.folder = os.path.join(run_dir, "checkpoints")
        restored = restore_latest(self.folder, model, optimizer)
        if restored is None and config.init_weights:
            run_folder.load_init_weights(model, config.init_weights, run_dir)
        super().__init__(config, run_dir, int(restored or 0),
                         run_folder.total_steps(config, len(pairs), 1), restored,
                         config.batch_size * config.patch_size ** 2)
        self.state = read_state(model, optimizer)
        self.step_function = make_train_step(model, optimizer, loss_fn)
        self.stream = stream(pairs, config.patch_size, config.batch_size, config.seed,
                             start_step=self.step)

    def train_step(self):
        low, high = next(self.stream)
        loss, self.state = self.step_function(self.state, shard(low), shard(high))
        return float(loss)

    def save_checkpoint(self):
        write_state(self.model, self.optimizer, self.state)
        save_checkpoint(self.folder, self.step, self.model, self.optimizer, self.config.keep_checkpoints)

    def evaluate(self):
        if not self.val_pairs:
            return None
        write_state(self.model, self.optimizer, self.state)
        return evaluate(self.model, self.val_pairs)

    def save_weights(self, path):
        write_state(self.model, self.optimizer, self.state)
        model_lib.save(self.model, path)

    def learning_rate(self):
        return float(self.schedule(self.step))

    def close(self):
        self.stream.close()


def run(config: config_lib.TrainConfig, run_dir: str, max_steps_this_session: int | None = None,
        stream: type[numpy_data.PairStream] | type[DeviceStream] = numpy_data.PairStream) -> dict[str, Any]:
    """Trains (or resumes) the run in ``run_dir`` on JAX; returns a dict summary (as
    ``training.run``). ``stream``: the class of the data stream, ``numpy_data.PairStream``
    or ``device_data.DeviceStream`` (the pairs in the accelerator's memory; the same stream)."""
    _require_jax()
    os.makedirs(run_dir, exist_ok=True)
    pairs, val_pairs = pairs_lib.training_pairs(config, logger)
    if config.init_weights and not os.path.isfile(config.init_weights):
        raise TrainingError(f"--init_weights {config.init_weights}: no such file")
    run_folder.check_config(run_dir, config)
    run_folder.write_json_atomic(os.path.join(run_dir, "config.json"), config.to_json())
    devices = set_up_devices(config.batch_size)
    keras.utils.set_random_seed(config.seed)
    session = _JaxSession(config, run_dir, *build(config), pairs, val_pairs, stream)
    run_folder.record_session(run_dir, session.step)
    logger.info("%s at step %d of %d: %d pairs, %d JAX device(s), batch %d, patch %d",
                f"resumed from checkpoint {session.restored}" if session.restored else "starting",
                session.step, session.steps, len(pairs), devices, config.batch_size, config.patch_size)
    return session.run(max_steps_this_session)
