"""What brightness a paired set's targets ask for, and what that would make of the official samples.

    python results/tone_conventions.py --pairs ../shared/datasets/FiveK-test500 \
        --pairs ../shared/datasets/LOL-train-subset --pairs ../shared/datasets/LOL-train-more

Each ``--pairs`` folder holds ``low/`` and ``high/`` (or ``input/`` and ``target/``), matched by
file stem. Per set, its tone convention: the mean target luminance per input-luminance bin
(``official_samples.TONE_BINS``), pooled over every pixel of every pair. Then, per official
sample input (``../shared/reference/gladnet-official-samples``), the mean luminance that
convention gives the sample (its pixels' shares per bin times the set's curve), as a ratio of
the official output's: the issue's brightness target asks for at least 0.90 of it. Luminance is
Rec. 709 on the 8-bit encoded values, as ``official_samples.py`` measures it. Only training and
validation sets belong here (what a set teaches); the samples are read, never used to choose.
"""

import sys
from pathlib import Path

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gladnet_tf import images  # noqa: E402
from official_samples import PAIRS, REC709, SAMPLES, TONE_BINS, tone_bin  # noqa: E402

FLAGS = flags.FLAGS
FOLDERS = (("low", "high"), ("input", "target"))


def pair_paths(folder):
    """[(low path, target path)] of a pairs folder, matched by stem; ValueError if it has neither layout."""
    root = Path(folder)
    for low_name, high_name in FOLDERS:
        if (root / low_name).is_dir() and (root / high_name).is_dir():
            highs = {p.stem: p for p in (root / high_name).iterdir() if not p.name.startswith(".")}
            return [(p, highs[p.stem]) for p in sorted((root / low_name).iterdir()) if p.stem in highs]
    raise ValueError(f"{folder}: no low/ and high/ (or input/ and target/) folders")


def luma_8bit(path):
    """HxW Rec. 709 luminance in [0, 1] of an image's 8-bit encoded values."""
    return (images.quantize(images.read(path).rgb, 8) / 255.0) @ REC709


def pooled_curve(pairs, edges=TONE_BINS):
    """Per input-luminance bin: (mean input, mean target luminance, pixel count), pooled over pairs
    of (low, target) luminance arrays of equal shape; a bin without pixels gives NaN means."""
    bins = len(edges) - 1
    sums, counts = np.zeros((2, bins)), np.zeros(bins)
    for low, high in pairs:
        index = tone_bin(low, edges).ravel()
        counts += np.bincount(index, minlength=bins)
        sums[0] += np.bincount(index, low.ravel(), minlength=bins)
        sums[1] += np.bincount(index, high.ravel(), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[0] / counts, sums[1] / counts, counts


def predicted_mean(low, curve, edges=TONE_BINS):
    """The mean luminance of ``low`` (HxW) with every pixel mapped to its bin's value in ``curve``;
    NaN when some of its pixels fall in a bin that the curve has no value for."""
    shares = np.bincount(tone_bin(low, edges).ravel(), minlength=len(edges) - 1) / low.size
    curve = np.asarray(curve, np.float64)
    used = shares > 0
    return float(np.sum(shares[used] * curve[used]))


def main(argv):
    del argv
    root = Path(FLAGS.samples)
    samples = [(name, luma_8bit(root / "eval-low" / name), luma_8bit(root / "pr4-tf2-port-results" / out))
               for name, out in PAIRS]
    print(f"{'':<34}" + "".join(f"{f'{a:.2f}-{b:.2f}':>11}" for a, b in zip(TONE_BINS, TONE_BINS[1:])))
    for folder in FLAGS.pairs:
        pairs = pair_paths(folder)
        mean_in, mean_out, counts = pooled_curve((luma_8bit(a), luma_8bit(b)) for a, b in pairs)
        name = f"{Path(folder).name} ({len(pairs)})"
        print(f"{name:<34}" + "".join(f"{m:.2f}->{t:.2f}".rjust(11) for m, t in zip(mean_in, mean_out)))
        print(f"{'  its curve on the samples':<34}" + "   ".join(
            f"{s}: {predicted_mean(low, mean_out) / out.mean():.2f}" for s, low, out in samples))
    for s, low, out in samples:
        _, curve, _ = pooled_curve([(low, out)])
        print(f"{'official on ' + s:<34}" + "".join(f"{t:>11.2f}" for t in curve))
    return 0


if __name__ == "__main__":
    flags.DEFINE_multi_string("pairs", None, "A pairs folder (low/ + high/, or input/ + target/).")
    flags.DEFINE_string("samples", str(SAMPLES), "The gladnet-official-samples folder.")
    flags.mark_flag_as_required("pairs")
    app.run(lambda argv: sys.exit(main(argv)))
