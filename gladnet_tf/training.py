"""Training: strategy choice, the distributed train step, checkpoints, resume, run folder.

``run(config, run_dir)`` trains GLADNet and leaves in ``run_dir``:

    config.json            the TrainConfig (a resumed run must match it)
    checkpoints/           tf.train checkpoints (model + optimizer + step), the last N kept
    tensorboard/           train loss and learning rate; validation PSNR/SSIM and sample images
    best.weights.h5        weights with the best validation PSNR so far (+ best.json)
    final.weights.h5       weights at the end of the run (+ final.json)
    log.txt                the progress lines

Killed at any moment, the same command resumes from the newest checkpoint that restores: the
step counter, the learning rate (a function of the step), the Adam state and the data order
(a pure function of the seed and the step, see ``data``) all continue. At most
``checkpoint_every`` steps are repeated. A checkpoint is complete or absent: TensorFlow writes
the index last and updates the ``checkpoint`` state file only after the files are in place,
and an unreadable newest checkpoint is skipped in favour of the one before.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from gladnet_tf import config as config_lib
from gladnet_tf import data as data_lib
from gladnet_tf import images as images_lib
from gladnet_tf import losses as losses_lib
from gladnet_tf import model as model_lib
from gladnet_tf import pairs as pairs_lib
from gladnet_tf import session as session_lib
from gladnet_tf.run_folder import (  # noqa: F401  (training.TrainingError is public)
    TrainingError, check_config as _check_config, load_init_weights as _load_init_weights,
    record_session as _record_session, total_steps, write_json_atomic as _write_json_atomic)

logger = logging.getLogger("gladnet_tf.training")


def configure_cpu_replicas(count: int) -> None:
    """Splits the CPU into ``count`` logical devices (for ``mirrored`` without GPUs).

    Must run before TensorFlow initialises its devices; a no-op when GPUs are present.
    """
    if tf.config.list_physical_devices("GPU") or count < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:  # devices already initialised
        logger.warning("could not split the CPU into %d logical devices: %s", count, error)


def make_strategy(name: str, cpu_replicas: int = 2) -> tf.distribute.Strategy:
    """``default`` | ``mirrored`` | ``multi_worker`` | ``tpu`` -> a tf.distribute.Strategy."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        configure_cpu_replicas(cpu_replicas)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise TrainingError("--strategy multi_worker needs the TF_CONFIG environment variable (see README)")
        communication = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise TrainingError(f"unknown strategy {name!r}: use default, mirrored, multi_worker or tpu")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)


def _remove_interrupted_saves(checkpoint_dir):
    """Deletes ``<prefix>_temp/`` folders: TensorFlow's half-written saves from a killed run.

    A save goes to ``ckpt-N_temp/`` first and becomes ``ckpt-N.index``/``.data`` only when
    complete, and the ``checkpoint`` state file names it only after that, so these folders
    are never restored; they are just disk space.
    """
    import shutil

    if not os.path.isdir(checkpoint_dir):
        return
    for name in os.listdir(checkpoint_dir):
        path = os.path.join(checkpoint_dir, name)
        if name.endswith("_temp") and os.path.isdir(path):
            logger.info("removing %s, a checkpoint write that was interrupted", path)
            shutil.rmtree(path, ignore_errors=True)


def _restore_latest(checkpoint, manager):
    """Restores the newest checkpoint that reads; returns its path or None."""
    for path in reversed(manager.checkpoints):
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
            return path
        except (tf.errors.OpError, ValueError, AssertionError) as error:
            logger.warning("checkpoint %s does not restore (%s); trying the one before", path, error)
    return None


def weights_from_checkpoint(run_dir: str | os.PathLike, step: int, output: str | None = None) -> str:
    """Writes the model weights of ``run_dir``'s checkpoint at ``step`` to a .weights.h5 file.

    Checkpoints hold the model and the optimizer state; this keeps the model only, in the
    format test.py, evaluate and export read. ``output`` defaults to
    ``run_dir/weights/step-STEP.weights.h5``. Returns the path written.
    """
    with open(os.path.join(run_dir, "config.json")) as f:
        config = config_lib.TrainConfig.from_json(f.read())
    prefix = os.path.join(run_dir, "checkpoints", f"ckpt-{step}")
    if not tf.io.gfile.exists(prefix + ".index"):
        state = tf.train.get_checkpoint_state(os.path.join(run_dir, "checkpoints"))
        kept = ", ".join(os.path.basename(p) for p in state.all_model_checkpoint_paths) if state else "none"
        raise TrainingError(f"{prefix}: no such checkpoint (kept: {kept})")
    model = _model_from_config(config.replace(precision="float32"))  # variables are float32 either way
    tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()
    output = output or os.path.join(run_dir, "weights", f"step-{step}.weights.h5")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    model_lib.save(model, output)
    return output


PRECISIONS = config_lib.PRECISIONS


def _model_from_config(config):
    """The config's GLADNet; with "mixed_bfloat16" its layers compute in bfloat16."""
    if config.precision not in PRECISIONS:
        raise TrainingError(f"precision {config.precision!r}: expected one of {', '.join(PRECISIONS)}")
    return model_lib.create(
        config.precision, global_size=config.global_size, global_filters=config.global_filters,
        detail_filters=config.detail_filters,
    )


def build(
    config: config_lib.TrainConfig, strategy: tf.distribute.Strategy,
) -> tuple[model_lib.GLADNet, keras.optimizers.Adam, losses_lib.WeightedL1]:
    """Model, optimizer and loss, created under the strategy's scope."""
    with strategy.scope():
        model = _model_from_config(config)
        schedule = losses_lib.original_schedule(config.learning_rate, config.decay_steps, config.decay_rate)
        optimizer = keras.optimizers.Adam(
            learning_rate=schedule, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon
        )
        optimizer.build(model.trainable_variables)
    loss = losses_lib.WeightedL1(losses_lib.channel_weights(config.channel_order), reduction="none")
    return model, optimizer, loss


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, loss_fn: Callable,
                    strategy: tf.distribute.Strategy, global_batch_size: int) -> Callable:
    """A tf.function running one optimisation step on a distributed batch; returns the loss."""

    def step_fn(low, high):
        with tf.GradientTape() as tape:
            # float32 loss whatever the compute dtype (mixed precision outputs bfloat16).
            output = tf.cast(model(low, training=True), tf.float32)
            per_example = loss_fn(high, output)
            # Sum over this replica's examples / global batch: summed over replicas it is the
            # mean over the global batch, whatever the number of replicas.
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function
    def train_step(batch):
        low, high = batch
        per_replica = strategy.run(step_fn, args=(low, high))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step


def evaluate(
    model: keras.Model, pairs: Sequence[tuple[str, str]],
) -> tuple[float, float, list[tuple[str, tf.Tensor, tf.Tensor, tf.Tensor]]]:
    """Mean PSNR / SSIM (dB, [0, 1]) of the clipped output over full validation images."""
    predict = tf.function(
        tf.autograph.experimental.do_not_convert(
            lambda x: tf.clip_by_value(tf.cast(model(x, training=False), tf.float32), 0.0, 1.0)
        ),
        reduce_retracing=True,
    )
    psnrs, ssims, samples = [], [], []
    for low, high, name in data_lib.validation_dataset(pairs):
        output = predict(low)
        # Quantise to 8 bits as saved images are, then score on [0, 1] with max_val=1.
        output = tf.cast(images_lib.quantize_tf(output), tf.float32) / 255.0
        psnrs.append(float(tf.image.psnr(output, high, max_val=1.0)[0]))
        ssims.append(float(tf.image.ssim(output, high, max_val=1.0)[0]))
        samples.append((name.numpy().decode(), low, output, high))
    return float(np.mean(psnrs)), float(np.mean(ssims)), samples


def run(config: config_lib.TrainConfig, run_dir: str, max_steps_this_session: int | None = None) -> dict[str, Any]:
    """Trains (or resumes) the run in ``run_dir``; returns a dict summary (``Session.run``).

    ``max_steps_this_session`` stops after that many steps without finishing the run (used
    to split long runs into sessions; the next call resumes).
    """
    os.makedirs(run_dir, exist_ok=True)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(config.strategy, config.cpu_replicas)
    train_pairs, val_pairs = pairs_lib.training_pairs(config, logger)
    if config.init_weights and not os.path.isfile(config.init_weights):
        raise TrainingError(f"--init_weights {config.init_weights}: no such file")
    _check_config(run_dir, config)
    if _is_chief(strategy):
        _write_json_atomic(os.path.join(run_dir, "config.json"), config.to_json())
    keras.utils.set_random_seed(config.seed)
    session = _TensorFlowSession(config, run_dir, strategy, train_pairs, val_pairs)
    if session.chief:
        _record_session(run_dir, session.step)
    logger.info(
        "%s at step %d of %d: %d pairs, %d replica(s), global batch %d, patch %d",
        f"resumed from {session.restored}" if session.restored else "starting", session.step,
        session.steps, len(train_pairs), strategy.num_replicas_in_sync, session.global_batch,
        config.patch_size,
    )
    return session.run(max_steps_this_session)


def _checkpoint_managers(checkpoint, run_dir, strategy, keep):
    """(the manager this worker saves with, the one it restores from).

    Only the chief's checkpoints are kept; other workers write to a scratch folder, as
    MultiWorkerMirroredStrategy needs every worker to take part in saving, and restore from
    the chief's folder (same file system on one machine; across machines, point run_dir at
    shared storage).
    """
    chief_dir = os.path.join(run_dir, "checkpoints")
    if _is_chief(strategy):
        _remove_interrupted_saves(chief_dir)
        manager = tf.train.CheckpointManager(checkpoint, chief_dir, max_to_keep=keep)
        return manager, manager
    scratch = os.path.join(run_dir, "worker_scratch", f"{strategy.cluster_resolver.task_id}")
    _remove_interrupted_saves(scratch)
    manager = tf.train.CheckpointManager(checkpoint, scratch, max_to_keep=keep)
    restore = tf.train.CheckpointManager(checkpoint, chief_dir, max_to_keep=None)
    return manager, restore


def _distributed_dataset(strategy, train_pairs, config, global_batch, start_step):
    dataset = data_lib.training_dataset(train_pairs, config.patch_size, global_batch, config.seed, start_step)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


class _TensorFlowSession(session_lib.Session):
    """``tf.distribute`` training: model and Adam under the strategy, ``tf.train`` checkpoints,
    the ``tf.data`` pipeline, TensorBoard summaries."""

    backend = "tensorflow"

    def __init__(self, config, run_dir, strategy, train_pairs, val_pairs):
        self.strategy, self.val_pairs = strategy, val_pairs
        self.global_batch = config.batch_size * strategy.num_replicas_in_sync
        self.model, self.optimizer, loss_fn = build(config, strategy)
        self.tf_checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        self.manager, restore_manager = _checkpoint_managers(
            self.tf_checkpoint, run_dir, strategy, config.keep_checkpoints)
        restored = _restore_latest(self.tf_checkpoint, restore_manager)
        chief = _is_chief(strategy)
        if not restored and config.init_weights:
            _load_init_weights(self.model, config.init_weights, run_dir if chief else None)
        start_step = int(self.optimizer.iterations.numpy())
        super().__init__(config, run_dir, start_step,
                         total_steps(config, len(train_pairs), strategy.num_replicas_in_sync),
                         restored, self.global_batch * config.patch_size ** 2, chief=chief)
        self.writer = (tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard")) if chief
                       else tf.summary.create_noop_writer())
        self.iterator = iter(_distributed_dataset(strategy, train_pairs, config, self.global_batch,
                                                  start_step))
        self.step_function = make_train_step(self.model, self.optimizer, loss_fn, strategy,
                                             self.global_batch)

    def train_step(self):
        return float(self.step_function(next(self.iterator)))

    def save_checkpoint(self):
        self.manager.save(checkpoint_number=self.step)

    def save_weights(self, path):
        model_lib.save(self.model, path)

    def learning_rate(self):
        return float(self.optimizer.learning_rate)  # the schedule at the current step

    def evaluate(self):
        if not self.val_pairs:
            return None
        psnr, ssim, samples = evaluate(self.model, self.val_pairs)
        with self.writer.as_default(step=self.step):
            tf.summary.scalar("val/psnr", psnr)
            tf.summary.scalar("val/ssim", ssim)
            for name, low, output, high in samples[: self.config.num_sample_images]:
                tf.summary.image(f"val/{name}", tf.concat([low, output, high], axis=2))
        return psnr, ssim

    def on_log(self, loss, learning_rate, steps_per_second):
        with self.writer.as_default(step=self.step):
            tf.summary.scalar("train/loss", loss)
            tf.summary.scalar("train/learning_rate", learning_rate)
            tf.summary.scalar("train/steps_per_second", steps_per_second)

    def close(self):
        self.writer.flush()
