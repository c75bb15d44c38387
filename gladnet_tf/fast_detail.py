"""GLADNet's detail branch in float32 with about a third of the multiplications.

The same function as the Keras layers ``detail_concat`` .. ``detail_conv_5`` (up to float32
rounding, ~1e-6 on the output), rearranged in three ways:

1. ``detail_conv_1`` (67 -> 128) sees the 64-channel illumination map only through a nearest
   upsampling of the 96x96 map, so its illumination part is computed at 96x96 (one 64 -> 9*128
   projection per map cell, one per kernel tap) and gathered: first along columns for each
   kernel row, then once per distinct triple of source rows. Only the 3 RGB channels are
   convolved at full resolution. This removes 64/67 of that layer's multiplications.
2. The 128 -> 128 convolutions use Winograd F(4x4, 3x3) (``winograd.py``): 4x fewer
   multiplications.
3. ``detail_conv_5`` (128 -> 3) is one 128 -> 27 matrix product (each kernel tap's 3 outputs)
   followed by nine shifted 3-channel additions, which oneDNN's direct convolution handles
   poorly for so few outputs.

Every sum is taken in a fixed order that does not depend on a pixel's position, except inside
Winograd tiles, where it depends on the position modulo ``winograd.ALIGN``; so tiles whose
origins are multiples of 4 and whose halo is at least ``reach(model)`` give bit-identical
results to the whole image (``inference.Enhancer`` does this).

Layouts: batch of one; images float32 RGB in [0, 1], (1, H, W, 3); the 96x96 illumination
map (1, 96, 96, 64) as the global branch returns it; ``rows``/``cols`` the nearest-resize
source index of each row/column of the tile (see ``inference._resize_indices``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np
import tensorflow as tf

from gladnet_tf import winograd as winograd_lib

if TYPE_CHECKING:  # for annotations only
    from gladnet_tf.model import GLADNet

_TAPS = 9


def _square(layer):
    """Whether a conv layer has as many outputs as inputs (128 -> 128)."""
    kernel = layer.kernel
    return kernel.shape[2] == kernel.shape[3]


def reach(model: GLADNet) -> int:
    """Pixels an input can reach (in value or in rounding) through the fast detail branch."""
    layers = [model.get_layer(f"detail_conv_{i + 1}") for i in range(model.detail_depth)]
    return sum(winograd_lib.REACH if _square(layer) else 1 for layer in layers)


class _FirstLayer(NamedTuple):
    """``detail_conv_1`` split into its illumination part (a per-tap 1x1 projection) and its RGB part."""

    illumination_kernel: tf.Tensor  # (64, 9 * 128): tap t = 3 * ky + kx, as a 1x1 projection
    image_kernel: tf.Tensor  # (3, 3, 3, 128), HWIO
    bias: tf.Tensor  # (128,)
    channels: int  # illumination channels (64)
    size: int  # side of the illumination map (96)
    filters: int  # outputs (128)


def _split_first_layer(model) -> _FirstLayer:
    """Reads ``detail_conv_1``'s weights and splits them by input (illumination map, RGB)."""
    kernel, bias = (np.asarray(v, np.float32) for v in model.get_layer("detail_conv_1").get_weights())
    channels = model.global_filters
    if kernel.shape[2] != channels + 3:
        raise ValueError(
            f"detail_conv_1 takes {kernel.shape[2]} channels; expected {channels} illumination + 3 RGB"
        )
    filters = kernel.shape[-1]
    illumination_kernel = (
        kernel[:, :, :channels, :].reshape(_TAPS, channels, filters).transpose(1, 0, 2).reshape(channels, -1)
    )
    return _FirstLayer(tf.constant(illumination_kernel), tf.constant(kernel[:, :, channels:, :]),
                       tf.constant(bias), channels, model.global_size, filters)


def _later_layers(model) -> list:
    """``detail_conv_2`` .. ``detail_conv_N`` as ``(kind, kernel, bias)``: Winograd or per-tap."""
    layers = []
    for i in range(1, model.detail_depth):
        layer = model.get_layer(f"detail_conv_{i + 1}")
        kernel, bias = (np.asarray(v, np.float32) for v in layer.get_weights())
        if _square(layer):
            layers.append(("winograd", winograd_lib.transform_kernel(kernel), tf.constant(bias)))
        else:  # (C, 9 * K), tap-major
            k = kernel.shape[-1]
            flat = kernel.reshape(_TAPS, kernel.shape[2], k).transpose(1, 0, 2).reshape(kernel.shape[2], -1)
            layers.append(("taps", tf.constant(flat), tf.constant(bias)))
    return layers


def _first_layer(first: _FirstLayer, illumination96, image, rows, cols):
    """relu(detail_conv_1(concat(upsampled illumination, image))): (H, W, 128) float32."""
    height, width = tf.shape(image)[1], tf.shape(image)[2]
    # Per-tap projections of the n distinct map rows this tile uses (n <= min(H, 96)),
    # plus one zero row and one zero column that stand for the zero padding outside it.
    used_rows, rows = tf.unique(rows)
    n = tf.shape(used_rows)[0]
    used = tf.gather(illumination96[0], used_rows)  # (n, size, 64)
    projected = tf.matmul(tf.reshape(used, [-1, first.channels]), first.illumination_kernel)
    projected = tf.reshape(projected, [n, first.size, _TAPS, first.filters])
    projected = tf.pad(projected, [[0, 1], [0, 1], [0, 0], [0, 0]])  # (n + 1, size + 1, ...)
    rows = tf.concat([[n], rows, [n]], 0)  # rows[y + ky]: input row y + ky - 1
    cols = tf.concat([[first.size], cols, [first.size]], 0)
    # Columns: for each kernel row ky, sum over kx -> (n + 1, W, 128), which grows with the
    # tile's area (n <= H), not with its width alone.
    per_row = []
    for ky in range(3):
        total = None
        for kx in range(3):
            term = tf.gather(projected[:, :, 3 * ky + kx], cols[kx : kx + width], axis=1)
            total = term if total is None else total + term
        per_row.append(total)
    illumination_term = _gather_row_triples(per_row, rows, n, height)
    image_term = tf.nn.conv2d(image, first.image_kernel, 1, "SAME")[0]
    return tf.nn.relu((illumination_term + image_term) + first.bias)


def _gather_row_triples(per_row, rows, n, height):
    """Sums kernel rows 0-2 per output row: (H, W, 128); each distinct triple of map rows once.

    Output row y needs map rows (rows[y], rows[y+1], rows[y+2]), and few triples are distinct.
    """
    base = tf.cast(n + 1, tf.int64)
    rows = tf.cast(rows, tf.int64)
    keys = rows[:height] * base * base + rows[1 : height + 1] * base + rows[2 : height + 2]
    distinct, which = tf.unique(keys)
    sums = (
        tf.gather(per_row[0], distinct // (base * base))
        + tf.gather(per_row[1], (distinct // base) % base)
    ) + tf.gather(per_row[2], distinct % base)
    return tf.gather(sums, which)


def _taps_layer(x, flat, bias):
    """relu(conv3x3(x) + bias) for few outputs K: x (H, W, C) -> (H, W, K) float32."""
    height, width = tf.shape(x)[0], tf.shape(x)[1]
    k = bias.shape[0]
    per_tap = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), flat)
    per_tap = tf.pad(tf.reshape(per_tap, [height, width, _TAPS * k]), [[1, 1], [1, 1], [0, 0]])
    total = None
    for ky in range(3):
        for kx in range(3):
            t = 3 * ky + kx
            term = per_tap[ky : ky + height, kx : kx + width, t * k : (t + 1) * k]
            total = term if total is None else total + term
    return tf.nn.relu(total + bias)


def build(model: GLADNet) -> Callable:
    """Returns ``detail(illumination96, image, rows, cols) -> (1, H, W, 3)`` for a GLADNet.

    The weights are read once, here (later changes to the model's weights are not seen);
    every layer is followed by a ReLU, as in GLADNet. The function is meant to be called
    inside a ``tf.function`` with unknown H and W.
    """
    first = _split_first_layer(model)
    later = _later_layers(model)

    def detail(illumination96, image, rows, cols):
        """(1, 96, 96, 64), (1, H, W, 3) in [0, 1], (H,), (W,) -> (1, H, W, 3) float32."""
        x = _first_layer(first, illumination96, image, rows, cols)
        for kind, kernel, bias in later:
            if kind == "winograd":
                x = winograd_lib.conv3x3_relu(x, kernel, bias)
            else:
                x = _taps_layer(x, kernel, bias)
        return x[None]

    return detail
