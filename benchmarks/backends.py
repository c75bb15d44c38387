"""GLADNet on each Keras backend, side by side in one run: inference and the training step.

    python benchmarks/backends.py [--backends tensorflow,jax,torch] [--sizes 600x400,1920x1080]
        [--patch 128] [--batch 4] [--repeats 3]

Each backend runs in its own process (Keras picks its backend at import), one after the other,
on the same machine and weights (the shipped default):

- inference: ``inference.Enhancer(weights).enhance`` on a random image of each size (tiled at
  512 as ``test.py`` does); one warm-up call (tracing/compilation), then the best of
  ``--repeats`` calls;
- training: one optimisation step on a random batch, float32: TensorFlow's
  ``training.make_train_step`` (a ``tf.function``), JAX's ``jax_training.make_train_step``
  (``jax.jit``); warm-up, then the best of ``--repeats``. PyTorch has no training path here.

Prints seconds and each backend's speed relative to TensorFlow (> 1: faster).
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_of(function, repeats):
    function()  # warm-up: tracing / compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(args):
    """Runs inside one backend's process; prints a JSON line."""
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    from gladnet_tf import checkpoints, inference

    backend = keras.backend.backend()
    weights = checkpoints.default_weights()
    enhancer = inference.Enhancer(weights)
    rng = np.random.default_rng(0)
    result = {"backend": backend, "inference": {}}
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        image = rng.random((height, width, 3), dtype=np.float32) * 0.3
        result["inference"][size] = best_of(lambda: enhancer.enhance(image), args.repeats)
    low = rng.random((args.batch, args.patch, args.patch, 3), dtype=np.float32) * 0.3
    high = np.clip(low * 3, 0, 1)
    if backend == "tensorflow":
        import tensorflow as tf

        from gladnet_tf import config as config_lib, training

        config = config_lib.TrainConfig(patch_size=args.patch, batch_size=args.batch)
        strategy = tf.distribute.get_strategy()
        model, optimizer, loss = training.build(config, strategy)
        step = training.make_train_step(model, optimizer, loss, strategy, args.batch)
        batch = (tf.constant(low), tf.constant(high))
        result["train_step"] = best_of(lambda: float(step(batch)), args.repeats)
    elif backend == "jax":
        from gladnet_tf import config as config_lib, jax_training

        config = config_lib.TrainConfig(patch_size=args.patch, batch_size=args.batch)
        model, optimizer, loss, _ = jax_training.build(config)
        step = jax_training.make_train_step(model, optimizer, loss)
        state = [jax_training.read_state(model, optimizer)]

        def one_step():
            value, state[0] = step(state[0], low, high)
            float(value)

        result["train_step"] = best_of(one_step, args.repeats)
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--sizes", default="600x400,1920x1080")
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--_measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._measure:
        return measure(args)
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
        command = [sys.executable, __file__, "--_measure", "--sizes", args.sizes, "--patch",
                   str(args.patch), "--batch", str(args.batch), "--repeats", str(args.repeats)]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            print(f"{backend}: failed ({done.stderr.strip().splitlines()[-1:]})")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    reference = next((r for r in rows if r["backend"] == "tensorflow"), None)
    print(f"{'backend':<11}" + "".join(f"{'enhance ' + s:>22}" for s in args.sizes.split(","))
          + f"{'train step b%d p%d' % (args.batch, args.patch):>26}")
    for row in rows:
        cells = []
        for size in args.sizes.split(","):
            seconds = row["inference"][size]
            ratio = reference["inference"][size] / seconds if reference else float("nan")
            cells.append(f"{seconds:>10.3f} s ({ratio:4.2f}x)")
        if "train_step" in row:
            ratio = reference["train_step"] / row["train_step"] if reference else float("nan")
            cells.append(f"{row['train_step']:>14.3f} s ({ratio:4.2f}x)")
        else:
            cells.append(f"{'-':>26}")
        print(f"{row['backend']:<11}" + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
