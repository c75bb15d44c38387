"""How many low images of a folder look like a night photo with lights in it, and how bright a
network makes the dark ones against their targets.

    python results/lamp_stats.py runs/data/s21/syn18-bsds runs/data/s21/fivek-train \
        [--weights checkpoints/FILE.weights.h5]

A low image is *lamp-like* when its median luminance is below ``--median`` (most of it dark)
and more than ``--bright_share`` of its pixels are above 0.6 (lamps, lit windows; the defaults
are ``gladnet_tf.degradation.is_lamp_like``'s, which recipes select pairs by); *dark* when
its mean luminance is below ``--dark``. Luminance: Rec. 709 weights on the encoded values in
[0, 1], as ``results/official_samples.py`` measures it. For each folder (``low/`` and
``high/``) prints the counts and the mean input, target and (with ``--weights``) output
luminance of the dark and the lamp-like pairs, and output / target.
"""

import sys
from pathlib import Path

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from gladnet_tf import degradation, images  # noqa: E402

FLAGS = flags.FLAGS


def is_lamp_like(row, max_median=degradation.LAMP_MAX_MEDIAN,
                 min_bright_share=degradation.LAMP_MIN_BRIGHT_SHARE):
    """``degradation.lamp_like`` on a row of ``folder_rows`` (other thresholds allowed)."""
    return degradation.lamp_like(row["median"], row["bright"], max_median, min_bright_share)


def folder_rows(folder, enhance=None):
    """One dict per pair of ``folder/low`` and ``folder/high`` (same stem)."""
    folder = Path(folder)
    highs = {p.stem: p for p in (folder / "high").iterdir()}
    rows = []
    for low_path in sorted((folder / "low").iterdir()):
        low = images.read(low_path).rgb
        mean, median, bright = degradation.lamp_stats(low)
        row = {"mean": mean, "median": median, "bright": bright,
               "target": degradation.encoded_level(images.read(highs[low_path.stem]).rgb)}
        if enhance is not None:
            row["output"] = degradation.encoded_level(np.clip(enhance(low), 0.0, 1.0))
        rows.append(row)
    return rows


def summary(rows, label):
    if not rows:
        return f"  {label:10s} n=0"
    text = (f"  {label:10s} n={len(rows):<4d} input {np.mean([r['mean'] for r in rows]):.3f}"
            f"  target {np.mean([r['target'] for r in rows]):.3f}")
    if "output" in rows[0]:
        text += (f"  output {np.mean([r['output'] for r in rows]):.3f}  output/target "
                 f"{np.mean([r['output'] / max(r['target'], 1e-3) for r in rows]):.2f}")
    return text


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give one or more pair folders (with low/ and high/)")
    enhance = None
    if FLAGS.weights:
        from gladnet_tf import inference

        enhance = inference.Enhancer(FLAGS.weights).enhance
    for folder in argv[1:]:
        rows = folder_rows(folder, enhance)
        lamp = [r for r in rows if is_lamp_like(r, FLAGS.median, FLAGS.bright_share)]
        dark = [r for r in rows if r["mean"] < FLAGS.dark]
        print(f"{folder}: {len(rows)} pairs, {len(lamp)} lamp-like, {len(dark)} dark")
        print(summary(dark, "dark"))
        print(summary(lamp, "lamp-like"))
    return 0


if __name__ == "__main__":
    flags.DEFINE_float("median", degradation.LAMP_MAX_MEDIAN, "Lamp-like: median luminance below this.")
    flags.DEFINE_float("bright_share", degradation.LAMP_MIN_BRIGHT_SHARE,
                       "Lamp-like: more than this share of pixels above 0.6.")
    flags.DEFINE_float("dark", 0.15, "Dark: mean luminance below this.")
    flags.DEFINE_string("weights", None, "Also enhance the low images with these weights.")
    sys.exit(app.run(main))
