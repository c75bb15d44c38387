"""Enhance a folder of low-light images on Apache Beam: ``python -m gladnet_tf.beam``.

    python -m gladnet_tf.beam --input photos --output_dir out
    python -m gladnet_tf.beam --input 'shoots/**/*.jpg' --recursive --output_dir out \\
        --runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing
    python -m gladnet_tf.beam --input /mnt/shared/in --output_dir /mnt/shared/out \\
        --runner FlinkRunner --flink_master HOST:8081 --environment_type PROCESS ...

The options are those of ``test.py`` (one set of flags: ``commands/enhance.py``), plus
``--batch_size`` and ``--dead_letter``; any other argument is a Beam pipeline option
(``--runner``, ``--direct_num_workers``, ``--project``...). ``--input`` may also be a glob
pattern (quote it); inputs, ``--output_dir``, ``--dead_letter`` and ``--weights`` may be URLs of
a Beam filesystem (``gs://bucket/photos``) as well as local paths. Outputs are those ``test.py``
writes, under the same names; every file that cannot be enhanced is one line of the
dead-letter file (JSON: path, stage, reason). Exit code: 0, 1 if any file failed (all named in
the dead letters), 2 if nothing could start.
Needs ``pip install -r requirements-beam.txt``.
"""

import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from gladnet_tf.commands import enhance  # noqa: E402  (defines the flags of test.py)

flags.DEFINE_integer("batch_size", 8, "At most this many images per RunInference batch (Beam adapts the size "
                     "to the measured speed); small images of one size are enhanced together.")
flags.DEFINE_string("dead_letter", None, "Where to write the dead letters, one JSON line per file that could not "
                    "be enhanced (default: OUTPUT_DIR/dead_letter.jsonl; rewritten by each run).")
flags.register_validator("batch_size", lambda n: n >= 1, "--batch_size must be >= 1")
FLAGS = flags.FLAGS
DEAD_LETTER_NAME = "dead_letter.jsonl"


class _StartError(Exception):
    """Why the job cannot start, in one line (exit code 2)."""


def _weights_for_workers(weights: str | None) -> str | None:
    """Checks the weights here; returns what the workers are to load (see beam.local_weights):
    a local file as an absolute path, a URL, preset name or None as given."""
    from gladnet_tf import beam as pipeline

    if weights and pipeline.is_url(weights):
        if not pipeline.exists(weights):
            raise FileNotFoundError(f"{weights}: no such weights file")
        return weights
    pipeline.local_weights(weights)  # raises FileNotFoundError / ValueError with the reason
    return os.path.abspath(weights) if weights and os.path.exists(weights) else weights


def _check_paths() -> str | None:
    """Checks --input, --weights and --output_dir before anything runs; returns the weights
    for the workers (``_weights_for_workers``)."""
    from gladnet_tf import beam as pipeline
    from gladnet_tf import images

    if not (pipeline.is_url(FLAGS.input) or os.path.exists(FLAGS.input) or images.is_pattern(FLAGS.input)):
        raise _StartError(f"{FLAGS.input}: no such file or folder")
    try:
        weights = _weights_for_workers(FLAGS.weights)
    except (FileNotFoundError, ValueError) as error:
        raise _StartError(str(error)) from None
    problem = None if pipeline.is_url(FLAGS.output_dir) else enhance.prepare_output_dir(FLAGS.output_dir)
    if problem:
        raise _StartError(problem)
    return weights


def _plan() -> tuple[list, dict[str, str]]:
    """The jobs and formats of test.py for these flags (``beam.plan``)."""
    from gladnet_tf import beam as pipeline

    try:
        return pipeline.plan(FLAGS.input, FLAGS.output_dir, FLAGS.recursive, FLAGS.format)
    except Exception as error:  # a URL's filesystem (missing Beam extra, no access) raises its own kind
        raise _StartError(f"{FLAGS.input}: cannot list the files ({type(error).__name__}: {error})") from None


def _remove_local_temporaries(jobs: list) -> None:
    """What a killed run left in the local output folders (``batch.remove_stale_temporaries``)."""
    from gladnet_tf import batch
    from gladnet_tf import beam as pipeline

    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    local_folders = {os.path.dirname(job.target) for job in jobs if job.target and not pipeline.is_url(job.target)}
    batch.remove_stale_temporaries(local_folders, log)


def _beam_args(args: list[str]) -> list[str]:
    """The Beam options, quieter than Beam's default unless GLADNET_VERBOSE is set."""
    beam_args = list(args)
    if not os.environ.get("GLADNET_VERBOSE"):  # Beam and its workers log every bundle at INFO
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
        if not any(arg.startswith("--default_sdk_harness_log_level") for arg in beam_args):
            beam_args.append("--default_sdk_harness_log_level=WARNING")
    return beam_args


def _run_pipeline(beam, options, jobs: list, formats: dict[str, str], dead_letter_path: str,
                  weights: str | None):
    """Builds and runs the pipeline with test.py's options; returns Beam's result."""
    from gladnet_tf import beam as pipeline

    with beam.Pipeline(options=options) as p:
        pipeline.build(
            p, pipeline.elements(jobs, formats), dead_letter_path, weights=weights, tile=FLAGS.tile,
            precision=FLAGS.precision, algorithm=FLAGS.algorithm, batch_size=FLAGS.batch_size,
            skip_existing=FLAGS.skip_existing, max_pixels=int(FLAGS.max_megapixels * 1e6),
            jpeg_quality=FLAGS.jpeg_quality,
        )
    return p.result


def _report(result, total: int, dead_letter_path: str, seconds: float) -> int:
    """Prints the summary and every failure; returns the exit code (1 if any file failed)."""
    from gladnet_tf import beam as pipeline

    failures = pipeline.read_dead_letters(dead_letter_path)
    enhanced, skipped = pipeline.counter(result, "enhanced"), pipeline.counter(result, "skipped")
    if enhanced is None:  # a runner without metrics: what is known for sure
        enhanced = skipped = "?"
    rate = f"{enhanced / max(seconds, 1e-9):.2f} images/s" if isinstance(enhanced, int) else "rate unknown"
    print(f"{enhanced} enhanced, {skipped} skipped, {len(failures)} failed of {total} in {seconds:.1f} s "
          f"({rate}, start-up included) -> {FLAGS.output_dir}", file=sys.stderr)
    for record in failures:
        print(f"  failed ({record['stage']}): {record['path']}: {record['reason']}", file=sys.stderr)
    if failures:
        print(f"  dead letters: {dead_letter_path}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    """Plans the job, runs the pipeline with the Beam options in ``argv[1:]``, reports."""
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError as error:
        print(f"error: Apache Beam is not installed ({error}); pip install -r requirements-beam.txt",
              file=sys.stderr)
        return 2
    try:
        weights = _check_paths()
        dead_letter_path = FLAGS.dead_letter or f"{FLAGS.output_dir.rstrip('/')}/{DEAD_LETTER_NAME}"
        start = time.perf_counter()
        jobs, formats = _plan()
    except _StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _remove_local_temporaries(jobs)
    options = PipelineOptions(_beam_args(argv[1:]))
    result = _run_pipeline(beam, options, jobs, formats, dead_letter_path, weights)
    return _report(result, len(jobs), dead_letter_path, time.perf_counter() - start)


def run() -> None:
    """Entry point: test.py's flags are parsed here; the rest of the command line goes to Beam."""
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=lambda argv: FLAGS(argv, known_only=True))
