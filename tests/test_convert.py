"""The TF1 checkpoint converter: name table, refusals, and parity with the original graph."""

import re

import numpy as np
import pytest
import tensorflow as tf

from gladnet_tf import convert
from tests.conftest import run_python, shared_path

ORACLE = ("reference", "gladnet-official-outputs")
SURROGATE = ("reference", "gladnet-official-outputs", "surrogate-checkpoint-NOT-OFFICIAL")


def official_variables():
    """{name: (dtype, shape)} parsed from VARIABLES.txt (the official index)."""
    text = shared_path("reference", "gladnet-official-checkpoint", "VARIABLES.txt").read_text()
    table = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, dtype, shape = line.split("\t")[:3]
        table[name] = (dtype, tuple(int(v) for v in re.findall(r"\d+", shape)))
    return table


def write_tf1_checkpoint(prefix, tensors):
    """Writes a name-based (TF1 Saver V2) checkpoint with the given {name: array}."""
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n]) for n in names],
    )


def test_name_table_matches_official_variable_list():
    official = official_variables()
    assert len(official) == 105
    expected = convert.expected_variables()
    assert len(expected) == 34
    for name, shape in expected.items():
        assert official[name] == ("float32", shape), name
    # Everything else in the official checkpoint is optimizer state or the step counter.
    rest = set(official) - set(expected)
    assert all(n.endswith(("/AdamOptimizer", "/AdamOptimizer_1")) or n in {"Variable", "beta1_power", "beta2_power"} for n in rest)
    assert sum(int(np.prod(s)) for s in expected.values()) == 931_523


def test_converts_a_checkpoint_in_the_official_layout(tmp_path):
    """All 105 official variables (with Adam slots), random values: converted by name."""
    rng = np.random.default_rng(0)
    tensors = {}
    for name, (dtype, shape) in official_variables().items():
        tensors[name] = np.array(600, np.int32) if dtype == "int32" else rng.standard_normal(shape).astype(np.float32)
    write_tf1_checkpoint(tmp_path / "GLADNet", tensors)
    model = convert.convert(str(tmp_path / "GLADNet"), str(tmp_path / "out.weights.h5"))
    for layer_name, scope in convert.TF1_NAME_TABLE.items():
        kernel, bias = model.get_layer(layer_name).get_weights()
        np.testing.assert_array_equal(kernel, tensors[f"{scope}/kernel"])
        np.testing.assert_array_equal(bias, tensors[f"{scope}/bias"])
    # conv2d_10 must land on global_up_5, not on the 3rd layer as alphabetical order would give.
    np.testing.assert_array_equal(model.get_layer("global_up_5").get_weights()[1], tensors["FG/conv2d_10/bias"])


def test_refuses_missing_and_misshaped_variables(tmp_path):
    tensors = {name: np.zeros(shape, np.float32) for name, shape in convert.expected_variables().items()}
    del tensors["FG/conv2d_13/kernel"]
    tensors["FG/conv2d_4/bias"] = np.zeros([65], np.float32)
    write_tf1_checkpoint(tmp_path / "bad", tensors)
    with pytest.raises(convert.CheckpointError) as error:
        convert.read_tf1_checkpoint(str(tmp_path / "bad"))
    assert "FG/conv2d_13/kernel" in str(error.value)
    assert "FG/conv2d_4/bias has shape [65], expected [64]" in str(error.value)


def test_refuses_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        convert.read_tf1_checkpoint(str(tmp_path / "nothing"))


def test_parity_with_the_original_graph():
    """Converted surrogate checkpoint reproduces the original graph's outputs within 1e-5."""
    prefix = shared_path(*SURROGATE) / "GLADNet"
    model = convert.convert(str(prefix))
    rows = convert.verify(model, str(shared_path(*ORACLE)))
    assert len(rows) == 5
    for row in rows:
        assert row["output_max_abs"] <= 1e-5, row
        assert row["global96_max_abs"] <= 1e-5, row


def test_converter_command_line_verify(tmp_path):
    prefix = shared_path(*SURROGATE) / "GLADNet"
    out = tmp_path / "surrogate.weights.h5"
    result = run_python(["-m", "gladnet_tf.convert", "--tf1_checkpoint", str(prefix), "--output", str(out),
                         "--verify", str(shared_path(*ORACLE))])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "parity OK" in result.stdout
    assert out.exists()
    bad = run_python(["-m", "gladnet_tf.convert", "--tf1_checkpoint", str(tmp_path / "none"), "--output", str(tmp_path / "x.weights.h5")])
    assert bad.returncode == 1
    assert "none" in bad.stderr
