r"""Low-light training pairs synthesised from well-exposed images, as in GLADNet.

Run it (writes ``OUT/low/*.png``, ``OUT/high/*.png`` and ``OUT/synthesis.json``)::

    python -m gladnet_tf.synthesis --input /work/shared/datasets/normal-light \
        --output /tmp/synth --max_side 512 --seed 0

The GLADNet slides ("Training Dataset Generation") synthesise pairs from *raw* images rather
than 8-bit RGB: a raw file is developed to linear light with the black point set correctly,
then Adobe Lightroom's Exposure E in [-5, 0] and Contrast C in [-100, 0] make the dark
version. Two tricks are added: black-to-black and white-to-white pairs (so black and white
stay put), and grayscale pairs made from colour pairs (against colour casts). A later slide
("New result") adds random saturation reduction. ``degradation.py`` does all of
that to one linear image, ``develop.py`` reads sources as linear light, and this module
builds a dataset folder from a folder of sources.

Outputs written to disk are uint8 (default) or uint16 HxWx3 sRGB PNGs, the same name in
``low/`` and ``high/``.

Determinism: each output variant draws from its own generator, seeded by ``--seed``, the
source's path relative to ``--input`` and the variant index, so results do not depend on the
order of files or on ``--num_workers``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import struct
import sys
import time
import zlib
from concurrent import futures
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TextIO

import numpy as np

from gladnet_tf import images
from gladnet_tf.degradation import SynthesisOptions, synthesize_pair
from gladnet_tf.develop import SOURCE_EXTENSIONS, read_linear
from gladnet_tf.progress import Progress

# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _png_bytes_16bit(rgb16: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one): filter 0 on every row, zlib level 6."""
    height, width, _ = rgb16.shape
    rows = rgb16.astype(">u2").reshape(height, width * 3).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _encode_png(image: np.ndarray) -> bytes:
    if image.dtype == np.uint16:
        return _png_bytes_16bit(image)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------


def variant_rng(seed: int, relative_path: str, variant: int) -> np.random.Generator:
    """The generator for one output pair: from the seed, the source's path and the index."""
    digest = hashlib.sha256(f"{relative_path}\0{variant}".encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def find_sources(input_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Supported image files under input_dir, recursively, sorted by path components.

    ``images.find_images`` with folder links followed (each real folder once), hidden files
    taken and only files kept. Files are recognised by extension (case-insensitive). The
    folder ``exclude`` (e.g. an output folder inside the input folder) is not searched.
    """
    found = images.find_images(input_dir, recursive=True, exclude=[] if exclude is None else [exclude],
                               extensions=SOURCE_EXTENSIONS, follow_links=True,
                               hidden=True, files_only=True)
    return sorted(Path(p) for p in found)


def _output_stems(relative_paths: Sequence[str]) -> list[str]:
    """'Kodak24/kodim01.png' -> 'Kodak24__kodim01'; same-stem sources keep their extension."""
    stems = [str(Path(p).with_suffix("")).replace(os.sep, "__").replace("/", "__")
             for p in relative_paths]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    return [f"{stem}_{Path(p).suffix.lstrip('.').lower()}" if counts[stem] > 1 else stem
            for stem, p in zip(stems, relative_paths)]


@dataclasses.dataclass
class _Job:
    source: Path
    relative: str
    stem: str
    seed: int
    num_per_image: int
    max_side: int | None
    raw_black_point: str
    options: SynthesisOptions
    output_dir: Path
    protected: frozenset


# (source relative to the input folder, records of its pairs or None, error or None)
_JobResult = tuple[str, dict[str, dict] | None, str | None]


def _process_source(job: _Job) -> _JobResult:
    """Read one source, write its pairs. Returns (relative, records, error message)."""
    try:
        decoded = read_linear(job.source, max_side=job.max_side,
                              raw_black_point=job.raw_black_point)
    except images.ImageError as error:  # already says what is wrong, in one line
        return job.relative, None, error.reason[:300]
    except Exception as error:  # noqa: BLE001 - any decoder failure (LibRaw's too) is a bad input
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if message[:2] in ("b'", 'b"'):  # rawpy's errors carry LibRaw's bytes message
            message = message[2:-1]
        return job.relative, None, f"{type(error).__name__}: {message}"[:300]
    records = {}
    width = len(str(max(job.num_per_image - 1, 0)))
    for variant in range(job.num_per_image):
        rng = variant_rng(job.seed, job.relative, variant)
        low, high, params = synthesize_pair(decoded.image, rng, job.options)
        name = f"{job.stem}_{variant:0{width}d}.png"
        for folder, image in (("high", high), ("low", low)):
            target = job.output_dir / folder / name
            if target.resolve() in job.protected:
                raise ValueError(f"refusing to overwrite input file {target}")
            images.write_bytes_atomic(target, _encode_png(image))
        records[name] = {"source": job.relative, "variant": variant,
                         "size": [int(low.shape[1]), int(low.shape[0])],
                         **params, "source_info": decoded.info}
    return job.relative, records, None


@dataclasses.dataclass
class DatasetReport:
    """What ``make_dataset`` did: pairs written (by file name) and failed sources."""

    records: dict[str, dict]
    failures: list[tuple[str, str]]
    num_sources: int
    seconds: float


def make_dataset(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    options: SynthesisOptions | None = None,
    *,
    seed: int = 0,
    num_per_image: int = 1,
    max_side: int | None = 1024,
    raw_black_point: str = "metadata",
    num_workers: int = 1,
    progress: TextIO | None = None,
) -> DatasetReport:
    """Synthesise pairs for every supported file under ``input_dir``.

    Writes ``output_dir/high/NAME.png`` and ``output_dir/low/NAME.png`` (same NAME, e.g.
    ``Kodak24__kodim01_0.png``; uint8 or, with ``options.bit_depth`` 16, uint16 HxWx3 sRGB)
    and ``output_dir/synthesis.json`` (per NAME: source path relative to input_dir, variant,
    kind, E, C, tricks and their parameters, source info). Bad sources are collected in
    ``report.failures`` (and printed to ``progress`` if given) and skipped. Files are written
    atomically; an input file is never overwritten. If ``output_dir`` lies inside
    ``input_dir`` it is not scanned for sources.

    Args:
      progress: a text stream for a progress line (``progress.Progress``: sources done,
        pairs written, failures, seconds, the source just done) and failure lines (e.g.
        sys.stderr), or None for silence.
    """
    options = options or SynthesisOptions()
    input_dir, output_dir = Path(input_dir).resolve(), Path(output_dir).resolve()
    _check_arguments(input_dir, output_dir, seed, num_per_image, max_side)
    jobs = _plan_jobs(input_dir, output_dir, options, seed, num_per_image, max_side,
                      raw_black_point)
    start = time.monotonic()
    records, failures = _collect(_run_jobs(jobs, num_workers), len(jobs), progress)
    summary = {
        "input_dir": str(input_dir),
        "seed": seed, "num_per_image": num_per_image, "max_side": max_side,
        "raw_black_point": raw_black_point, "options": dataclasses.asdict(options),
        "num_sources": len(jobs), "num_pairs": len(records),
        "failures": [{"source": s, "error": e} for s, e in failures],
        "pairs": dict(sorted(records.items())),
    }
    images.write_bytes_atomic(output_dir / "synthesis.json",
                              json.dumps(summary, indent=1, ensure_ascii=False).encode("utf-8"))
    return DatasetReport(records=summary["pairs"], failures=failures, num_sources=len(jobs),
                         seconds=time.monotonic() - start)


def _check_arguments(input_dir: Path, output_dir: Path, seed: int, num_per_image: int,
                     max_side: int | None) -> None:
    if not input_dir.is_dir():
        raise ValueError(f"input folder not found: {input_dir}")
    if output_dir == input_dir:
        raise ValueError(f"the output folder is the input folder: {input_dir}")
    if num_per_image < 1:
        raise ValueError(f"num_per_image must be >= 1, got {num_per_image}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if max_side is not None and max_side < 0:
        raise ValueError(f"max_side must be >= 0, got {max_side}")


def _plan_jobs(input_dir: Path, output_dir: Path, options: SynthesisOptions, seed: int,
               num_per_image: int, max_side: int | None, raw_black_point: str) -> list[_Job]:
    """One job per source under ``input_dir``; creates ``output_dir/low`` and ``/high``."""
    sources = find_sources(input_dir, exclude=output_dir)
    if not sources:
        raise ValueError(f"no supported images under {input_dir} (extensions: "
                         f"{' '.join(sorted(SOURCE_EXTENSIONS))})")
    protected = frozenset(p.resolve() for p in sources)
    if (output_dir / "synthesis.json").resolve() in protected:
        raise ValueError("output folder would overwrite an input file")
    for folder in ("low", "high"):
        (output_dir / folder).mkdir(parents=True, exist_ok=True)
    relatives = [p.relative_to(input_dir).as_posix() for p in sources]
    return [
        _Job(source, relative, stem, seed, num_per_image, max_side or None, raw_black_point,
             options, output_dir, protected)
        for source, relative, stem in zip(sources, relatives, _output_stems(relatives))
    ]


def _run_jobs(jobs: Sequence[_Job], num_workers: int) -> Iterator[_JobResult]:
    """Each job's result as it finishes: in order on one worker, else as they come.

    Workers are spawned, not forked: a fork of a process that has started threads (JAX,
    TensorFlow, LibRaw's OpenMP) can deadlock in the child, and did in the test suite."""
    if num_workers > 1 and len(jobs) > 1:
        with futures.ProcessPoolExecutor(max_workers=num_workers,
                                         mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = [pool.submit(_process_source, job) for job in jobs]
            for future in futures.as_completed(pending):
                yield future.result()
    else:
        for job in jobs:
            yield _process_source(job)


def _collect(results: Iterable[_JobResult], total: int,
             stream: TextIO | None) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """The records of all pairs and the sorted failures, shown on a progress line as they
    come (a log gets about 50 lines, and one per failure)."""
    records: dict[str, dict] = {}
    failures: list[tuple[str, str]] = []
    bar = Progress(total, "sources", stream, every=max(1, total // 50))
    for relative, new_records, error in results:
        if error is not None:
            failures.append((relative, error))
            bar.write(f"FAILED {relative}: {error}")
        else:
            records.update(new_records or {})
        bar.update(relative, f"{len(records)} pairs, {len(failures)} failed",
                   force=error is not None)
    bar.finish()
    return records, sorted(failures)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _define_target_flags(flags, defaults: SynthesisOptions) -> None:
    """The flags of the tricks that change the target (high) image: lift and level."""
    flags.DEFINE_list("target_lift_range", [str(v) for v in defaults.target_lift_range],
                      "Strength s of the target lift: the high image's sRGB values are "
                      "raised to 1 - s * clip((E - E0) / (-5 - E0), 0, 1); uniform (low,high) "
                      "in [0, 1); 0 is off.")
    flags.DEFINE_bool("target_lift_luma", defaults.target_lift_luma,
                      "Lift the luma only and scale the channels with it (keeps saturation).")
    flags.DEFINE_float("target_lift_onset_ev", defaults.target_lift_onset_ev,
                       "E0 of the target lift: pairs darkened by less than -E0 EV keep their "
                       "source's tones; in (-5, 0].")
    flags.DEFINE_list("target_level_range", [str(v) for v in defaults.target_level_range],
                      "Mean encoded luminance that a darker target is raised to (by "
                      "--target_level_curve), uniform (low,high) in [0, 1); 0 is off.")
    flags.DEFINE_enum("target_level_curve", defaults.target_level_curve, ["power", "gain"],
                      "How the target level is reached: an sRGB power, or a linear gain "
                      "rolled off towards white (lifts near-black less).")


def _define_flags():
    from absl import flags

    defaults = SynthesisOptions()
    flags.DEFINE_string("input", None, "Folder of well-exposed sources (searched recursively).")
    flags.DEFINE_string("output", None, "Folder for low/, high/ and synthesis.json.")
    flags.DEFINE_integer("seed", 0, "Seed; each pair's generator also uses its file name.")
    flags.DEFINE_integer("num_per_image", 1, "Pairs (variants) per source image.")
    flags.DEFINE_integer("max_side", 1024, "Downscale sources to this longer side (0: never).")
    flags.DEFINE_list("exposure_range", [str(v) for v in defaults.exposure_range],
                      "Exposure E in EV, uniform (low,high), <= 0.")
    flags.DEFINE_list("contrast_range", [str(v) for v in defaults.contrast_range],
                      "Contrast C, uniform (low,high), within [-100, 0].")
    flags.DEFINE_float("black_pair_prob", defaults.black_pair_prob, "P(black-to-black pair).")
    flags.DEFINE_float("white_pair_prob", defaults.white_pair_prob, "P(white-to-white pair).")
    flags.DEFINE_float("gray_prob", defaults.gray_prob, "P(grayscale pair).")
    flags.DEFINE_float("saturation_prob", defaults.saturation_prob,
                       "P(random saturation reduction).")
    flags.DEFINE_list("saturation_range", [str(v) for v in defaults.saturation_range],
                      "Saturation multiplier s, uniform (low,high) in [0, 1].")
    flags.DEFINE_enum("saturation_target", defaults.saturation_target, ["low", "pair"],
                      "Reduce saturation of the low image only, or of both images.")
    flags.DEFINE_float("noise_prob", defaults.noise_prob,
                       "P(Poisson-Gaussian sensor noise on the low image); beyond the paper.")
    flags.DEFINE_list("noise_photons_range", [str(v) for v in defaults.noise_photons_range],
                      "Photo-electrons at white, log-uniform (low,high).")
    flags.DEFINE_list("noise_read_range", [str(v) for v in defaults.noise_read_range],
                      "Read-noise sigma in linear units, log-uniform (low,high).")
    flags.DEFINE_float("backlight_prob", defaults.backlight_prob,
                       "P(backlit pair: only the darker parts of the image are darkened by "
                       "E); beyond the paper.")
    flags.DEFINE_list("backlight_blur_range", [str(v) for v in defaults.backlight_blur_range],
                      "Blur sigma of the backlight map / longer side, uniform (low,high).")
    flags.DEFINE_list("backlight_quantile_range",
                      [str(v) for v in defaults.backlight_quantile_range],
                      "Luminance quantile where the backlight darkening starts to fade, "
                      "uniform (low,high).")
    flags.DEFINE_list("backlight_highlight_range",
                      [str(v) for v in defaults.backlight_highlight_range],
                      "Fraction of E that the bright side of a backlit pair still gets, "
                      "uniform (low,high) in [0, 1]; 0 keeps the highlights.")
    _define_target_flags(flags, defaults)
    flags.DEFINE_enum("bit_depth", "8", ["8", "16"], "Bits per channel of the output PNGs.")
    flags.DEFINE_enum("raw_black_point", "metadata", ["metadata", "auto"],
                      "Raw black level: the file's; auto: the data's floor if the file stores 0.")
    flags.DEFINE_integer("num_workers", 1, "Processes; results do not depend on it.")
    flags.mark_flags_as_required(["input", "output"])
    return flags.FLAGS


def _pair(values: Sequence[str], name: str) -> tuple[float, float]:
    if len(values) != 2:
        raise ValueError(f"--{name} needs two comma-separated numbers, got {values}")
    return float(values[0]), float(values[1])


def _run(argv: Sequence[str]) -> int:
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    flag_values = flags.FLAGS
    try:
        options = SynthesisOptions(
            exposure_range=_pair(flag_values.exposure_range, "exposure_range"),
            contrast_range=_pair(flag_values.contrast_range, "contrast_range"),
            black_pair_prob=flag_values.black_pair_prob,
            white_pair_prob=flag_values.white_pair_prob,
            gray_prob=flag_values.gray_prob,
            saturation_prob=flag_values.saturation_prob,
            saturation_range=_pair(flag_values.saturation_range, "saturation_range"),
            saturation_target=flag_values.saturation_target,
            noise_prob=flag_values.noise_prob,
            noise_photons_range=_pair(flag_values.noise_photons_range, "noise_photons_range"),
            noise_read_range=_pair(flag_values.noise_read_range, "noise_read_range"),
            backlight_prob=flag_values.backlight_prob,
            backlight_blur_range=_pair(flag_values.backlight_blur_range,
                                       "backlight_blur_range"),
            backlight_quantile_range=_pair(flag_values.backlight_quantile_range,
                                           "backlight_quantile_range"),
            backlight_highlight_range=_pair(flag_values.backlight_highlight_range,
                                            "backlight_highlight_range"),
            target_lift_range=_pair(flag_values.target_lift_range, "target_lift_range"),
            target_lift_luma=flag_values.target_lift_luma,
            target_lift_onset_ev=flag_values.target_lift_onset_ev,
            target_level_range=_pair(flag_values.target_level_range, "target_level_range"),
            target_level_curve=flag_values.target_level_curve,
            bit_depth=int(flag_values.bit_depth),
        )
        report = make_dataset(
            flag_values.input, flag_values.output, options, seed=flag_values.seed,
            num_per_image=flag_values.num_per_image, max_side=flag_values.max_side,
            raw_black_point=flag_values.raw_black_point, num_workers=flag_values.num_workers,
            progress=sys.stderr,
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    print(f"{len(report.records)} pairs from {report.num_sources - len(report.failures)} of "
          f"{report.num_sources} sources in {report.seconds:.1f}s -> {flag_values.output}")
    if report.failures:
        print(f"{len(report.failures)} source(s) failed:", file=sys.stderr)
        for source, error in report.failures:
            print(f"  {source}: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: defines the flags, parses ``argv`` (default sys.argv), runs, exits.

    Exit status 0 when every source worked, 1 when any failed (the rest are still written).
    """
    from absl import app

    _define_flags()
    app.run(_run, argv=list(argv) if argv is not None else None)


if __name__ == "__main__":
    main()
