"""gladnet_tf.export: SavedModel (fresh process), LiteRT and ONNX parity, atomic CLI writes.

The model has seeded random weights scaled so that its outputs spread over [0, ~2.5]: values
inside [0, 1] exercise the rounding, values above 1 the clipping. Test sizes are not multiples
of 96, so the legacy and half-pixel nearest resizes pick different pixels; 64x80 and 20x112 also
hit the sizes where ONNX Runtime's Resize rounds its source index differently from TensorFlow.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gladnet_tf import export, images as images_lib, model as model_lib
from tests.conftest import run_python

FLOAT_TOLERANCE_SAVEDMODEL = 1e-5
FLOAT_TOLERANCE_PORTABLE = 1e-4
ONNX_REASON = "ONNX export needs the optional extras: pip install -r requirements-export.txt"


def make_model(seed=1):
    """A GLADNet with seeded He-normal weights, the last layer scaled to a mean output of 0.5."""
    model = model_lib.GLADNet()
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim == 4:
            weights.append((rng.standard_normal(w.shape) * np.sqrt(2.0 / np.prod(w.shape[:3]))).astype(np.float32))
        else:
            weights.append(rng.uniform(0.0, 0.05, w.shape).astype(np.float32))
    model.set_weights(weights)
    probe = np.random.default_rng(seed + 1).random((1, 37, 53, 3), dtype=np.float32)
    scale = np.float32(0.5 / model(probe).numpy().mean())
    weights[-2] *= scale  # last conv kernel and bias: a positive scale scales the ReLU output
    weights[-1] *= scale
    model.set_weights(weights)
    return model


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def weights_file(model, tmp_path_factory):
    return model_lib.save(model, tmp_path_factory.mktemp("weights") / "random.weights.h5")


@pytest.fixture(scope="module")
def cli_savedmodel(weights_file, tmp_path_factory):
    """The SavedModel written by the command line, in a fresh process."""
    output = tmp_path_factory.mktemp("serving") / "gladnet" / "1"
    result = run_python(
        ["-m", "gladnet_tf.export", "--weights", str(weights_file), "--format", "savedmodel", "--output", str(output)]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"^wrote .* image: (\S+)$", result.stdout, re.M)
    assert match and float(match.group(1)) <= FLOAT_TOLERANCE_SAVEDMODEL, result.stdout
    return output


def rest_examples():
    """The JSON request bodies shown in the module docstring."""
    bodies = [json.loads(line) for line in export.__doc__.splitlines() if line.strip().startswith('{"signature_name"')]
    assert len(bodies) == 2
    return bodies


def random_pixels(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


# Runs in a fresh interpreter that cannot import gladnet_tf: TensorFlow alone must serve it.
FRESH_PROCESS = r"""
import json, sys
sys.modules["gladnet_tf"] = None  # any import of the package would now fail
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
inputs = np.load(sys.argv[2])
outputs, specs = {}, {}
for key in ("serving_default", "enhance_float"):
    signature = loaded.signatures[key]
    args, kwargs = signature.structured_input_signature
    specs[key] = {
        "args": len(args),
        "inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in kwargs.items()},
        "outputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in signature.structured_outputs.items()},
    }
for name in inputs.files:
    pixels = inputs[name]
    outputs["u8_" + name] = loaded.signatures["serving_default"](images=tf.constant(pixels))["enhanced"].numpy()
    floats = pixels.astype(np.float32) / np.float32(255)
    outputs["f32_" + name] = loaded.signatures["enhance_float"](images=tf.constant(floats))["enhanced"].numpy()
np.savez(sys.argv[3], **outputs)
specs["gladnet_modules"] = sorted(m for m in sys.modules if m.startswith("gladnet") and sys.modules[m] is not None)
print(json.dumps(specs))
"""


def test_savedmodel_in_a_fresh_process_matches_keras(model, cli_savedmodel, tmp_path):
    cases = {
        "a": random_pixels((1, 37, 53, 3), 10),
        "b": random_pixels((2, 19, 101, 3), 11),
        "c": random_pixels((1, 64, 80, 3), 12),
        "rest": np.array(rest_examples()[0]["instances"], dtype=np.uint8),
    }
    np.savez(tmp_path / "in.npz", **cases)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(cli_savedmodel), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    specs = json.loads(result.stdout.strip().splitlines()[-1])
    assert specs.pop("gladnet_modules") == []
    assert specs == {
        "serving_default": {
            "args": 0,
            "inputs": {"images": ["uint8", [None, None, None, 3]]},
            "outputs": {"enhanced": ["uint8", [None, None, None, 3]]},
        },
        "enhance_float": {
            "args": 0,
            "inputs": {"images": ["float32", [None, None, None, 3]]},
            "outputs": {"enhanced": ["float32", [None, None, None, 3]]},
        },
    }
    outputs = np.load(tmp_path / "out.npz")
    for name, pixels in cases.items():
        reference = model(pixels.astype(np.float32) / np.float32(255), training=False).numpy()
        served_float = outputs["f32_" + name]
        served_uint8 = outputs["u8_" + name]
        assert served_float.dtype == np.float32 and served_float.shape == pixels.shape
        assert np.abs(served_float - reference).max() <= FLOAT_TOLERANCE_SAVEDMODEL, name
        assert served_uint8.dtype == np.uint8
        np.testing.assert_array_equal(served_uint8, images_lib.quantize(reference, 8), err_msg=name)
    # The outputs cover rounding inside [0, 1] and clipping above it.
    assert 0 < (outputs["f32_c"] > 1).mean() < 0.5 and len(np.unique(outputs["u8_c"])) > 200


def test_rest_examples_are_valid_requests():
    row, column = rest_examples()
    assert row["signature_name"] == column["signature_name"] == export.SERVING_SIGNATURE
    batch = np.array(row["instances"])
    assert batch.shape == (1, 2, 2, 3) and batch.min() >= 0 and batch.max() <= 255
    np.testing.assert_array_equal(np.array(column["inputs"][export.INPUT_NAME]), batch)


def test_uint8_rounding_is_bit_identical_to_images_quantize():
    # Every rounding boundary k + 0.5 (over 255) and its float32 neighbours, ties, the ends,
    # values outside [0, 1], and random values; run as a graph, as TF Serving runs it.
    boundaries = (np.arange(256, dtype=np.float64) + 0.5) / 255
    near = [np.float32(b) for b in boundaries]
    values = []
    for b in near:
        values.append(b)
        up = down = b
        for _ in range(8):
            up = np.nextafter(up, np.float32(2))
            down = np.nextafter(down, np.float32(-1))
            values += [up, down]
    values += [np.float32(v) for v in (0.0, 1.0, -0.0, -1e-30, 1e-30, 0.5 - 2.0**-26, 1.0 + 1e-7, 3.0, 1e30, -5.0)]
    values = np.concatenate([np.array(values, np.float32), np.random.default_rng(0).random(100_000, dtype=np.float32) * 1.2])
    graph_quantize = tf.function(images_lib.quantize_tf)
    np.testing.assert_array_equal(graph_quantize(tf.constant(values)).numpy(), images_lib.quantize(values, 8))


def test_uint8_to_float_is_bit_identical_to_numpy():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    graph = tf.function(export.uint8_to_float)(tf.constant(pixels)).numpy()
    np.testing.assert_array_equal(graph, pixels.astype(np.float32) / np.float32(255))


def test_legacy_indices_match_tensorflow_op():
    """The ONNX graph's index rule equals ResizeNearestNeighbor's, traced as a graph."""

    def op_indices(in_size, out_size):
        ramp = tf.reshape(tf.range(in_size, dtype=tf.float32), [1, -1, 1, 1])
        picked = tf.raw_ops.ResizeNearestNeighbor(
            images=ramp, size=[out_size, 1], align_corners=False, half_pixel_centers=False
        )
        return tf.cast(tf.reshape(picked, [-1]), tf.int32).numpy()

    def to_96(in_size):  # the output size is a graph constant, as in the model
        return model_lib.legacy_source_indices(in_size, tf.constant(96))

    traced_in = tf.function(to_96, input_signature=[tf.TensorSpec([], tf.int32)])
    traced_out = tf.function(
        lambda out_size: model_lib.legacy_source_indices(tf.constant(96), out_size),
        input_signature=[tf.TensorSpec([], tf.int32)],
    )
    for side in [1, 2, 20, 37, 40, 53, 64, 80, 96, 108, 112, 200, 224, 800, 1023]:
        np.testing.assert_array_equal(traced_in(tf.constant(side)).numpy(), op_indices(side, 96), err_msg=f"{side}->96")
        np.testing.assert_array_equal(traced_out(tf.constant(side)).numpy(), op_indices(96, side), err_msg=f"96->{side}")


PARITY_SHAPES = [(1, 37, 53, 3), (1, 64, 80, 3), (1, 20, 112, 3)]


def parity_inputs(batch_sizes=(1, 1, 1)):
    return [
        np.random.default_rng(20 + i).random((n,) + shape[1:], dtype=np.float32)
        for i, (n, shape) in enumerate(zip(batch_sizes, PARITY_SHAPES))
    ]


def test_parity_sizes_detect_other_resize_conventions(model, monkeypatch):
    """Swapping the resize index rule moves the output far beyond the parity tolerance."""

    def half_pixel(in_size, out_size):  # TF2's tf.image.resize(method="nearest")
        i = tf.cast(tf.range(out_size), tf.float32) + 0.5
        scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
        return tf.minimum(tf.cast(tf.floor(i * scale), tf.int32), in_size - 1)

    def divide_by_scale(in_size, out_size):  # x / (out / in): ONNX Runtime's asymmetric rule
        i = tf.cast(tf.range(out_size), tf.float32)
        scale = tf.cast(out_size, tf.float32) / tf.cast(in_size, tf.float32)
        return tf.minimum(tf.cast(tf.floor(i / scale), tf.int32), in_size - 1)

    for rule, shapes in [(half_pixel, PARITY_SHAPES), (divide_by_scale, PARITY_SHAPES[1:])]:
        monkeypatch.setattr(model_lib, "legacy_source_indices", rule)
        wrong = export.portable_model(model)
        for shape in shapes:
            x = np.random.default_rng(0).random(shape, dtype=np.float32)
            gap = np.abs(wrong(x).numpy() - model(x).numpy()).max()
            assert gap > 100 * FLOAT_TOLERANCE_PORTABLE, (rule.__name__, shape, gap)


def litert_available():
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        if not hasattr(tf.lite, "Interpreter"):
            pytest.skip("no LiteRT interpreter: pip install -r requirements-export.txt (ai-edge-litert)")


def test_litert_parity_with_dynamic_size(model, tmp_path):
    litert_available()
    path = export.write_litert(model, str(tmp_path / "gladnet.tflite"))
    interpreter = export.litert_interpreter(model_path=path)
    (detail,) = interpreter.get_input_details()
    assert list(detail["shape_signature"]) == [1, -1, -1, 3] and detail["dtype"] == np.float32
    for x in parity_inputs():
        output = export.run_litert(interpreter, x)
        assert output.shape == x.shape
        assert np.abs(output - model(x).numpy()).max() <= FLOAT_TOLERANCE_PORTABLE, x.shape
    single = parity_inputs()[0][0]
    assert export.run_litert(interpreter, single).shape == single.shape  # (H, W, 3) works too


def test_onnx_parity_with_dynamic_size(model):
    pytest.importorskip("tf2onnx", reason=ONNX_REASON)
    pytest.importorskip("onnx", reason=ONNX_REASON)
    pytest.importorskip("onnxruntime", reason=ONNX_REASON)
    proto = export.onnx_model_proto(model)
    # No Resize: ONNX Runtime's would pick other pixels at 64x80 and 20x112 (see the module docs).
    assert "Resize" not in {node.op_type for node in proto.graph.node}
    (graph_input,) = proto.graph.input
    (graph_output,) = proto.graph.output
    assert graph_input.name == export.INPUT_NAME and graph_output.name == export.OUTPUT_NAME
    dims = graph_input.type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [0, 0, 0, 3] and all(d.dim_param for d in dims[:3])
    session = export.onnx_session(proto.SerializeToString())
    for x in parity_inputs(batch_sizes=(1, 1, 2)):
        (output,) = session.run([export.OUTPUT_NAME], {export.INPUT_NAME: x})
        assert output.shape == x.shape
        assert np.abs(output - model(x).numpy()).max() <= FLOAT_TOLERANCE_PORTABLE, x.shape


# ---- command line -------------------------------------------------------------------------


def test_cli_refuses_to_overwrite(cli_savedmodel, weights_file, capsys):
    before = sorted((p.relative_to(cli_savedmodel), p.stat().st_mtime_ns) for p in cli_savedmodel.rglob("*"))
    argv = ["export", "--weights", str(weights_file), "--format", "savedmodel", "--output", str(cli_savedmodel)]
    assert export.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"error: {cli_savedmodel}: already exists (pass --overwrite to replace it)"
    assert sorted((p.relative_to(cli_savedmodel), p.stat().st_mtime_ns) for p in cli_savedmodel.rglob("*")) == before
    assert sorted(p.name for p in cli_savedmodel.parent.iterdir()) == ["1"]  # no temporary left


@pytest.mark.parametrize("fmt, name", [("litert", "gladnet.tflite"), ("savedmodel", "2")])
def test_cli_overwrite_replaces_atomically(weights_file, tmp_path, capsys, fmt, name):
    output = tmp_path / name
    argv = ["export", "--weights", str(weights_file), "--format", fmt, "--output", str(output), "--noverify"]
    assert export.main(argv) == 0, capsys.readouterr().err
    assert export.main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert export.main(argv + ["--overwrite"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # old copy and temporaries gone
    if fmt == "savedmodel":
        assert tf.saved_model.load(str(output)).signatures[export.SERVING_SIGNATURE] is not None
    else:
        assert export.litert_interpreter(model_path=str(output)).get_input_details()


def test_cli_errors_name_the_file(tmp_path, capsys):
    missing = tmp_path / "missing.weights.h5"
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not an HDF5 file")
    out = str(tmp_path / "out.tflite")
    for weights, words in [(missing, "weights file not found"), (bad, "cannot load GLADNet weights")]:
        assert export.main(["export", "--weights", str(weights), "--format", "litert", "--output", out]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {weights}: ") and words in lines[0], lines
    assert export.main(["export", "--format", "tflite", "--output", out]) == 2
    assert "error:" in capsys.readouterr().err
    assert export.main(["export", "--format", "litert"]) == 2
    assert "--output" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.weights.h5"]

