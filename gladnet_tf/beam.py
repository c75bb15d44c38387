"""Batch enhancement on Apache Beam: the folder job of ``test.py`` as a pipeline.

    python -m gladnet_tf.beam --input 'photos/**/*.jpg' --recursive --output_dir out \\
        --runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing

The launcher plans the job exactly as ``test.py`` does (``plan``, which is
``batch.plan_folder`` for local paths: the same files, the same output names, collisions
and refusals), then the pipeline runs

    planned files -> Reshuffle -> read_image -> RunInference(EnhancerHandler) -> write_image

and every file that cannot be done goes to one dead-letter file (JSON lines, sorted by path:
``{"path", "stage", "reason"}``, stage one of "plan", "read", "enhance", "write") instead of
failing the pipeline. Outputs are byte-identical to ``test.py``'s with the same options.

``EnhancerHandler`` is a Beam ``ModelHandler``: each worker process loads the weights once
(``load_model``, shared by the threads of that process) into an ``inference.Enhancer``;
RunInference hands it batches of up to ``batch_size`` images, which ``Enhancer.enhance_batch``
stacks by size when they are small and tiles when they are big (both exact).

Inputs, outputs, the dead-letter file and the weights are local paths (the same on the
launcher and on every worker: one machine, or a shared filesystem) or URLs of a Beam filesystem
(``gs://``, ``s3://``, ``hdfs://``..., whose Beam extra is installed): URL inputs are listed and
read through ``FileSystems`` and decoded by ``images.decode``; URL outputs are written to a
temporary name and renamed into place. See the README for clusters.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from gladnet_tf import batch as batch_lib
from gladnet_tf import images as images_lib
from gladnet_tf import inference
from gladnet_tf import video as video_lib

DEAD = "dead_letter"
NAMESPACE = "gladnet"
VIDEO_REASON = "a video: the Beam pipeline enhances images only (enhance videos with test.py)"
DEFAULT_BATCH_SIZE = 8

# A planned file, as it travels through the pipeline: (source, target, format, error);
# target is None, and error says why, for a file refused when it was planned.
Element = tuple[str, "str | None", str, "str | None"]


def elements(jobs: Sequence[batch_lib.Job], formats: dict[str, str]) -> list[Element]:
    """``batch.plan_folder``'s jobs as the pipeline's input elements."""
    return [(job.source, job.target, formats[job.source], job.error) for job in jobs]


def dead_letter(source: str, stage: str, message: str) -> dict[str, str]:
    """A dead-letter record; ``message`` as ``batch.failure_message`` writes it (the
    file name first, which the record keeps apart in ``path``)."""
    prefix = f"{source}: "
    reason = message[len(prefix):] if message.startswith(prefix) else message
    return {"path": source, "stage": stage, "reason": reason}


# ---- storage: local paths, or URLs of a Beam filesystem ------------------------------------


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL (``gs://...``), read and written through Beam's FileSystems."""
    return "://" in os.fspath(path)


def _filesystems():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def exists(path: str) -> bool:
    """Whether a local path or a URL exists."""
    return _filesystems().exists(path) if is_url(path) else os.path.exists(path)


def find_url_images(root: str, recursive: bool = False, exclude: Sequence[str] = (),
                    extensions: Iterable[str] = images_lib.EXTENSIONS) -> list[str]:
    """``images.find_images`` for a URL: a file, a folder (with its subfolders when
    ``recursive``) or a glob pattern (Beam's: ``*`` stays within a folder, ``**`` does not).

    The same names are found as on a local disk: wanted extensions (``images.wanted_name``),
    no hidden files or folders below the root, nothing inside ``exclude``. Sorted.
    """
    filesystems = _filesystems()
    pattern = root
    if not glob.has_magic(root):
        pattern = root.rstrip("/") + ("/**" if recursive else "/*")
    base = images_lib.glob_base(pattern)
    found = []
    for metadata in filesystems.match([pattern])[0].metadata_list:
        path = metadata.path
        parts = path[len(base):].lstrip("/").split("/")
        if any(part.startswith(".") for part in parts) or not images_lib.wanted_name(parts[-1], extensions):
            continue
        if any(path.startswith(e.rstrip("/") + "/") for e in exclude):
            continue
        found.append(path)
    if not found and not glob.has_magic(root) and filesystems.exists(root):
        found = [root] if images_lib.wanted_name(root.rsplit("/", 1)[-1], extensions) else []
    return sorted(found)


def plan(input_path: str, output_dir: str, recursive: bool = False,
         output_format: str = "png") -> tuple[list[batch_lib.Job], dict[str, str]]:
    """The jobs of ``test.py`` for these options (``batch.plan_folder``: the same files,
    names, collisions and refusals), also for URLs; videos are planned too (so that the names
    are test.py's), and ``ReadImages`` sends them to the dead letters."""
    if not is_url(input_path):
        return batch_lib.plan_folder(input_path, output_dir, recursive, output_format, videos=True)
    extensions = set(images_lib.EXTENSIONS) | set(video_lib.EXTENSIONS)
    sources = find_url_images(input_path, recursive, [output_dir], extensions)
    root = input_path
    if not glob.has_magic(input_path) and sources != [input_path]:
        root = input_path.rstrip("/") + "/*"  # a folder: names relative to it
    return batch_lib.plan_outputs(sources, root, output_dir, output_format, video_lib.EXTENSIONS)


def read_image(path: str, max_pixels: int = images_lib.DEFAULT_MAX_PIXELS) -> images_lib.LoadedImage:
    """``images.read`` for a local path or a URL; raises ``ImageError`` naming the file."""
    if not is_url(path):
        return images_lib.read(path, max_pixels=max_pixels)
    try:
        with _filesystems().open(path, compression_type="uncompressed") as f:
            data = f.read()
    except Exception as error:  # each filesystem raises its own kind
        raise images_lib.ImageError(path, f"cannot open ({type(error).__name__}: {error})") from None
    return images_lib.decode(data, path, max_pixels)


def write_image(target: str, output: np.ndarray, loaded: images_lib.LoadedImage, fmt: str,
                jpeg_quality: int = 95) -> None:
    """``batch.write_output`` for a local path or a URL (``output``: the raw HxWx3 float32
    output in [0, inf), clipped and rounded when encoded): a URL is written to a temporary
    ``.tmp-*.part`` name beside it and renamed into place, so no half-written output is ever
    under the final name; raises ``ImageError`` naming the file."""
    if not is_url(target):
        batch_lib.write_output(target, output, loaded, fmt, jpeg_quality)
        return
    filesystems = _filesystems()
    data = images_lib.encode(output, loaded.alpha, loaded.bit_depth, fmt, jpeg_quality)
    folder, _ = target.rsplit("/", 1)
    temporary = f"{folder}/.tmp-{uuid.uuid4().hex}.part"
    try:
        with filesystems.create(temporary, compression_type="uncompressed") as f:
            f.write(data)
        filesystems.rename([temporary], [target])
    except Exception as error:
        try:
            filesystems.delete([temporary])
        except Exception:
            pass
        raise images_lib.ImageError(target, f"cannot write ({type(error).__name__}: {error})") from None


def read_dead_letters(path: str) -> list[dict]:
    """The records of a dead-letter file (a local path or a URL)."""
    if is_url(path):
        with _filesystems().open(path, compression_type="uncompressed") as f:
            text = f.read().decode("utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def local_weights(weights: str | None) -> str:
    """The weights as a file on this machine.

    ``weights``: None (the default weights shipped with the installed package), a preset name
    (``gladnet_tf.presets()``), a ``.weights.h5`` / ``.keras`` file, or a URL of a Beam
    filesystem (``gs://...``), which is copied to a temporary file (once per call).
    """
    if weights and is_url(weights):
        suffix = ".keras" if weights.endswith(".keras") else ".weights.h5"
        path = os.path.join(tempfile.mkdtemp(prefix="gladnet-weights-"), "model" + suffix)
        try:
            with _filesystems().open(weights, compression_type="uncompressed") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target)
        except Exception as error:  # each filesystem raises its own kind
            raise FileNotFoundError(f"{weights}: cannot read the weights ({type(error).__name__}: {error})") from None
        return path
    from gladnet_tf import api

    return api._weights_path(weights)


@dataclasses.dataclass(frozen=True)
class Failure:
    """An image that ``run_inference`` could not enhance, in place of its output."""

    message: str  # as batch.failure_message writes it


class EnhancerHandler(ModelHandler):
    """A Beam ``ModelHandler`` for GLADNet: examples are ``(key, images.LoadedImage)`` with
    key = ``(source, target, format)``; each prediction's ``inference`` is the raw output
    (HxWx3 float32 in [0, inf), as ``Enhancer.enhance``) or a ``Failure``.

    Args:
        weights: as ``local_weights``; resolved on each worker when it loads the model.
        tile, precision, algorithm: as ``inference.Enhancer``.
        batch_size: at most this many images per RunInference batch (Beam adapts the size
            between 1 and this to the measured speed).
    """

    def __init__(self, weights: str | None = None, tile: int = inference.DEFAULT_TILE,
                 precision: str = "float32", algorithm: str = "direct",
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(min_batch_size=1, max_batch_size=batch_size)
        self.weights, self.tile, self.precision, self.algorithm = weights, tile, precision, algorithm

    def load_model(self) -> inference.Enhancer:
        """The Enhancer of this worker process (a URL's downloaded weights are then deleted)."""
        path = local_weights(self.weights)
        try:
            return inference.Enhancer(path, tile=self.tile, precision=self.precision, algorithm=self.algorithm)
        finally:
            if self.weights and is_url(self.weights):  # the Enhancer holds the weights now
                shutil.rmtree(os.path.dirname(path), ignore_errors=True)

    def run_inference(self, batch: Sequence[tuple], model: inference.Enhancer,
                      inference_args: dict | None = None) -> Iterable[PredictionResult]:
        """Enhances a batch together (``Enhancer.enhance_batch``); should that fail, one image
        at a time, so that a bad image only fails itself (its ``Failure``)."""
        try:
            outputs = model.enhance_batch([loaded.rgb for _, loaded in batch])
        except batch_lib.FILE_ERRORS:
            outputs = []  # one at a time, so that one image's failure is its own only
            for (source, _, _), loaded in batch:
                try:
                    outputs.append(model.enhance(loaded.rgb))
                except batch_lib.FILE_ERRORS as error:
                    outputs.append(Failure(batch_lib.failure_message(source, error)))
        return [PredictionResult(example, output) for example, output in zip(batch, outputs)]

    def get_num_bytes(self, batch: Sequence[tuple]) -> int:
        """The bytes of the batch's float32 images (Beam's batch-size statistics)."""
        return sum(loaded.rgb.nbytes for _, loaded in batch)

    def get_metrics_namespace(self) -> str:
        """Where RunInference's own metrics go: the pipeline's namespace."""
        return NAMESPACE


class ReadImages(beam.DoFn):
    """element -> ``((source, target, format), images.LoadedImage)`` (``read_image``); files
    refused when planned, videos and unreadable files go to the ``DEAD`` output, existing
    outputs are skipped with ``skip_existing`` (the rules of ``test.py``)."""

    def __init__(self, skip_existing: bool = False, max_pixels: int = images_lib.DEFAULT_MAX_PIXELS) -> None:
        self.skip_existing, self.max_pixels = skip_existing, max_pixels

    def setup(self) -> None:
        """Creates the ``skipped`` counter (once per DoFn instance)."""
        self.skipped = beam.metrics.Metrics.counter(NAMESPACE, "skipped")

    def process(self, element: Element) -> Iterator:
        """Yields ``((source, target, format), LoadedImage)``, nothing (skipped) or a dead
        letter (stage "plan" or "read")."""
        source, target, fmt, error = element
        try:
            if batch_lib.should_skip(batch_lib.Job(source, target, error), self.skip_existing, exists):
                self.skipped.inc()
                return
        except batch_lib.FILE_ERRORS as refused:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(source, "plan", batch_lib.failure_message(source, refused)))
            return
        try:
            if fmt == "video":
                raise images_lib.ImageError(source, VIDEO_REASON)
            yield (source, target, fmt), read_image(source, self.max_pixels)
        except batch_lib.FILE_ERRORS as failed:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(source, "read", batch_lib.failure_message(source, failed)))


class WriteImages(beam.DoFn):
    """PredictionResult -> the target path, written atomically (``write_image``); failures to
    the ``DEAD`` output."""

    def __init__(self, jpeg_quality: int = 95) -> None:
        self.jpeg_quality = jpeg_quality

    def setup(self) -> None:
        """Creates the ``enhanced`` counter (once per DoFn instance)."""
        self.enhanced = beam.metrics.Metrics.counter(NAMESPACE, "enhanced")

    def process(self, result: PredictionResult) -> Iterator:
        """Yields the target path once written, or a dead letter (stage "enhance" or "write")."""
        (source, target, fmt), loaded = result.example
        if isinstance(result.inference, Failure):
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(source, "enhance", result.inference.message))
            return
        try:
            write_image(target, result.inference, loaded, fmt, self.jpeg_quality)
        except batch_lib.FILE_ERRORS as error:
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(source, "write", batch_lib.failure_message(source, error)))
            return
        self.enhanced.inc()
        yield target


def _failed_batch(failed) -> list[dict[str, str]]:
    """RunInference's own dead letters, ``(batch, exception)``: one record per image."""
    batch, error = failed
    return [dead_letter(source, "enhance", batch_lib.failure_message(source, error))
            for (source, _, _), _ in batch]


def build(pipeline: beam.Pipeline, planned: Sequence[Element], dead_letter_path: str, *,
          weights: str | None = None, tile: int = inference.DEFAULT_TILE, precision: str = "float32",
          algorithm: str = "direct", batch_size: int = DEFAULT_BATCH_SIZE, skip_existing: bool = False,
          max_pixels: int = images_lib.DEFAULT_MAX_PIXELS, jpeg_quality: int = 95) -> beam.PCollection:
    """Adds the enhancement of ``planned`` (see ``elements``) to ``pipeline``.

    Writes the outputs, and the dead letters (JSON lines sorted by path; an empty file when
    nothing failed) to ``dead_letter_path``. Returns the PCollection of written paths.
    """
    read = (
        pipeline
        | "Plan" >> beam.Create(list(planned))
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadImages(skip_existing, max_pixels)).with_outputs(DEAD, main="images")
    )
    handler = EnhancerHandler(weights, tile, precision, algorithm, batch_size)
    results, inference_failures = read.images | "Enhance" >> RunInference(handler).with_exception_handling()
    written = results | "Write" >> beam.ParDo(WriteImages(jpeg_quality)).with_outputs(DEAD, main="written")
    crashed = inference_failures.failed_inferences | "Unbatch failures" >> beam.FlatMap(_failed_batch)
    _ = (
        (read[DEAD], crashed, written[DEAD])
        | "Dead letters" >> beam.Flatten()
        | "All" >> beam.combiners.ToList()
        | "Sorted" >> beam.FlatMap(lambda records: sorted(records, key=lambda r: (r["path"], r["stage"])))
        | "JSON" >> beam.Map(lambda record: json.dumps(record, ensure_ascii=False, sort_keys=True))
        | "Write dead letters" >> beam.io.WriteToText(dead_letter_path, shard_name_template="", num_shards=1)
    )
    return written.written


def counter(result: beam.runners.runner.PipelineResult, name: str) -> int | None:
    """The committed value of one of the pipeline's counters, or None if the runner has none."""
    try:
        from apache_beam.metrics.metric import MetricsFilter

        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(name))["counters"]
    except Exception:  # runners without metrics support raise various errors
        return None
    return int(sum(c.committed or 0 for c in found)) if found else 0


if __name__ == "__main__":
    from gladnet_tf.commands import beam_enhance

    beam_enhance.run()
