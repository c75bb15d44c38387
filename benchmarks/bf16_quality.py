"""Is a fast inference mode worth it? Speed-up and PSNR against float32 outputs, in one run.

    python benchmarks/bf16_quality.py --data ../shared/datasets/LOL-eval15 [--weights FILE]
        [--mode bfloat16|winograd]

For every low-light image of ``--data`` (a folder, or one with ``low/``), enhances it with
the float32 path of ``gladnet_tf.inference.Enhancer`` and with the fast mode (``bfloat16``:
``precision="bfloat16"``; ``winograd``: ``algorithm="winograd"``, still float32) and reports
the PSNR of the fast output against the float32 one (both clipped and rounded to 8 bits, as
written to disk) and the largest float difference, then the time per 1920x1080 image of both
paths. The project keeps a fast mode only if it is at least 1.5x faster with at least 45 dB
PSNR against float32.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from gladnet_tf import checkpoints, images, inference  # noqa: E402
from gladnet_tf.metrics import fidelity  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=["bfloat16", "winograd"], default="bfloat16")
    args = parser.parse_args()
    weights = args.weights or checkpoints.default_weights()
    fp32 = inference.Enhancer(weights)
    if args.mode == "bfloat16":
        fast = inference.Enhancer(weights, precision="bfloat16")
    else:
        fast = inference.Enhancer(weights, algorithm="winograd")
    folder = os.path.join(args.data, "low") if os.path.isdir(os.path.join(args.data, "low")) else args.data
    psnrs, differences = [], []
    for path in images.find_images(folder):
        rgb = images.read(path).rgb
        reference, output = fp32.enhance(rgb), fast.enhance(rgb)
        differences.append(float(np.abs(reference - output).max()))
        psnrs.append(fidelity.psnr(images.quantize(reference, 8), images.quantize(output, 8)))
        print(f"{os.path.basename(path):20s} PSNR({args.mode} vs float32) {psnrs[-1]:.2f} dB, "
              f"max float difference {differences[-1]:.2e}")
    print(f"mean PSNR of {args.mode} against float32 over {len(psnrs)} images: {np.mean(psnrs):.2f} dB "
          f"(min {np.min(psnrs):.2f}); largest float difference {max(differences):.2e}")
    image = np.random.default_rng(0).random((1080, 1920, 3), dtype=np.float32) * 0.3
    times = {}
    for name, enhancer in (("float32", fp32), (args.mode, fast)):
        enhancer.enhance(image)
        start = time.perf_counter()
        for _ in range(args.repeats):
            enhancer.enhance(image)
        times[name] = (time.perf_counter() - start) / args.repeats
        print(f"1920x1080 {name}: {times[name] * 1000:.0f} ms")
    speedup = times["float32"] / times[args.mode]
    keep = speedup >= 1.5 and np.min(psnrs) >= 45
    print(f"speed-up {speedup:.2f}x; criterion (>= 1.5x and >= 45 dB on every image): {'met' if keep else 'NOT met'}")


if __name__ == "__main__":
    main()
