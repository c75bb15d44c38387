"""One training session's loop, shared by the TensorFlow and the JAX training (standard
library only).

A backend subclasses ``Session`` and supplies the few things that differ between them:

- ``train_step()``: one optimisation step on the next batch; returns the loss (a float);
- ``save_checkpoint()``: the model and optimizer state at ``self.step``, in its own format;
- ``evaluate()``: ``(PSNR dB, SSIM)`` on the validation pairs, or ``None`` without them;
- ``save_weights(path)``: the model's weights as a ``.weights.h5`` file;
- ``learning_rate()``: the schedule's value at ``self.step``;
- optionally ``on_log(loss, learning_rate, steps_per_second)`` and ``close()``.

``Session.run`` does the rest, the same way on every backend: steps until the session's
end or a stop request (SIGTERM/SIGINT), a checkpoint every ``checkpoint_every`` steps and on
a stop, a progress line every ``log_every`` steps (logged and appended to ``log.txt``),
validation every ``val_every`` steps with the best weights kept (``best.weights.h5`` +
``best.json``), and at the end of the run ``final.weights.h5`` + ``final.json``. Only the
chief (``chief=True``; the one worker of a single-machine run) writes to the run folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any

from gladnet_tf import run_folder
from gladnet_tf.run_folder import TrainingError

if TYPE_CHECKING:  # for annotations only
    from gladnet_tf.config import TrainConfig

logger = logging.getLogger("gladnet_tf.training")


def best_psnr(run_dir: str) -> float:
    """The validation PSNR of ``run_dir/best.json``, or -inf when there is none yet."""
    path = os.path.join(run_dir, "best.json")
    if not os.path.exists(path):
        return -math.inf
    with open(path) as f:
        return float(json.load(f)["val_psnr"])


class Session:
    """The loop of one session of a run (see the module docstring for the hooks).

    ``step`` is the step the session starts at (0, or the restored checkpoint's), ``steps``
    the run's total, ``restored`` what was restored (a name, or ``None``), ``pixels_per_step``
    the global batch times the patch area (for the Mpx/s of the progress line).
    """

    backend = "tensorflow"

    def __init__(self, config: TrainConfig, run_dir: str, step: int, steps: int, restored: Any,
                 pixels_per_step: int, chief: bool = True):
        self.config, self.run_dir, self.chief = config, run_dir, chief
        self.step, self.steps, self.restored = step, steps, restored
        self.pixels_per_step = pixels_per_step
        # Wall time spent training, summed over sessions, as of the restored checkpoint.
        self.seconds_before = run_folder.progress(run_dir)["train_seconds"] if restored else 0.0
        self.start = time.perf_counter()
        self.best_psnr = best_psnr(run_dir)

    # The backend's part.
    def train_step(self) -> float:
        raise NotImplementedError

    def save_checkpoint(self) -> None:
        raise NotImplementedError

    def evaluate(self) -> tuple[float, float] | None:
        raise NotImplementedError

    def save_weights(self, path: str) -> None:
        raise NotImplementedError

    def learning_rate(self) -> float:
        raise NotImplementedError

    def on_log(self, loss: float, learning_rate: float, steps_per_second: float) -> None:
        """Called with each progress line's numbers (TensorBoard scalars, say)."""

    def close(self) -> None:
        """Called once the session's steps are done or stopped."""

    # The shared part.
    def run(self, max_steps_this_session: int | None = None) -> dict[str, Any]:
        """Trains to the run's end (or for ``max_steps_this_session`` steps, or until a stop
        request); returns ``{"step", "total_steps", "finished", "restored_from",
        "seconds_this_session"}`` plus ``val_psnr``/``val_ssim`` when the run finished with
        validation data."""
        session_end = self.steps if max_steps_this_session is None else min(
            self.steps, self.step + max_steps_this_session)
        stop = run_folder.StopRequested().install()
        try:
            self.train(session_end, stop)
        finally:
            stop.uninstall()
            self.close()
        summary = {"step": self.step, "total_steps": self.steps, "finished": self.step >= self.steps,
                   "restored_from": self.restored,
                   "seconds_this_session": time.perf_counter() - self.start}
        if self.step >= self.steps:
            metrics = self.finish()
            if metrics:
                summary.update(val_psnr=metrics[0], val_ssim=metrics[1])
        return summary

    def train(self, session_end: int, stop: run_folder.StopRequested) -> None:
        """Steps to ``session_end`` or a stop request, with the checkpoints, progress lines
        and validations on the way."""
        config = self.config
        window = _Window()
        while self.step < session_end and not stop.requested:
            loss = self.train_step()
            if not math.isfinite(loss):
                raise TrainingError(
                    f"loss is {loss} at step {self.step + 1}: stopping. The last good checkpoint "
                    f"(in {os.path.join(self.run_dir, 'checkpoints')}) is kept; lower "
                    f"--learning_rate or check the data.")
            self.step += 1
            window.add(loss)
            if self.step % config.checkpoint_every == 0 or self.step == self.steps:
                self.checkpoint()
            if self.step % config.log_every == 0 or self.step == session_end:
                self.log(window)
                window = _Window()
            if config.val_every and self.step % config.val_every == 0 and self.step < self.steps:
                self.validate()
        if stop.requested and self.step % config.checkpoint_every != 0:
            self.checkpoint()

    def train_seconds(self) -> float:
        """Training wall time of the whole run so far, over all its sessions."""
        return self.seconds_before + time.perf_counter() - self.start

    def checkpoint(self) -> None:
        self.save_checkpoint()
        if self.chief:
            run_folder.write_json_atomic(os.path.join(self.run_dir, "progress.json"), {
                "step": self.step, "train_seconds": self.train_seconds()})

    def log(self, window: _Window) -> None:
        rate = window.steps_per_second()
        learning_rate = self.learning_rate()
        line = run_folder.progress_line(self.step, self.steps, window.mean_loss(), learning_rate,
                                        rate, self.pixels_per_step)
        logger.info(line)
        if self.chief:
            run_folder.append_log(self.run_dir, line)
        self.on_log(window.mean_loss(), learning_rate, rate)

    def validate(self) -> tuple[float, float] | None:
        """Scores the validation pairs; keeps the weights when they are the best so far."""
        metrics = self.evaluate()
        if metrics is None:
            return None
        psnr, ssim = metrics
        logger.info("step %d: validation PSNR %.3f dB, SSIM %.4f", self.step, psnr, ssim)
        if self.chief and psnr > self.best_psnr:
            self.best_psnr = psnr
            self.save_weights(os.path.join(self.run_dir, "best.weights.h5"))
            run_folder.write_json_atomic(os.path.join(self.run_dir, "best.json"),
                                         {"step": self.step, "val_psnr": psnr, "val_ssim": ssim})
        return metrics

    def finish(self) -> tuple[float, float] | None:
        """The end of the run: a last validation, ``final.weights.h5`` and ``final.json``."""
        metrics = self.validate()
        if self.chief:
            self.save_weights(os.path.join(self.run_dir, "final.weights.h5"))
            final = {"step": self.step, "config": json.loads(self.config.to_json()),
                     "backend": self.backend, "train_seconds": self.train_seconds(),
                     "sessions": run_folder.sessions(self.run_dir)}
            if metrics:
                final.update(val_psnr=metrics[0], val_ssim=metrics[1])
            run_folder.write_json_atomic(os.path.join(self.run_dir, "final.json"), final)
        return metrics


class _Window:
    """The losses and time of the steps since the last progress line."""

    def __init__(self):
        self.loss, self.steps, self.start = 0.0, 0, time.perf_counter()

    def add(self, loss: float) -> None:
        self.loss += loss
        self.steps += 1

    def mean_loss(self) -> float:
        return self.loss / max(self.steps, 1)

    def steps_per_second(self) -> float:
        return self.steps / max(time.perf_counter() - self.start, 1e-9)
