"""Winograd F(4x4, 3x3) convolution and the fast float32 detail branch built on it."""

import numpy as np
import pytest
import tensorflow as tf

from gladnet_tf import fast_detail, inference, model as model_lib, winograd
from tests.conftest import TILING_CASES, check_tiles


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(11)
    return model_lib.GLADNet()


def _direct(x, kernel, bias):
    return tf.nn.relu(tf.nn.conv2d(x[None], kernel, 1, "SAME")[0] + bias).numpy()


@pytest.mark.parametrize("height,width", [(1, 1), (1, 45), (33, 65), (64, 64), (70, 31)])
def test_matches_direct_convolution(height, width):
    rng = np.random.default_rng(height * 100 + width)
    x = rng.random((height, width, 16), dtype=np.float32)
    kernel = (rng.standard_normal((3, 3, 16, 16)) * 0.2).astype(np.float32)
    bias = (rng.standard_normal(16) * 0.1).astype(np.float32)
    got = winograd.conv3x3_relu(tf.constant(x), winograd.transform_kernel(kernel), tf.constant(bias)).numpy()
    want = _direct(x, kernel, bias)
    assert got.shape == want.shape == (height, width, 16)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max() + 1e-6)
    # Zero padding at the border, not wrap-around or edge copies: a kernel that only reads the
    # pixel above gives zeros on the first row (up to the transforms' rounding).
    up = np.zeros((3, 3, 16, 16), np.float32)
    up[0, 1] = np.eye(16)
    shifted = winograd.conv3x3_relu(tf.constant(x), winograd.transform_kernel(up), tf.zeros(16)).numpy()
    np.testing.assert_allclose(shifted[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(shifted[1:], x[:-1], atol=1e-6)


def test_results_depend_on_position_only_modulo_four():
    rng = np.random.default_rng(3)
    x = rng.random((90, 70, 8), dtype=np.float32)
    u = winograd.transform_kernel(rng.standard_normal((3, 3, 8, 8)).astype(np.float32))
    bias = tf.zeros(8)
    full = winograd.conv3x3_relu(tf.constant(x), u, bias).numpy()
    reach = winograd.REACH
    for dy, dx in [(4, 8), (36, 4), (12, 40)]:
        part = winograd.conv3x3_relu(tf.constant(x[dy:, dx:]), u, bias).numpy()
        np.testing.assert_array_equal(part[reach:, reach:], full[dy + reach :, dx + reach :])
    # Off the 4-pixel grid the rounding differs somewhere (this is why tiles are aligned).
    part = winograd.conv3x3_relu(tf.constant(x[1:, 1:]), u, bias).numpy()
    assert not np.array_equal(part[reach:, reach:], full[1 + reach :, 1 + reach :])


def test_kernel_shape_is_checked():
    with pytest.raises(ValueError, match="3, 3, C, K"):
        winograd.transform_kernel(np.zeros((5, 5, 4, 4), np.float32))


@pytest.mark.parametrize("height,width,tile", TILING_CASES)
def test_fast_detail_tiles_are_exact_and_close_to_the_model(model, height, width, tile):
    x = np.random.default_rng(height * width).random((height, width, 3), dtype=np.float32)
    keras_output = model(x[None]).numpy()[0]
    fast = inference.Enhancer(model, tile=tile, algorithm="winograd")
    tiled = fast.enhance(x)
    whole = inference.Enhancer(model, tile=0, algorithm="winograd").enhance(x)
    np.testing.assert_array_equal(tiled, whole)  # exactly equal, not just close
    np.testing.assert_allclose(tiled, keras_output, rtol=0, atol=1e-5 * max(1.0, np.abs(keras_output).max()))
    assert fast.tile % 4 == 0 and fast.halo % 4 == 0 and fast.halo >= fast_detail.reach(model)
    tiles = fast.tiles(height, width)
    check_tiles(tiles, height, width, fast.tile, slack=4 * (height + width) + 16)
    for y0, _, x0, _ in tiles:
        assert y0 % 4 == 0 and x0 % 4 == 0


def test_fast_detail_uses_the_given_illumination_and_never_retraces(model):
    fast = inference.Enhancer(model, tile=32, algorithm="winograd")
    x = np.random.default_rng(5).random((40, 70, 3), dtype=np.float32)
    other = fast.global_illumination(1.0 - x)
    direct = inference.Enhancer(model, tile=32)
    np.testing.assert_allclose(
        fast.enhance(x, illumination=other), direct.enhance(x, illumination=other), atol=1e-5
    )
    for height, width in [(5, 7), (40, 33), (70, 90), (33, 500)]:
        fast.enhance(np.zeros((height, width, 3), np.float32))
    assert fast.traced_graphs == 3  # global branch, direct detail (thin images), fast detail


def test_thin_images_take_the_direct_path(model):
    # Under 32 pixels on a side, Winograd's blocks would be mostly padding: the direct path
    # is used for the whole image (so its tiles agree with it), giving the Keras model's output.
    x = np.random.default_rng(8).random((3, 900, 3), dtype=np.float32)
    fast = inference.Enhancer(model, tile=16, algorithm="winograd")
    np.testing.assert_array_equal(fast.enhance(x), model(x[None]).numpy()[0])


def test_winograd_is_float32_only(model):
    with pytest.raises(ValueError, match="float32"):
        inference.Enhancer(model, precision="bfloat16", algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm"):
        inference.Enhancer(model, algorithm="fft")
