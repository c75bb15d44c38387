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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling validate.py
from gladnet_tf import images  # noqa: E402
from gladnet_tf.metrics.niqe import niqe  # noqa: E402
from validate import enhance_pair, exposure_matched, validation_pairs  # noqa: E402  (validation's own pairs)

FLAGS = flags.FLAGS
VARIANTS = ("target", "target_blur1", "output", "output_gain", "output_usm", "input")


def variants(low, target, output):
    """{variant name: HxWx3 uint8} for one pair; inputs are HxWx3 float in [0, 1]."""
    def filtered(image, kind):
        return np.asarray(Image.fromarray(images.quantize(image, 8)).filter(kind))
    return {"target": images.quantize(target, 8),
            "target_blur1": filtered(target, ImageFilter.GaussianBlur(1)),
            "output": images.quantize(output, 8),
            "output_gain": images.quantize(exposure_matched(output, target)[1], 8),
            "output_usm": filtered(output, ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2)),
            "input": images.quantize(low, 8)}


def probe(folder, enhance, limit=None):
    """{variant: [NIQE per image]} over ``folder``'s pairs (``validate.validation_pairs``), the
    output rounded to 8 bits as ``test.py`` writes it."""
    folder = Path(folder)
    pairs = list(validation_pairs(folder.parent, [folder.name]))[:limit]
    scores = {name: [] for name in VARIANTS}
    for _, _, low_path, high_path in pairs:
        low, output, _, target8 = enhance_pair(enhance, low_path, high_path)
        for variant, image in variants(low, target8 / 255.0, output).items():
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
