"""The folder job behind ``test.py``: which files, where each output goes, skip, enhance, write.

    jobs, formats = plan_folder("photos", "out", recursive=True)   # names, collisions, refusals
    result = enhance_files(enhancer, "photos", "out")             # the whole loop

Planning only depends on the list of input files, so a rerun plans the same outputs (what
``--skip_existing`` and the Beam pipeline, ``beam.py``, rely on). A file that cannot be read,
enhanced or written is one line naming it (``failure_message``) and the loop goes on. Images
reach the ``inference.Enhancer`` as float32 HxWx3 RGB in [0, 1]; its raw output (float32, [0,
inf)) is clipped and rounded when written (``images.write_atomic``).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from gladnet_tf import images as images_lib
from gladnet_tf import inference
from gladnet_tf import progress as progress_lib
from gladnet_tf import video as video_lib

# What a bad file may raise while it is read, enhanced or written: reported, never fatal.
FILE_ERRORS = (images_lib.ImageError, OSError, ValueError, MemoryError) + inference.BACKEND_ERRORS


@dataclasses.dataclass
class Job:
    """One input file and its output path.

    ``target`` is None, and ``error`` says why, for a file refused when it was planned (an
    output that would overwrite an input).
    """

    source: str
    target: str | None  # None when the job is refused before reading
    error: str | None = None


# ---- planning: files -> output names ------------------------------------------------------


def _names_base(input_root: str) -> str:
    """The folder that output names are relative to: the folder itself, a glob pattern's
    folder without wildcards (``images.glob_base``) or a file's folder."""
    if os.path.isdir(input_root):
        return input_root
    if images_lib.is_pattern(input_root):
        return images_lib.glob_base(input_root)
    return os.path.dirname(input_root)


def _output_name(source: str, base: str, output_format: str, video_extensions: Sequence[str]) -> list:
    """``[source, stem, ext, out_ext, fmt]``: the source's relative stem and extension, and
    the extension and format of what is written for it."""
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
    return [source, stem, ext, out_ext, fmt]


def _unique_stems(planned: list[list]) -> list[str]:
    """The output stems, with the source extension (and then a number) added to the names
    that collide, compared without case."""
    counts = {}
    for _, stem, _, out_ext, _ in planned:
        key = (stem + out_ext).lower()
        counts[key] = counts.get(key, 0) + 1
    taken = {key for key, count in counts.items() if count == 1}  # names that need no change
    stems = []
    for _, stem, ext, out_ext, _ in planned:
        if counts[(stem + out_ext).lower()] > 1:
            renamed = f"{stem}_{ext.lstrip('.').lower()}"
            stem, number = renamed, 2
            while (stem + out_ext).lower() in taken:
                stem, number = f"{renamed}_{number}", number + 1
            taken.add((stem + out_ext).lower())
        stems.append(stem)
    return stems


def plan_outputs(sources: Sequence[str], input_root: str | os.PathLike, output_dir: str,
                 output_format: str = "png",
                 video_extensions: Sequence[str] = ()) -> tuple[list[Job], dict[str, str]]:
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

    Returns ``(jobs, formats)``: one ``Job`` per source, in order, and source -> the format
    written ("png", "jpeg", "bmp", "tiff", "webp" or "video").
    """
    base = _names_base(os.fspath(input_root))
    planned = [_output_name(source, base, output_format, video_extensions) for source in sources]
    inputs = {os.path.realpath(s) for s in sources}
    jobs = []
    for (source, _, _, out_ext, _), stem in zip(planned, _unique_stems(planned)):
        target = os.path.join(output_dir, stem + out_ext)
        if os.path.realpath(target) in inputs:
            jobs.append(Job(source, None, "output path is an input file; refusing to overwrite it"))
            continue
        jobs.append(Job(source, target))
    return jobs, {job.source: fmt for job, (_, _, _, _, fmt) in zip(jobs, planned)}


def plan_folder(input_path: str | os.PathLike, output_dir: str, recursive: bool = False,
                output_format: str = "png", videos: bool = False) -> tuple[list[Job], dict[str, str]]:
    """The files that ``test.py`` enhances under ``input_path`` and where each goes.

    ``input_path``: a file, a folder or a glob pattern (see ``images.find_images``); the
    output folder is never searched. With ``videos``, files with an extension of
    ``video.EXTENSIONS`` are planned too. Returns ``(jobs, formats)`` as ``plan_outputs``.
    """
    video_extensions = video_lib.EXTENSIONS if videos else ()
    extensions = set(images_lib.EXTENSIONS) | set(video_extensions)
    sources = images_lib.find_images(input_path, recursive=recursive, exclude=[output_dir], extensions=extensions)
    return plan_outputs(sources, input_path, output_dir, output_format, video_extensions)


# ---- the rules of one file ----------------------------------------------------------------


def remove_stale_temporaries(folders: Iterable[str], log: Callable[[str], None]) -> None:
    """Deletes ``.tmp-*.part`` (and ``.tmp-*.part.mp4``...) files that a killed run left in
    the output folders, telling ``log`` about each.

    They are this program's own temporary names (see ``images.write_bytes_atomic`` and
    ``video.enhance_video``), never a finished output; two runs must not share an output
    folder at the same time.
    """
    for folder in sorted(folders):
        pattern = os.path.join(glob.escape(folder), ".tmp-*.part")
        for path in sorted(glob.glob(pattern) + glob.glob(pattern + ".*")):
            try:
                os.remove(path)
                log(f"removed an unfinished temporary file from an interrupted run: {path}")
            except OSError:
                pass


def failure_message(source: str, error: BaseException) -> str:
    """One line naming the file and what went wrong (for the log and dead letters)."""
    if isinstance(error, images_lib.ImageError):
        message = str(error)
    else:
        message = f"{source}: {type(error).__name__}: {error}"
    return message.splitlines()[0]


def should_skip(job: Job, skip_existing: bool, exists: Callable[[str], bool] = os.path.exists) -> bool:
    """True if the job's output exists and ``skip_existing`` is set; raises ``ImageError`` for
    a job refused when it was planned (e.g. an output path that is an input). ``exists``
    tells whether a path exists (another storage's test, for outputs that are not local)."""
    if job.error:
        raise images_lib.ImageError(job.source, job.error)
    return bool(skip_existing) and exists(job.target)


def write_output(target: str, output: np.ndarray, loaded: images_lib.LoadedImage, fmt: str,
                 jpeg_quality: int = 95) -> None:
    """Writes ``enhance``'s raw output (HxWx3 float32 in [0, inf), clipped to [0, 1] and
    rounded here) for the image ``loaded`` (its alpha and bit depth are kept) to ``target``
    as ``fmt`` ("png", "jpeg", ...) atomically, creating its folder."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    images_lib.write_atomic(target, output, loaded.alpha, loaded.bit_depth, fmt, jpeg_quality)


# ---- the loop -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Options:
    skip_existing: bool
    max_pixels: int
    jpeg_quality: int
    video_smoothing: float


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _enhance_job(enhancer: inference.Enhancer, job: Job, fmt: str, options: _Options,
                 progress: progress_lib.Progress, log: Callable[[str], None]) -> str:
    """Does one job; returns its status ("exists": skipped, "ok"); raises ``FILE_ERRORS``."""
    if should_skip(job, options.skip_existing):
        return "exists"
    if fmt == "video":
        os.makedirs(os.path.dirname(job.target) or ".", exist_ok=True)
        progress.clear()  # the video's own frames/s line comes here
        video_lib.enhance_video(enhancer, job.source, job.target, smoothing=options.video_smoothing,
                                max_pixels=options.max_pixels, stream=progress.stream, log=log)
        return "ok"
    loaded = images_lib.read(job.source, max_pixels=options.max_pixels)
    output = enhancer.enhance(loaded.rgb)
    write_output(job.target, output, loaded, fmt, options.jpeg_quality)
    return "ok"


_COUNTED_AS = {"ok": "processed", "exists": "skipped", "FAILED": "failed"}


def enhance_files(enhancer: inference.Enhancer, input_path: str | os.PathLike, output_dir: str,
                  recursive: bool = False, output_format: str = "png", skip_existing: bool = False,
                  max_pixels: int = images_lib.DEFAULT_MAX_PIXELS, jpeg_quality: int = 95,
                  log: Callable[[str], None] | None = None, videos: bool = False,
                  video_smoothing: float = video_lib.DEFAULT_SMOOTHING) -> dict:
    """Enhances every image under ``input_path`` into ``output_dir`` (``plan_folder``).

    With ``videos``, files with a video extension (``video.EXTENSIONS``) are enhanced too, each
    into an ``.mp4`` with ``video.enhance_video`` and ``video_smoothing`` in [0, 1). Images
    above ``max_pixels`` are refused. A progress line goes to stderr; ``log`` (default: print
    to stderr) gets the error and warning lines.

    A file that fails is reported (one line naming it and the reason) and the loop goes on.
    Returns a dict: ``processed``, ``skipped``, ``failed``, ``total`` (counts), ``seconds``
    and ``failures`` (the list of failure lines).
    """
    log = log or _print_to_stderr
    options = _Options(skip_existing, max_pixels, jpeg_quality, video_smoothing)
    jobs, formats = plan_folder(input_path, output_dir, recursive, output_format, videos)
    remove_stale_temporaries({os.path.dirname(job.target) for job in jobs if job.target}, log)
    progress = progress_lib.Progress(len(jobs), "img")
    counts = {"processed": 0, "skipped": 0, "failed": 0}
    failures = []
    start = time.perf_counter()
    for job in jobs:
        try:
            status = _enhance_job(enhancer, job, formats[job.source], options, progress, log)
        except FILE_ERRORS as error:
            status = "FAILED"
            failures.append(failure_message(job.source, error))
            progress.clear()
            log(f"error: {failures[-1]}")
        counts[_COUNTED_AS[status]] += 1
        progress.update(job.source, status)
    progress.finish()
    return {**counts, "seconds": time.perf_counter() - start, "failures": failures, "total": len(jobs)}
