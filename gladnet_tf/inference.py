"""Enhancing images with a trained GLADNet: one traced function for every size, tiled for
big images (the folder loop behind ``test.py`` is ``batch.py``).

Why tiling is exact: the global branch sees only a 96x96 nearest resize of the image, so it is
computed once from the whole image. The detail branch is five 3x3 convolutions, so an output
pixel depends on input pixels at most 5 away. A tile extended by a halo of >= 5 pixels (clamped
at the image border, where the zero padding of SAME convolution is the same as for the whole
image) therefore gives the same values on its interior as the whole image does. The
illumination map at full size is gathered tile by tile with the exact row and column indices of
the legacy nearest resize (computed by running that very op on index vectors), so the whole
H x W x 64 map is never materialised.

Layouts: arrays are float32 RGB in [0, 1], HxWx3; ``enhance`` returns the raw network output
(float32, [0, inf), not clipped).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

from gladnet_tf import model as model_lib

DEFAULT_TILE = 512
MIN_HALO = 5  # five 3x3 convolutions in the detail branch


def _on_tensorflow():
    return keras.backend.backend() == "tensorflow"


def _backend_errors():
    if _on_tensorflow():
        import tensorflow as tf

        return (tf.errors.OpError,)
    return ()


# What the backend may raise for one image it cannot run (TensorFlow's OpError: out of memory,
# a size a kernel refuses...): the folder loops report it for that file and go on.
BACKEND_ERRORS = _backend_errors()


def _tensorflow_functions(global_model, detail_model, model, global_size, algorithm):
    """(global_fn, detail_fn, fast_detail_fn or None, indices_fn) as ``tf.function``s with
    fixed signatures: a constant number of traced graphs whatever the image sizes."""
    import tensorflow as tf

    from gladnet_tf import fast_detail as fast_detail_lib

    image_spec = tf.TensorSpec([None, None, None, 3], tf.float32)

    @tf.function(input_signature=[image_spec])
    def global_fn(batch):
        return tf.cast(global_model(batch, training=False), tf.float32)  # (B, 96, 96, 64)

    detail_signature = [
        tf.TensorSpec([None, None, None, model.global_filters], tf.float32),
        image_spec,
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
    ]

    @tf.function(input_signature=detail_signature)
    def detail_fn(illumination96, image_tile, rows, cols):
        # Nearest "resize" of the 96x96 map restricted to this tile's rows and columns.
        tile_illumination = tf.gather(tf.gather(illumination96, rows, axis=1), cols, axis=2)
        return tf.cast(detail_model([tile_illumination, image_tile], training=False), tf.float32)

    fast_detail_fn = None
    if algorithm == "winograd":
        fast_detail_fn = tf.function(fast_detail_lib.build(model), input_signature=detail_signature)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    def indices_fn(height, width):
        return (model_lib.legacy_source_indices(global_size, height),
                model_lib.legacy_source_indices(global_size, width))

    return global_fn, detail_fn, fast_detail_fn, indices_fn


def _keras_functions(global_model, detail_model, global_size):
    """The same functions on JAX or PyTorch: plain calls of the Keras models (each backend
    compiles or runs them its own way), float32 outputs."""
    ops = keras.ops

    def global_fn(batch):
        return ops.cast(global_model(ops.convert_to_tensor(batch), training=False), "float32")

    def detail_fn(illumination96, image_tile, rows, cols):
        illumination96, image_tile = ops.convert_to_tensor(illumination96), ops.convert_to_tensor(image_tile)
        tile_illumination = ops.take(ops.take(illumination96, rows, axis=1), cols, axis=2)
        return ops.cast(detail_model([tile_illumination, image_tile], training=False), "float32")

    def indices_fn(height, width):
        return (model_lib.legacy_source_indices(global_size, int(height)),
                model_lib.legacy_source_indices(global_size, int(width)))

    return global_fn, detail_fn, None, indices_fn


def _numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


WINOGRAD_ALIGN, WINOGRAD_BLOCK = 4, 32  # winograd.ALIGN and .BLOCK (checked equal by a test)
PRECISIONS = ("float32", "bfloat16")
ALGORITHMS = ("direct", "winograd")


def _bfloat16_copy(model):
    """The same GLADNet computing in bfloat16 (weights kept in float32, cast per layer).

    On CPUs with AVX-512 BF16 or AMX, oneDNN runs bfloat16 convolutions faster than float32;
    the output is then no longer bit-identical to float32 inference (see README for the
    measured speed and PSNR against float32).
    """
    copy = model_lib.create("mixed_bfloat16", **model.get_config())
    copy.set_weights(model.get_weights())
    return copy


class Enhancer:
    """Runs GLADNet on single images of any size with a constant number of traced graphs.

    Images in: float32 HxWx3 RGB in [0, 1] (H, W >= 1); out: float32 HxWx3, the raw network
    output in [0, inf) (not clipped). On TensorFlow the branches are ``tf.function``s with
    fixed signatures; on JAX and PyTorch plain Keras calls.

    Args:
        model: a ``GLADNet`` or a path to ``*.weights.h5`` / ``*.keras``.
        tile: images of more than ``tile`` x ``tile`` pixels are processed in tiles of at
            most about that many pixels (see ``tiles``; 0 = never tile).
        halo: extra pixels around each tile (>= 5 for exact results).
        precision: "float32" (exact; the default) or "bfloat16" (faster on CPUs with
            bfloat16 support, not bit-identical).
        algorithm: how the detail branch is computed: "direct" (the default; bit-identical
            to the Keras model) or "winograd" (float32 with about a third of the
            multiplications, see ``fast_detail.py``; differs from "direct" by ~1e-6 on the
            output; tiles stay exact: tile and halo are rounded up to multiples of 4 and the
            halo covers the Winograd layers' wider rounding reach). It reads the weights when
            the Enhancer is made.
    """

    def __init__(
        self, model: keras.Model | str | os.PathLike, tile: int = DEFAULT_TILE, halo: int = MIN_HALO,
        precision: str = "float32", algorithm: str = "direct",
    ) -> None:
        if not isinstance(model, keras.Model):
            model = model_lib.load(model)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        if algorithm == "winograd" and precision != "float32":
            raise ValueError("algorithm 'winograd' runs in float32 only")
        if algorithm == "winograd" and not _on_tensorflow():
            raise ValueError("algorithm 'winograd' runs on the TensorFlow backend only")
        if precision == "bfloat16":
            model = _bfloat16_copy(model)
        self.precision = precision
        self.algorithm = algorithm
        if halo < MIN_HALO:
            raise ValueError(f"halo must be >= {MIN_HALO} for exact tiles, got {halo}")
        if tile < 0:
            raise ValueError(f"tile must be >= 0, got {tile}")
        if algorithm == "winograd":
            # Tile origins (tile starts, see tiles(), minus the halo) must be multiples of 4
            # so that every tile sees the same Winograd grid as the whole image, and the halo
            # must cover the rounding reach of each Winograd layer (4 pixels, not 1).
            from gladnet_tf import fast_detail as fast_detail_lib
            from gladnet_tf import winograd as winograd_lib

            align = winograd_lib.ALIGN
            halo = max(halo, fast_detail_lib.reach(model))
            tile, halo = -(-tile // align) * align, -(-halo // align) * align
        self.model = model
        self.tile = int(tile)
        self.halo = int(halo)
        self.global_size = model.global_size
        global_model = model.global_branch()

        illumination = keras.Input(shape=(None, None, model.global_filters), name="illumination_full")
        image = keras.Input(shape=(None, None, 3), name="image")
        x = model.get_layer("detail_concat")([illumination, image])
        for i in range(model.detail_depth):
            x = model.get_layer(f"detail_conv_{i + 1}")(x)
        detail_model = keras.Model([illumination, image], x, name="detail_branch")

        if _on_tensorflow():
            functions = _tensorflow_functions(global_model, detail_model, model, self.global_size,
                                              algorithm)
        else:
            functions = _keras_functions(global_model, detail_model, self.global_size)
        self._global_fn, self._detail_fn, self._fast_detail_fn, self._indices_fn = functions

    def tiles(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """(y0, y1, x0, x1) of the output tiles covering an image.

        Images of at most ``tile`` x ``tile`` pixels are not cut (memory grows with the area,
        whatever the shape). Larger ones are cut into rows x columns of near-equal tiles of at
        most about ``tile`` x ``tile`` pixels each, choosing the grid that computes the fewest
        pixels, halos included; with Winograd, tiles start at multiples of 4 and the count
        includes the padding to whole 32x32 blocks.
        """
        area = self.tile * self.tile
        if not self.tile or height * width <= area:
            return [(0, height, 0, width)]
        align = WINOGRAD_ALIGN if self.algorithm == "winograd" else 1
        block = WINOGRAD_BLOCK if self.algorithm == "winograd" else 1

        def padded(side):
            return -(-(side + 2 * self.halo) // block) * block

        def cuts(size, parts):
            step = -(-size // parts)
            step = -(-step // align) * align
            return [(start, min(start + step, size)) for start in range(0, size, step)]

        best = None
        # More rows than pixel rows only repeats rows == height at a higher cost.
        for rows in range(1, min(height, -(-height // self.tile) * -(-width // self.tile)) + 1):
            tile_height = -(-height // rows)
            if tile_height > area:  # even one-pixel-wide tiles would be too big
                continue
            cols = -(-width // (area // tile_height))  # fewest columns for this height
            # Pixels computed, halos (and Winograd's block padding) included: what cuts cost.
            key = rows * cols * padded(tile_height) * padded(-(-width // cols))
            if best is None or key < best[0]:
                best = (key, rows, cols)
        _, rows, cols = best
        return [(y0, y1, x0, x1) for y0, y1 in cuts(height, rows) for x0, x1 in cuts(width, cols)]

    @staticmethod
    def _check(rgb) -> np.ndarray:
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"expected an HxWx3 image with H, W >= 1, got shape {rgb.shape}")
        return rgb

    def global_illumination(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 float32 RGB in [0, 1] -> the global branch's map, (96, 96, 64) float32.

        Exposed so that callers can change it before the detail branch (e.g. smooth it over
        the frames of a video) and pass it to ``enhance(..., illumination=...)``.
        """
        rgb = self._check(rgb)
        return _numpy(self._global_fn(rgb[None]))[0]

    def enhance(self, rgb: np.ndarray, illumination: np.ndarray | None = None) -> np.ndarray:
        """HxWx3 float32 RGB in [0, 1] -> HxWx3 float32 raw output in [0, inf).

        ``illumination``: an optional (96, 96, 64) map to use instead of the one computed from
        ``rgb`` (see ``global_illumination``).
        """
        rgb = self._check(rgb)
        height, width = rgb.shape[:2]
        batch = rgb[None]
        if illumination is None:
            illumination96 = self._global_fn(batch)
        else:
            illumination96 = np.asarray(illumination, np.float32)[None]
        rows, cols = (_numpy(t) for t in self._indices_fn(np.int32(height), np.int32(width)))
        tiles = self.tiles(height, width)
        detail_fn = self._detail_fn_for(height, width)
        if len(tiles) == 1:
            return _numpy(detail_fn(illumination96, batch, rows, cols))[0]
        output = np.empty((height, width, 3), dtype=np.float32)
        for y0, y1, x0, x1 in tiles:
            # The tile plus its halo, clamped to the image.
            ya, yb = max(0, y0 - self.halo), min(height, y1 + self.halo)
            xa, xb = max(0, x0 - self.halo), min(width, x1 + self.halo)
            result = _numpy(detail_fn(
                illumination96, np.ascontiguousarray(batch[:, ya:yb, xa:xb]), rows[ya:yb], cols[xa:xb]
            ))[0]
            output[y0:y1, x0:x1] = result[y0 - ya : y1 - ya, x0 - xa : x1 - xa]
        return output

    def _detail_fn_for(self, height, width):
        if self._fast_detail_fn is not None and min(height, width) >= WINOGRAD_BLOCK:
            # Thinner images would be mostly padding in Winograd's 32x32 blocks. The choice is
            # made per image, so all tiles of one image take the same path (exact tiles).
            return self._fast_detail_fn
        return self._detail_fn

    def enhance_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """A sequence of HxWx3 float32 RGB images in [0, 1], of any sizes -> the list of their
        ``enhance`` outputs (HxWx3 float32 in [0, inf)), equal to enhancing each on its own.

        Images of one size that need no tiling run together, stacked along a batch axis, in
        calls of at most ``tile`` x ``tile`` pixels in all (512 x 512 when ``tile`` is 0), so
        memory stays that of one tile; the others (and, with Winograd, images whose sides are
        all >= 32, which take its batch-of-one path) go through ``enhance`` one at a time.
        Stacking saves the per-call overhead of small images (most on accelerators; on a
        2-core CPU it measured no faster).
        """
        checked = [self._check(rgb) for rgb in images]
        outputs = [None] * len(checked)
        budget = (self.tile or DEFAULT_TILE) ** 2
        by_size = {}
        for index, rgb in enumerate(checked):
            height, width = rgb.shape[:2]
            stackable = self._detail_fn_for(height, width) is self._detail_fn  # Winograd: batch of one
            if stackable and len(self.tiles(height, width)) == 1 and 2 * height * width <= budget:
                by_size.setdefault((height, width), []).append(index)
            else:
                outputs[index] = self.enhance(rgb)
        for (height, width), indices in by_size.items():
            per_call = budget // (height * width)
            for start in range(0, len(indices), per_call):
                chunk = indices[start : start + per_call]
                if len(chunk) == 1:
                    outputs[chunk[0]] = self.enhance(checked[chunk[0]])
                    continue
                batch = np.stack([checked[i] for i in chunk])
                rows, cols = self._indices_fn(np.int32(height), np.int32(width))
                stacked = self._detail_fn(self._global_fn(batch), batch, rows, cols)
                for index, output in zip(chunk, _numpy(stacked)):
                    outputs[index] = output
        return outputs

    @property
    def traced_graphs(self) -> int:
        """How many concrete graphs the traced functions hold (constant: no retracing)."""
        functions = [self._global_fn, self._detail_fn, self._fast_detail_fn]
        return sum(len(f._list_all_concrete_functions()) for f in functions
                   if f is not None and hasattr(f, "_list_all_concrete_functions"))
