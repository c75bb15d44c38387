"""Reading and writing images robustly.

``read`` turns any supported file into float32 RGB in [0, 1], HxWx3, plus the alpha channel
when there is one, whatever the file's mode: grayscale, palette (with or without
transparency), RGBA, CMYK, 16-bit and float. EXIF orientation is applied. ``write_atomic``
encodes into memory, writes a temporary file beside the target, and renames it into place, so
a killed process never leaves a half-written output under the final name.

Every failure raises ``ImageError`` whose message starts with the file name and says what is
wrong in one line.
"""

from __future__ import annotations

import dataclasses
import glob
import io
import os
import re
import stat
import warnings
from typing import TYPE_CHECKING, Iterable

import numpy as np
from PIL import Image, ImageOps

from gladnet_tf import atomic

if TYPE_CHECKING:  # for annotations only
    import tensorflow as tf

# Extensions read by ``read`` and found by ``find_images``.
EXTENSIONS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".webp": "webp",
}
# Output extension per format; "same" maps each input to one of these.
FORMAT_EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "bmp": ".bmp", "tiff": ".tif", "webp": ".webp"}
PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "BMP": "bmp", "DIB": "bmp", "TIFF": "tiff", "WEBP": "webp"}
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
DEFAULT_MAX_PIXELS = 200_000_000  # decompression-bomb guard; a 200 MP photo still passes


class ImageError(ValueError):
    """A file that cannot be read or written as an image. ``str()`` names the file."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass
class LoadedImage:
    """An image as the model sees it, plus what is needed to write it back faithfully.

    Attributes:
        rgb: float32 HxWx3 in [0, 1], RGB, EXIF orientation applied.
        alpha: float32 HxW in [0, 1], or None when the file has no transparency.
        bit_depth: 8 or 16: the precision of the source (16-bit in -> 16-bit out).
        format: "png", "jpeg", "bmp", "tiff" or "webp".
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    format: str

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.rgb.shape[1]


def _png_bit_depth(data):
    # IHDR is always the first chunk: 8-byte signature, 4-byte length, b"IHDR", width, height,
    # then the bit depth byte. Pillow reads 16-bit RGB(A) PNGs as 8-bit, so look ourselves.
    if len(data) > 25 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return data[24]
    return 8


def _from_integer(array, max_value):
    return array.astype(np.float32) / np.float32(max_value)


def _split_channels(array, path):
    """(H, W[, C]) float32 in [0, 1] -> (rgb HxWx3, alpha HxW or None)."""
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[-1]
    if channels == 1:
        return np.repeat(array, 3, axis=-1), None
    if channels == 2:  # gray + alpha
        return np.repeat(array[..., :1], 3, axis=-1), array[..., 1]
    if channels == 3:
        return array, None
    if channels == 4:
        return array[..., :3], array[..., 3]
    raise ImageError(path, f"unsupported number of channels: {channels}")


def _read_png16(data, path, orientation):
    import tensorflow as tf

    try:
        array = tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    except tf.errors.OpError as error:
        # Drop TensorFlow's "{{function_node ...}}" prefix and "[Op:...]" suffix.
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "", error.message.splitlines()[0])
        raise ImageError(path, f"corrupt 16-bit PNG ({reason})") from None
    rgb, alpha = _split_channels(_from_integer(array, 65535), path)
    return rgb, alpha


def _read_tiff_array(data):
    """The first page of a TIFF as float32 in [0, 1] and its bit depth, or None to let Pillow
    read it (palette, CMYK, YCbCr, a compression tifffile has no codec for, a damaged file)."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            array = page.asarray()
            photometric = getattr(page.photometric, "name", str(page.photometric))
            planar = page.samplesperpixel > 1 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
    except Exception:  # tifffile raises many types; Pillow then reads it or names the problem
        return None
    if planar and array.ndim == 3:
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W) -> (H, W, C)
    if photometric not in ("RGB", "MINISBLACK", "MINISWHITE"):
        return None  # let Pillow handle palette, CMYK, YCbCr...
    if array.dtype == np.uint16:
        out, depth = _from_integer(array, 65535), 16
    elif array.dtype == np.uint8:
        out, depth = _from_integer(array, 255), 8
    elif array.dtype.kind == "f":
        out, depth = np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0.0, 1.0), 16
    else:
        return None
    if photometric == "MINISWHITE":
        out = 1.0 - out
    return out, depth


def _check_size(path, width, height, max_pixels):
    if width < 1 or height < 1:
        raise ImageError(path, f"empty image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            path,
            f"image of {width}x{height} ({width * height / 1e6:.0f} megapixels) exceeds the limit of "
            f"{max_pixels / 1e6:.0f} megapixels (decompression bomb guard)",
        )


def _read_tiff_without_pillow(data, path, max_pixels):
    """A TIFF that Pillow does not open (float RGB, for one), read with tifffile alone."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            width, height = page.imagewidth, page.imagelength
            tag = page.tags.get(0x0112)
            orientation = int(tag.value) if tag is not None else 1
    except Exception as error:
        raise ImageError(path, f"truncated or corrupt TIFF ({type(error).__name__}: {error})") from None
    _check_size(path, width, height, max_pixels)
    result = _read_tiff_array(data)
    if result is None:
        raise ImageError(path, "unsupported or corrupt TIFF (neither Pillow nor tifffile reads it)")
    rgb, alpha = _split_channels(result[0], path)
    rgb, alpha = _apply_orientation(rgb, alpha, orientation)
    return LoadedImage(rgb=np.ascontiguousarray(rgb, dtype=np.float32), alpha=alpha, bit_depth=result[1], format="tiff")


def read(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Reads an image file.

    Args:
        path: file to read (PNG, JPEG, BMP, TIFF or WebP, judged by content, not extension).
        max_pixels: refuse images larger than this (decompression-bomb guard).

    Returns:
        ``LoadedImage`` with float32 RGB in [0, 1].

    Raises:
        ImageError: naming the file and the problem (empty, truncated, not an image, too big,
            unsupported mode).
    """
    path = os.fspath(path)
    try:
        # Non-blocking, so that a FIFO named like an image is refused instead of waiting forever.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ImageError(path, "not a regular file")
            data = f.read()
    except OSError as error:
        raise ImageError(path, f"cannot open ({error.strerror or error})") from None
    return decode(data, path, max_pixels)


def decode(data: bytes, path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decodes the bytes of an image file as ``read`` does (``path`` only names it in errors):
    for files that come from elsewhere than the local filesystem."""
    if not data:
        raise ImageError(path, "empty file (0 bytes)")
    image = _open_header(data, path)
    if image is None:  # a TIFF that Pillow does not open, e.g. float RGB
        return _read_tiff_without_pillow(data, path, max_pixels)
    fmt = PIL_FORMATS.get(image.format)
    if fmt is None:
        raise ImageError(path, f"unsupported image format {image.format!r} (supported: PNG, JPEG, BMP, TIFF, WebP)")
    _check_size(path, *image.size, max_pixels)
    if getattr(image, "n_frames", 1) > 1 and fmt != "tiff":
        raise ImageError(path, f"animated {image.format} with {image.n_frames} frames is not supported")
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    rgb, alpha, depth, orientation = _decode_pixels(image, data, path, fmt, orientation)
    if orientation != 1:
        rgb, alpha = _apply_orientation(rgb, alpha, orientation)
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=depth, format=fmt)


def _open_header(data, path):
    """Pillow's image for ``data`` (header read only), or None for a TIFF that Pillow cannot open.

    Pillow's own guard (2 x Image.MAX_IMAGE_PIXELS, about 179 MP) would override
    ``max_pixels``; opening reads only the header, and our exact check follows right after,
    before any pixel is decoded. So Pillow's guard is off for this call only.
    """
    previous_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageError(path, "image too large (decompression bomb guard)") from None
    except Image.UnidentifiedImageError:
        if data[:4] in TIFF_SIGNATURES:
            return None
        raise ImageError(path, "not an image file (content is not PNG, JPEG, BMP, TIFF or WebP)") from None
    except Exception as error:
        raise ImageError(path, f"not a readable image ({type(error).__name__}: {error})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def _decode_pixels(image, data, path, fmt, orientation):
    """(rgb, alpha, bit depth, orientation still to apply) of an opened image, values in [0, 1].

    16-bit PNGs and TIFFs are read from ``data`` at full depth; everything else through Pillow,
    which applies the EXIF orientation itself (so 1 is returned for it).
    """
    try:
        rgb = alpha = None
        depth = 8
        if fmt == "png" and _png_bit_depth(data) == 16:
            rgb, alpha = _read_png16(data, path, orientation)
            depth = 16
        elif fmt == "tiff":
            result = _read_tiff_array(data)
            if result is not None:
                array, depth = result
                rgb, alpha = _split_channels(array, path)
        if rgb is None:
            image.load()
            image = _to_rgb_or_rgba(image, path)
            depth = 16 if image.mode == "I;16" else depth
            array = np.asarray(image)
            max_value = 65535 if array.dtype == np.uint16 or image.mode == "I;16" else 255
            rgb, alpha = _split_channels(_from_integer(array, max_value), path)
            orientation = 1  # already applied by _to_rgb_or_rgba
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(path, f"truncated or corrupt {image.format} ({reason})") from None
    return rgb, alpha, depth, orientation


def _to_rgb_or_rgba(image, path):
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return image.convert("I;16") if mode != "I;16" else image
    if mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float32)
        if mode == "I":  # 32-bit integers: assume the 16-bit range, as most writers use
            array = array / 65535.0
        array = np.clip(array, 0.0, 1.0)
        return Image.fromarray((array * 65535.0 + 0.5).astype(np.uint16), mode="I;16")
    if mode in ("LA", "PA") or (mode == "P" and "transparency" in image.info) or mode == "RGBa":
        return image.convert("RGBA")
    if mode in ("1", "L", "P", "CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    raise ImageError(path, f"unsupported image mode {mode!r}")


def _apply_orientation(rgb, alpha, orientation):
    # EXIF orientation codes 2-8 as flips and rotations of the stored pixels.
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: np.rot90(a[:, ::-1], k=-1)[:, :],
        8: lambda a: np.rot90(a, k=1),
    }
    op = ops.get(orientation)
    if op is None:
        return rgb, alpha
    rgb = np.ascontiguousarray(op(rgb))
    alpha = None if alpha is None else np.ascontiguousarray(op(alpha))
    return rgb, alpha


def quantize(values: np.ndarray, bit_depth: int = 8, half_even: bool = False) -> np.ndarray:
    """float in [0, 1] (values outside are clipped) -> uint8 (8) or uint16 (16), rounded.

    The one 8/16-bit quantiser of the package. Default: ``values * max + 0.5`` in the input's
    float precision, truncated (round half up): what every written image uses, and what
    ``quantize_tf`` computes bit for bit in a TensorFlow graph. ``half_even``: ``np.rint`` in
    float64 (round half to even), the rounding the synthesised training pairs were made with,
    kept so that recipes rebuild their data byte for byte.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    max_value = 65535 if bit_depth == 16 else 255
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    if half_even:
        return np.rint(np.clip(values, 0.0, 1.0) * np.float64(max_value)).astype(dtype)
    return (np.clip(values, 0.0, 1.0) * max_value + 0.5).astype(dtype)


def quantize_tf(values: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of ``quantize(values, 8)`` (uint8 tensor): clip, * 255, + 0.5, floor.

    Separate multiply and add in float32 as NumPy does, then the floor (a truncating cast:
    the value is >= 0.5); a test checks it equals ``quantize`` on edge values.
    """
    import tensorflow as tf

    clipped = tf.clip_by_value(values, 0.0, 1.0)
    return tf.cast(tf.floor(clipped * 255.0 + 0.5), tf.uint8)


def encode(rgb: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8, fmt: str = "png",
           jpeg_quality: int = 95) -> bytes:
    """Encodes float RGB in [0, 1] (HxWx3) and optional alpha (HxW) into file bytes.

    16-bit output is possible for PNG and TIFF; JPEG, BMP and WebP are 8-bit (16-bit input
    written to them is reduced to 8 bits). JPEG and BMP have no alpha: it is dropped.
    """
    if fmt not in FORMAT_EXTENSIONS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {sorted(FORMAT_EXTENSIONS)}")
    if fmt in ("jpeg", "bmp"):
        alpha = None
    if fmt not in ("png", "tiff"):
        bit_depth = 8
    channels = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)
    pixels = quantize(channels, bit_depth)
    if bit_depth == 16 and fmt == "png":
        import tensorflow as tf

        return tf.io.encode_png(pixels).numpy()
    if bit_depth == 16 and fmt == "tiff":
        import tifffile

        buffer = io.BytesIO()
        tifffile.imwrite(buffer, pixels, photometric="rgb", extrasamples=["unassalpha"] if alpha is not None else None)
        return buffer.getvalue()
    buffer = io.BytesIO()
    image = Image.fromarray(pixels, mode="RGBA" if alpha is not None else "RGB")
    options = {"quality": jpeg_quality} if fmt == "jpeg" else {}
    if fmt == "webp":
        options = {"lossless": True}
    image.save(buffer, format={"png": "PNG", "jpeg": "JPEG", "bmp": "BMP", "tiff": "TIFF", "webp": "WEBP"}[fmt], **options)
    return buffer.getvalue()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file and a rename (``atomic.write_bytes``)."""
    atomic.write_bytes(path, data)


def write_atomic(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8,
                 fmt: str | None = None, jpeg_quality: int = 95) -> None:
    """Encodes and writes an image atomically; ``fmt`` defaults to the path's extension.
    ``rgb`` and ``alpha`` as ``encode`` takes them (float in [0, 1], HxWx3 and HxW)."""
    path = os.fspath(path)
    if fmt is None:
        fmt = EXTENSIONS.get(os.path.splitext(path)[1].lower())
        if fmt is None:
            raise ImageError(path, "cannot tell the output format from the extension")
    try:
        data = encode(rgb, alpha, bit_depth, fmt, jpeg_quality)
        write_bytes_atomic(path, data)
    except OSError as error:
        raise ImageError(path, f"cannot write ({error.strerror or error})") from None


def wanted_name(name: str, extensions: Iterable[str] = EXTENSIONS, hidden: bool = False) -> bool:
    """Whether a file name is one to enhance: one of ``extensions`` (lower case, with the dot),
    and not hidden (not starting with "."), unless ``hidden``."""
    return (hidden or not name.startswith(".")) and os.path.splitext(name)[1].lower() in extensions


def is_pattern(root: str | os.PathLike) -> bool:
    """Whether ``root`` is a glob pattern (``*``, ``?`` or ``[...]``) rather than a path that
    exists (a file or folder whose name holds such characters is taken as it is)."""
    root = os.fspath(root)
    return glob.has_magic(root) and not os.path.exists(root)


def glob_base(pattern: str | os.PathLike) -> str:
    """The folder that a glob pattern's matches are relative to: its leading components
    without wildcards (``shots/2024-*/*.jpg`` -> ``shots``; ``*.png`` -> ``.``)."""
    parts = os.fspath(pattern).split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or (os.sep if os.fspath(pattern).startswith(os.sep) else ".")


def _through_linked_folder(path, base):
    """Whether ``path`` lies below a symbolic link to a folder somewhere under ``base``."""
    current = base
    for part in os.path.relpath(os.path.dirname(path), base).split(os.sep):
        if part in (".", ".."):
            continue
        current = os.path.join(current, part)
        if os.path.islink(current):
            return True
    return False


def find_images(
    root: str | os.PathLike,
    recursive: bool = False,
    exclude: Iterable[str | os.PathLike] = (),
    extensions: Iterable[str] | None = None,
    *,
    follow_links: bool = False,
    hidden: bool = False,
    files_only: bool = False,
) -> list[str]:
    """Image files under ``root`` (or ``root`` itself if it is a file), sorted as strings: the
    package's one folder walker.

    Folders in ``exclude`` (e.g. an output folder inside the input folder) are skipped. Files
    with other extensions and hidden files and folders (names starting with ".", such as
    macOS "._photo.jpg" companions) are ignored. ``extensions`` (lower case, with the dot)
    replaces the image extensions, e.g. to find videos too.

    Options:
        follow_links: follow symbolic links to folders, each real folder searched once (no
            loops; of two links to one folder, the first in sorted order is taken). By
            default links to folders are not followed.
        hidden: also take hidden files and folders.
        files_only: leave out names that are not files (broken links, FIFOs, sockets); by
            default they are kept, so that reading them names the problem.

    ``root`` may also be a glob pattern (see ``is_pattern``; ``**`` spans folders when
    ``recursive``): each match is taken as a root of its own (a file with a wanted name, or a
    folder searched as above); matches inside ``exclude`` or (unless ``follow_links``) below
    a link to a folder are left out.
    """
    root = os.fspath(root)
    extensions = EXTENSIONS if extensions is None else {e.lower() for e in extensions}
    options = dict(follow_links=follow_links, hidden=hidden, files_only=files_only)
    if is_pattern(root):
        return _find_matches(root, recursive, exclude, extensions, **options)
    if os.path.isfile(root):
        return [root]
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such file or folder")
    excluded = {os.path.realpath(e) for e in exclude}
    return sorted(_walk(root, recursive, excluded, extensions, **options))


def _find_matches(pattern, recursive, exclude, extensions, **options):
    """``find_images`` of a glob pattern: the union over its matches, sorted."""
    excluded = {os.path.realpath(e) for e in exclude}
    found = set()
    base = glob_base(pattern)
    for match in glob.glob(pattern, recursive=recursive):
        real = os.path.realpath(match)
        if any(real == e or real.startswith(e.rstrip(os.sep) + os.sep) for e in excluded):
            continue
        if not options["follow_links"] and _through_linked_folder(match, base):
            continue
        if os.path.isdir(match):
            found.update(find_images(match, recursive, exclude, extensions, **options))
        elif wanted_name(os.path.basename(match), extensions, options["hidden"]):
            found.add(match)
    return sorted(found)


def _walk(root, recursive, excluded, extensions, follow_links, hidden, files_only):
    """Yields the wanted files under the folder ``root`` (see ``find_images``), unsorted."""
    visited = set()
    for folder, subfolders, files in os.walk(root, followlinks=follow_links):
        if follow_links:
            real = os.path.realpath(folder)
            if real in visited:  # a link loop, or a second link to a folder already searched
                subfolders[:] = []
                continue
            visited.add(real)
        subfolders[:] = sorted(
            d for d in subfolders
            if (hidden or not d.startswith(".")) and os.path.realpath(os.path.join(folder, d)) not in excluded
        ) if recursive else []
        for name in files:
            path = os.path.join(folder, name)
            if wanted_name(name, extensions, hidden) and (not files_only or os.path.isfile(path)):
                yield path


# Paired datasets keep the targets in high/ (or normal/, the original GLADNet layout).
HIGH_FOLDER_NAMES = ("high", "normal")


def find_high_folder(root: str | os.PathLike) -> str | None:
    """``root/high`` or ``root/normal``, whichever exists first, else None."""
    for name in HIGH_FOLDER_NAMES:
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    return None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the header only, or raises ImageError."""
    path = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except OSError as error:
        if isinstance(error, FileNotFoundError) or os.path.exists(path) is False:
            raise ImageError(path, "no such file") from None
        if os.path.getsize(path) == 0:
            raise ImageError(path, "empty file (0 bytes)") from None
        raise ImageError(path, f"not a readable image ({type(error).__name__})") from None
    except Exception as error:
        raise ImageError(path, f"not a readable image ({type(error).__name__})") from None
