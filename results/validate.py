"""Validation of checkpoints: fidelity, brightness and colour balance on validation pairs only.

    python results/validate.py --data_root runs/data/real8 --weights FILE [--weights FILE ...] \
        --log results/validation/real8.jsonl
    python results/validate.py --data_root runs/data/real8 --run_dir runs/real8 --steps 500,1000 \
        --log results/validation/real8.jsonl

The validation sets are the ``val-*`` folders that ``python -m gladnet_tf.recipe`` builds
(LOL-train-more's first 20 numbers, FiveK a4901-a5000, synthetic pairs from held-out sources;
see RESULTS.md, "Protocol"); never a test set. Per set and checkpoint it prints and logs (one
JSON line per checkpoint, appended to ``--log``):

- ``psnr``, ``ssim``: of the 8-bit output against the target, as ``gladnet_tf.evaluate``.
- ``bright``: mean over images of mean(output) / mean(target) (1 = as bright as the target).
- ``rg``, ``bg``: mean over images of the output's mean(R - G) and mean(B - G) minus the
  target's, on the target's *neutral* pixels (channel spread < 0.04, mean > 0.08): a colour
  cast shows as a non-zero value (pink-red: rg > 0, bg > 0).
- ``tone``: the tone curve, pixel-weighted over the set: the input's luma (Rec. 601 weights)
  binned at ``TONE_BINS``; per bin the share of pixels and the mean luma of the input, the
  target and the output. It shows *where* an output is too dark or too bright: whether deep
  shadows are under-lifted (LOL-like night photos) or over-lifted (FiveK's camera renderings).
- ``gain``, ``psnr_gain``: the single factor per image that brings the output closest to the
  target (least squares), and the PSNR after it (clipped to [0, 1], 8-bit). ``psnr_gain -
  psnr`` is what a perfect global exposure would add: how much of the error is only "too
  dark or too bright overall", which the global-illumination branch should get right.
  ``gain_sd``: the spread (standard deviation) of that factor over a set's images.
  ``set_gain``, ``psnr_set_gain``: the same with one factor for the whole set (least squares
  over all its pixels; without clipping or 8-bit rounding), what a set-wide level fix could
  recover at most.
- synthetic pairs are also split by kind: ``uniform`` (E everywhere), ``backlit`` (only the
  darker parts darkened) and ``gray`` (R = G = B: ``rg``/``bg`` is the whole cast).

The selection score is the mean PSNR of the three sets (``val-lol20``, ``val-fivek100`` and
the synthetic pairs together), so that real photos (FiveK) and synthetic ones count twice as
much as LOL. ``score_real`` is the mean of the two real splits alone: the synthetic targets'
brightness is a convention of our synthesis (stage 16 changed it), the real ones' is not.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags

REPO = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, REPO)  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling official_samples.py
from gladnet_tf import images  # noqa: E402
from official_samples import TONE_BINS, tone_bin  # noqa: E402  (one binning rule for both)

FLAGS = flags.FLAGS
SETS = ("val-lol20", "val-fivek100", "val-syn-fivek", "val-syn-bsds")
LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601, the weights of the training loss


def tone_sums(low, output, target):
    """Per input-luma bin: [pixels, sum of input, target and output luma], shape (bins, 4)."""
    luma = [np.asarray(x, np.float64).reshape(-1, 3) @ LUMA for x in (low, target, output)]
    which, bins = tone_bin(luma[0]), len(TONE_BINS) - 1
    return np.stack([np.bincount(which, minlength=bins)] +
                    [np.bincount(which, weights=v, minlength=bins) for v in luma], axis=1)


def tone_curve(sums):
    """Summed ``tone_sums`` -> {"share", "input", "target", "output"}: lists, one value per bin."""
    count = np.maximum(sums[:, 0], 1)
    return {"share": [round(float(v), 4) for v in sums[:, 0] / max(sums[:, 0].sum(), 1)],
            **{key: [round(float(v), 4) for v in sums[:, i + 1] / count]
               for i, key in enumerate(("input", "target", "output"))}}


def neutral_bias(output, target, spread=0.04, floor=0.08):
    """(R-G, B-G) of output minus target, on the target's neutral pixels; None if there are none."""
    mask = (target.max(axis=2) - target.min(axis=2) < spread) & (target.mean(axis=2) > floor)
    if mask.sum() < 50:
        return None
    o, t = output[mask], target[mask]
    return (float(np.mean(o[:, 0] - o[:, 1]) - np.mean(t[:, 0] - t[:, 1])),
            float(np.mean(o[:, 2] - o[:, 1]) - np.mean(t[:, 2] - t[:, 1])))


def apply_gain(output, gain):
    """output * gain, clipped to [0, 1] as an image would be."""
    return np.clip(np.asarray(output, np.float64) * gain, 0.0, 1.0)


def psnr_at_gain(output, target8, gain):
    """PSNR (dB) against the 8-bit target of ``output * gain``, clipped and rounded to 8 bits."""
    from gladnet_tf.metrics.fidelity import psnr

    return float(psnr(images.quantize(apply_gain(output, gain), 8), target8))


def least_squares_gain(terms):
    """The g that minimises ``a g^2 - 2 b g + c`` for ``gain_terms`` (one image's, or summed)."""
    return float(terms[1] / max(terms[0], 1e-12))


def exposure_matched(output, target):
    """(gain, output * gain clipped to [0, 1]): the one factor that minimises the squared error."""
    gain = least_squares_gain(gain_terms(output, target))
    return gain, apply_gain(output, gain)


def gain_terms(output, target):
    """(sum o^2, sum o*t, sum t^2, samples): the squared error after a gain g is
    ``a g^2 - 2 b g + c``, so a set's best common gain and its PSNR follow from these sums."""
    o, t = np.asarray(output, np.float64), np.asarray(target, np.float64)
    return float(np.sum(o * o)), float(np.sum(o * t)), float(np.sum(t * t)), int(o.size)


def set_gain_psnr(terms):
    """Per-image ``gain_terms`` -> (the set's least-squares gain, mean PSNR of the images at it)."""
    a, b, c, n = (np.array(v, np.float64) for v in zip(*terms))
    gain = least_squares_gain((a.sum(), b.sum()))
    mse = np.maximum(a * gain ** 2 - 2 * b * gain + c, 1e-12) / n
    return gain, float(np.mean(10 * np.log10(1.0 / mse)))


def synthetic_kinds(folder):
    """File name -> 'gray' / 'backlit' / 'uniform' from a synthesis.json, or {} for real pairs."""
    record = Path(folder) / "synthesis.json"
    if not record.is_file():
        return {}
    kinds = {}
    for name, pair in json.loads(record.read_text())["pairs"].items():
        tricks = pair.get("tricks", [])
        kinds[Path(name).stem] = ("gray" if "gray" in tricks else
                                  "backlit" if "backlight" in tricks else "uniform")
    return kinds


def validation_pairs(data_root, sets=SETS):
    """Yields (group, kind, low path, high path) for every pair of the ``sets`` folders; group
    is the folder's name, or ``val-syn`` for synthetic pairs, whose kind is 'uniform',
    'backlit' or 'gray' (None for real pairs)."""
    for name in sets:
        folder = Path(data_root) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not built (python -m gladnet_tf.recipe ...)")
        kinds = synthetic_kinds(folder)
        highs = {p.stem: p for p in Path(images.find_high_folder(str(folder))).iterdir()}
        for low_path in sorted((folder / "low").iterdir()):
            yield ("val-syn" if kinds else name), kinds.get(low_path.stem), low_path, highs[low_path.stem]


def enhance_pair(enhance, low_path, high_path):
    """(input, output, 8-bit output, 8-bit target): images in [0, 1] (HxWx3), the output as
    ``test.py`` would write it (rounded to 8 bits)."""
    low = images.read(low_path).rgb
    target8 = images.quantize(images.read(high_path).rgb, 8)
    output8 = images.quantize(np.asarray(enhance(low), np.float32), 8)
    return low, output8 / 255.0, output8, target8


def score_pair(enhance, low_path, high_path):
    from gladnet_tf.metrics.fidelity import psnr, ssim

    low, output, output8, target8 = enhance_pair(enhance, low_path, high_path)
    target = target8 / 255.0
    row = {"psnr": float(psnr(output8, target8)), "ssim": float(ssim(output8, target8)),
           "bright": float(output.mean() / max(target.mean(), 1e-3)),
           "out_mean": float(output.mean()), "target_mean": float(target.mean())}
    row["gain_terms"] = gain_terms(output, target)
    row["gain"] = least_squares_gain(row["gain_terms"])
    row["psnr_gain"] = psnr_at_gain(output, target8, row["gain"])
    bias = neutral_bias(output, target)
    if bias is not None:
        row["rg"], row["bg"] = bias
    row["tone"] = tone_sums(low, output, target)
    return row


def summarise(rows):
    summary = {"n": len(rows)}
    for key in ("psnr", "ssim", "bright", "out_mean", "target_mean", "rg", "bg", "gain",
                "psnr_gain"):
        values = [r[key] for r in rows if key in r]
        if values:
            summary[key] = round(float(np.mean(values)), 4)
    gains = [r["gain"] for r in rows if "gain" in r]
    if gains:  # the spread over images: a set-wide level error, or one that varies per image
        summary["gain_sd"] = round(float(np.std(gains)), 4)
    terms = [r["gain_terms"] for r in rows if "gain_terms" in r]
    if terms:
        summary["set_gain"], summary["psnr_set_gain"] = (round(v, 4) for v in set_gain_psnr(terms))
    summary["tone"] = tone_curve(sum(r["tone"] for r in rows))
    return summary


def validate(weights, data_root, sets=SETS):
    """Scores one weights file on every validation set; returns {group: summary}."""
    from gladnet_tf import inference

    enhance = inference.Enhancer(weights).enhance
    groups = {}
    for group, kind, low_path, high_path in validation_pairs(data_root, sets):
        row = score_pair(enhance, low_path, high_path)
        groups.setdefault(group, []).append(row)
        if kind:
            groups.setdefault(f"{group}/{kind}", []).append(row)
    result = {group: summarise(rows) for group, rows in sorted(groups.items())}
    result["score"], result["score_real"] = selection_scores(result)
    return result


def selection_scores(summaries):
    """(score, score_real) from {group: summary}: the mean PSNR of LOL20, FiveK100 and the
    synthetic pairs, and of the two real splits alone; each None when one of its sets was not
    scored (``--sets val-lol20,val-fivek100`` gives ``score_real`` only)."""
    def mean_psnr(names):
        if not all(name in summaries for name in names):
            return None
        return round(float(np.mean([summaries[name]["psnr"] for name in names])), 4)

    return mean_psnr(("val-lol20", "val-fivek100", "val-syn")), mean_psnr(("val-lol20", "val-fivek100"))


def _db(value):
    return "-" if value is None else f"{value:.3f} dB"


def _logged_path(weights):
    """The weights' path as the checkout (or ``../shared``) sees it, so logs name no machine;
    ``results/gates.py`` tells apart two files that share a base name by it."""
    from gladnet_tf import ship

    return ship.portable_path(os.path.abspath(str(weights)))


def main(argv):
    del argv
    targets = [(w, None) for w in FLAGS.weights or []]
    if FLAGS.run_dir:
        from gladnet_tf import ship  # TensorFlow and JAX run folders alike

        targets += [(ship.step_weights(FLAGS.run_dir, int(s))[0], int(s)) for s in FLAGS.steps]
    for weights, step in targets:
        start = time.monotonic()
        result = validate(weights, FLAGS.data_root, tuple(FLAGS.sets))
        entry = {"weights": os.path.basename(str(weights)), "path": _logged_path(weights), "step": step,
                 "sets": FLAGS.sets,
                 "run": os.path.basename(os.path.normpath(FLAGS.run_dir)) if step is not None else None,
                 "seconds": round(time.monotonic() - start, 1), **result}
        print(f"{entry['weights']}  score {_db(result['score'])}  (real splits {_db(result['score_real'])})")
        for group, s in result.items():
            if isinstance(s, dict):
                print(f"  {group:<18} n={s['n']:<4} {s.get('psnr', 0):6.2f} dB  SSIM {s.get('ssim', 0):.3f}"
                      f"  bright {s.get('bright', 0):.3f}  R-G {s.get('rg', 0):+.4f}  B-G {s.get('bg', 0):+.4f}"
                      f"  exposure-matched {s.get('psnr_gain', 0):6.2f} dB (gain {s.get('gain', 0):.3f}"
                      f" +- {s.get('gain_sd', 0):.3f}); one gain for the set"
                      f" {s.get('psnr_set_gain', 0):6.2f} dB ({s.get('set_gain', 0):.3f})")
                tone = s["tone"]
                print("  " + " " * 18 + " tone (input luma bin: target / output) " + "  ".join(
                    f"{lo:.2f}: {t:.2f}/{o:.2f}" for lo, t, o, share in
                    zip(TONE_BINS, tone["target"], tone["output"], tone["share"]) if share > 0))
        if FLAGS.log:
            os.makedirs(os.path.dirname(os.path.abspath(FLAGS.log)), exist_ok=True)
            with open(FLAGS.log, "a") as f:
                f.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("data_root", "runs/data/real8", "Where the recipe's val-* folders were built.")
    flags.DEFINE_multi_string("weights", None, "Weights files to validate.")
    flags.DEFINE_string("run_dir", None, "A training run whose checkpoints to validate (with --steps).")
    flags.DEFINE_list("steps", [], "Steps of --run_dir to validate.")
    flags.DEFINE_list("sets", list(SETS), "Validation folders under --data_root: two real "
                      "splits and the synthetic ones (stage 16 on: val-syn16-fivek,val-syn16-bsds "
                      "in place of val-syn-fivek,val-syn-bsds).")
    flags.DEFINE_string("log", None, "JSON-lines file to append one entry per checkpoint to.")
    app.run(lambda argv: sys.exit(main(argv)))
