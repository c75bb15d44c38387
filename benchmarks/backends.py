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
  ``benchmarks/training_throughput.py --backend`` measures training alone in more detail,
  with the same code (``train_step``, ``in_backend`` below).

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


# -- Shared by training_throughput.py: what runs inside one backend's process --------------


def train_step(patch, batch, precision="float32", seed=0, jit_compile=False):
    """``one_step()``: one optimisation step of the training code that ``train.py`` runs on
    the current Keras backend, on a fixed random batch (waits for its loss); None where the
    backend has no training path (PyTorch). ``jit_compile`` (TensorFlow): the same step
    compiled by XLA (JAX's step always is)."""
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    from gladnet_tf import config as config_lib

    rng = np.random.default_rng(seed)
    low = rng.random((batch, patch, patch, 3), dtype=np.float32) * 0.3
    high = np.clip(low * 3, 0, 1)
    config = config_lib.TrainConfig(patch_size=patch, batch_size=batch, precision=precision)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        from gladnet_tf import training

        strategy = tf.distribute.get_strategy()
        model, optimizer, loss = training.build(config, strategy)
        step = training.make_train_step(model, optimizer, loss, strategy, batch)
        if jit_compile:
            step = tf.function(step.python_function, jit_compile=True)
        tensors = (tf.constant(low), tf.constant(high))
        return lambda: float(step(tensors))
    if backend == "jax":
        from gladnet_tf import jax_training

        model, optimizer, loss, _ = jax_training.build(config)
        step = jax_training.make_train_step(model, optimizer, loss)
        state = [jax_training.read_state(model, optimizer)]

        def one_step():
            value, state[0] = step(state[0], low, high)
            return float(value)

        return one_step
    return None


def conv_gflops(batch, patch, channels=128, repeats=5, gradients=False):
    """GFLOP/s of a 3x3 ``channels`` -> ``channels`` convolution (the detail branch's bulk),
    float32, the backend's own: forward only through ``keras.ops.conv``, or with
    ``gradients`` the forward pass and both gradients (input and kernel, 3x the FLOPs) as a
    training step computes them (TensorFlow's GradientTape, ``jax.vjp``)."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((batch, patch, patch, channels), dtype=np.float32)
    w = rng.random((3, 3, channels, channels), dtype=np.float32) * 0.01
    flops = 2 * 9 * channels * channels * batch * patch * patch
    backend = keras.backend.backend()
    if not gradients:
        x, w = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(w)
        run = lambda: keras.ops.convert_to_numpy(keras.ops.conv(x, w, padding="same"))  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf

        x, w = tf.constant(x), tf.constant(w)

        @tf.function
        def both():
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = tf.nn.conv2d(x, w, 1, "SAME")
            return tape.gradient(y, [x, w], output_gradients=y)

        run = lambda: [g.numpy() for g in both()]  # noqa: E731
        flops *= 3
    elif backend == "jax":
        import jax

        def conv(a, b):
            return jax.lax.conv_general_dilated(a, b, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

        @jax.jit
        def both(a, b):
            y, pullback = jax.vjp(conv, a, b)
            return pullback(y)

        x, w = jax.device_put(x), jax.device_put(w)
        run = lambda: jax.block_until_ready(both(x, w))  # noqa: E731
        flops *= 3
    else:
        return None
    return flops / best_of(run, repeats) / 1e9


def in_backend(backend, script, arguments):
    """Runs ``python SCRIPT --_measure ARGUMENTS`` with ``KERAS_BACKEND=backend``; returns the
    JSON object it prints last, or ``{"backend": ..., "error": ...}``."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, script, "--_measure", *map(str, arguments)], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        return {"backend": backend, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args):
    """Runs inside one backend's process; prints a JSON line."""
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    from gladnet_tf import checkpoints, inference

    backend = keras.backend.backend()
    enhancer = inference.Enhancer(checkpoints.default_weights())
    rng = np.random.default_rng(0)
    result = {"backend": backend, "inference": {}}
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        image = rng.random((height, width, 3), dtype=np.float32) * 0.3
        result["inference"][size] = best_of(lambda: enhancer.enhance(image), args.repeats)
    step = train_step(args.patch, args.batch)
    if step is not None:
        result["train_step"] = best_of(step, args.repeats)
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
        row = in_backend(backend, __file__, ["--sizes", args.sizes, "--patch", args.patch,
                                             "--batch", args.batch, "--repeats", args.repeats])
        if "error" in row:
            print(f"{backend}: failed ({row['error']})")
            continue
        rows.append(row)
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
