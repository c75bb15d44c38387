"""Per image of a paired validation set: how dark the input is, and how bright each checkpoint's
output comes out against the target.

    python results/per_image_brightness.py --pairs runs/data/s27/val-lol20 \
        --weights checkpoints/gladnet_blend21_p320-21f171ba.weights.h5 --weights OTHER.weights.h5

``--pairs`` holds ``low/`` and ``high/`` matched by file stem. Per image: the input's mean
luminance and its share of pixels above ``--bright`` (0.3), the target's mean luminance, then
per weights file the output's mean luminance and PSNR. Luminance is Rec. 709 on the 8-bit
encoded values; each output is rounded to 8 bits by ``validate.enhance_pair``, as validation
and ``gladnet_tf.evaluate`` score it, so the PSNR here is theirs. Validation splits only: it explains a
checkpoint's validation score image by image (RESULTS.md, stage 28).
"""

import sys
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gladnet_tf.metrics import fidelity  # noqa: E402
from official_samples import REC709  # noqa: E402
from tone_conventions import pair_paths  # noqa: E402
from validate import enhance_pair  # noqa: E402  (the output as validation scores it)

FLAGS = flags.FLAGS


def rows(pairs, enhancers, bright=0.3):
    """[(stem, input mean, input share > bright, target mean, [(output mean, PSNR) per enhancer])]:
    pairs of (low path, target path); enhancers map float RGB in [0, 1] to an output image."""
    table = []
    for low_path, high_path in pairs:
        outputs = []
        for enhance in enhancers:
            low, output, output8, target8 = enhance_pair(enhance, low_path, high_path)
            outputs.append((float((output @ REC709).mean()), fidelity.psnr(output8, target8)))
        y_low = low @ REC709
        table.append((low_path.stem, float(y_low.mean()), float((y_low > bright).mean()),
                      float(((target8 / 255.0) @ REC709).mean()), outputs))
    return table


def main(argv):
    del argv
    from gladnet_tf import inference

    enhancers = [inference.Enhancer(w).enhance for w in FLAGS.weights]
    print(f"{'image':<12}{'in mean':>8}{f'>{FLAGS.bright}':>7}{'target':>8}"
          + "".join(f"   {Path(w).name[:22]:>22} (mean, dB)" for w in FLAGS.weights))
    for stem, mean, share, target, outputs in rows(pair_paths(FLAGS.pairs), enhancers, FLAGS.bright):
        print(f"{stem:<12}{mean:>8.3f}{share:>7.3f}{target:>8.3f}"
              + "".join(f"{m:>25.3f}{p:>8.2f}" + " " * 3 for m, p in outputs))
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("pairs", None, "A paired folder with low/ and high/.")
    flags.DEFINE_multi_string("weights", None, "Weights files to run.")
    flags.DEFINE_float("bright", 0.3, "Count input pixels brighter than this (encoded luminance).")
    flags.mark_flags_as_required(["pairs", "weights"])
    app.run(lambda argv: sys.exit(main(argv)))
