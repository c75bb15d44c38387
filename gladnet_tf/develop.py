"""Synthesis sources developed to linear light: camera raw files through LibRaw (``rawpy``),
RGB files through ``images.read`` and the sRGB EOTF.

Every reader returns ``Decoded(image, info)``: ``image`` float32 HxWx3 linear RGB in [0, 1]
with sRGB (Rec. 709) primaries, 1.0 = the sensor's white (raw) or the file's white (RGB);
``info`` a JSON-able dict that ``synthesis.json`` records per pair.

- Raw files (DNG and anything else rawpy/LibRaw reads): demosaiced by LibRaw to linear sRGB
  with camera white balance (auto white balance when the file stores none, e.g. all
  multipliers 1.0), no auto-brightening, gamma (1, 1), 16 bits, a fixed white level
  (``adjust_maximum_thr=0``, so the white scale does not depend on the picture), cropped to
  the file's default crop. LibRaw subtracts the black level stored in the file, so a pixel
  at or below it decodes to exactly 0 (``black_point="metadata"``, the default). With
  ``black_point="auto"``, a file that stores a black level of 0 (often: none stored) gets
  the 0.01th percentile of its raw data instead; a stored non-zero level is kept, since a
  percentile would also crush real scene shadows.
  When the image is at least twice ``max_side``, LibRaw's half-size mode (2x2 binning)
  replaces demosaicing.
- Ordinary 8/16-bit RGB images (PNG, TIFF, JPEG, BMP, WebP): decoded by
  ``gladnet_tf.images.read`` (any mode, EXIF orientation applied, 16 bits kept, gray
  expanded to RGB), alpha dropped, assumed sRGB, linearised with the sRGB EOTF.
- Large sources are downscaled in linear light so that the longer side is ``max_side``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gladnet_tf import images
from gladnet_tf.degradation import srgb_to_linear

RAW_EXTENSIONS = frozenset(
    ".dng .kdc .dcr .nef .nrw .cr2 .cr3 .crw .arw .srf .sr2 .orf .rw2 .rwl .raf .pef .ptx "
    ".srw .x3f .erf .mrw .3fr .fff .iiq .mos .mef .raw".split()
)
RGB_EXTENSIONS = frozenset(images.EXTENSIONS)  # .png .jpg .jpeg .bmp .tif .tiff .webp
SOURCE_EXTENSIONS = RAW_EXTENSIONS | RGB_EXTENSIONS  # what the synthesis reads


class Decoded(NamedTuple):
    """A decoded source: ``image`` float32 HxWx3 linear RGB in [0, 1]; ``info`` JSON-able."""

    image: np.ndarray
    info: dict[str, Any]


def resize_linear(linear: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale float32 HxWx3 linear RGB so that max(H, W) <= max_side (never upscales).

    Resampling happens in linear light with Pillow's antialiased bilinear (triangle) filter,
    whose weights are all positive, so there is no ringing and values stay in [0, 1].
    ``max_side`` None or 0 returns the input unchanged.
    """
    height, width = linear.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return linear
    from PIL import Image

    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(linear[..., c], dtype=np.float32), "F")
                   .resize(size, Image.Resampling.BILINEAR))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def read_rgb_linear(path: str | os.PathLike, *, max_side: int | None = None) -> Decoded:
    """Read an 8/16-bit sRGB image (PNG, TIFF, JPEG, BMP, WebP) as linear light.

    Decoding is ``gladnet_tf.images.read`` (any mode, EXIF orientation applied, 16-bit kept,
    gray expanded to RGB); the alpha channel is dropped, the sRGB EOTF linearises, and the
    result is downscaled (in linear light) to ``max_side``.

    Returns:
      ``Decoded(image, info)``: float32 HxWx3 linear RGB in [0, 1]; info holds ``format``,
      ``source_bits`` (8 or 16) and the source's ``source_size`` (width, height).

    Raises:
      ``images.ImageError`` (a ValueError) for unreadable, empty or corrupt files.
    """
    loaded = images.read(path)
    linear = resize_linear(srgb_to_linear(loaded.rgb), max_side)
    info = {"format": loaded.format, "source_bits": int(loaded.bit_depth),
            "source_size": [int(loaded.width), int(loaded.height)]}
    return Decoded(linear, info)


_LIBRAW_FLIPS = {0: 0, 3: 2, 5: 1, 6: -1}  # LibRaw flip code -> np.rot90 quarter turns


def read_raw_linear(
    path: str | os.PathLike,
    *,
    max_side: int | None = None,
    black_point: str = "metadata",
    black_percentile: float = 0.01,
    crop: bool = True,
) -> Decoded:
    """Develop a raw file (anything rawpy/LibRaw reads) to linear sRGB-primaries RGB.

    LibRaw settings: camera white balance (auto when the file stores none or all 1.0),
    ``no_auto_bright``, ``gamma=(1, 1)``, ``output_bps=16``, ``adjust_maximum_thr=0`` (the
    white level stays the file's, not the picture's maximum), highlights clipped. LibRaw
    subtracts the black level, so raw values at or below it give 0.

    Args:
      path: the raw file (non-ASCII names are fine).
      max_side: downscale so max(H, W) <= max_side (None/0: full size). Half-size
        decoding (2x2 binning, no demosaicing) is used when it still leaves >= max_side.
      black_point: "metadata" uses the file's black level; "auto" does too, except when the
        file stores 0 (often: not stored): then the black level becomes the
        ``black_percentile`` (in percent) of the raw values, the lowest over CFA colours.
      crop: crop to the file's default crop (e.g. a DNG's DefaultCrop); False keeps the
        whole sensor area LibRaw returns.

    Returns:
      ``Decoded(image, info)``: float32 HxWx3 linear RGB in [0, 1] (1.0 = sensor white),
      info with ``white_balance``, ``black_level``, ``white_level``, ``half_size``, ...
    """
    import rawpy

    if black_point not in ("metadata", "auto"):
        raise ValueError(f"black_point must be 'metadata' or 'auto', got {black_point!r}")
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    with rawpy.imread(str(path)) as raw:
        sizes = raw.sizes
        rgb16, info = _postprocess(raw, max_side, black_point, black_percentile, crop)
    scale = 2 if info["half_size"] else 1
    if crop:
        rgb16 = _default_crop(rgb16, sizes, scale)
    rgb16 = np.rot90(rgb16, _LIBRAW_FLIPS.get(int(sizes.flip), 0))
    linear = rgb16.astype(np.float32) / 65535.0
    info["source_size"] = [int(linear.shape[1] * scale), int(linear.shape[0] * scale)]
    info["rawpy"] = rawpy.__version__
    return Decoded(resize_linear(np.ascontiguousarray(linear), max_side), info)


def _postprocess(raw: Any, max_side: int | None, black_point: str, black_percentile: float,
                 crop: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """LibRaw's development of an open raw file: uint16 HxWx3 linear sRGB (before the crop
    and the rotation), and the settings it used (the start of ``read_raw_linear``'s info)."""
    import rawpy

    sizes = raw.sizes
    stored_black = [int(b) for b in raw.black_level_per_channel]
    wb = [float(w) for w in raw.camera_whitebalance]
    camera_wb = wb[1] > 0 and not np.allclose(wb[:3], wb[0])
    user_black = None
    if black_point == "auto" and max(stored_black) == 0:
        user_black = _black_from_data(raw, crop, black_percentile, max(stored_black))
    half_size = bool(max_side) and max(sizes.iheight, sizes.iwidth) >= 2 * max_side
    rgb16 = raw.postprocess(
        use_camera_wb=camera_wb, use_auto_wb=not camera_wb, no_auto_bright=True,
        gamma=(1, 1), output_bps=16, output_color=rawpy.ColorSpace.sRGB,
        adjust_maximum_thr=0.0, half_size=half_size, user_flip=0, user_black=user_black,
    )
    info = {
        "format": "raw", "white_balance": "camera" if camera_wb else "auto",
        "camera_wb": [round(w, 6) for w in wb], "black_level": stored_black,
        "black_point": black_point, "black_level_used": user_black or max(stored_black),
        "white_level": int(raw.white_level), "half_size": half_size,
    }
    return rgb16, info


def _black_from_data(raw: Any, crop: bool, percentile: float, stored: int) -> int | None:
    """The black level from the raw data: the ``percentile`` (in percent) of the visible (and,
    with ``crop``, default-cropped) raw values, the lowest over CFA colours; None unless it
    lies above the ``stored`` level."""
    sizes = raw.sizes
    visible, colors = raw.raw_image_visible, raw.raw_colors_visible
    if sizes.crop_width and sizes.crop_height and crop:
        rows = slice(sizes.crop_top_margin, sizes.crop_top_margin + sizes.crop_height)
        cols = slice(sizes.crop_left_margin, sizes.crop_left_margin + sizes.crop_width)
        visible, colors = visible[rows, cols], colors[rows, cols]
    floors = [np.percentile(visible[colors == c], percentile) for c in np.unique(colors)]
    floor = int(np.floor(min(floors)))
    return floor if floor > stored else None


def _default_crop(rgb16: np.ndarray, sizes: Any, scale: int) -> np.ndarray:
    """The file's default crop (e.g. a DNG's DefaultCrop) of LibRaw's HxWx3 output, whose
    pixels are ``scale`` sensor pixels wide (2 in half-size mode); unchanged without one."""
    if not (sizes.crop_width and sizes.crop_height):
        return rgb16
    top, left = sizes.crop_top_margin // scale, sizes.crop_left_margin // scale
    bottom = min(rgb16.shape[0], top + sizes.crop_height // scale)
    right = min(rgb16.shape[1], left + sizes.crop_width // scale)
    if bottom > top and right > left:
        return rgb16[top:bottom, left:right]
    return rgb16


def read_linear(path: str | os.PathLike, *, max_side: int | None = None,
                raw_black_point: str = "metadata") -> Decoded:
    """Read any supported source (raw by extension, else RGB) as linear light."""
    if Path(path).suffix.lower() in RAW_EXTENSIONS:
        return read_raw_linear(path, max_side=max_side, black_point=raw_black_point)
    return read_rgb_linear(path, max_side=max_side)
