"""3x3 convolutions with fewer multiplications: Winograd's minimal filtering F(4x4, 3x3).

A 3x3 convolution (stride 1, SAME zero padding, as ``keras.layers.Conv2D(padding="same")``)
computes each 4x4 block of outputs from a 6x6 block of inputs. Winograd's algorithm, as
applied to convolutional networks by Lavin and Gray ("Fast Algorithms for Convolutional Neural
Networks", CVPR 2016), transforms the 6x6 input block (``B^T d B``) and the 3x3 kernel
(``G g G^T``) into 6x6 matrices, multiplies them element by element (summed over input
channels: 36 matrix products), and transforms the product back (``A^T m A``). That is 36
multiplications per 16 outputs instead of 9 * 16 = 144: 4x fewer, in exchange for cheap
additions in the transforms. The matrices below use the interpolation points 0, 1, -1, 2, -2
and infinity, the usual choice for float32.

Numbers: on the detail branch's 128 -> 128 convolutions the result differs from direct
convolution by about 1e-5 relative (float32; direct convolution itself differs from a float64
reference by a few 1e-7). Every 32x32 block is computed by the same compiled kernel with the
same shapes, and that kernel treats all 4x4 tiles of a block alike (same transforms, one
batched matrix product over the tiles; tested, not guaranteed by XLA), so the value of an
output pixel depends only on the input and on the pixel's position modulo 4 relative to the
tensor's origin. Two tensors whose origins differ by a
multiple of ``ALIGN`` therefore give bit-identical results where their inputs agree, which is
what exact tiling needs (see ``inference.Enhancer``). "Agree" has a wider meaning than for
direct convolution: an output of a 4x4 tile is computed from all 6x6 inputs of its tile, whose
contributions cancel exactly only in exact arithmetic, so its rounding depends on inputs up to
``REACH`` = 4 pixels away (direct convolution: 1).

Speed: the transforms and the 36 products run in one XLA-compiled kernel per block of
``BLOCK`` x ``BLOCK`` outputs; blocks are visited in a ``tf.while_loop``, so images of any size
share one compiled kernel (compiled once per process, a few seconds on a 2-core CPU).

Layouts: activations are float32 ``(H, W, C)`` (no batch axis); kernels are Keras' HWIO
``(3, 3, C, K)``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

ALIGN = 4  # outputs per Winograd tile side (m of F(m x m, 3 x 3))
_N = ALIGN + 2  # inputs per tile side
REACH = ALIGN  # how far (in pixels) an input can change the rounding of an output
_TILES = 8  # Winograd tiles per block side
BLOCK = ALIGN * _TILES  # outputs per block side (32)

# F(4, 3): y = A^T [(G g) * (B^T d)], with d 6 inputs, g 3 taps, y 4 outputs.
_BT = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=np.float64,
)
_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)
_AT = np.array(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=np.float64,
)


def transform_kernel(kernel: np.ndarray) -> tf.Tensor:
    """Keras 3x3 kernel ``(3, 3, C, K)`` -> Winograd-domain kernel ``(36, C, K)`` float32.

    ``kernel`` is anything ``np.asarray`` takes (a Keras variable too). Computed in float64
    and rounded once. Index ``a * 6 + b`` holds row ``a``, column ``b`` of ``G g G^T``
    (Keras convolutions are cross-correlations, as the transforms below assume).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4 or kernel.shape[:2] != (3, 3):
        raise ValueError(f"expected a (3, 3, C, K) kernel, got shape {kernel.shape}")
    u = np.einsum("ai,ijck,bj->abck", _G, kernel, _G)
    return tf.constant(u.reshape(_N * _N, kernel.shape[2], kernel.shape[3]).astype(np.float32))


def _combine(coefficients, terms):
    """sum(c * t) skipping zeros and multiplying only where |c| != 1."""
    total = None
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        if total is None:
            total = t if c == 1 else (-t if c == -1 else t * float(c))
        elif c == 1:
            total = total + t
        elif c == -1:
            total = total - t
        else:
            total = total + t * float(c)
    return total


@tf.function(jit_compile=True)
def _block(inputs, u, bias):
    """One block: ``(BLOCK + 2, BLOCK + 2, C)`` padded inputs -> ``relu(conv + bias)``, ``(BLOCK, BLOCK, K)``."""
    n, m, t = _N, ALIGN, _TILES
    channels = inputs.shape[-1]
    # Input transform B^T d B, rows then columns, for all tiles of the block at once.
    rows = [inputs[r : r + m * t : m] for r in range(n)]  # n x (t, BLOCK + 2, C)
    row_mixed = [_combine(_BT[a], rows) for a in range(n)]
    v = []
    for a in range(n):
        cols = [row_mixed[a][:, s : s + m * t : m] for s in range(n)]  # n x (t, t, C)
        v.extend(_combine(_BT[b], cols) for b in range(n))
    v = tf.reshape(tf.stack(v), [n * n, t * t, channels])
    products = tf.matmul(v, u)  # (36, tiles, K): the only multiplications that scale with C*K
    products = tf.reshape(products, [n, n, t, t, -1])
    # Output transform A^T m A.
    by_row = [products[a] for a in range(n)]
    out_rows = []
    for p in range(m):
        mixed = _combine(_AT[p], by_row)  # (n, t, t, K), indexed by b
        mixed = [mixed[b] for b in range(n)]
        out_rows.append(tf.stack([_combine(_AT[q], mixed) for q in range(m)], axis=2))  # (t, t, m, K)
    out = tf.stack(out_rows, axis=1)  # (t, m, t, m, K)
    out = tf.reshape(out, [m * t, m * t, -1])
    return tf.nn.relu(out + bias)


def conv3x3_relu(x: tf.Tensor, u: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """``relu(conv2d(x, kernel, SAME) + bias)`` for ``x`` of shape ``(H, W, C)`` float32.

    ``u`` is ``transform_kernel(kernel)``; ``bias`` is ``(K,)``. Works inside ``tf.function``
    with unknown H and W. Returns ``(H, W, K)`` float32 in [0, inf) (the ReLU).
    """
    height, width = tf.shape(x)[0], tf.shape(x)[1]
    channels = x.shape[-1]
    out_channels = u.shape[-1]
    blocks_y = (height + BLOCK - 1) // BLOCK
    blocks_x = (width + BLOCK - 1) // BLOCK
    num_blocks = blocks_y * blocks_x
    # One pixel of SAME padding on each side, then zeros up to whole blocks.
    padded = tf.pad(
        x, [[1, blocks_y * BLOCK - height + 1], [1, blocks_x * BLOCK - width + 1], [0, 0]]
    )
    results = tf.TensorArray(
        tf.float32, size=num_blocks, element_shape=[BLOCK, BLOCK, out_channels]
    )

    def body(i, results):
        y0 = (i // blocks_x) * BLOCK
        x0 = (i % blocks_x) * BLOCK
        inputs = tf.slice(padded, [y0, x0, 0], [BLOCK + 2, BLOCK + 2, channels])
        return i + 1, results.write(i, _block(inputs, u, bias))

    _, results = tf.while_loop(lambda i, _: i < num_blocks, body, (tf.constant(0), results))
    out = tf.reshape(results.stack(), [blocks_y, blocks_x, BLOCK, BLOCK, out_channels])
    out = tf.reshape(
        tf.transpose(out, [0, 2, 1, 3, 4]), [blocks_y * BLOCK, blocks_x * BLOCK, out_channels]
    )
    # Outputs beyond the image were computed from padding: drop them, so the next layer pads
    # with zeros again as SAME convolution does.
    return out[:height, :width]
