"""Paired comparison of two per-image reports of ``gladnet_tf.evaluate`` (CSV).

    python results/compare_reports.py results/gladnet_DICM.csv results/msrcr_DICM.csv

Prints, for the images both reports score, the mean of A - B for one metric (default
``niqe``), a paired bootstrap 95 % interval of that mean (images resampled with replacement,
``--resamples`` times, seeded), and on how many images A is lower and higher. Whether lower
is better depends on the metric (NIQE: lower; PSNR, SSIM: higher).
"""

import argparse
import csv
import sys

import numpy as np


def read_report(path, metric):
    """{image name: value} from a report CSV; raises ValueError naming the file if unusable."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or metric not in rows[0]:
        raise ValueError(f"{path}: no column {metric!r} (columns: {', '.join(rows[0]) if rows else 'none'})")
    return {row["image"]: float(row[metric]) for row in rows if row[metric] not in ("", "nan")}


def paired_bootstrap(differences, resamples=10000, seed=0):
    """(mean, low, high): the mean of ``differences`` and its 95 % percentile interval."""
    differences = np.asarray(differences, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = len(differences)
    means = [differences[rng.integers(0, n, n)].mean() for _ in range(resamples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(differences.mean()), float(low), float(high)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="report CSV of method A")
    parser.add_argument("b", help="report CSV of method B")
    parser.add_argument("--metric", default="niqe", help="column to compare (niqe, psnr, ssim)")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        a, b = read_report(args.a, args.metric), read_report(args.b, args.metric)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    names = sorted(set(a) & set(b))
    if not names:
        print(f"error: {args.a} and {args.b} share no image", file=sys.stderr)
        return 1
    differences = np.array([a[name] - b[name] for name in names])
    mean, low, high = paired_bootstrap(differences, args.resamples, args.seed)
    print(f"A = {args.a}\nB = {args.b}\n{len(names)} images in both; metric {args.metric}")
    print(f"mean A - B {mean:+.4f}, 95 % paired bootstrap interval [{low:+.3f}, {high:+.3f}] "
          f"({args.resamples} resamples, seed {args.seed})")
    print(f"A lower on {int((differences < 0).sum())}, higher on {int((differences > 0).sum())}, "
          f"equal on {int((differences == 0).sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
