"""Training throughput of GLADNet on this machine, per Keras backend, against what its
convolutions cost.

    python benchmarks/training_throughput.py [--backend tensorflow,jax] [--patch 128]
        [--batch 8] [--steps 10] [--variants plain,bf16] [--rounds 2]
        [--data ../shared/datasets/LOL-train-subset]

Each backend (``--backend``: ``tensorflow``, ``jax``, or both, the default; PyTorch has no
training path) runs in its own process, one after the other, and reports, measured there:

- the conv ceiling: GFLOP/s of a 3x3 128->128 float32 convolution (the detail branch's bulk)
  through ``keras.ops.conv``, i.e. that backend's own convolution;
- the input pipeline alone (batches/s), if ``--data`` is given: ``data.training_dataset``
  (``tf.data``) on TensorFlow, ``numpy_data.PairStream`` on JAX;
- train steps on a batch already in memory, the step ``train.py`` runs on that backend
  (``benchmarks/backends.train_step``: ``training.make_train_step`` on TensorFlow,
  ``jax_training.make_train_step`` on JAX): ``plain`` (float32), ``bf16``
  (``--precision mixed_bfloat16``) and, on TensorFlow, ``xla`` (the float32 step with
  ``jit_compile=True``; TensorFlow has no XLA kernel for the nearest-resize gradient, so it
  reports the error instead of a time; JAX's step is XLA's already);
- pixels/s and the ratio of achieved FLOP/s (``gladnet_tf.flops``: 3 x the forward
  convolutions per step) to the conv ceiling.

The variants take turns for ``--rounds`` rounds and each reports its best round, so that a
slow minute on a shared machine does not decide the comparison. The last lines put the
backends side by side, say which trains faster, and compare their conv ceilings, which is
where the difference comes from on a CPU.
"""

import argparse
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)

import backends  # noqa: E402  (benchmarks/backends.py: the per-backend pieces)

VARIANTS = {"plain": "float32", "bf16": "mixed_bfloat16", "xla": "float32"}
TRAINING_BACKENDS = ("tensorflow", "jax")


def pipeline_seconds(data, patch, batch, count):
    """Seconds per batch of the backend's own input pipeline on ``data``."""
    import keras

    from gladnet_tf import pairs as pairs_lib

    pairs = pairs_lib.find_pairs(data, patch, check_contents=False).pairs
    if keras.backend.backend() == "tensorflow":
        from gladnet_tf import data as data_lib

        iterator = iter(data_lib.training_dataset(pairs, patch, batch, seed=0))
        close = None
    else:
        from gladnet_tf import numpy_data

        iterator = numpy_data.PairStream(pairs, patch, batch, seed=0)
        close = iterator.close
    next(iterator)
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    seconds = (time.perf_counter() - start) / count
    if close:
        close()
    return seconds


def measure(args):
    """Inside one backend's process: prints one JSON line."""
    import json

    import keras

    result = {"backend": keras.backend.backend(), "cpus": os.cpu_count(),
              "ceiling_gflops": backends.conv_gflops(args.batch, args.patch),
              "gradient_ceiling_gflops": backends.conv_gflops(args.batch, args.patch, gradients=True)}
    if result["backend"] == "tensorflow":
        import tensorflow as tf

        result["version"] = f"TensorFlow {tf.__version__}"
    else:
        import jax

        result["version"] = f"JAX {jax.__version__}"
    if args.data:
        result["pipeline_seconds"] = pipeline_seconds(args.data, args.patch, args.batch, args.steps * 2)
    steps, errors = {}, {}
    for variant in args.variants.split(","):
        if variant == "xla" and result["backend"] != "tensorflow":
            continue  # the plain step is XLA's already
        steps[variant] = backends.train_step(args.patch, args.batch, VARIANTS[variant],
                                             jit_compile=variant == "xla")
    best = {}
    for _ in range(args.rounds):
        for variant, step in steps.items():
            if variant in errors:
                continue  # it will not compile in the next round either
            try:
                seconds = _mean_of(step, args.steps)
            except Exception as error:  # noqa: BLE001 - TensorFlow's XLA refusal, reported as measured
                errors[variant] = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
                continue
            best[variant] = min(best.get(variant, math.inf), seconds)
    result["errors"] = errors
    result["step_seconds"] = best
    print(json.dumps(result))


def _mean_of(step, count):
    step()  # warm-up: tracing / compilation
    start = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - start) / count


def report(rows, args):
    from gladnet_tf import flops

    cost = flops.gladnet(args.patch)
    pixels = args.batch * args.patch * args.patch
    step_flops = cost["training_per_image"] * args.batch
    print(f"batch {args.batch} x {args.patch}x{args.patch}; forward "
          f"{cost['detail_forward_per_pixel'] / 1e6:.3f} MFLOP/pixel (detail) + "
          f"{cost['global_forward_per_image'] / 1e9:.3f} GFLOP/image (global); a step "
          f"{step_flops / 1e9:.1f} GFLOP")
    for row in rows:
        name = row["backend"]
        if "error" in row:
            print(f"[{name}] failed: {row['error']}")
            continue
        print(f"[{name}] {row['version']}, {row['cpus']} CPUs; conv ceiling (3x3 128->128 forward): "
              f"{row['ceiling_gflops']:.0f} GFLOP/s; with both gradients: "
              f"{row['gradient_ceiling_gflops']:.0f} GFLOP/s")
        if "pipeline_seconds" in row:
            seconds = row["pipeline_seconds"]
            print(f"[{name}] input pipeline alone: {1 / seconds:.1f} batches/s ({seconds * 1000:.0f} ms/batch)")
        for variant, error in row.get("errors", {}).items():
            print(f"[{name}] train step [{variant}]: not available: {error}")
        plain = row["step_seconds"].get("plain")
        for variant, seconds in row["step_seconds"].items():
            achieved = step_flops / seconds / 1e9
            print(f"[{name}] train step [{variant}]: {seconds * 1000:.0f} ms, {pixels / seconds / 1e6:.3f} Mpx/s, "
                  f"{achieved:.0f} GFLOP/s = {achieved / row['ceiling_gflops']:.0%} of the conv ceiling"
                  + (f", {plain / seconds:.2f}x plain" if plain and variant != "plain" else ""))
    measured = [r for r in rows if "error" not in r]
    if len(measured) < 2:
        return
    print("side by side (Mpx/s; the faster backend first):")
    shared = [v for v in args.variants.split(",") if all(v in r["step_seconds"] for r in measured)]
    for variant in shared:
        ranked = sorted(measured, key=lambda r: r["step_seconds"][variant])
        fast, slow = ranked[0], ranked[-1]
        ratio = slow["step_seconds"][variant] / fast["step_seconds"][variant]
        cells = ", ".join(f"{r['backend']} {pixels / r['step_seconds'][variant] / 1e6:.3f}" for r in ranked)
        print(f"  [{variant}] {cells}: {fast['backend']} trains {ratio:.2f}x faster than {slow['backend']}")
    if not shared:
        return
    first, second = sorted(measured, key=lambda r: r["step_seconds"][shared[0]])[:2]
    forward = first["ceiling_gflops"] / second["ceiling_gflops"]
    gradients = first["gradient_ceiling_gflops"] / second["gradient_ceiling_gflops"]
    print(f"  why: {first['backend']}'s 3x3 convolution runs at {forward:.2f}x {second['backend']}'s "
          f"forward and at {gradients:.2f}x with both gradients; a training step is mostly those "
          f"convolutions, the rest is the resizes and their gradients, the optimizer and dispatch")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="tensorflow,jax",
                        help="comma-separated: tensorflow, jax (PyTorch has no training path)")
    parser.add_argument("--data", default="")
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--variants", default="plain,bf16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--_measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if args._measure:
        return measure(args)
    chosen = args.backend.split(",")
    for backend in chosen:
        if backend not in TRAINING_BACKENDS:
            parser.error(f"--backend {backend}: training runs on {', '.join(TRAINING_BACKENDS)} only")
    rows = [backends.in_backend(backend, __file__, [
        "--patch", args.patch, "--batch", args.batch, "--steps", args.steps, "--variants", args.variants,
        "--rounds", args.rounds, *(["--data", args.data] if args.data else [])]) for backend in chosen]
    report(rows, args)


if __name__ == "__main__":
    main()
