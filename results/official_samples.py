"""Brightness and colour of our outputs on the official repository's three sample inputs,
against the outputs of the official weights (``../shared/reference/gladnet-official-samples``).

    python results/official_samples.py --weights checkpoints/FILE.weights.h5 [--weights ...]

Per image and weights file: mean luminance (Rec. 709 weights on the 8-bit encoded values,
/255) of our output, the official output's, their ratio (the brightness target is >= 0.90
on each image), and mean R-G and B-G of both. ``--thumbnail`` also prints what the global
branch is shown: the 96x96 thumbnail of the input (the legacy nearest rule), its mean and the
fraction of its pixels above 0.6 against the full image's. ``--tone_curve`` prints the tone
curve: the image's pixels binned by input luminance (``TONE_BINS``), and per bin the mean
input, official output and our output luminance. These three images are test
images: score them once per shipped checkpoint, never to choose one.
"""

import sys
from pathlib import Path

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from gladnet_tf import images  # noqa: E402

FLAGS = flags.FLAGS
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "gladnet-official-samples"
PAIRS = (("4.bmp", "4_glad.png"), ("chinese_garden3.png", "chinese_garden3_glad.png"),
         ("kluki1.png", "kluki1_glad.png"))


REC709 = np.array([0.2126, 0.7152, 0.0722])
TONE_BINS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)  # input-luminance bin edges of --tone_curve


def luminance(rgb):
    return float(np.mean(rgb @ REC709))


def tone_bin(y, edges=TONE_BINS):
    """The bin ``[edges[i], edges[i+1])`` of each value of y (the last bin closed), as i."""
    return np.clip(np.searchsorted(edges, y, side="right") - 1, 0, len(edges) - 2)


def tone_curve(low, out, edges=TONE_BINS):
    """Per input-luminance bin ``[edges[i], edges[i+1])`` (the last one closed): (mean input
    luminance, mean output luminance, fraction of pixels), or None for an empty bin. low and
    out are HxWx3 float in [0, 1] of the same size."""
    y_in, y_out = low @ REC709, out @ REC709
    index = tone_bin(y_in, edges)
    rows = []
    for b in range(len(edges) - 1):
        chosen = index == b
        rows.append((float(y_in[chosen].mean()), float(y_out[chosen].mean()),
                     float(chosen.mean())) if chosen.any() else None)
    return rows


def print_tone_curves(name, low, curves):
    """curves: {label: tone_curve rows}, printed as one table per image."""
    print(f"  tone curve of {name}: mean output luminance per input-luminance bin")
    first = next(iter(curves.values()))
    print("    " + f"{'input':<12}" + "".join(
        f"{row[0]:>7.2f}" if row else f"{'-':>7}" for row in first))
    print("    " + f"{'pixels':<12}" + "".join(
        f"{row[2]:>7.2f}" if row else f"{'-':>7}" for row in first))
    for label, rows in curves.items():
        print("    " + f"{label:<12}" + "".join(
            f"{row[1]:>7.2f}" if row else f"{'-':>7}" for row in rows))


def legacy_thumbnail(rgb, size=96):
    """The input as the global branch samples it: src = floor(i * in / out), no half-pixel."""
    h, w = rgb.shape[:2]
    rows = (np.arange(size) * h) // size
    cols = (np.arange(size) * w) // size
    return rgb[rows][:, cols]


def main(argv):
    del argv
    from gladnet_tf import inference

    root = Path(FLAGS.samples)
    official = {low: images.quantize(images.read(root / "pr4-tf2-port-results" / out).rgb, 8) / 255.0
                for low, out in PAIRS}
    if FLAGS.thumbnail:
        for low, _ in PAIRS:
            rgb = images.read(root / "eval-low" / low).rgb
            thumb = legacy_thumbnail(rgb)
            print(f"{low:<22} full mean {rgb.mean():.3f} >0.6 {np.mean(rgb.mean(2) > 0.6):.3f}   "
                  f"96x96 mean {thumb.mean():.3f} >0.6 {np.mean(thumb.mean(2) > 0.6):.3f}")
    for weights in FLAGS.weights or []:
        enhance = inference.Enhancer(weights).enhance
        print(weights)
        ratios = []
        for low, _ in PAIRS:
            low_rgb = images.read(root / "eval-low" / low).rgb
            ours = images.quantize(np.asarray(enhance(low_rgb)), 8) / 255.0
            ref = official[low]
            ratio = luminance(ours) / luminance(ref)
            ratios.append(ratio)
            print(f"  {low:<22} Y ours {luminance(ours):.3f} official {luminance(ref):.3f} ratio {ratio:.2f}"
                  f"   R-G {np.mean(ours[..., 0] - ours[..., 1]):+.3f} ({np.mean(ref[..., 0] - ref[..., 1]):+.3f})"
                  f"  B-G {np.mean(ours[..., 2] - ours[..., 1]):+.3f} ({np.mean(ref[..., 2] - ref[..., 1]):+.3f})")
            if FLAGS.tone_curve:
                low_8 = images.quantize(low_rgb, 8) / 255.0
                print_tone_curves(low, low_8, {"official": tone_curve(low_8, ref),
                                               "ours": tone_curve(low_8, ours)})
        print(f"  lowest ratio {min(ratios):.2f} (target >= 0.90)")
    return 0


if __name__ == "__main__":
    flags.DEFINE_multi_string("weights", None, "Weights files to run.")
    flags.DEFINE_string("samples", str(SAMPLES), "The gladnet-official-samples folder.")
    flags.DEFINE_bool("thumbnail", False, "Also print what the global branch sees (96x96).")
    flags.DEFINE_bool("tone_curve", False,
                      "Also print the tone curve: output luminance per input-luminance bin.")
    app.run(lambda argv: sys.exit(main(argv)))
