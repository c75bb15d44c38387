"""One call to enhance an image: ``gladnet_tf.enhance(image)``.

    import gladnet_tf
    out = gladnet_tf.enhance(photo)                       # uint8 HxWx3 in, uint8 out
    out = gladnet_tf.enhance("night.jpg")                 # a file: its pixels as an array
    out = gladnet_tf.enhance(photo, weights="gladnet_backlit3_p256")   # another preset
    gladnet_tf.presets()                                  # what is shipped, with records

The first call with given weights and options builds an ``inference.Enhancer`` (reads the
weights, traces the graphs: a few seconds) and keeps it; later calls with the same weights
and options reuse it (``get_enhancer`` returns that shared one). To hold one yourself, make
``enhancer = gladnet_tf.get_enhancer(...)`` once and pass ``enhancer=enhancer``.

The result is what ``test.py`` writes for the same pixels: the same tiling (exact: tiles do
not change the output) and the same rounding to 8 or 16 bits.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:  # for annotations only
    from PIL import Image

    from gladnet_tf import inference

ImageLike = Union[np.ndarray, "os.PathLike[str]", str, Any]  # Any: a PIL.Image.Image


def _weights_path(weights: str | os.PathLike | None) -> str:
    from gladnet_tf import checkpoints

    if weights is None:
        return checkpoints.default_weights()
    text = os.fspath(weights)
    if os.path.exists(text) or os.sep in text or text.endswith((".h5", ".keras")):
        if not os.path.isfile(text):
            raise FileNotFoundError(f"{text}: no such weights file")
        return os.path.abspath(text)
    return checkpoints.preset_path(text)  # a preset name; ValueError lists the known ones


@functools.lru_cache(maxsize=4)
def _cached_enhancer(path: str, tile: int, precision: str, algorithm: str):
    from gladnet_tf import inference

    return inference.Enhancer(path, tile=tile, precision=precision, algorithm=algorithm)


def get_enhancer(weights: str | os.PathLike | None = None, *, tile: int = 512,
                 precision: str = "float32", algorithm: str = "direct") -> inference.Enhancer:
    """The shared ``inference.Enhancer`` for these weights and options (built on first use).

    Args:
      weights: None (the default shipped weights), a preset name (see ``presets()``) or a
        ``.weights.h5`` / ``.keras`` file.
      tile: images of more than tile x tile pixels are enhanced in exact tiles (0 = never).
      precision: "float32" (exact) or "bfloat16" (faster on CPUs that have it; not exact).
      algorithm: "direct" or "winograd" (float32; ~1e-6 from "direct").

    Its ``enhance`` maps float32 HxWx3 RGB in [0, 1] to the raw float32 output in [0, inf).
    """
    return _cached_enhancer(_weights_path(weights), int(tile), precision, algorithm)


def presets() -> dict[str, dict]:
    """The shipped weights by name, the default first: ``{name: record}``.

    A record says how the weights were made and what they score (``config``: data, patch,
    schedule; ``progress``: steps and wall time; ``evaluation``: PSNR/SSIM; ``note``), with
    ``path`` and ``default``. Any name is accepted by ``enhance(weights=...)``,
    ``get_enhancer`` and ``GLADNet.from_preset``.
    """
    from gladnet_tf import checkpoints

    return checkpoints.presets()


def _as_float_rgb(pixels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray | None, str, int]:
    """array -> (float32 HxWx3 in [0, 1], alpha or None, layout, bits); layout is "rgb",
    "rgba", "gray" (HxW) or "gray1" (HxWx1); bits: 8, 16 or 0 (float)."""
    if pixels.dtype == np.uint8:
        bits, scaled = 8, pixels.astype(np.float32) / np.float32(255)
    elif pixels.dtype == np.uint16:
        bits, scaled = 16, pixels.astype(np.float32) / np.float32(65535)
    elif np.issubdtype(pixels.dtype, np.floating):
        bits, scaled = 0, pixels.astype(np.float32)
        if not np.all(np.isfinite(scaled)):
            raise ValueError(f"{what}: float image holds NaN or infinity")
        low, high = (float(scaled.min()), float(scaled.max())) if scaled.size else (0.0, 0.0)
        if low < 0.0 or high > 1.0:
            raise ValueError(f"{what}: float images must lie in [0, 1]; this one spans "
                             f"[{low:.4g}, {high:.4g}] (divide 8-bit values by 255)")
    else:
        raise ValueError(f"{what}: unsupported dtype {pixels.dtype}; use uint8, uint16 or float in [0, 1]")
    if scaled.ndim == 2:
        layout, rgb, alpha = "gray", np.repeat(scaled[..., None], 3, axis=-1), None
    elif scaled.ndim == 3 and scaled.shape[-1] == 1:
        layout, rgb, alpha = "gray1", np.repeat(scaled, 3, axis=-1), None
    elif scaled.ndim == 3 and scaled.shape[-1] == 3:
        layout, rgb, alpha = "rgb", scaled, None
    elif scaled.ndim == 3 and scaled.shape[-1] == 4:
        layout, rgb, alpha = "rgba", scaled[..., :3], pixels[..., 3]
    else:
        raise ValueError(f"{what}: expected HxW, HxWx1, HxWx3 or HxWx4 pixels, got shape {pixels.shape}")
    if min(rgb.shape[:2]) < 1:
        raise ValueError(f"{what}: empty image of shape {pixels.shape}")
    return np.ascontiguousarray(rgb), alpha, layout, bits


def _back(output: np.ndarray, alpha: np.ndarray | None, layout: str, bits: int) -> np.ndarray:
    from gladnet_tf import images

    if layout in ("gray", "gray1"):
        output = output.mean(axis=-1, keepdims=layout == "gray1")
    if bits:
        output = images.quantize(output, bits)
    else:
        output = np.clip(output, 0.0, 1.0).astype(np.float32)
    if alpha is not None:
        alpha = alpha if bits else alpha.astype(np.float32)
        output = np.concatenate([output, alpha[..., None].astype(output.dtype)], axis=-1)
    return output


def enhance(image: ImageLike, weights: str | os.PathLike | None = None, *,
            enhancer: inference.Enhancer | None = None, tile: int = 512, precision: str = "float32",
            algorithm: str = "direct") -> np.ndarray | Image.Image:
    """Enhances one low-light image with GLADNet; returns the same kind it was given.

    Args:
      image: one of
        - a numpy array, HxWx3 RGB, HxWx4 RGBA (alpha is passed through untouched), HxW or
          HxWx1 gray (enhanced as RGB, returned as the mean of the three output channels),
          of dtype uint8 (0-255), uint16 (0-65535) or float (values in [0, 1]);
        - a ``PIL.Image.Image`` (returned as a PIL image: RGB, RGBA or L as given; other
          modes come back as RGB);
        - a path to an image file (PNG, JPEG, BMP, TIFF, WebP; EXIF orientation applied):
          returned as a numpy array of the file's bit depth (uint8, or uint16 for 16-bit
          files), HxWx3, or HxWx4 when it has transparency.
      weights: None (the default shipped weights), a preset name (``presets()``) or a file.
      enhancer: an ``inference.Enhancer`` to use instead (then weights and options are
        ignored); by default the shared one of ``get_enhancer(weights, ...)``.
      tile, precision, algorithm: as for ``get_enhancer``.

    Returns:
      uint8 in -> uint8 out, uint16 -> uint16, float -> float32 in [0, 1] (the network's
      output clipped), same height, width and channel layout as the input; a PIL image for
      a PIL image, a numpy array otherwise.
    """
    from gladnet_tf import images

    enhancer = enhancer or get_enhancer(weights, tile=tile, precision=precision, algorithm=algorithm)
    if isinstance(image, (str, os.PathLike)):
        loaded = images.read(image)
        output = enhancer.enhance(loaded.rgb)
        alpha = None if loaded.alpha is None else images.quantize(loaded.alpha, loaded.bit_depth)
        return _back(output, alpha, "rgb" if alpha is None else "rgba", loaded.bit_depth)
    if not isinstance(image, np.ndarray) and hasattr(image, "mode") and hasattr(image, "size"):
        from PIL import Image

        mode = image.mode if image.mode in ("RGB", "RGBA", "L") else "RGB"
        pixels = np.asarray(image.convert(mode))
        return Image.fromarray(enhance(pixels, enhancer=enhancer), mode=mode)
    pixels = np.asarray(image)
    rgb, alpha, layout, bits = _as_float_rgb(pixels, "image")
    return _back(enhancer.enhance(rgb), alpha, layout, bits)
