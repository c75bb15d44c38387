"""Enhancing videos frame by frame, with the global illumination smoothed over time.

This goes beyond the paper, which treats single images. GLADNet enhances an image from its
own global illumination: the 96x96x64 map that its encoder-decoder estimates from a 96x96
version of the image. In a video, noise, compression and small changes of the scene move that
estimate, and with it the brightness of the output, from one frame to the next (flicker).
Here the map is averaged over time with an exponential moving average

    m_0 = g_0,    m_t = s * m_{t-1} + (1 - s) * g_t        (s = ``smoothing``, 0 <= s < 1)

and the detail branch rebuilds each frame at full resolution from its own pixels and m_t, so
only the global illumination is averaged and the details of every frame stay its own.
``smoothing=0`` enhances each frame on its own, exactly as an image. The average follows a
change of brightness with a time constant of about 1 / (1 - s) frames (5 at the default 0.8);
at a hard cut the two scenes' illumination is blended for a few frames.

Reading and writing use imageio's ffmpeg plugin; ``imageio-ffmpeg`` brings its own ffmpeg
binary (``pip install -r requirements-video.txt``). Neither is imported until a video is
processed, so the rest of the package works without them. Frames are decoded as 8-bit RGB.
The output has the input's frame rate, frame count and frame size: H.264 (libx264, CRF 18)
for ``.mp4``, ``.mov``, ``.mkv`` and ``.avi``, VP9 for ``.webm``; 4:2:0 chroma when both sides
are even, 4:4:4 otherwise (4:2:0 needs even sides, and the size is kept rather than padded).
It is written to a temporary file in the output folder and renamed into place, so a killed run
never leaves a half-written video under the final name.

Out of scope: audio, subtitles and any other stream are not copied (the output is video only);
a variable frame rate becomes the constant rate that ffmpeg reports for the stream.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

import numpy as np

from gladnet_tf import atomic
from gladnet_tf import images as images_lib
from gladnet_tf import progress as progress_lib

if TYPE_CHECKING:
    from gladnet_tf import inference

# Extensions treated as videos (by test.py and ``batch.enhance_files``).
EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
OUTPUT_EXTENSION = ".mp4"  # what test.py writes for every video
DEFAULT_SMOOTHING = 0.8
DEFAULT_CRF = 18  # libx264: visually lossless for most content
INSTALL_HINT = "reading videos needs imageio and imageio-ffmpeg: pip install -r requirements-video.txt"

# Output extension -> encoder (the container follows the extension).
_ENCODERS = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".avi": "libx264",
    ".webm": "libvpx-vp9",
}


class VideoError(images_lib.ImageError):
    """A video that cannot be read or written. ``str()`` is one line that names the file."""


def is_video(path: str | os.PathLike) -> bool:
    """True when the path's extension is one of ``EXTENSIONS`` (any case)."""
    return os.path.splitext(os.fspath(path))[1].lower() in EXTENSIONS


def _imageio(path):
    """imageio's v2 API with the ffmpeg backend, or a VideoError with the install hint."""
    try:
        import imageio.v2 as iio
        import imageio_ffmpeg  # noqa: F401  (the plugin needs it; fail here, clearly)
    except ImportError:
        raise VideoError(path, INSTALL_HINT) from None
    return iio


def _ffmpeg_reason(error):
    """The informative lines of an ffmpeg failure, without the version banner."""
    text = str(error)
    lines = []
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*(.*)$", line)
        if match:
            line = match.group(1)
        elif not line.startswith("Error"):
            continue
        if line and "misdetection possible" not in line and line not in lines:
            lines.append(line)
    if not lines:
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        return first
    return "; ".join(lines[:2])


def enhance_frames(enhancer: inference.Enhancer, frames: Iterable[np.ndarray],
                   smoothing: float = DEFAULT_SMOOTHING) -> Iterator[np.ndarray]:
    """Enhances a sequence of frames, smoothing the global illumination over time.

    Args:
        enhancer: an ``inference.Enhancer``.
        frames: an iterable of HxWx3 float32 RGB frames in [0, 1] (consumed lazily).
        smoothing: ``s`` of the moving average ``m_t = s * m_{t-1} + (1 - s) * g_t`` of the
            (96, 96, 64) global illumination, starting from ``m_0 = g_0``; 0 = off (each frame
            is enhanced exactly as ``enhancer.enhance(frame)``).

    Yields:
        HxWx3 float32, the raw network output of each frame, in [0, inf) (not clipped).
    """
    smoothing = float(smoothing)
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    average = None
    for frame in frames:
        if smoothing == 0.0:
            yield enhancer.enhance(frame)
            continue
        illumination = enhancer.global_illumination(frame)
        if average is None:
            average = illumination
        else:
            average = smoothing * average + (1.0 - smoothing) * illumination
        yield enhancer.enhance(frame, illumination=average)


def _check_input(path):
    try:
        info = os.stat(path)
    except OSError as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else f"cannot open ({error.strerror or error})"
        raise VideoError(path, reason) from None
    if not stat.S_ISREG(info.st_mode):
        raise VideoError(path, "not a regular file")  # ffmpeg would wait forever on a pipe
    if info.st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")


def _writer_options(extension, height, width, crf):
    encoder = _ENCODERS[extension]
    pixel_format = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
    if encoder == "libx264":
        params = ["-crf", str(DEFAULT_CRF if crf is None else crf), "-preset", "medium"]
        if extension in (".mp4", ".mov"):
            params += ["-movflags", "+faststart"]  # playable while downloading
    else:  # VP9: constant quality mode
        params = ["-crf", str(32 if crf is None else crf), "-b:v", "0"]
    return dict(codec=encoder, pixelformat=pixel_format, quality=None, macro_block_size=1,
                output_params=params, ffmpeg_log_level="error")


def _check_options(output_path: str, smoothing: float) -> str:
    """The output's extension (lower case), once ``smoothing`` and it are known to be valid."""
    if not 0.0 <= float(smoothing) < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    extension = os.path.splitext(output_path)[1].lower()
    if extension not in _ENCODERS:
        raise ValueError(f"unsupported video output extension {extension!r}; use one of {sorted(_ENCODERS)}")
    return extension


def _open_reader(iio, input_path: str):
    """(imageio reader, its metadata dict), or a VideoError naming the file."""
    try:
        reader = iio.get_reader(input_path, format="FFMPEG")
        return reader, reader.get_meta_data()
    except Exception as error:  # ffmpeg's failures arrive as OSError, RuntimeError, ValueError...
        raise VideoError(input_path, f"not a readable video ({_ffmpeg_reason(error)})") from None


def _frame_rate(meta: dict, input_path: str, log: Callable[[str], None]) -> float:
    """The stream's frames/s; 25 (with a warning) when the file has none."""
    fps = float(meta.get("fps") or 0.0)
    if not math.isfinite(fps) or fps <= 0:
        log(f"warning: {input_path}: no frame rate in the file; writing 25 frames/s")
        fps = 25.0
    return fps


def _check_frame_size(meta: dict, input_path: str, max_pixels: int) -> None:
    width, height = meta.get("size") or (0, 0)
    if width * height > max_pixels:
        raise VideoError(
            input_path,
            f"frames of {width}x{height} exceed the limit of {max_pixels / 1e6:.0f} megapixels",
        )


def _frame_count(reader) -> int | None:
    """How many frames ffmpeg counts in the stream (None when it cannot tell)."""
    try:
        return reader.count_frames()
    except Exception:
        return None


class _DecodedFrames:
    """The reader's frames as float32 HxWx3 RGB in [0, 1], counting them (``count``); a frame
    that fails to decode is a VideoError (the end of the stream is not)."""

    def __init__(self, reader, input_path: str):
        self.reader, self.input_path, self.count = reader, input_path, 0

    def __iter__(self) -> Iterator[np.ndarray]:
        iterator = iter(self.reader)
        while True:
            try:
                frame = next(iterator)
            except (StopIteration, IndexError):
                return
            except Exception as error:
                raise VideoError(
                    self.input_path,
                    f"corrupt video: decoding failed after frame {self.count} ({_ffmpeg_reason(error)})",
                ) from None
            self.count += 1
            yield np.asarray(frame, dtype=np.float32)[..., :3] / np.float32(255.0)


def _close_quietly(closable) -> None:
    try:
        closable.close()
    except Exception:
        pass


def _write_frames(iio, outputs: Iterable[np.ndarray], input_path: str, output_path: str, fps: float,
                  crf: int | None, progress: progress_lib.Progress) -> tuple[int, int]:
    """Encodes the raw outputs (float32 HxWx3 in [0, inf), rounded to 8 bits here) into a
    temporary file beside ``output_path`` and renames it into place; returns (height, width).
    On any failure the temporary file is removed and nothing is left under ``output_path``."""
    extension = os.path.splitext(output_path)[1].lower()
    try:
        temporary = atomic.new_temporary(output_path, suffix=".part" + extension)
    except OSError as error:
        raise VideoError(output_path, f"cannot write ({error.strerror or error})") from None
    writer = None
    try:
        for output in outputs:
            pixels = images_lib.quantize(output, 8)
            try:
                if writer is None:
                    size = pixels.shape[:2]
                    options = _writer_options(extension, pixels.shape[0], pixels.shape[1], crf)
                    writer = iio.get_writer(temporary, format="FFMPEG", fps=fps, **options)
                writer.append_data(pixels)
            except Exception as error:
                raise VideoError(output_path, f"cannot write the video ({_ffmpeg_reason(error)})") from None
            progress.update(os.path.basename(input_path))
        if writer is None:
            raise VideoError(input_path, "no video frames could be decoded")
        try:
            writer.close()
            writer = None
            atomic.commit(temporary, output_path)
        except Exception as error:
            raise VideoError(output_path, f"cannot write the video ({_ffmpeg_reason(error)})") from None
        temporary = None
        return size
    finally:
        if writer is not None:
            _close_quietly(writer)
        if temporary is not None:
            try:
                os.remove(temporary)
            except OSError:
                pass


def _warn_if_truncated(meta: dict, fps: float, count: int, input_path: str,
                       log: Callable[[str], None]) -> None:
    duration = meta.get("duration")
    if duration and math.isfinite(duration):
        expected = duration * fps
        if count < expected - max(2.0, 0.05 * expected):
            log(f"warning: {input_path}: only {count} of about {expected:.0f} frames could be decoded (truncated file?)")


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


PROGRESS_SECONDS = 10.0  # in a log (not a terminal), a frames/s line this often


def enhance_video(enhancer: inference.Enhancer, input_path: str | os.PathLike, output_path: str | os.PathLike,
                  smoothing: float = DEFAULT_SMOOTHING, crf: int | None = None,
                  max_pixels: int = images_lib.DEFAULT_MAX_PIXELS, stream: TextIO | None = sys.stderr,
                  log: Callable[[str], None] | None = None) -> dict:
    """Enhances a video file frame by frame into ``output_path`` (see the module docstring).

    Args:
        enhancer: an ``inference.Enhancer``.
        input_path: any video ffmpeg reads (frames decoded as 8-bit RGB).
        output_path: ``.mp4`` (default choice), ``.mov``, ``.mkv``, ``.avi`` or ``.webm``; the
            extension picks the container and the encoder.
        smoothing: the moving average of the global illumination, in [0, 1); 0 = off.
        crf: encoder quality (lower = better; default 18 for H.264, 32 for VP9).
        max_pixels: refuse frames larger than this (width x height).
        stream: where the frames/s progress goes (None: silent).
        log: called with warning lines (default: print to stderr).

    Returns:
        dict with ``frames`` (int), ``fps`` (float), ``width``, ``height`` (pixels) and
        ``seconds``.

    Raises:
        VideoError: one line naming the file: imageio-ffmpeg missing (with the install
            command), unreadable or corrupt input, or the output cannot be written.
        ValueError: ``smoothing`` out of range or an unsupported output extension.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    log = log or _print_to_stderr
    _check_options(output_path, smoothing)
    iio = _imageio(input_path)
    _check_input(input_path)
    reader, meta = _open_reader(iio, input_path)
    start = time.perf_counter()
    try:
        fps = _frame_rate(meta, input_path, log)
        _check_frame_size(meta, input_path, max_pixels)
        progress = progress_lib.Progress(_frame_count(reader), "frames", stream, every_seconds=PROGRESS_SECONDS)
        frames = _DecodedFrames(reader, input_path)
        outputs = enhance_frames(enhancer, frames, smoothing)
        height, width = _write_frames(iio, outputs, input_path, output_path, fps, crf, progress)
        progress.finish()
    finally:
        _close_quietly(reader)
    _warn_if_truncated(meta, fps, frames.count, input_path, log)
    return {"frames": frames.count, "fps": fps, "width": width, "height": height,
            "seconds": time.perf_counter() - start}
