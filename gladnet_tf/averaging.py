"""The average of several checkpoints' weights: ``python -m gladnet_tf.averaging``.

    python -m gladnet_tf.averaging --run_dir runs/NAME --steps 1500,1600,1700 \
        --output runs/NAME/weights/avg-1500-1700.weights.h5
    python -m gladnet_tf.averaging --weights A.weights.h5 --weights B.weights.h5 --output AVG.weights.h5

Averaging the weights that one run passes through late in training (stochastic weight
averaging: Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
Generalization", UAI 2018) smooths out the step-to-step swings of a small-batch run: with batch
2, GLADNet's overall brightness swings by 10-30 % between checkpoints 100 steps apart
(RESULTS.md), and the mean of those weights sits nearer the middle. GLADNet has no batch
normalisation, so the averaged weights need no statistics recomputed.

Every file must hold the weights of a GLADNet of one configuration (``model.load`` checks
each and names the file that does not fit). The average is taken in float64 and stored in
float32; the output is written atomically.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Sequence

import numpy as np


def average_weights(paths: Sequence[str | os.PathLike], output: str | os.PathLike) -> str:
    """Writes the element-wise mean of the weights files ``paths`` to ``output``; returns its path.

    ``paths``: at least one ``.weights.h5`` file of the same GLADNet configuration (default
    constructor arguments). Raises ValueError for no paths or mismatched shapes (naming the file),
    FileNotFoundError for a missing file.
    """
    from gladnet_tf import model as model_lib

    if not paths:
        raise ValueError("no weights files to average")
    model = model_lib.load(paths[0])
    total = [np.asarray(w, np.float64) for w in model.get_weights()]
    for path in paths[1:]:
        weights = model_lib.load(path).get_weights()
        shapes = [w.shape for w in weights]
        if shapes != [t.shape for t in total]:
            raise ValueError(f"{path}: weights of another shape than {paths[0]}'s")
        total = [t + np.asarray(w, np.float64) for t, w in zip(total, weights)]
    model.set_weights([(t / len(paths)).astype(np.float32) for t in total])
    return model_lib.save(model, output)


def main(argv: list[str]) -> int:
    """The command (flags defined when run as a script); returns the exit code (0, or 1 on an error)."""
    del argv
    from absl import app, flags

    from gladnet_tf import run_folder, ship

    FLAGS = flags.FLAGS
    paths = list(FLAGS.weights or [])
    if FLAGS.steps and not FLAGS.run_dir:
        raise app.UsageError("--steps needs --run_dir")
    if not paths and not FLAGS.steps:
        raise app.UsageError("give --weights files or --run_dir with --steps")
    try:
        for step in FLAGS.steps:
            paths.append(ship.step_weights(FLAGS.run_dir, int(step))[0])
        written = average_weights(paths, FLAGS.output)
    except (run_folder.TrainingError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"output": written, "averaged": [os.fspath(p) for p in paths]}, indent=2))
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_multi_string("weights", None, "Weights files to average (.weights.h5).")
    flags.DEFINE_string("run_dir", None, "A training run whose checkpoints to average (with --steps).")
    flags.DEFINE_list("steps", [], "Steps of --run_dir's checkpoints to average, e.g. 1500,1600,1700.")
    flags.DEFINE_string("output", None, "Where to write the averaged .weights.h5 file.")
    flags.mark_flags_as_required(["output"])
    app.run(lambda argv: sys.exit(main(argv)))
