"""results/exposure_predictability.py: the cross-validated ridge and the input features."""

import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("results/exposure_predictability.py")


def test_ridge_cv_predicts_a_linear_target_and_not_noise(script):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    y = x @ np.array([0.5, -0.2, 0.0, 0.1, 0.0, 0.3]) + 0.1
    assert script.r_squared(y, script.ridge_cv(x, y, alpha=1e-4)) > 0.99
    noise = rng.normal(size=120)  # unrelated to x: held-out folds get no better than the mean
    assert script.r_squared(noise, script.ridge_cv(x, noise)) < 0.05


def test_ridge_cv_never_sees_the_pair_it_predicts(script):
    # One outlier far from a flat relation: a fit that saw it would bend towards it.
    x = np.linspace(0, 1, 50)[:, None]
    y = np.zeros(50)
    y[10] = 10.0
    predicted = script.ridge_cv(x, y, folds=50, alpha=1e-6)  # leave-one-out
    assert abs(predicted[10]) < 1.0


def test_features_are_the_thumbnail_histogram_its_levels_and_the_output_luma(script):
    low = np.zeros((200, 300, 3), np.float32)
    low[:, :150] = 0.55  # half mid-gray (bin 6 of 12), half black
    output = np.full((200, 300, 3), 0.4)
    f = script.features(low, output)
    hist = f[:script.BINS]
    assert f.shape == (script.BINS + 5,) and hist.sum() == pytest.approx(1.0)
    assert hist[0] == pytest.approx(0.5, abs=0.02) and hist[script.BINS // 2] == pytest.approx(0.5, abs=0.02)
    assert f[script.BINS] == pytest.approx(0.275, abs=0.01)  # mean luma
    assert f[-1] == pytest.approx(0.4)  # the output's mean luma
