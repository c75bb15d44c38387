"""Enhancing images with a trained GLADNet: one traced function for every size, tiled for
big images, and the folder loop behind ``test.py``.

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

import dataclasses
import os
import sys
import time

import keras
import numpy as np

from gladnet_tf import images as images_lib
from gladnet_tf import model as model_lib
from gladnet_tf import video as video_lib

DEFAULT_TILE = 512
MIN_HALO = 5  # five 3x3 convolutions in the detail branch


def _on_tensorflow():
    return keras.backend.backend() == "tensorflow"


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
        self, model, tile=DEFAULT_TILE, halo=MIN_HALO, precision="float32", algorithm="direct"
    ):
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

    def tiles(self, height, width):
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
    def _check(rgb):
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"expected an HxWx3 image with H, W >= 1, got shape {rgb.shape}")
        return rgb

    def global_illumination(self, rgb):
        """HxWx3 float32 RGB in [0, 1] -> the global branch's map, (96, 96, 64) float32.

        Exposed so that callers can change it before the detail branch (e.g. smooth it over
        the frames of a video) and pass it to ``enhance(..., illumination=...)``.
        """
        rgb = self._check(rgb)
        return _numpy(self._global_fn(rgb[None]))[0]

    def enhance(self, rgb, illumination=None):
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

    def enhance_batch(self, images):
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
    def traced_graphs(self):
        """How many concrete graphs the traced functions hold (constant: no retracing)."""
        functions = [self._global_fn, self._detail_fn, self._fast_detail_fn]
        return sum(len(f._list_all_concrete_functions()) for f in functions
                   if f is not None and hasattr(f, "_list_all_concrete_functions"))


# ---- folders of files ---------------------------------------------------------------------


@dataclasses.dataclass
class Job:
    source: str
    target: str | None  # None when the job is refused before reading
    error: str | None = None


def plan_outputs(sources, input_root, output_dir, output_format="png", video_extensions=()):
    """Maps each source file to its output path, keeping relative paths and names.

    The extension always matches the format written ("same" keeps the input's format); a
    source whose extension is in ``video_extensions`` becomes an ``.mp4`` (format "video"). Two
    sources that would land on the same output (``a.png`` and ``a.jpg``, or ``a.png`` and
    ``a.PNG``: names are compared without case) both get the source extension in the name
    (``a_png.png``, ``a_jpg.png``) so that neither overwrites the other; should that name be
    taken too (by an input ``a_png.png``), a number follows (``a_png_2.png``). The names only
    depend on the list of sources, so a rerun plans the same outputs. An output that would be
    an input file is refused. ``input_root`` is a folder, a file, or a glob pattern (names are
    then relative to the pattern's folder without wildcards, ``images.glob_base``).
    """
    input_root = os.fspath(input_root)
    if os.path.isdir(input_root):
        base = input_root
    elif images_lib.is_pattern(input_root):
        base = images_lib.glob_base(input_root)
    else:
        base = os.path.dirname(input_root)
    planned = []
    for source in sources:
        relative = os.path.relpath(source, base)
        stem, ext = os.path.splitext(relative)
        if ext.lower() in video_extensions:
            fmt, out_ext = "video", video_lib.OUTPUT_EXTENSION
        elif output_format == "same":
            fmt = images_lib.EXTENSIONS.get(ext.lower(), "png")
            out_ext = ext if ext.lower() in images_lib.EXTENSIONS else ".png"
        else:
            fmt = output_format
            out_ext = images_lib.FORMAT_EXTENSIONS[fmt]
        planned.append([source, stem, ext, out_ext, fmt])
    counts = {}
    for _, stem, _, out_ext, _ in planned:
        key = (stem + out_ext).lower()
        counts[key] = counts.get(key, 0) + 1
    taken = {key for key, count in counts.items() if count == 1}  # names that need no change
    inputs = {os.path.realpath(s) for s in sources}
    jobs = []
    for source, stem, ext, out_ext, fmt in planned:
        if counts[(stem + out_ext).lower()] > 1:
            renamed = f"{stem}_{ext.lstrip('.').lower()}"
            stem, number = renamed, 2
            while (stem + out_ext).lower() in taken:
                stem, number = f"{renamed}_{number}", number + 1
            taken.add((stem + out_ext).lower())
        target = os.path.join(output_dir, stem + out_ext)
        if os.path.realpath(target) in inputs:
            jobs.append(Job(source, None, "output path is an input file; refusing to overwrite it"))
            continue
        jobs.append(Job(source, target))
    return jobs, {job.source: fmt for job, (_, _, _, _, fmt) in zip(jobs, planned)}


class Progress:
    """A one-line progress bar with images/s on a terminal; one line per image otherwise."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.start = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, name, status="ok"):
        self.done += 1
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {rate:.2f} img/s {status}: {name}"
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def remove_stale_temporaries(folders, log):
    """Deletes ``.tmp-*.part`` (and ``.tmp-*.part.mp4``...) files that a killed run left in
    the output folders.

    They are this program's own temporary names (see ``images.write_bytes_atomic`` and
    ``video.enhance_video``), never a finished output; two runs must not share an output
    folder at the same time.
    """
    import glob

    for folder in sorted(folders):
        pattern = os.path.join(glob.escape(folder), ".tmp-*.part")
        for path in sorted(glob.glob(pattern) + glob.glob(pattern + ".*")):
            try:
                os.remove(path)
                log(f"removed an unfinished temporary file from an interrupted run: {path}")
            except OSError:
                pass


def plan_folder(input_path, output_dir, recursive=False, output_format="png", videos=False):
    """The files that ``test.py`` enhances under ``input_path`` and where each goes.

    ``input_path``: a file, a folder or a glob pattern (see ``images.find_images``); the
    output folder is never searched. Returns ``(jobs, formats)`` as ``plan_outputs``.
    """
    video_extensions = video_lib.EXTENSIONS if videos else ()
    extensions = set(images_lib.EXTENSIONS) | set(video_extensions)
    sources = images_lib.find_images(input_path, recursive=recursive, exclude=[output_dir], extensions=extensions)
    return plan_outputs(sources, input_path, output_dir, output_format, video_extensions)


# What a bad file may raise while it is read, enhanced or written: reported, never fatal.
def _file_errors():
    errors = (images_lib.ImageError, OSError, ValueError, MemoryError)
    if _on_tensorflow():
        import tensorflow as tf

        errors += (tf.errors.OpError,)
    return errors


FILE_ERRORS = _file_errors()


def failure_message(source, error):
    """One line naming the file and what went wrong (for the log and dead letters)."""
    if isinstance(error, images_lib.ImageError):
        message = str(error)
    else:
        message = f"{source}: {type(error).__name__}: {error}"
    return message.splitlines()[0]


def should_skip(job, skip_existing, exists=os.path.exists):
    """True if the job's output exists and ``skip_existing`` is set; raises ``ImageError`` for
    a job refused when it was planned (e.g. an output path that is an input). ``exists``
    tells whether a path exists (another storage's test, for outputs that are not local)."""
    if job.error:
        raise images_lib.ImageError(job.source, job.error)
    return bool(skip_existing) and exists(job.target)


def write_output(target, output, loaded, fmt, jpeg_quality=95):
    """Writes ``enhance``'s raw output (HxWx3 float32, clipped here) for the image ``loaded``
    (its alpha and bit depth are kept) to ``target`` atomically, creating its folder."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    images_lib.write_atomic(target, output, loaded.alpha, loaded.bit_depth, fmt, jpeg_quality)


def enhance_files(enhancer, input_path, output_dir, recursive=False, output_format="png",
                  skip_existing=False, max_pixels=images_lib.DEFAULT_MAX_PIXELS, jpeg_quality=95,
                  log=None, videos=False, video_smoothing=video_lib.DEFAULT_SMOOTHING):
    """Enhances every image under ``input_path`` into ``output_dir``.

    With ``videos``, files with a video extension (``video.EXTENSIONS``) are enhanced too, each
    into an ``.mp4`` with ``video.enhance_video`` and ``video_smoothing``.

    A file that fails is reported (one line naming it and the reason) and the loop goes on.
    Returns a dict with counts and the list of failures.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    jobs, formats = plan_folder(input_path, output_dir, recursive, output_format, videos)
    remove_stale_temporaries({os.path.dirname(job.target) for job in jobs if job.target}, log)
    progress = Progress(len(jobs))
    counts = {"processed": 0, "skipped": 0, "failed": 0}
    failures = []
    start = time.perf_counter()
    for job in jobs:
        status = "ok"
        try:
            if should_skip(job, skip_existing):
                counts["skipped"] += 1
                progress.update(job.source, "exists")
                continue
            if formats[job.source] == "video":
                os.makedirs(os.path.dirname(job.target) or ".", exist_ok=True)
                if progress.tty and progress.done:
                    progress.stream.write("\n")  # the video's own frames/s line comes next
                video_lib.enhance_video(enhancer, job.source, job.target, smoothing=video_smoothing,
                                        max_pixels=max_pixels, stream=progress.stream, log=log)
                counts["processed"] += 1
                progress.update(job.source, status)
                continue
            loaded = images_lib.read(job.source, max_pixels=max_pixels)
            output = enhancer.enhance(loaded.rgb)
            write_output(job.target, output, loaded, formats[job.source], jpeg_quality)
            counts["processed"] += 1
        except FILE_ERRORS as error:
            message = failure_message(job.source, error)
            counts["failed"] += 1
            failures.append(message)
            status = "FAILED"
            if progress.tty:
                progress.stream.write("\n")
            log(f"error: {message}")
        progress.update(job.source, status)
    counts["seconds"] = time.perf_counter() - start
    counts["failures"] = failures
    counts["total"] = len(jobs)
    return counts
