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

With ``--branch global`` (or ``detail``) only that branch is mixed and the rest of the network
is the first file's: ``--weights A --weights B --coefficients 0,1 --branch global`` is A with
B's global-illumination branch (RESULTS.md, stage 28, measures what each branch carries).
The branches are told apart from the file alone: the detail branch starts at the first
convolution whose input has the global branch's width plus the 3 RGB channels.

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


BRANCHES = ("global", "detail")


def _layer_order(name: str) -> tuple[int, str]:
    """Sort key of a Keras weights-file variable path: its layer's creation number, then the path
    (``layers/conv2d/vars/0`` is 0, ``layers/conv2d_12/vars/1`` is 12)."""
    layer = name.split("/")[1] if name.count("/") >= 2 else name
    stem, _, number = layer.rpartition("_")
    return (int(number) if stem and number.isdigit() else 0, name)


def branch_of(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """``{variable path: "global" or "detail"}`` for a GLADNet weights file's arrays.

    The convolutions are taken in creation order (global branch first, then detail); the
    detail branch begins at the first kernel (kh, kw, c_in, c_out) whose c_in is the first
    kernel's c_out (the global width) + 3, the concatenation of illumination and RGB.
    Raises ValueError when no such kernel exists (not a GLADNet file).
    """
    kernels = sorted((k for k, v in arrays.items() if v.ndim == 4), key=_layer_order)
    if not kernels:
        raise ValueError("no convolution kernels: not a GLADNet weights file")
    width = arrays[kernels[0]].shape[3]
    starts = [k for k in kernels if arrays[k].shape[2] == width + 3]
    if not starts:
        raise ValueError(f"no kernel reads {width} + 3 channels: no detail branch found")
    first_detail = _layer_order(starts[0])[0]
    return {k: "detail" if _layer_order(k)[0] >= first_detail else "global" for k in arrays}


def average_weights(paths: Sequence[str | os.PathLike], output: str | os.PathLike,
                    coefficients: Sequence[float] | None = None, branch: str | None = None) -> str:
    """Writes the element-wise mean of the weights files ``paths`` to ``output``; returns its path.

    ``paths``: at least one Keras ``.weights.h5`` file, all with the same variables (names and
    shapes: one GLADNet configuration, any backend). Floating-point variables are averaged
    in float64 and stored in their own dtype; any other dataset must be equal in every file.
    ``coefficients``: one non-negative weight per file, normalised to sum to 1 (default:
    equal weights, the plain mean). ``branch``: "global" or "detail" mixes only that branch
    (``branch_of``) and keeps the first file's other variables; None mixes every variable.
    The output is a copy of the first file with the averages written in, made atomically.
    Raises ValueError for no paths or files that do not fit together (naming the file), and
    FileNotFoundError for a missing one.
    """
    import h5py

    from gladnet_tf import atomic

    if not paths:
        raise ValueError("no weights files to average")
    if branch is not None and branch not in BRANCHES:
        raise ValueError(f"branch {branch!r}: expected one of {', '.join(BRANCHES)}")
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
    if branch is not None:
        try:
            owner = branch_of(first)
        except ValueError as error:
            raise ValueError(f"{paths[0]}: {error}") from None
        totals = {name: total for name, total in totals.items() if owner[name] == branch}
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
        written = average_weights(FLAGS.weights, FLAGS.output, FLAGS.coefficients, FLAGS.branch)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"output": written, "averaged": FLAGS.weights, "branch": FLAGS.branch or "all",
                      "coefficients": list(_normalised(FLAGS.coefficients, len(FLAGS.weights)))}, indent=2))
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_multi_string("weights", None, "Weights files to average (.weights.h5).")
    flags.DEFINE_string("output", None, "Where to write the averaged .weights.h5 file.")
    flags.DEFINE_list("coefficients", None, "One weight per --weights file, in order (normalised to sum "
                      "to 1); default: equal weights.")
    flags.DEFINE_enum("branch", None, list(BRANCHES), "Mix only this branch; the other one is the first "
                      "file's. Default: the whole network.")
    flags.mark_flags_as_required(["weights", "output"])
    app.run(lambda argv: sys.exit(main(argv)))
