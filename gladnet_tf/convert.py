"""Convert the original GLADNet TF1 checkpoint into Keras weights.

Usage (the checkpoint prefix is the path without ``.index`` / ``.data-*``):

    python -m gladnet_tf.convert --tf1_checkpoint model/GLADNet --output gladnet.weights.h5
    python -m gladnet_tf.convert --tf1_checkpoint model/GLADNet --output gladnet.weights.h5 \
        --verify ../shared/reference/gladnet-official-outputs

The original repository (weichen582/GLADNet) saves ``tf.train.Saver`` V2 checkpoints with
one variable scope per conv (``FG/conv2d``, ``FG/conv2d_1``, ... ``FG/conv2d_16``), plus Adam
slots, ``beta1_power``, ``beta2_power`` and the global step ``Variable``. Weights are read by
name through ``TF1_NAME_TABLE`` (never by order: the checkpoint lists names
alphabetically), every shape is checked against the Keras layer, and optimizer state is
ignored. Kernels are HWIO in both frameworks, so no transposition is needed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from gladnet_tf import model as model_lib


class CheckpointError(ValueError):
    """The checkpoint lacks variables or has variables of the wrong shape."""


# Which original TF1 variable scope feeds which Keras layer. The TF1 checkpoint lists
# variables alphabetically (conv2d, conv2d_1, conv2d_10, ...), so never map by order.
TF1_NAME_TABLE = {
    "global_down_1": "FG/conv2d",
    "global_down_2": "FG/conv2d_1",
    "global_down_3": "FG/conv2d_2",
    "global_down_4": "FG/conv2d_3",
    "global_down_5": "FG/conv2d_4",
    "global_down_6": "FG/conv2d_5",
    "global_up_1": "FG/conv2d_6",
    "global_up_2": "FG/conv2d_7",
    "global_up_3": "FG/conv2d_8",
    "global_up_4": "FG/conv2d_9",
    "global_up_5": "FG/conv2d_10",
    "global_up_6": "FG/conv2d_11",
    "detail_conv_1": "FG/conv2d_12",
    "detail_conv_2": "FG/conv2d_13",
    "detail_conv_3": "FG/conv2d_14",
    "detail_conv_4": "FG/conv2d_15",
    "detail_conv_5": "FG/conv2d_16",
}


def expected_variables(model: model_lib.GLADNet | None = None) -> dict[str, tuple[int, ...]]:
    """``{tf1_name: shape}`` of the 34 trainable tensors the converter needs.

    Kernels are HWIO ``(3, 3, in, out)``, biases ``(out,)``; the shapes of ``model``'s layers,
    or of a default ``GLADNet()`` when ``model`` is None.
    """
    if model is None:
        model = model_lib.GLADNet()
    expected = {}
    for layer_name, scope in TF1_NAME_TABLE.items():
        layer = model.get_layer(layer_name)
        expected[f"{scope}/kernel"] = tuple(layer.kernel.shape)
        expected[f"{scope}/bias"] = tuple(layer.bias.shape)
    return expected


def read_tf1_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Reads the 34 trainable tensors of a TF1 GLADNet checkpoint.

    Args:
        prefix: checkpoint prefix (``.../GLADNet``) or a folder holding a ``checkpoint`` file.

    Returns:
        ``{tf1_name: np.ndarray}`` for the kernel (float32 HWIO) and bias (float32) of every conv.

    Raises:
        FileNotFoundError: no checkpoint at ``prefix``.
        CheckpointError: variables missing or mis-shaped, all named in the message.
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, ValueError) as error:
        raise FileNotFoundError(
            f"{prefix}: cannot open a TF1 checkpoint there ({error}). Pass the prefix, e.g. "
            f"model/GLADNet for model/GLADNet.index + model/GLADNet.data-00000-of-00001."
        ) from error
    shapes = reader.get_variable_to_shape_map()
    expected = expected_variables()
    missing = sorted(name for name in expected if name not in shapes)
    misshaped = sorted(
        f"{name} has shape {list(shapes[name])}, expected {list(shape)}"
        for name, shape in expected.items()
        if name in shapes and tuple(shapes[name]) != shape
    )
    if missing or misshaped:
        lines = [f"{prefix}: not a GLADNet checkpoint in the original layout."]
        if missing:
            lines.append("Missing variables: " + ", ".join(missing))
        if misshaped:
            lines.append("Wrong shapes: " + "; ".join(misshaped))
        raise CheckpointError("\n".join(lines))
    try:
        return {name: np.asarray(reader.get_tensor(name), dtype=np.float32) for name in expected}
    except tf.errors.OpError as error:
        # The official snapshot that circulates has the .index but not the data shard.
        raise FileNotFoundError(
            f"{prefix}: the index is readable but the values are not ({error.message.splitlines()[0]}). "
            f"Is {os.path.basename(prefix)}.data-00000-of-00001 next to the .index file?"
        ) from error


def assign_tf1_weights(model: model_lib.GLADNet, tensors: Mapping[str, np.ndarray]) -> model_lib.GLADNet:
    """Copies ``{tf1_name: array}`` into ``model`` through the name table (shapes asserted).

    ``tensors`` is what ``read_tf1_checkpoint`` returns (float32, kernels HWIO). Returns
    ``model``; raises CheckpointError where a shape does not fit its layer.
    """
    for layer_name, scope in TF1_NAME_TABLE.items():
        layer = model.get_layer(layer_name)
        kernel, bias = tensors[f"{scope}/kernel"], tensors[f"{scope}/bias"]
        if tuple(kernel.shape) != tuple(layer.kernel.shape) or tuple(bias.shape) != tuple(layer.bias.shape):
            raise CheckpointError(
                f"{scope} -> {layer_name}: shapes {kernel.shape}/{bias.shape} do not fit "
                f"{tuple(layer.kernel.shape)}/{tuple(layer.bias.shape)}"
            )
        layer.set_weights([kernel, bias])
    return model


def convert(prefix: str, output: str | os.PathLike | None = None) -> model_lib.GLADNet:
    """Builds a GLADNet with the checkpoint's weights; saves them to ``output`` if given.

    ``output`` ending in ``.keras`` saves the whole model; otherwise it must end in
    ``.weights.h5`` (Keras weights file).
    """
    model = assign_tf1_weights(model_lib.GLADNet(), read_tf1_checkpoint(prefix))
    if output:
        model_lib.save(model, output)
    return model


def verify(model: model_lib.GLADNet, oracle_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Compares ``model`` with the original graph's outputs stored as ``*.npz`` in a folder.

    Each file holds ``input`` (uint8 HxWx3 RGB, 0-255), ``output`` (float32 HxWx3 in
    [0, inf), the original's raw output for ``input / 255``) and ``global96`` (float32
    96x96x64, its illumination map). Returns a list of dicts (case, shape ``[H, W]``,
    max/mean abs difference of ``output`` and ``global96``); FileNotFoundError if none.
    """
    import glob

    global_branch = model.global_branch()
    rows = []
    for path in sorted(glob.glob(os.path.join(oracle_dir, "*.npz"))):
        case = np.load(path)
        image = case["input"].astype(np.float32)[None] / 255.0
        output = np.asarray(model(image, training=False))[0]
        global96 = np.asarray(global_branch(image, training=False))[0]
        rows.append(
            {
                "case": os.path.splitext(os.path.basename(path))[0],
                "shape": list(case["input"].shape[:2]),
                "output_max_abs": float(np.abs(output - case["output"]).max()),
                "output_mean_abs": float(np.abs(output - case["output"]).mean()),
                "global96_max_abs": float(np.abs(global96 - case["global96"]).max()),
                "global96_mean_abs": float(np.abs(global96 - case["global96"]).mean()),
            }
        )
    if not rows:
        raise FileNotFoundError(f"{oracle_dir}: no *.npz oracle cases found")
    return rows


def main(argv: list[str]) -> int:
    """The command (flags from ``run``); returns the exit code.

    0: converted (and, with ``--verify``, within ``--tolerance``); 1: no usable checkpoint,
    or a parity difference above the tolerance.
    """
    del argv
    from absl import flags

    FLAGS = flags.FLAGS
    try:
        model = convert(FLAGS.tf1_checkpoint, FLAGS.output)
    except (FileNotFoundError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {FLAGS.output} ({model.count_params():,} parameters from {FLAGS.tf1_checkpoint})")
    if FLAGS.verify:
        worst = 0.0
        print(f"{'case':34s} {'H x W':>10s} {'output max':>11s} {'mean':>10s} {'global96 max':>13s} {'mean':>10s}")
        for row in verify(model, FLAGS.verify):
            worst = max(worst, row["output_max_abs"], row["global96_max_abs"])
            print(
                f"{row['case']:34s} {row['shape'][0]:>4d} x {row['shape'][1]:<4d}"
                f" {row['output_max_abs']:11.3e} {row['output_mean_abs']:10.3e}"
                f" {row['global96_max_abs']:13.3e} {row['global96_mean_abs']:10.3e}"
            )
        status = "OK" if worst <= FLAGS.tolerance else "FAILED"
        print(f"parity {status}: worst max abs difference {worst:.3e} (tolerance {FLAGS.tolerance:g})")
        return 0 if worst <= FLAGS.tolerance else 1
    return 0


def _define_flags():
    from absl import flags

    flags.DEFINE_string("tf1_checkpoint", None, "Prefix of the original TF1 checkpoint (DIR/GLADNet).")
    flags.DEFINE_string("output", None, "Where to write: FILE.weights.h5 (weights) or FILE.keras (model).")
    flags.DEFINE_string("verify", None, "Folder of *.npz outputs of the original graph to compare with.")
    flags.DEFINE_float("tolerance", 1e-5, "Largest max-abs difference --verify accepts.")
    flags.mark_flags_as_required(["tf1_checkpoint", "output"])


def run() -> NoReturn:
    """The ``gladnet-convert`` command: defines the flags, runs ``main``, exits."""
    from absl import app

    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
