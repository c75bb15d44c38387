"""The run folder's bookkeeping, shared by the TensorFlow and the JAX training loops.

``config.json`` (the TrainConfig; a resumed run must match it), ``sessions.json`` (one entry
per session: commit, start time, start step), ``progress.json`` (step and training seconds as
of the newest checkpoint). Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from types import FrameType
from typing import Any

from gladnet_tf import atomic, checkpoints
from gladnet_tf import config as config_lib

logger = logging.getLogger("gladnet_tf.training")


class TrainingError(RuntimeError):
    """A run that cannot start or must stop (bad data, config mismatch, NaN loss)."""


def total_steps(config: config_lib.TrainConfig, num_pairs: int, replicas: int) -> int:
    """Steps of the run: ``config.steps`` if > 0, else the epochs' worth of global batches (>= 1).

    A global batch is ``config.batch_size`` pairs on each of ``replicas`` replicas.
    """
    if config.steps > 0:
        return config.steps
    return max(1, config.epochs * num_pairs // (config.batch_size * replicas))


def check_config(run_dir: str | os.PathLike, config: config_lib.TrainConfig) -> None:
    """Raises TrainingError if ``run_dir/config.json`` holds a config that ``config`` may not resume.

    Keys of ``gladnet_tf.config.RESUMABLE_CHANGES`` may differ; a folder without ``config.json`` passes.
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        previous = config_lib.TrainConfig.from_json(f.read())
    differences = sorted(
        key
        for key, value in vars(config).items()
        if key not in config_lib.RESUMABLE_CHANGES and getattr(previous, key) != value
    )
    if differences:
        details = ", ".join(f"{k}: {getattr(previous, k)!r} -> {getattr(config, k)!r}" for k in differences)
        raise TrainingError(
            f"{run_dir} holds a run with another configuration ({details}); "
            f"use a new --run_dir or the same settings to resume"
        )


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """``payload`` (a JSON string, or anything JSON-able) to ``path``, atomically."""
    atomic.write_json(path, payload)


def git_commit() -> str | None:
    """The commit of the code doing the training, or None outside a git checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def record_session(run_dir: str | os.PathLike, start_step: int) -> None:
    """Appends this session (commit, start time, start step) to ``sessions.json``."""
    path = os.path.join(run_dir, "sessions.json")
    sessions = []
    if os.path.exists(path):
        with open(path) as f:
            sessions = json.load(f)
    sessions.append({"commit": git_commit(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "start_step": start_step})
    write_json_atomic(path, sessions)


def sessions(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of ``run_dir/sessions.json`` (``commit``, ``started``, ``start_step``), oldest first."""
    with open(os.path.join(run_dir, "sessions.json")) as f:
        return json.load(f)


def progress(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``run_dir/progress.json`` (``step``, ``train_seconds``, ...); step 0 if there is none yet."""
    path = os.path.join(run_dir, "progress.json")
    if not os.path.exists(path):
        return {"step": 0, "train_seconds": 0.0}
    with open(path) as f:
        return json.load(f)


def load_init_weights(model: Any, path: str, run_dir: str | os.PathLike | None) -> None:
    """Fine-tuning start: loads ``path`` (checked to exist by ``run``) into ``model``; records
    the file's sha256 in run_dir.

    ``model`` is the ``keras.Model`` (a GLADNet) being trained, typed ``Any`` so that this
    module never imports Keras; ``path`` a ``.weights.h5`` file; ``run_dir`` may be empty or
    None (nothing recorded)."""
    try:
        model.load_weights(path)
    except Exception as error:  # Keras raises ValueError or OSError depending on the problem
        raise TrainingError(f"--init_weights {path}: cannot be loaded into GLADNet ({error})") from error
    digest = checkpoints.sha256_of(path)
    logger.info("starting from %s (sha256 %s)", path, digest[:12])
    if run_dir:
        write_json_atomic(os.path.join(run_dir, "init_weights.json"),
                           {"path": os.path.abspath(path), "sha256": digest})


class StopRequested:
    """SIGTERM / SIGINT: finish the current step, checkpoint, and exit cleanly."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        del frame
        logger.warning("signal %d received: saving a checkpoint and stopping", signum)
        self.requested = True

    def install(self) -> StopRequested:
        """Handles SIGTERM and SIGINT until ``uninstall`` (not in the main thread: no-op); returns self."""
        self.previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                self.previous[signum] = signal.signal(signum, self)
            except ValueError:  # not in the main thread
                pass
        return self

    def uninstall(self) -> None:
        """Puts back the handlers that ``install`` replaced (nothing if it was not called)."""
        for signum, handler in getattr(self, "previous", {}).items():
            signal.signal(signum, handler)


def progress_line(step: int, steps: int, loss: float, learning_rate: float, steps_per_second: float,
                  pixels_per_step: float) -> str:
    """``step S/N loss L lr R X steps/s Y Mpx/s ETA hh:mm:ss``: one line of the training log."""
    eta = (steps - step) / max(steps_per_second, 1e-9)
    return (f"step {step}/{steps} loss {loss:.5f} lr {learning_rate:.3e} "
            f"{steps_per_second:.2f} steps/s {steps_per_second * pixels_per_step / 1e6:.2f} Mpx/s "
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")


def append_log(run_dir: str | os.PathLike, line: str) -> None:
    """Appends a timestamped line to ``run_dir/log.txt``."""
    with open(os.path.join(run_dir, "log.txt"), "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


_JAX_CHECKPOINT = re.compile(r"^ckpt-(\d+)\.optimizer\.npz$")


def jax_checkpoint_steps(folder: str | os.PathLike) -> list[int]:
    """Steps of the complete JAX checkpoints in ``folder`` (``ckpt-N.optimizer.npz``, written
    after ``ckpt-N.weights.h5``), ascending; [] for a missing folder."""
    if not os.path.isdir(folder):
        return []
    return sorted(int(m.group(1)) for m in map(_JAX_CHECKPOINT.match, os.listdir(folder)) if m)
