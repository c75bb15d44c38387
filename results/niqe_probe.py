"""How NIQE on a validation split responds to exposure and sharpness: a diagnostic, not a selection.

    python results/niqe_probe.py --data_root runs/data/s27 --set val-fivek100 \
        --weights checkpoints/FILE.weights.h5 [--limit 40]

For each pair of ``DATA_ROOT/SET/{low,high}`` it scores (NIQE, lower is better; 8-bit images,
as the reports score saved outputs):

- ``target``: the expert (or reference) image; ``target_blur1``: it under a Gaussian blur of
  radius 1, to show how strongly NIQE punishes softness;
- ``output``: GLADNet's output; ``output_gain``: the output times the one factor that brings it
  closest to the target (least squares), so exposure alone is removed; ``output_usm``: the
  output under an unsharp mask (radius 2, 60 %, threshold 2);
- ``input``: the low-light input.

It prints each variant's mean and the paired mean of ``variant - output``. Validation splits
only: it reads no test set and chooses no checkpoint.
"""

import os
import sys
from pathlib import Path

import numpy as np
from absl import app, flags
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from gladnet_tf.metrics.niqe import niqe  # noqa: E402

FLAGS = flags.FLAGS
VARIANTS = ("target", "target_blur1", "output", "output_gain", "output_usm", "input")


def to_uint8(image):
    """HxWx3 float in [0, 1] (clipped) -> uint8 0..255, rounded."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def exposure_gain(output, target):
    """The factor g minimising ||g * output - target||^2 over all pixels (float arrays in [0, 1])."""
    output, target = np.asarray(output, np.float64), np.asarray(target, np.float64)
    return float((output * target).sum() / max((output * output).sum(), 1e-12))


def variants(low, target, output):
    """{variant name: HxWx3 uint8} for one pair; inputs are HxWx3 float in [0, 1]."""
    def filtered(image, kind):
        return np.asarray(Image.fromarray(to_uint8(image)).filter(kind))
    return {"target": to_uint8(target),
            "target_blur1": filtered(target, ImageFilter.GaussianBlur(1)),
            "output": to_uint8(output),
            "output_gain": to_uint8(output * exposure_gain(output, target)),
            "output_usm": filtered(output, ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2)),
            "input": to_uint8(low)}


def probe(folder, enhance, limit=None):
    """{variant: [NIQE per image]} over ``folder/low`` and ``folder/high`` (matched by name)."""
    names = sorted(os.listdir(os.path.join(folder, "low")))[:limit]
    scores = {name: [] for name in VARIANTS}
    for name in names:
        low, target = (np.asarray(Image.open(os.path.join(folder, side, name)).convert("RGB"), np.float32) / 255
                       for side in ("low", "high"))
        for variant, image in variants(low, target, enhance(low)).items():
            scores[variant].append(niqe(image))
    return scores


def main(argv):
    del argv
    from gladnet_tf import api

    enhancer = api.get_enhancer(FLAGS.weights)
    scores = probe(os.path.join(FLAGS.data_root, FLAGS.set), lambda low: api.enhance(low, enhancer=enhancer),
                   FLAGS.limit)
    output = np.array(scores["output"])
    print(f"{FLAGS.set}: {len(output)} images, weights {os.path.basename(FLAGS.weights or 'default')}")
    for variant in VARIANTS:
        values = np.array(scores[variant])
        print(f"  {variant:<13} NIQE {values.mean():.3f}   minus output {np.mean(values - output):+.3f}")
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("data_root", "runs/data/s27", "Where the recipe built the validation splits.")
    flags.DEFINE_string("set", "val-fivek100", "A validation split with low/ and high/.")
    flags.DEFINE_string("weights", None, "GLADNet weights (default: the shipped default).")
    flags.DEFINE_integer("limit", None, "Score only the first N pairs (by name).")
    app.run(main)
