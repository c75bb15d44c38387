"""results/per_image_brightness.py: per-image input darkness, target and output brightness, PSNR."""

import math

import numpy as np

from tests.conftest import load_script, write_pair


def test_rows_measure_each_image_and_each_enhancer(tmp_path):
    script = load_script("results/per_image_brightness.py")
    low = np.full((4, 4, 3), 40, np.uint8)
    low[0, :2] = 200  # 2 of 16 pixels bright
    high = np.minimum(2 * low.astype(int), 255).astype(np.uint8)
    write_pair(tmp_path, low, high)
    pairs = script.pair_paths(tmp_path)
    table = script.rows(pairs, [lambda x: x, lambda x: np.minimum(2 * x, 1.0)])
    assert len(table) == 1
    stem, mean, share, target, outputs = table[0]
    assert stem == "a"
    np.testing.assert_allclose(mean, (14 * 40 + 2 * 200) / 16 / 255, rtol=1e-6)
    assert share == 2 / 16
    np.testing.assert_allclose(target, (14 * 80 + 2 * 255) / 16 / 255, rtol=1e-6)
    (same_mean, same_psnr), (double_mean, double_psnr) = outputs
    np.testing.assert_allclose(same_mean, mean, rtol=1e-6)  # the identity leaves it as dark
    mse = (14 * 40 ** 2 + 2 * 55 ** 2) / 16
    np.testing.assert_allclose(same_psnr, 10 * math.log10(255 ** 2 / mse), rtol=1e-9)
    np.testing.assert_allclose(double_mean, target, rtol=1e-6)
    assert double_psnr == float("inf")  # doubling is exactly the target
