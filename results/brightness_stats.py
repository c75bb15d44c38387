"""Brightness and highlight statistics of folders of images (what the network is shown).

    python results/brightness_stats.py ../shared/datasets/DICM runs/data/synth/low ...

For each folder (images directly inside it, or in its ``low/`` subfolder when there is
one) prints the number of images and the means over images of: the mean value, the 50th,
95th and 99th percentiles, and the fraction of pixels brighter than ``--threshold``. The
value of a pixel is the mean of its R, G, B on the encoded [0, 1] scale (8-bit / 255).
With ``--sample N`` at most N images per folder are read (a fixed random choice).
"""

import random
import sys
from pathlib import Path

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from gladnet_tf import images  # noqa: E402

FLAGS = flags.FLAGS


def folder_stats(folder, threshold=0.6, sample=0, seed=0):
    """Returns ``(count, [mean, p50, p95, p99, fraction above threshold])`` for a folder."""
    folder = Path(folder)
    if (folder / "low").is_dir():
        folder = folder / "low"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in images.EXTENSIONS)
    if not paths:
        raise ValueError(f"{folder}: no images")
    if sample and len(paths) > sample:
        paths = sorted(random.Random(seed).sample(paths, sample))
    rows = []
    for path in paths:
        value = images.read(path).rgb.astype(np.float64).mean(axis=-1)  # HxW in [0, 1]
        rows.append([value.mean(), *np.percentile(value, [50, 95, 99]),
                     (value > threshold).mean()])
    return len(rows), np.mean(rows, axis=0)


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give one or more folders")
    print(f"{'folder':48s} {'n':>5s} {'mean':>6s} {'p50':>6s} {'p95':>6s} {'p99':>6s} "
          f"{'>' + str(FLAGS.threshold):>6s}")
    for folder in argv[1:]:
        count, values = folder_stats(folder, FLAGS.threshold, FLAGS.sample)
        print(f"{folder:48s} {count:5d} " + " ".join(f"{v:6.3f}" for v in values))
    return 0


if __name__ == "__main__":
    flags.DEFINE_float("threshold", 0.6, "Count pixels brighter than this (encoded, 0..1).")
    flags.DEFINE_integer("sample", 0, "Read at most this many images per folder (0: all).")
    sys.exit(app.run(main))
