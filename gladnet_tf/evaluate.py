"""Score an enhancement method on a folder of low-light images.

    python -m gladnet_tf.evaluate --method gladnet --weights FILE --data DIR [--gt DIR] [--save_dir DIR]
    python -m gladnet_tf.evaluate --method none --data ../shared/datasets/DICM
    python -m gladnet_tf.evaluate --method lime --data ../shared/datasets/LOL-eval15

``--data`` is a folder of images, or a folder with ``low/`` and ``high/`` (then ``--gt``
defaults to ``high/``). With ground truth (matched by file stem), each image is scored by PSNR
and SSIM on [0, 255] (scikit-image; SSIM with Gaussian weights, sigma 1.5, as MATLAB);
without, by NIQE (LIVE release). ``--method none`` scores the inputs themselves. Every method's
output is clipped to [0, 1] and rounded to 8 bits before scoring, as a saved image would be.

Writes ``REPORT.csv`` and ``REPORT.json`` (per image and mean; ``--report`` sets the prefix)
and prints a table; ``--save_dir`` keeps the enhanced images as PNG.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from gladnet_tf import atomic
from gladnet_tf import images as images_lib

METHODS = ("none", "gladnet", "msrcr", "dehz", "lime", "srie", "gamma")


def make_method(name: str, weights: str | None = None,
                tile: int = 512) -> Callable[[np.ndarray], np.ndarray]:
    """Returns ``f(rgb float32 HxWx3 in [0, 1]) -> float array HxWx3`` for a method name.

    ``name`` is one of ``METHODS``; the output is in [0, 1] (baselines, ``none``) or in
    [0, inf) (``gladnet``, not clipped). ``weights`` and ``tile`` are used by ``gladnet`` only
    (default weights: the shipped ones). ValueError for an unknown name.
    """
    if name == "none":
        return lambda rgb: rgb
    if name == "gladnet":
        from gladnet_tf import checkpoints, inference

        enhancer = inference.Enhancer(weights or checkpoints.default_weights(), tile=tile)
        return enhancer.enhance
    from gladnet_tf import baselines

    if name not in baselines.METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return lambda rgb: baselines.enhance(name, rgb)


def _ground_truth_index(gt_dir):
    index = {}
    for path in images_lib.find_images(gt_dir):
        index.setdefault(os.path.splitext(os.path.basename(path))[0], path)
    return index


def evaluate(method: str, data: str, gt: str | None = None, save_dir: str | None = None,
             weights: str | None = None,
             log: Callable[[str], Any] = print) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Scores ``method`` on the images of ``data``; returns (rows, summary).

    Each row: name, and psnr/ssim (with ground truth) or niqe (without), plus seconds of the
    method; a file that fails gets an ``error`` instead. PSNR (dB) and SSIM compare 8-bit
    images on [0, 255]. The summary holds method, data, gt, weights, counts of images and
    failures, and ``mean_X`` / ``count_X`` for each metric and for seconds (mean None if no
    finite value). ``log`` gets one line per failed file.
    """
    if os.path.isdir(os.path.join(data, "low")):
        gt = gt or images_lib.find_high_folder(data)
        data = os.path.join(data, "low")
    enhance = make_method(method, weights)
    sources = images_lib.find_images(data)
    gt_index = _ground_truth_index(gt) if gt else None
    rows = []
    for path in sources:
        name = os.path.basename(path)
        row = {"image": name}
        try:
            low = images_lib.read(path)
            start = time.perf_counter()
            output = np.asarray(enhance(low.rgb), dtype=np.float32)
            row["seconds"] = time.perf_counter() - start
            output8 = images_lib.quantize(output, 8)
            if save_dir:
                os.makedirs(save_dir, exist_ok=True)
                target = os.path.join(save_dir, os.path.splitext(name)[0] + ".png")
                images_lib.write_atomic(target, output8.astype(np.float32) / 255.0)
            if gt_index is not None:
                from gladnet_tf.metrics.fidelity import psnr, ssim

                stem = os.path.splitext(name)[0]
                if stem not in gt_index:
                    raise images_lib.ImageError(path, f"no ground truth named {stem}.* in {gt}")
                truth = images_lib.quantize(images_lib.read(gt_index[stem]).rgb, 8)
                row["psnr"] = float(psnr(output8, truth))
                row["ssim"] = float(ssim(output8, truth))
            else:
                from gladnet_tf.metrics.niqe import niqe

                row["niqe"] = float(niqe(output8))
        except (images_lib.ImageError, ValueError) as error:
            row["error"] = str(error).splitlines()[0]
            log(f"error: {row['error']}")
        rows.append(row)
    metrics = ["psnr", "ssim"] if gt_index is not None else ["niqe"]
    summary = {"method": method, "data": data, "gt": gt,
               "weights": weights, "images": len(rows), "failed": sum("error" in r for r in rows)}
    for metric in metrics + ["seconds"]:
        values = [r[metric] for r in rows if metric in r and math.isfinite(r[metric])]
        summary[f"mean_{metric}"] = float(np.mean(values)) if values else None
        summary[f"count_{metric}"] = len(values)
    return rows, summary


def write_report(prefix: str, rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Writes ``PREFIX.csv`` (one row per image) and ``PREFIX.json`` (summary and rows), atomically."""
    folder = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(folder, exist_ok=True)
    columns = ["image"] + [c for c in ("psnr", "ssim", "niqe", "seconds", "error") if any(c in r for r in rows)]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    atomic.write_bytes(prefix + ".csv", table.getvalue().encode())
    atomic.write_bytes(prefix + ".json", json.dumps({"summary": summary, "images": rows}, indent=2).encode())


def format_table(rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The per-image scores and their means as a text table (no final newline)."""
    metrics = [m for m in ("psnr", "ssim", "niqe") if summary.get(f"mean_{m}") is not None or any(m in r for r in rows)]
    lines = [f"{'image':28s}" + "".join(f"{m.upper():>10s}" for m in metrics)]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['image']:28s}  error: {row['error']}")
            continue
        lines.append(f"{row['image']:28s}" + "".join(f"{row.get(m, float('nan')):10.4f}" for m in metrics))
    lines.append(f"{'mean (' + summary['method'] + ')':28s}" + "".join(
        f"{summary[f'mean_{m}']:10.4f}" if summary.get(f"mean_{m}") is not None else f"{'n/a':>10s}" for m in metrics))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """The command (flags from ``run``); returns the exit code.

    0: every image scored; 1: some failed (reports written all the same); 2: nothing could
    start (missing folder or weights, unknown method).
    """
    del argv
    from absl import flags

    FLAGS = flags.FLAGS
    try:
        rows, summary = evaluate(FLAGS.method, FLAGS.data, FLAGS.gt, FLAGS.save_dir, FLAGS.weights,
                                 log=lambda m: print(m, file=sys.stderr))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    prefix = FLAGS.report or os.path.join("evaluation", f"{FLAGS.method}_{os.path.basename(os.path.normpath(FLAGS.data))}")
    write_report(prefix, rows, summary)
    print(format_table(rows, summary))
    print(f"wrote {prefix}.csv and {prefix}.json")
    return 1 if summary["failed"] else 0


def _define_flags():
    from absl import flags

    flags.DEFINE_enum("method", "gladnet", METHODS, "Enhancement method to score.")
    flags.DEFINE_string("weights", None, "GLADNet weights (default: the shipped ones).")
    flags.DEFINE_string("data", None, "Folder of low-light images, or a folder with low/ and high/.")
    flags.DEFINE_string("gt", None, "Folder of ground-truth images matched by file stem (PSNR/SSIM).")
    flags.DEFINE_string("save_dir", None, "Keep the enhanced images here (PNG).")
    flags.DEFINE_string("report", None, "Prefix of the CSV/JSON reports (default evaluation/METHOD_DATA).")
    flags.mark_flag_as_required("data")


def run() -> NoReturn:
    """The ``gladnet-evaluate`` command: defines the flags, runs ``main``, exits."""
    from absl import app

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
