"""Enhancer: exact tiling, no retracing, precisions, batches."""

import numpy as np
import pytest
import tensorflow as tf

from gladnet_tf import inference, model as model_lib
from tests.conftest import TILING_CASES, check_tiles


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(7)
    return model_lib.GLADNet()


@pytest.mark.parametrize("height,width,tile", TILING_CASES)
def test_tiled_equals_whole_image(model, height, width, tile):
    x = np.random.default_rng(height * width).random((height, width, 3), dtype=np.float32)
    whole = model(x[None]).numpy()[0]
    enhancer = inference.Enhancer(model, tile=tile)
    tiled = enhancer.enhance(x)
    assert tiled.shape == x.shape
    np.testing.assert_array_equal(tiled, whole)  # exactly equal, not just close
    check_tiles(enhancer.tiles(height, width), height, width, tile, slack=0)


def test_tiles_of_big_photos_are_squarish(model):
    enhancer = inference.Enhancer(model, tile=512)
    tiles = enhancer.tiles(4000, 6000)
    check_tiles(tiles, 4000, 6000, 512, slack=0)
    assert {(y1 - y0, x1 - x0) for y0, y1, x0, x1 in tiles} == {(500, 500)}  # not 1000 x 261 strips


def test_no_retracing_across_sizes(model):
    enhancer = inference.Enhancer(model, tile=32)
    for height, width in [(5, 7), (40, 33), (70, 90), (12, 100)]:
        enhancer.enhance(np.zeros((height, width, 3), np.float32))
    assert enhancer.traced_graphs == 2  # one global-branch graph, one detail-branch graph


def test_halo_below_receptive_field_is_refused(model):
    with pytest.raises(ValueError, match="halo"):
        inference.Enhancer(model, halo=4)


def test_rejects_wrong_layout(model):
    with pytest.raises(ValueError, match="HxWx3"):
        inference.Enhancer(model).enhance(np.zeros((4, 4), np.float32))


def test_given_illumination_is_used(model):
    x = np.random.default_rng(9).random((30, 40, 3), dtype=np.float32)
    enhancer = inference.Enhancer(model, tile=16)
    illumination = enhancer.global_illumination(x)
    assert illumination.shape == (96, 96, 64)
    np.testing.assert_array_equal(enhancer.enhance(x, illumination=illumination), enhancer.enhance(x))
    other = enhancer.global_illumination(1.0 - x)
    assert not np.array_equal(enhancer.enhance(x, illumination=other), enhancer.enhance(x))


def test_bfloat16_precision_is_close_to_float32(model):
    x = np.random.default_rng(10).random((40, 50, 3), dtype=np.float32)
    exact = inference.Enhancer(model).enhance(x)
    fast = inference.Enhancer(model, precision="bfloat16", tile=16)
    approx = fast.enhance(x)
    assert approx.dtype == np.float32 and approx.shape == x.shape
    assert np.abs(approx - exact).max() < 0.05 * max(1.0, np.abs(exact).max())
    assert model.get_layer("detail_conv_1").dtype_policy.name == "float32"  # the original is untouched
    with pytest.raises(ValueError, match="precision"):
        inference.Enhancer(model, precision="float16")


@pytest.mark.parametrize("algorithm", ["direct", "winograd"])
@pytest.mark.parametrize(
    "height,width,tile",
    [(1, 300000, 16), (5000, 3, 2), (3, 5000, 1), (1001, 1001, 512), (7, 7, 3), (4000, 6000, 512)],
)
def test_tiles_partition_awkward_shapes(model, algorithm, height, width, tile):
    enhancer = inference.Enhancer(model, tile=tile, algorithm=algorithm)
    tiles = enhancer.tiles(height, width)
    # Winograd rounds the tile side and the tile starts up to multiples of 4.
    slack = 0 if algorithm == "direct" else 4 * (height + width) + 16
    check_tiles(tiles, height, width, enhancer.tile, slack=slack)


@pytest.mark.parametrize("options", [{}, {"algorithm": "winograd"}, {"tile": 16}, {"tile": 0}])
def test_enhance_batch_equals_one_image_at_a_time(model, options):
    rng = np.random.default_rng(12)
    shapes = [(37, 53)] * 3 + [(40, 40)] * 2 + [(1, 5), (300, 200), (1, 5), (33, 40)]
    batch = [rng.random((*shape, 3), dtype=np.float32) for shape in shapes]
    enhancer = inference.Enhancer(model, **options)
    outputs = enhancer.enhance_batch(batch)
    assert len(outputs) == len(batch)
    for output, rgb in zip(outputs, batch):
        np.testing.assert_array_equal(output, enhancer.enhance(rgb))  # stacked or not: exact
