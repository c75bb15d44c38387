"""How much fine detail does a GLADNet checkpoint keep? A diagnostic for the NIQE results.

    python results/detail_fidelity.py --weights A.weights.h5 [B.weights.h5 ...]
        [--images ../shared/datasets/LOL-eval15/high] [--crop 384]

Feeds *well-exposed* images (by default LOL-eval15's normal-light targets) to each
checkpoint. A good enhancer leaves such images nearly alone, and above all keeps their
texture. Per checkpoint it prints the mean over the images of

- detail SNR (dB): the luminance's high-pass part (image minus a Gaussian blur, sigma 3 px)
  of the input against that of the output, ``10 log10(|hp(in)|^2 / |hp(out) - hp(in)|^2)``.
  Brightness and tone changes are low-pass and do not count; smeared, painted-over or
  invented texture does. Identity scores infinity; 10 dB means the output's texture is off
  by a third of the input's texture amplitude.
- NIQE of the input crop and of the output (LIVE release, lower is better).

Luminance is Rec. 601 (the weights NIQE's ``rgb2gray`` uses), on [0, 1]. Each image is
cropped to its top-left ``--crop`` x ``--crop`` pixels to keep the run short.
"""

import argparse
import glob
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from gladnet_tf import images, inference  # noqa: E402
from gladnet_tf.metrics.niqe import niqe  # noqa: E402

LUMA = np.array([0.299, 0.587, 0.114])


def high_pass(rgb, sigma=3.0):
    """(H, W, 3) in [0, 1] -> (H, W): luminance minus its Gaussian blur."""
    luma = rgb.astype(np.float64) @ LUMA
    return luma - ndimage.gaussian_filter(luma, sigma, mode="reflect")


def detail_snr(reference, output):
    """dB; both (H, W, 3) in [0, 1]."""
    hp_ref, hp_out = high_pass(reference), high_pass(output)
    return float(10 * np.log10(np.sum(hp_ref ** 2) / max(np.sum((hp_out - hp_ref) ** 2), 1e-20)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="+", required=True)
    parser.add_argument("--images", default=os.path.join(REPO, "..", "shared", "datasets", "LOL-eval15", "high"))
    parser.add_argument("--crop", type=int, default=384)
    args = parser.parse_args()
    paths = images.find_images(args.images) if os.path.isdir(args.images) else sorted(glob.glob(args.images))
    if not paths:
        sys.exit(f"{args.images}: no images")
    crops = [images.read(p).rgb[: args.crop, : args.crop] for p in paths]
    input_niqe = np.mean([niqe(images.quantize(c, 8)) for c in crops])
    print(f"{len(crops)} well-exposed images from {args.images}, crops of at most {args.crop} px; "
          f"input NIQE {input_niqe:.3f}")
    for weights in args.weights:
        enhancer = inference.Enhancer(weights)
        outputs = [np.clip(enhancer.enhance(c), 0.0, 1.0) for c in crops]
        snr = np.mean([detail_snr(c, o) for c, o in zip(crops, outputs)])
        out_niqe = np.mean([niqe(images.quantize(o, 8)) for o in outputs])
        print(f"{weights:60s} detail SNR {snr:6.2f} dB   output NIQE {out_niqe:.3f}")


if __name__ == "__main__":
    main()
