"""What a brighter (or darker) output costs in PSNR on a paired validation set.

    python results/gain_cost.py --pairs runs/data/s27/val-fivek100 \
        --weights checkpoints/gladnet_blend21_p320-21f171ba.weights.h5 --gains 1,1.05,1.085,1.1,1.2

Per gain g: the mean PSNR over the set's pairs when each output, as validation scores it
(``validate.enhance_pair``, rounded to 8 bits), is multiplied by g, clipped to [0, 1] and rounded
to 8 bits again (``validate.psnr_at_gain``). It prices a brightness change on a validation split
before any training asks for it (RESULTS.md, stage 29). Validation splits only.
"""

import sys
from pathlib import Path

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tone_conventions import pair_paths  # noqa: E402
from validate import enhance_pair, psnr_at_gain  # noqa: E402

FLAGS = flags.FLAGS


def gain_costs(pairs, enhance, gains):
    """{gain: mean PSNR (dB) over pairs}: pairs of (low path, target path); enhance maps float
    RGB in [0, 1] to an output image; a pair whose scaled output equals its target counts inf."""
    scores = {g: [] for g in gains}
    for low_path, high_path in pairs:
        _, output, _, target8 = enhance_pair(enhance, low_path, high_path)
        for g in gains:
            scores[g].append(psnr_at_gain(output, target8, g))
    return {g: float(np.mean(s)) for g, s in scores.items()}


def main(argv):
    del argv
    from gladnet_tf import inference

    gains = [float(g) for g in FLAGS.gains]
    costs = gain_costs(pair_paths(FLAGS.pairs), inference.Enhancer(FLAGS.weights).enhance, gains)
    base = costs.get(1.0)
    for g, value in costs.items():
        change = "" if base is None else f"  ({value - base:+.2f} dB against gain 1)"
        print(f"gain {g:<6} {value:7.3f} dB{change}")
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("pairs", None, "A paired folder with low/ and high/.")
    flags.DEFINE_string("weights", None, "The weights file to run.")
    flags.DEFINE_list("gains", ["1", "1.05", "1.085", "1.1", "1.2"], "Gains to price.")
    flags.mark_flags_as_required(["pairs", "weights"])
    app.run(lambda argv: sys.exit(main(argv)))
