"""gladnet_tf.averaging: the element-wise mean of checkpoints' weights."""

import numpy as np
import pytest

from conftest import random_gladnet, random_weights, run_python
from gladnet_tf import averaging, model as model_lib


def test_the_average_is_the_elementwise_mean(tmp_path):
    paths = [random_weights(tmp_path, seed, f"w{seed}.weights.h5") for seed in (1, 2, 3)]
    output = averaging.average_weights(paths, tmp_path / "avg.weights.h5")
    averaged = model_lib.load(output).get_weights()
    each = [model_lib.load(p).get_weights() for p in paths]
    assert len(averaged) == len(each[0]) > 0
    for k, value in enumerate(averaged):
        expected = (each[0][k].astype(np.float64) + each[1][k] + each[2][k]) / 3
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
        assert value.dtype == np.float32
    # And it is not simply one of its inputs.
    assert not np.allclose(averaged[0], each[0][0])


def test_weights_of_another_configuration_average_too(tmp_path):
    small = [model_lib.save(random_gladnet(seed=s, global_filters=16, detail_filters=16),
                            tmp_path / f"s{s}.weights.h5") for s in (1, 2)]
    output = averaging.average_weights(small, tmp_path / "avg.weights.h5")
    averaged = model_lib.load(output, global_filters=16, detail_filters=16).get_weights()
    each = [model_lib.load(p, global_filters=16, detail_filters=16).get_weights() for p in small]
    for k, value in enumerate(averaged):
        np.testing.assert_allclose(value, (each[0][k].astype(np.float64) + each[1][k]) / 2, rtol=1e-6, atol=1e-7)


def test_one_file_averages_to_itself(tmp_path):
    path = random_weights(tmp_path, 4)
    output = averaging.average_weights([path], tmp_path / "same.weights.h5")
    for a, b in zip(model_lib.load(path).get_weights(), model_lib.load(output).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_refuses_nothing_and_other_shapes(tmp_path):
    with pytest.raises(ValueError, match="no weights"):
        averaging.average_weights([], tmp_path / "x.weights.h5")
    good = random_weights(tmp_path, 5)
    other = model_lib.save(random_gladnet(seed=6, global_filters=32), tmp_path / "small.weights.h5")
    with pytest.raises(ValueError, match="small.weights.h5"):
        averaging.average_weights([good, other], tmp_path / "x.weights.h5")
    (tmp_path / "text.weights.h5").write_text("not HDF5")
    with pytest.raises(ValueError, match="text.weights.h5"):
        averaging.average_weights([good, tmp_path / "text.weights.h5"], tmp_path / "x.weights.h5")
    assert not (tmp_path / "x.weights.h5").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name or p.name.startswith(".")]


def test_command_line_names_a_missing_file(tmp_path):
    good = random_weights(tmp_path, 8)
    result = run_python(["-m", "gladnet_tf.averaging", "--weights", str(good),
                         "--weights", str(tmp_path / "missing.weights.h5"),
                         "--output", str(tmp_path / "avg.weights.h5")])
    assert result.returncode == 1
    assert "missing.weights.h5" in result.stderr
    assert not (tmp_path / "avg.weights.h5").exists()


def test_coefficients_give_the_weighted_mean(tmp_path):
    a, b = (random_weights(tmp_path, seed, f"w{seed}.weights.h5") for seed in (11, 12))
    output = averaging.average_weights([a, b], tmp_path / "mix.weights.h5", coefficients=[3, 1])
    mixed = model_lib.load(output).get_weights()
    wa, wb = model_lib.load(a).get_weights(), model_lib.load(b).get_weights()
    for k, value in enumerate(mixed):
        np.testing.assert_allclose(value, 0.75 * wa[k].astype(np.float64) + 0.25 * wb[k], rtol=1e-6, atol=1e-7)
    # Coefficients (1, 0) give the first file back, bit for bit.
    same = averaging.average_weights([a, b], tmp_path / "first.weights.h5", coefficients=[1, 0])
    for x, y in zip(model_lib.load(same).get_weights(), wa):
        np.testing.assert_array_equal(x, y)


def test_refuses_bad_coefficients(tmp_path):
    a, b = (random_weights(tmp_path, seed, f"w{seed}.weights.h5") for seed in (13, 14))
    for bad, message in (([1], "1 coefficients for 2"), ([1, -1], "non-negative"), ([0, 0], "not all 0"),
                         ([1, float("nan")], "finite")):
        with pytest.raises(ValueError, match=message):
            averaging.average_weights([a, b], tmp_path / "x.weights.h5", coefficients=bad)
    assert not (tmp_path / "x.weights.h5").exists()


@pytest.mark.parametrize("config", [{}, {"global_filters": 16, "detail_filters": 24}])
def test_branch_mixes_only_that_branch(tmp_path, config):
    """--branch global takes B's global-illumination layers and keeps every detail layer of A
    (and the reverse), checked by the model's own layer names, not by the file's."""
    a, b = (model_lib.save(random_gladnet(seed=s, **config), tmp_path / f"b{s}.weights.h5") for s in (21, 22))
    model_a, model_b = model_lib.load(a, **config), model_lib.load(b, **config)
    for branch, other in (("global", "detail"), ("detail", "global")):
        output = averaging.average_weights([a, b], tmp_path / f"{branch}.weights.h5",
                                           coefficients=[1, 3], branch=branch)
        mixed = model_lib.load(output, **config)
        layers = [layer for layer in mixed.layers if layer.weights]
        assert {layer.name.split("_")[0] for layer in layers} == {"global", "detail"}
        for layer in layers:
            got = layer.get_weights()
            wa, wb = model_a.get_layer(layer.name).get_weights(), model_b.get_layer(layer.name).get_weights()
            for k, value in enumerate(got):
                if layer.name.startswith(branch):
                    np.testing.assert_allclose(value, 0.25 * wa[k].astype(np.float64) + 0.75 * wb[k],
                                               rtol=1e-6, atol=1e-7)
                else:
                    assert layer.name.startswith(other)
                    np.testing.assert_array_equal(value, wa[k])


def test_branch_refuses_an_unknown_branch_and_a_file_without_one(tmp_path):
    a, b = (random_weights(tmp_path, seed, f"w{seed}.weights.h5") for seed in (23, 24))
    with pytest.raises(ValueError, match="expected one of global, detail"):
        averaging.average_weights([a, b], tmp_path / "x.weights.h5", branch="middle")
    with pytest.raises(ValueError, match="no detail branch"):
        averaging.branch_of({"layers/conv2d/vars/0": np.zeros((3, 3, 3, 8))})
    with pytest.raises(ValueError, match="no convolution kernels"):
        averaging.branch_of({"layers/dense/vars/0": np.zeros((3, 8))})
    assert not (tmp_path / "x.weights.h5").exists()


def test_command_line_mixes_one_branch(tmp_path):
    a, b = (random_weights(tmp_path, seed, f"w{seed}.weights.h5") for seed in (25, 26))
    output = tmp_path / "detail.weights.h5"
    result = run_python(["-m", "gladnet_tf.averaging", "--weights", str(a), "--weights", str(b),
                         "--coefficients", "0,1", "--branch", "detail", "--output", str(output)])
    assert result.returncode == 0, result.stderr
    assert '"branch": "detail"' in result.stdout
    mixed, first, second = (model_lib.load(p) for p in (output, a, b))
    for name in ("global_down_1", "global_up_6"):
        np.testing.assert_array_equal(mixed.get_layer(name).get_weights()[0], first.get_layer(name).get_weights()[0])
    for name in ("detail_conv_1", "detail_conv_5"):
        np.testing.assert_array_equal(mixed.get_layer(name).get_weights()[0], second.get_layer(name).get_weights()[0])
