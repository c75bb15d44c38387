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

import math
import os
import re
import stat
import sys
import time

import numpy as np

from gladnet_tf import atomic
from gladnet_tf import images as images_lib

# Extensions treated as videos (by test.py and ``inference.enhance_files``).
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


def is_video(path):
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


def enhance_frames(enhancer, frames, smoothing=DEFAULT_SMOOTHING):
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


class _FrameProgress:
    """frames done / total and frames/s: one updated line on a terminal, else a line every
    ``every`` seconds and one at the end."""

    def __init__(self, name, total, stream=sys.stderr, every=10.0):
        self.name, self.total, self.stream, self.every = name, total, stream, every
        self.tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.start = self.last = time.perf_counter()
        self.done = 0

    def _line(self):
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        of = f"/{self.total}" if self.total else ""
        return f"{self.name}: {self.done}{of} frames, {rate:.2f} frames/s"

    def update(self):
        self.done += 1
        if self.stream is None:
            return
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r" + self._line()[:150].ljust(150))
            self.stream.flush()
        elif now - self.last >= self.every:
            self.stream.write(self._line() + "\n")
            self.stream.flush()
            self.last = now

    def finish(self):
        if self.stream is None:
            return
        self.stream.write(("\r" + self._line()[:150].ljust(150) + "\n") if self.tty else self._line() + "\n")
        self.stream.flush()


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


def enhance_video(enhancer, input_path, output_path, smoothing=DEFAULT_SMOOTHING, crf=None,
                  max_pixels=images_lib.DEFAULT_MAX_PIXELS, stream=sys.stderr, log=None):
    """Enhances a video file frame by frame into ``output_path`` (see the module docstring).

    Args:
        enhancer: an ``inference.Enhancer``.
        input_path: any video ffmpeg reads.
        output_path: ``.mp4`` (default choice), ``.mov``, ``.mkv``, ``.avi`` or ``.webm``; the
            extension picks the container and the encoder.
        smoothing: the moving average of the global illumination, in [0, 1); 0 = off.
        crf: encoder quality (lower = better; default 18 for H.264, 32 for VP9).
        max_pixels: refuse frames larger than this.
        stream: where the frames/s progress goes (None: silent).
        log: called with warning lines (default: print to stderr).

    Returns:
        dict with ``frames``, ``fps``, ``width``, ``height`` and ``seconds``.

    Raises:
        VideoError: one line naming the file: imageio-ffmpeg missing (with the install
            command), unreadable or corrupt input, or the output cannot be written.
        ValueError: ``smoothing`` out of range or an unsupported output extension.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    if not 0.0 <= float(smoothing) < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    extension = os.path.splitext(output_path)[1].lower()
    if extension not in _ENCODERS:
        raise ValueError(f"unsupported video output extension {extension!r}; use one of {sorted(_ENCODERS)}")
    iio = _imageio(input_path)
    _check_input(input_path)
    try:
        reader = iio.get_reader(input_path, format="FFMPEG")
        meta = reader.get_meta_data()
    except Exception as error:  # ffmpeg's failures arrive as OSError, RuntimeError, ValueError...
        raise VideoError(input_path, f"not a readable video ({_ffmpeg_reason(error)})") from None

    temporary = None
    writer = None
    start = time.perf_counter()
    try:
        fps = float(meta.get("fps") or 0.0)
        if not math.isfinite(fps) or fps <= 0:
            log(f"warning: {input_path}: no frame rate in the file; writing 25 frames/s")
            fps = 25.0
        width, height = meta.get("size") or (0, 0)
        if width * height > max_pixels:
            raise VideoError(
                input_path,
                f"frames of {width}x{height} exceed the limit of {max_pixels / 1e6:.0f} megapixels",
            )
        try:
            total = reader.count_frames()
        except Exception:
            total = None
        progress = _FrameProgress(os.path.basename(input_path), total, stream)

        count = 0

        def frames():
            nonlocal count
            iterator = iter(reader)
            while True:
                try:
                    frame = next(iterator)
                except (StopIteration, IndexError):
                    return
                except Exception as error:
                    raise VideoError(
                        input_path,
                        f"corrupt video: decoding failed after frame {count} ({_ffmpeg_reason(error)})",
                    ) from None
                count += 1
                yield np.asarray(frame, dtype=np.float32)[..., :3] / np.float32(255.0)

        try:
            temporary = atomic.new_temporary(output_path, suffix=".part" + extension)
        except OSError as error:
            raise VideoError(output_path, f"cannot write ({error.strerror or error})") from None
        for output in enhance_frames(enhancer, frames(), smoothing):
            pixels = images_lib.quantize(output, 8)
            try:
                if writer is None:
                    size = pixels.shape[:2]
                    options = _writer_options(extension, pixels.shape[0], pixels.shape[1], crf)
                    writer = iio.get_writer(temporary, format="FFMPEG", fps=fps, **options)
                writer.append_data(pixels)
            except Exception as error:
                raise VideoError(output_path, f"cannot write the video ({_ffmpeg_reason(error)})") from None
            progress.update()
        if writer is None:
            raise VideoError(input_path, "no video frames could be decoded")
        try:
            writer.close()
            writer = None
            atomic.commit(temporary, output_path)
        except Exception as error:
            raise VideoError(output_path, f"cannot write the video ({_ffmpeg_reason(error)})") from None
        temporary = None
        progress.finish()
    finally:
        try:
            reader.close()
        except Exception:
            pass
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        if temporary is not None:
            try:
                os.remove(temporary)
            except OSError:
                pass
    duration = meta.get("duration")
    if duration and math.isfinite(duration):
        expected = duration * fps
        if count < expected - max(2.0, 0.05 * expected):
            log(f"warning: {input_path}: only {count} of about {expected:.0f} frames could be decoded (truncated file?)")
    return {"frames": count, "fps": fps, "width": size[1], "height": size[0], "seconds": time.perf_counter() - start}
