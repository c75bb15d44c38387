"""The average of several checkpoints' weights: ``python -m gladnet_tf.averaging``.

    python -m gladnet_tf.averaging --weights A.weights.h5 --weights B.weights.h5 --output AVG.weights.h5
    python -m gladnet_tf.averaging --weights A.weights.h5 --weights B.weights.h5 --coefficients 0.7,0.3 \
        --output MIX.weights.h5                                   # a weighted mean: 0.7 A + 0.3 B
    python -m gladnet_tf.ship --run_dir runs/NAME --average_steps 1500,1600,1700   # a run's checkpoints

Averaging the weights that one run passes through late in training (stochastic weight
averaging: Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
Generalization", UAI 2018) smooths out the step-to-step swings of a small-batch run: with batch
2, GLADNet's overall brightness swings by 10-30 % between checkpoints 100 steps apart
(RESULTS.md); the mean of those weights is meant to sit nearer the middle (RESULTS.md
measures whether it does). GLADNet has no batch normalisation, so the averaged weights need
no statistics recomputed.

With ``--coefficients`` the mean is weighted: between two checkpoints of one lineage (a
fine-tuned network and the network it started from), ``(1 - t) A + t B`` walks the straight
line between them, which for fine-tuned networks often keeps most of both endpoints' merits
(weight-space ensembling: Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR
2022; "Model soups", ICML 2022). RESULTS.md measures whether it does for GLADNet.

Every file must hold the same variables (one GLADNet configuration; a file that does not fit
is named). The files are read as HDF5 (h5py), so neither TensorFlow nor Keras is loaded and
any backend's weights files average alike. The average is taken in float64 and stored as
float32; the output is written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Sequence

import numpy as np


def _arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 weights file, by its path inside the file."""
    import h5py

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file not found")
    found = {}
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: found.__setitem__(name, item[()])
                         if isinstance(item, h5py.Dataset) else None)
    except OSError as error:
        raise ValueError(f"{path}: not a weights file ({error})") from None
    return found


def _normalised(coefficients: Sequence[float] | None, count: int) -> np.ndarray:
    """The mixing coefficients as float64 summing to 1 (equal ones when ``None``)."""
    if coefficients is None:
        return np.full(count, 1.0 / count)
    values = np.asarray([float(c) for c in coefficients], np.float64)
    if len(values) != count:
        raise ValueError(f"{len(values)} coefficients for {count} weights files")
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise ValueError(f"coefficients must be finite, non-negative and not all 0, got {list(values)}")
    return values / values.sum()


def average_weights(paths: Sequence[str | os.PathLike], output: str | os.PathLike,
                    coefficients: Sequence[float] | None = None) -> str:
    """Writes the element-wise mean of the weights files ``paths`` to ``output``; returns its path.

    ``paths``: at least one Keras ``.weights.h5`` file, all with the same variables (names and
    shapes: one GLADNet configuration, any backend). Floating-point variables are averaged
    in float64 and stored in their own dtype; any other dataset must be equal in every file.
    ``coefficients``: one non-negative weight per file, normalised to sum to 1 (default:
    equal weights, the plain mean).
    The output is a copy of the first file with the averages written in, made atomically.
    Raises ValueError for no paths or files that do not fit together (naming the file), and
    FileNotFoundError for a missing one.
    """
    import h5py

    from gladnet_tf import atomic

    if not paths:
        raise ValueError("no weights files to average")
    mix = _normalised(coefficients, len(paths))
    first = _arrays(paths[0])
    if not first:
        raise ValueError(f"{paths[0]}: holds no weights")
    totals = {name: mix[0] * value.astype(np.float64) for name, value in first.items()
              if np.issubdtype(value.dtype, np.floating)}
    for share, path in zip(mix[1:], paths[1:]):
        arrays = _arrays(path)
        if arrays.keys() != first.keys() or any(arrays[k].shape != first[k].shape for k in first):
            raise ValueError(f"{path}: other variables or shapes than {paths[0]} (another configuration?)")
        for name, value in arrays.items():
            if name in totals:
                totals[name] += share * value.astype(np.float64)
            elif not np.array_equal(value, first[name]):
                raise ValueError(f"{path}: {name} differs from {paths[0]}'s and cannot be averaged")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with atomic.temporary_path(output, suffix=".weights.h5") as temporary:
        shutil.copyfile(paths[0], temporary)
        with h5py.File(temporary, "r+") as f:
            for name, total in totals.items():
                f[name][...] = total.astype(first[name].dtype)
    return os.fspath(output)


def main(argv: list[str]) -> int:
    """The command (flags defined when run as a script); returns the exit code (0, or 1 on an error)."""
    del argv
    from absl import flags

    FLAGS = flags.FLAGS
    try:
        written = average_weights(FLAGS.weights, FLAGS.output, FLAGS.coefficients)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"output": written, "averaged": FLAGS.weights,
                      "coefficients": list(_normalised(FLAGS.coefficients, len(FLAGS.weights)))}, indent=2))
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_multi_string("weights", None, "Weights files to average (.weights.h5).")
    flags.DEFINE_string("output", None, "Where to write the averaged .weights.h5 file.")
    flags.DEFINE_list("coefficients", None, "One weight per --weights file, in order (normalised to sum "
                      "to 1); default: equal weights.")
    flags.mark_flags_as_required(["weights", "output"])
    app.run(lambda argv: sys.exit(main(argv)))
