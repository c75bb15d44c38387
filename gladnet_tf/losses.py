"""The channel-weighted L1 loss of GLADNet, and the original learning-rate schedule.

The slides give the channel weights as (R, G, B) = (0.29891, 0.58661, 0.11448), close to
the ITU-R BT.601 luma weights. The original code multiplies its RGB tensors by
``[0.11448, 0.58661, 0.29891]``: the same numbers in BGR order, so the official weights were
trained with red weighted 0.114 and blue 0.299. We default to the paper's order
(``channel_order="paper"``) and offer the original code's by ``channel_order="original"``.

Written with ``keras.ops``: the same loss on every Keras backend.

Loss value: ``mean over batch, height, width and channel of |output - target| * w_c``, as the
original ``tf.reduce_mean(tf.abs(output - target) * weights)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

PAPER_WEIGHTS = (0.29891, 0.58661, 0.11448)  # (R, G, B), from the slides
ORIGINAL_CODE_WEIGHTS = (0.11448, 0.58661, 0.29891)  # what model.py applies to R, G, B
CHANNEL_WEIGHTS = {"paper": PAPER_WEIGHTS, "original": ORIGINAL_CODE_WEIGHTS}


def channel_weights(order: str) -> tuple[float, float, float]:
    """Returns the (R, G, B) weights for ``"paper"`` or ``"original"``; ValueError otherwise."""
    try:
        return CHANNEL_WEIGHTS[order]
    except KeyError:
        raise ValueError(f"channel order must be one of {sorted(CHANNEL_WEIGHTS)}, got {order!r}") from None


@keras.saving.register_keras_serializable(package="gladnet_tf")
class WeightedL1(keras.losses.Loss):
    """Channel-weighted L1: ``mean(|y_pred - y_true| * weights)``.

    Args:
        weights: three floats, the weights of R, G and B (defaults to the paper's).
        reduction, name: as ``keras.losses.Loss``.

    ``y_true`` and ``y_pred``: ``(B, H, W, 3)`` float RGB in [0, 1] (``y_pred`` may exceed 1).
    ``call`` returns one value per example (the mean over H, W and C), so the default
    ``"sum_over_batch_size"`` reduction gives the original's mean over the whole batch.
    """

    def __init__(self, weights: Sequence[float] = PAPER_WEIGHTS,
                 reduction: str | None = "sum_over_batch_size", name: str = "weighted_l1") -> None:
        super().__init__(reduction=reduction, name=name)
        weights = [float(w) for w in weights]
        if len(weights) != 3:
            raise ValueError(f"WeightedL1 needs 3 channel weights (R, G, B), got {weights}")
        self.weights = weights

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-example loss, shape (B,), in ``y_pred``'s dtype.

        ``y_true`` and ``y_pred`` are backend tensors or arrays, (B, H, W, 3) NHWC RGB:
        ``y_true`` in [0, 1], ``y_pred`` in [0, inf). ``y_true`` is cast to ``y_pred``'s dtype.
        """
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        weights = ops.convert_to_tensor(self.weights, dtype=y_pred.dtype)
        return ops.mean(ops.abs(y_pred - y_true) * weights, axis=(1, 2, 3))

    def get_config(self) -> dict[str, Any]:
        """The loss's config with ``weights`` as a list of three floats (R, G, B)."""
        config = super().get_config()
        config.update({"weights": list(self.weights)})
        return config


def original_schedule(initial_learning_rate: float = 1e-3, decay_steps: int = 100,
                      decay_rate: float = 0.96) -> keras.optimizers.schedules.ExponentialDecay:
    """The original's learning rate: ``1e-3 * 0.96 ** (step / 100)``, not staircase."""
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=decay_steps, decay_rate=decay_rate, staircase=False
    )
