"""GLADNet structure: parameter count, shapes, the legacy resize, global awareness, round trips."""

import numpy as np
import pytest
import tensorflow as tf

from gladnet_tf import convert, model as model_lib
from tests.conftest import random_gladnet, run_python


@pytest.fixture(scope="module")
def model(gladnet):
    return gladnet


def test_parameter_count_and_layers(model):
    assert model.count_params() == 931_523
    convs = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert len(convs) == 17
    assert all(layer.use_bias for layer in convs)
    assert set(convert.TF1_NAME_TABLE) == {layer.name for layer in convs}


@pytest.mark.parametrize("height,width", [(1, 1), (37, 53), (401, 599), (2, 97)])
def test_output_shape_equals_input_shape(model, height, width):
    x = np.random.default_rng(0).random((1, height, width, 3), dtype=np.float32)
    y = model(x).numpy()
    assert y.shape == x.shape
    assert y.min() >= 0.0  # final ReLU


def test_batch_of_two_matches_single_images(model):
    x = np.random.default_rng(1).random((2, 33, 45, 3), dtype=np.float32)
    batch = model(x).numpy()
    for i in range(2):
        np.testing.assert_allclose(batch[i], model(x[i : i + 1]).numpy()[0], atol=1e-6)


def test_encoder_reaches_two_by_two(model):
    branch = tf.keras.Model(model.input, model.get_layer("global_down_6").output)
    assert branch(np.zeros((1, 50, 70, 3), np.float32)).shape == (1, 2, 2, 64)


@pytest.mark.parametrize("in_size,out_size", [(415, 96), (96, 415), (2, 3), (96, 61), (61, 96), (7, 7)])
def test_legacy_resize_uses_floor_index_rule(in_size, out_size):
    values = np.arange(in_size * 2, dtype=np.float32).reshape(1, in_size, 2, 1)
    layer = model_lib.LegacyNearestResize((out_size, 2))
    got = layer(values).numpy()[0, :, 0, 0]
    expected_index = np.minimum(np.floor(np.arange(out_size) * (in_size / out_size)), in_size - 1).astype(int)
    np.testing.assert_array_equal(got, values[0, expected_index, 0, 0])


def test_legacy_resize_differs_from_tf2_half_pixel_resize():
    x = np.random.default_rng(2).random((1, 415, 370, 3), dtype=np.float32)
    legacy = model_lib.LegacyNearestResize((96, 96))(x).numpy()
    half_pixel = tf.image.resize(x, (96, 96), method="nearest").numpy()
    assert np.mean(legacy != half_pixel) > 0.5


def test_resize_to_reference_size():
    layer = model_lib.LegacyNearestResize(None)
    out = layer([np.ones((1, 96, 96, 4), np.float32), np.zeros((1, 13, 17, 3), np.float32)])
    assert out.shape == (1, 13, 17, 4)


def test_global_awareness(model):
    """Changing the top-left quadrant changes the bottom-right corner of the output.

    The detail branch alone has a receptive field of 11x11, so on a 64x64 image only the global
    branch can carry information that far; a local conv stack would leave the corner unchanged.
    """
    rng = np.random.default_rng(3)
    x = rng.random((1, 64, 64, 3), dtype=np.float32) * 0.3
    changed = x.copy()
    changed[:, :32, :32] = 1.0 - changed[:, :32, :32]
    y0, y1 = model(x).numpy(), model(changed).numpy()
    corner = (slice(None), slice(48, 64), slice(48, 64))
    assert np.abs(y0[corner] - y1[corner]).max() > 1e-4
    # ...and the detail branch by itself does not see that far.
    detail = tf.keras.layers.Conv2D(3, 3, padding="same")
    stack = tf.keras.Sequential([tf.keras.layers.Conv2D(8, 3, padding="same") for _ in range(4)] + [detail])
    np.testing.assert_array_equal(stack(x).numpy()[corner], stack(changed).numpy()[corner])


def test_config_round_trip(model):
    config = model.get_config()
    clone = model_lib.GLADNet.from_config(config)
    assert clone.get_config() == config
    custom = random_gladnet(global_filters=8, detail_filters=16)
    assert model_lib.GLADNet.from_config(custom.get_config()).count_params() == custom.count_params()


def test_weights_file_round_trip(model, tmp_path):
    path = model_lib.save(model, tmp_path / "w.weights.h5")
    loaded = model_lib.load(path)
    x = np.random.default_rng(4).random((1, 40, 30, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())


def test_load_refuses_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        model_lib.load(tmp_path / "missing.weights.h5")
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="bad.weights.h5"):
        model_lib.load(bad)
    with pytest.raises(ValueError, match="weights.h5"):
        model_lib.save(random_gladnet(global_filters=4, detail_filters=4), tmp_path / "x.h5")


def test_keras_file_reloads_in_a_fresh_process(model, tmp_path):
    path = model_lib.save(model, tmp_path / "gladnet.keras")
    x = np.random.default_rng(5).random((1, 29, 31, 3), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model(x).numpy())
    code = (
        "import numpy as np, keras, sys\n"
        "import gladnet_tf.model\n"  # registers the custom classes
        f"m = keras.models.load_model({str(path)!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "assert type(m).__name__ == 'GLADNet', type(m)\n"
        "d = float(np.abs(m(x).numpy() - y).max()); print('diff', d); sys.exit(0 if d == 0 else 1)\n"
    )
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "diff 0.0" in result.stdout
