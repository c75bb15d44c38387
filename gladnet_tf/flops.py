"""GLADNet's arithmetic: FLOPs of a forward pass and of a training step (standard library).

Counted from the layer shapes of ``model.GLADNet`` (a multiply-add is two FLOPs): the
global branch works on ``global_size`` x ``global_size`` whatever the input (its cost is per
image), the detail branch on every pixel. A training step is counted as three forward
passes' convolutions (the forward pass, the input gradient and the kernel gradient), the
resizes, additions and activations left out; XLA's cost analysis of the forward pass agrees
within a few per cent (it skips the taps on SAME padding; a test compares the two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only
    from gladnet_tf.config import TrainConfig


def conv_flops(height: int, width: int, kernel: int, cin: int, cout: int) -> int:
    """FLOPs of one k x k convolution producing height x width x cout."""
    return 2 * height * width * kernel * kernel * cin * cout


def gladnet(patch: int, global_size: int = 96, global_filters: int = 64, detail_filters: int = 128,
            global_depth: int = 6, detail_depth: int = 5) -> dict[str, float]:
    """FLOPs of one ``patch`` x ``patch`` image: ``{"forward_per_image", "training_per_image",
    "training_per_pixel", "detail_forward_per_pixel", "global_forward_per_image"}``."""
    sizes = [global_size]
    for _ in range(global_depth):
        sizes.append(-(-sizes[-1] // 2))  # SAME, stride 2: ceil(n / 2)
    global_forward, cin = 0, 3
    for i in range(global_depth):  # stride-2 encoder, output sizes[i + 1]
        global_forward += conv_flops(sizes[i + 1], sizes[i + 1], 3, cin, global_filters)
        cin = global_filters
    for i in range(global_depth - 1):  # decoder convs at 3, 6, 12, 24, 48
        side = sizes[global_depth - 1 - i]
        global_forward += conv_flops(side, side, 3, global_filters, global_filters)
    global_forward += conv_flops(global_size, global_size, 3, global_filters, global_filters)
    detail, cin = 0, global_filters + 3  # illumination (64) + RGB
    for _ in range(detail_depth - 1):
        detail += conv_flops(1, 1, 3, cin, detail_filters)
        cin = detail_filters
    detail += conv_flops(1, 1, 3, cin, 3)
    forward = global_forward + detail * patch * patch
    return {"forward_per_image": forward, "training_per_image": 3 * forward,
            "training_per_pixel": 3 * forward / (patch * patch),
            "detail_forward_per_pixel": detail, "global_forward_per_image": global_forward}


def of_config(config: TrainConfig, patch: int | None = None) -> dict[str, float]:
    """``gladnet`` for a ``config.TrainConfig`` (its filters, global size and patch)."""
    return gladnet(patch or config.patch_size, config.global_size, config.global_filters, config.detail_filters)
