"""results/gain_cost.py: mean PSNR over a paired set when the outputs are scaled by a gain."""

import math

import numpy as np

from tests.conftest import load_script, write_pair


def test_gain_costs_price_each_gain_against_the_target(tmp_path):
    script = load_script("results/gain_cost.py")
    low = np.full((4, 4, 3), 40, np.uint8)
    high = np.full((4, 4, 3), 60, np.uint8)
    high[0, 0] = 100  # one pixel that the best gain misses
    write_pair(tmp_path, low, high)
    costs = script.gain_costs(script.pair_paths(tmp_path), lambda x: x, [1.0, 1.5, 2.0])
    def psnr(out):  # the identity's output is the input; 1.5 x 40 = 60 hits every other pixel
        mse = (15 * (out - 60) ** 2 + (100 - out) ** 2) / 16
        return 10 * math.log10(255 ** 2 / mse)
    np.testing.assert_allclose(costs[1.0], psnr(40), rtol=1e-9)
    np.testing.assert_allclose(costs[1.5], psnr(60), rtol=1e-9)
    np.testing.assert_allclose(costs[2.0], psnr(80), rtol=1e-9)
    assert costs[1.5] > costs[1.0] and costs[1.5] > costs[2.0]  # the right gain costs least
