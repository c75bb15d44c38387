"""Can each image's best exposure factor be told from its input alone? Validation pairs only.

    python results/exposure_predictability.py --data_root runs/data/bright15 \
        --weights checkpoints/gladnet_bright12avg_p320-7b69c605.weights.h5

``results/validate.py`` finds that most of the validation error is overall exposure, and that
the best factor (output x gain closest to the target) varies image by image. This script asks
whether that factor is predictable from the *input*: if it is, the network's global branch
has room to learn it; if not, the targets' levels are a matter the input does not decide
(a retoucher's taste, a capture setting) and no training on these pairs recovers it.

For every validation pair (the ``val-*`` folders of ``validate.SETS``) it computes:

- the target: ``log(gain)``, the least-squares factor of ``validate.exposure_matched``;
- features of the input as the global branch sees it: the 96x96 thumbnail's luma histogram
  (``BINS`` bins over [0, 1], in fractions), its mean luma and its 5/50/95th percentiles, and
  the mean luma of the network's output (what the network already decided).

Then a ridge regression from features to ``log(gain)`` is scored by K-fold cross-validation
over the pairs (each pair predicted by a fit that never saw it). Printed per split: the
spread of ``log(gain)``, R^2 of the prediction, and the mean PSNR of the output as is, times
the predicted factor, and times the true (oracle) factor (clipped to [0, 1], 8-bit).
"""

import sys
from pathlib import Path

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import validate  # noqa: E402  (its sets, its gain and its kinds of synthetic pair)

FLAGS = flags.FLAGS
BINS = 12
THUMB = 96  # the global branch's input size


def features(low, output):
    """Input (HxWx3, [0, 1]) and network output -> feature vector (float64, length BINS + 5)."""
    import tensorflow as tf

    thumb = tf.image.resize(np.asarray(low, np.float32)[None], (THUMB, THUMB)).numpy()[0]
    luma = np.clip(thumb.reshape(-1, 3) @ validate.LUMA, 0.0, 1.0)
    hist = np.histogram(luma, bins=BINS, range=(0.0, 1.0))[0] / luma.size
    out_luma = float(np.asarray(output, np.float64).reshape(-1, 3).mean(axis=0) @ validate.LUMA)
    return np.concatenate([hist, [luma.mean(), *np.percentile(luma, [5, 50, 95]), out_luma]])


def ridge_cv(x, y, folds=5, alpha=1e-2, seed=0):
    """K-fold predictions of ``y`` from ``x`` (standardised, with intercept) by ridge regression:
    each entry predicted by a fit on the other folds only."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    order = np.random.default_rng(seed).permutation(len(y))
    predicted = np.empty_like(y)
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-8
        xt = np.hstack([(x[train] - mean) / std, np.ones((len(train), 1))])
        penalty = alpha * len(train) * np.eye(xt.shape[1])
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        w = np.linalg.solve(xt.T @ xt + penalty, xt.T @ y[train])
        predicted[fold] = np.hstack([(x[fold] - mean) / std, np.ones((len(fold), 1))]) @ w
    return predicted


def r_squared(y, predicted):
    y = np.asarray(y, np.float64)
    return float(1.0 - np.sum((y - predicted) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12))


def collect(weights, data_root):
    """One row per validation pair: split, features, true gain, output, 8-bit target."""
    from gladnet_tf import inference

    enhance = inference.Enhancer(weights).enhance
    rows = []
    for group, _, low_path, high_path in validate.validation_pairs(data_root):
        low, output, _, target8 = validate.enhance_pair(enhance, low_path, high_path)
        gain = validate.least_squares_gain(validate.gain_terms(output, target8 / 255.0))
        rows.append({"group": group, "x": features(low, output), "gain": gain,
                     "output": output, "target8": target8})
    return rows


def main(argv):
    del argv
    rows = collect(FLAGS.weights, FLAGS.data_root)
    y = np.log([r["gain"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    for alpha in FLAGS.alpha:
        predicted = ridge_cv([r["x"] for r in rows], y, folds=FLAGS.folds, alpha=float(alpha))
        print(f"{FLAGS.weights}: {len(rows)} validation pairs, {FLAGS.folds}-fold ridge (alpha {alpha})")
        report(rows, y, predicted, groups)
    return 0


def report(rows, y, predicted, groups):
    print(f"{'split':<14} {'n':>4} {'sd log gain':>12} {'R^2':>6} {'as is':>8} {'predicted':>10} {'oracle':>8}")
    for group in ["all", *sorted(set(groups))]:
        pick = np.ones(len(rows), bool) if group == "all" else groups == group
        chosen = [r for r, p in zip(rows, pick) if p]
        as_is = np.mean([validate.psnr_at_gain(r["output"], r["target8"], 1.0) for r in chosen])
        with_predicted = np.mean([validate.psnr_at_gain(r["output"], r["target8"], np.exp(g))
                                  for r, g in zip(chosen, predicted[pick])])
        oracle = np.mean([validate.psnr_at_gain(r["output"], r["target8"], r["gain"]) for r in chosen])
        print(f"{group:<14} {pick.sum():>4} {y[pick].std():>12.3f} {r_squared(y[pick], predicted[pick]):>6.2f}"
              f" {as_is:>8.2f} {with_predicted:>10.2f} {oracle:>8.2f}")


if __name__ == "__main__":
    flags.DEFINE_string("data_root", "runs/data/bright15", "Where the recipe's val-* folders were built.")
    flags.DEFINE_string("weights", "checkpoints/gladnet_bright12avg_p320-7b69c605.weights.h5",
                        "The weights whose outputs are judged.")
    flags.DEFINE_integer("folds", 5, "Cross-validation folds.")
    flags.DEFINE_list("alpha", ["0.01", "0.1", "1", "10"],
                      "Ridge penalties to try (per training pair, on standardised features).")
    app.run(lambda argv: sys.exit(main(argv)))
