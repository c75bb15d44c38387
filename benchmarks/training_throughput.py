"""Training throughput of GLADNet on this machine, against what its convolutions cost.

    python benchmarks/training_throughput.py [--data ../shared/datasets/LOL-train-subset]
        [--patch 128] [--batch 8] [--steps 10] [--variants plain,bf16] [--rounds 2]

Prints, measured in one run:
- the conv ceiling: GFLOP/s of a 3x3 128->128 convolution (the detail branch's bulk);
- the input pipeline alone (batches/s), if --data is given;
- train steps on tensors already in memory: ``plain`` (float32), ``bf16`` (Keras
  ``mixed_bfloat16``, what ``train.py --precision mixed_bfloat16`` runs) and ``xla``
  (jit_compile=True; TensorFlow has no XLA kernel for the nearest-resize gradient, so this
  one reports the error instead of a time);
- pixels/s and the ratio of achieved FLOP/s (3 x forward FLOPs per step) to the ceiling.

The variants take turns for ``--rounds`` rounds and each reports its best round, so that a
slow minute on a shared machine does not decide the comparison.
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gladnet_tf import losses, model as model_lib  # noqa: E402


def forward_flops_per_pixel(model):
    """FLOPs (2 x multiply-adds) per output pixel of the detail branch + global branch per image."""
    detail = 0
    for i in range(model.detail_depth):
        layer = model.get_layer(f"detail_conv_{i + 1}")
        k = layer.kernel.shape
        detail += 2 * k[0] * k[1] * k[2] * k[3]
    global_flops = 0
    size = model.global_size
    for i in range(model.global_depth):
        size = -(-size // 2)
        k = model.get_layer(f"global_down_{i + 1}").kernel.shape
        global_flops += 2 * size * size * k[0] * k[1] * k[2] * k[3]
    sizes = [model.global_size]
    for _ in range(model.global_depth):
        sizes.append(-(-sizes[-1] // 2))
    for i in range(model.global_depth):
        s = sizes[model.global_depth - 1 - i]
        k = model.get_layer(f"global_up_{i + 1}").kernel.shape
        global_flops += 2 * s * s * k[0] * k[1] * k[2] * k[3]
    return detail, global_flops


def timed(fn, repeats):
    fn()  # warm up / trace
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def conv_ceiling(batch, patch):
    x = tf.random.uniform([batch, patch, patch, 128])
    w = tf.random.uniform([3, 3, 128, 128])
    conv = tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))
    seconds = timed(lambda: conv().numpy(), 5)
    return 2 * 9 * 128 * 128 * batch * patch * patch / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="")
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--variants", default="plain,bf16")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    model = model_lib.GLADNet()
    detail, global_flops = forward_flops_per_pixel(model)
    pixels = args.batch * args.patch * args.patch
    step_flops = 3 * (detail * pixels + global_flops * args.batch)
    ceiling = conv_ceiling(args.batch, args.patch)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; batch {args.batch} x {args.patch}x{args.patch}")
    print(f"forward: {detail / 1e6:.3f} MFLOP/pixel (detail) + {global_flops / 1e9:.3f} GFLOP/image (global)")
    print(f"conv ceiling (3x3 128->128 forward): {ceiling:.0f} GFLOP/s")

    if args.data:
        from gladnet_tf import data

        pairs = data.find_pairs(args.data, args.patch, check_contents=False).pairs
        iterator = iter(data.training_dataset(pairs, args.patch, args.batch, seed=0))
        seconds = timed(lambda: next(iterator), args.steps * 2)
        print(f"input pipeline alone: {1 / seconds:.1f} batches/s ({seconds * 1000:.0f} ms/batch)")

    rng = np.random.default_rng(0)
    high = tf.constant(rng.random((args.batch, args.patch, args.patch, 3), dtype=np.float32))
    low = high * 0.2
    loss_fn = losses.WeightedL1()

    steps = {}
    for variant in args.variants.split(","):
        net = model_lib.create("mixed_bfloat16") if variant == "bf16" else model
        optimizer = keras.optimizers.Adam(losses.original_schedule())

        def step(net=net, optimizer=optimizer):
            with tf.GradientTape() as tape:
                loss = loss_fn(high, tf.cast(net(low, training=True), tf.float32))
            grads = tape.gradient(loss, net.trainable_variables)
            optimizer.apply_gradients(zip(grads, net.trainable_variables))
            return loss

        steps[variant] = tf.function(step, jit_compile=(variant == "xla"))
    best, errors = {}, {}
    for _ in range(args.rounds):
        for variant, fn in steps.items():
            if variant in errors:
                continue  # it will not compile in the next round either
            try:
                seconds = timed(lambda: fn().numpy(), args.steps)
            except tf.errors.InvalidArgumentError as error:
                errors[variant] = str(error).splitlines()[0][:160]
                continue
            best[variant] = min(best.get(variant, math.inf), seconds)
    for variant, error in errors.items():
        print(f"train step [{variant}]: not available: {error}")
    for variant, seconds in best.items():
        achieved = step_flops / seconds / 1e9
        print(
            f"train step [{variant}]: {seconds * 1000:.0f} ms, {pixels / seconds / 1e6:.3f} Mpx/s, "
            f"{achieved:.0f} GFLOP/s = {achieved / ceiling:.0%} of the conv ceiling"
            + (f", {best['plain'] / seconds:.2f}x plain" if "plain" in best and variant != "plain" else "")
        )


if __name__ == "__main__":
    main()
