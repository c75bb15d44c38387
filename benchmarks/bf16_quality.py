"""Is bfloat16 inference worth it? Speed-up and PSNR against float32 outputs, in one run.

    python benchmarks/bf16_quality.py --data ../shared/datasets/LOL-eval15 [--weights FILE]

For every low-light image of ``--data`` (a folder, or one with ``low/``), enhances it with
the float32 and the bfloat16 paths of ``gladnet_tf.inference.Enhancer`` and reports the PSNR
of the bfloat16 output against the float32 one (both clipped and rounded to 8 bits, as
written to disk), then the time per 1920x1080 image of both paths. The project keeps the
bfloat16 mode only if it is at least 1.5x faster with at least 45 dB PSNR against float32.
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
    args = parser.parse_args()
    weights = args.weights or checkpoints.default_weights()
    fp32 = inference.Enhancer(weights)
    bf16 = inference.Enhancer(weights, precision="bfloat16")
    folder = os.path.join(args.data, "low") if os.path.isdir(os.path.join(args.data, "low")) else args.data
    psnrs = []
    for path in images.find_images(folder):
        rgb = images.read(path).rgb
        psnrs.append(fidelity.psnr(images.quantize(fp32.enhance(rgb), 8), images.quantize(bf16.enhance(rgb), 8)))
        print(f"{os.path.basename(path):20s} PSNR(bf16 vs fp32) {psnrs[-1]:.2f} dB")
    print(f"mean PSNR of bf16 against fp32 over {len(psnrs)} images: {np.mean(psnrs):.2f} dB (min {np.min(psnrs):.2f})")
    image = np.random.default_rng(0).random((1080, 1920, 3), dtype=np.float32) * 0.3
    times = {}
    for name, enhancer in (("float32", fp32), ("bfloat16", bf16)):
        enhancer.enhance(image)
        start = time.perf_counter()
        for _ in range(args.repeats):
            enhancer.enhance(image)
        times[name] = (time.perf_counter() - start) / args.repeats
        print(f"1920x1080 {name}: {times[name] * 1000:.0f} ms")
    speedup = times["float32"] / times["bfloat16"]
    keep = speedup >= 1.5 and np.min(psnrs) >= 45
    print(f"speed-up {speedup:.2f}x; criterion (>= 1.5x and >= 45 dB on every image): {'met' if keep else 'NOT met'}")


if __name__ == "__main__":
    main()
