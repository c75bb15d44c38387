"""Enhance low-light images (and videos) with GLADNet: ``gladnet-enhance`` (``python test.py``).

    python test.py --input sample_images --output_dir enhanced
    python test.py --input photos/ --recursive --output_dir out --format same --weights FILE
    python test.py --input clip.mov --output_dir out --video_smoothing 0.8

PATH may be one file or a folder (PNG, JPEG, BMP, TIFF, WebP; videos: MP4, MOV, AVI, MKV,
WebM, which need requirements-video.txt). Outputs keep relative paths and names; PNG by
default, MP4 for videos. A file that cannot be processed is reported on one line and the run
goes on; the exit code is 1 if any file failed.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("input", None, "An image file or a folder of images.")
flags.DEFINE_string("output_dir", None, "Where to write the enhanced images.")
flags.DEFINE_string("weights", None, "A .weights.h5 or .keras file (default: the shipped weights in checkpoints/).")
flags.DEFINE_bool("recursive", False, "Also enhance images in subfolders of --input.")
flags.DEFINE_enum("format", "png", ["png", "jpeg", "same", "bmp", "tiff", "webp"], "Output format; 'same' keeps each input's.")
flags.DEFINE_integer("jpeg_quality", 95, "Quality of JPEG outputs.")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "bfloat16 is faster on CPUs that support it; float32 is exact.")
flags.DEFINE_enum(
    "algorithm", "direct", ["direct", "winograd"],
    "float32 only: 'winograd' computes the detail branch with about a third of the multiplications "
    "(faster after a one-off compile of a few seconds; differs from 'direct' by ~1e-6).",
)
flags.DEFINE_integer(
    "tile", 512,
    "Images of more than tile x tile pixels are enhanced in exact tiles of at most about that many pixels (0 = never).",
)
flags.DEFINE_bool("skip_existing", False, "Leave outputs that already exist (resume an interrupted run).")
flags.DEFINE_float("max_megapixels", 200, "Refuse images above this size (decompression-bomb guard).")
flags.DEFINE_float(
    "video_smoothing", 0.8,
    "Videos: moving average of the global illumination over frames, m = s*m + (1-s)*g, in [0, 1) "
    "(0 = off: each frame on its own); removes brightness flicker.",
)
flags.register_validator("video_smoothing", lambda s: 0.0 <= s < 1.0, "--video_smoothing must be in [0, 1)")
flags.mark_flags_as_required(["input", "output_dir"])
FLAGS = flags.FLAGS


def prepare_output_dir(path: str) -> str | None:
    """Creates the output folder; returns None, or the problem in one line naming it."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        return f"{path}: cannot create the output folder ({error.strerror})"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path}: output folder is not writable"
    return None


def main(argv: list[str]) -> int:
    """Enhances --input into --output_dir (``batch.enhance_files``); returns the exit code:
    0, 1 if any file failed, 2 if nothing could start."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from gladnet_tf import batch, checkpoints, inference

    if not os.path.exists(FLAGS.input):
        print(f"error: {FLAGS.input}: no such file or folder", file=sys.stderr)
        return 2
    try:
        weights = FLAGS.weights or checkpoints.default_weights()
        enhancer = inference.Enhancer(
            weights, tile=FLAGS.tile, precision=FLAGS.precision, algorithm=FLAGS.algorithm
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problem = prepare_output_dir(FLAGS.output_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    fmt = "jpeg" if FLAGS.format == "jpeg" else FLAGS.format
    result = batch.enhance_files(
        enhancer, FLAGS.input, FLAGS.output_dir, recursive=FLAGS.recursive, output_format=fmt,
        skip_existing=FLAGS.skip_existing, max_pixels=int(FLAGS.max_megapixels * 1e6),
        jpeg_quality=FLAGS.jpeg_quality, videos=True, video_smoothing=FLAGS.video_smoothing,
    )
    rate = result["processed"] / max(result["seconds"], 1e-9)
    print(
        f"{result['processed']} enhanced, {result['skipped']} skipped, {result['failed']} failed "
        f"of {result['total']} in {result['seconds']:.1f} s ({rate:.2f} images/s) -> {FLAGS.output_dir}",
        file=sys.stderr,
    )
    for line in result["failures"]:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if result["failed"] else 0


def run() -> None:
    """Console-script entry point: parses the flags, runs ``main``, exits with its code."""
    app.run(lambda argv: sys.exit(main(argv)))
