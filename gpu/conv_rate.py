"""The accelerator's bfloat16 rates, measured with JAX, and GLADNet's training FLOPs.

    python gpu/conv_rate.py --json rates.json --batch 48 --size 320 --channels 128

Measures, on JAX's default device, best of three timed runs after a warm-up:

- ``conv``: a 3x3 stride-1 SAME convolution, NHWC, bfloat16 in and out (float32
  accumulation), ``channels`` -> ``channels`` on ``batch`` x ``size`` x ``size``: the shape of
  GLADNet's detail convolutions at the training patch size, so the rate the model could reach;
- ``conv_training``: the same convolution's forward pass and both gradients (input and
  kernel), as a training step computes them;
- ``matmul``: an N x N x N bfloat16 matrix product, the chip's headline rate.

FLOPs count a multiply-add as two; GLADNet's own count is ``gladnet_tf.flops``.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gladnet_tf import flops  # noqa: E402  (standard library only)


def _best_time(function, arguments, iterations, trials=3):
    import jax

    jax.block_until_ready(function(*arguments))  # compile and warm up
    jax.block_until_ready(function(*arguments))
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(iterations):
            result = function(*arguments)
        jax.block_until_ready(result)
        best = min(best, (time.perf_counter() - start) / iterations)
    return best


def conv_rates(batch, size, channels, iterations=20):
    """TFLOP/s of the forward convolution and of forward + both gradients."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    images = jax.random.normal(keys[0], (batch, size, size, channels), jnp.bfloat16)
    kernel = (jax.random.normal(keys[1], (3, 3, channels, channels), jnp.float32) * 0.05).astype(jnp.bfloat16)

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            preferred_element_type=jnp.float32).astype(jnp.bfloat16)

    forward = jax.jit(conv)

    @jax.jit
    def training(x, w):
        out, pullback = jax.vjp(conv, x, w)
        return pullback(out)

    count = flops.conv_flops(size, size, 3, channels, channels) * batch
    seconds = _best_time(forward, (images, kernel), iterations)
    seconds_training = _best_time(training, (images, kernel), max(1, iterations // 3))
    shape = {"batch": batch, "size": size, "channels": channels, "kernel": 3}
    return ({"tflops": count / seconds / 1e12, "seconds": seconds, **shape},
            {"tflops": 3 * count / seconds_training / 1e12, "seconds": seconds_training, **shape})


def matmul_rate(n, iterations=20):
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    a = jax.random.normal(keys[0], (n, n), jnp.bfloat16)
    b = jax.random.normal(keys[1], (n, n), jnp.bfloat16)
    seconds = _best_time(jax.jit(jnp.matmul), (a, b), iterations)
    return {"tflops": 2 * n ** 3 / seconds / 1e12, "seconds": seconds, "n": n}


def measure(batch, size, channels, matmul_n, iterations=20):
    import jax

    device = jax.devices()[0]
    conv, conv_training = conv_rates(batch, size, channels, iterations)
    return {"device": getattr(device, "device_kind", str(device)), "platform": device.platform,
            "jax": jax.__version__, "conv": conv, "conv_training": conv_training,
            "matmul": matmul_rate(matmul_n, iterations)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--matmul", type=int, default=8192)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args(argv)
    result = measure(args.batch, args.size, args.channels, args.matmul, args.iterations)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
