"""Tests for the classical comparison methods in gladnet_tf.baselines (numpy/scipy only, fast)."""

import numpy as np
import pytest
from scipy import ndimage

from gladnet_tf import baselines
from gladnet_tf.baselines import dehz, gamma, lime, msrcr, srie

METHOD_NAMES = ["msrcr", "dehz", "lime", "srie", "gamma"]


def dark_image(h=48, w=64, seed=0):
    """Structured dark RGB image, float32 HxWx3, values in [0.02, 0.2]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    base = 0.3 + 0.4 * x + 0.2 * np.sin(6.0 * y)  # smooth illumination-like ramp
    img = np.stack([base, 0.8 * base, 0.6 * base + 0.2 * y], axis=2)
    img[h // 4 : h // 2, w // 4 : w // 2] *= np.array([1.4, 0.5, 0.7])  # a coloured block
    img[(h * 2) // 3 :, (w * 2) // 3 :] *= 0.4  # a shadowed corner
    img += 0.05 * rng.standard_normal(img.shape)  # texture / noise
    lo, hi = img.min(), img.max()
    return (0.02 + 0.18 * (img - lo) / (hi - lo)).astype(np.float32)


def test_registry_names():
    assert sorted(baselines.METHODS) == sorted(METHOD_NAMES)
    assert all(callable(f) for f in baselines.METHODS.values())


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_contract_on_dark_image(name):
    img = dark_image()
    assert 0.02 <= img.min() and img.max() <= 0.2 + 1e-6
    out = baselines.enhance(name, img)
    assert out.shape == img.shape
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.mean() > img.mean() + 0.02, (name, float(out.mean()), float(img.mean()))


@pytest.mark.parametrize("name", METHOD_NAMES)
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 3), (9, 1, 3), (2, 2, 3)])
def test_tiny_images(name, shape):
    img = np.linspace(0.03, 0.15, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    out = baselines.enhance(name, img)
    assert out.shape == shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_accepts_float64_and_clips_input(name):
    img = dark_image(12, 16).astype(np.float64)
    img[0, 0] = [-0.5, 1.5, 0.1]  # out of range: clipped, not an error
    out = baselines.enhance(name, img)
    assert out.dtype == np.float32 and out.shape == img.shape


@pytest.mark.parametrize("name", METHOD_NAMES)
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8), np.float32),  # no channel axis
        np.zeros((8, 8, 4), np.float32),  # RGBA
        np.zeros((0, 8, 3), np.float32),  # empty
        np.zeros((8, 8, 3), np.uint8),  # 8-bit must be scaled by the caller
        np.full((8, 8, 3), np.nan, np.float32),
    ],
)
def test_invalid_images_raise(name, bad):
    with pytest.raises(ValueError):
        baselines.enhance(name, bad)


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError) as info:
        baselines.enhance("retinexnet", dark_image(8, 8))
    for name in METHOD_NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError):
        baselines.enhance(["lime"], dark_image(8, 8))


# --- one numeric property per method -------------------------------------------------------


def test_msrcr_constant_grey_stays_constant():
    img = np.full((20, 30, 3), 0.1, np.float32)
    out = msrcr.enhance(img)
    assert np.ptp(out) == 0.0


def test_msrcr_surround_matches_direct_gaussian():
    # The DCT-domain surround must equal a spatial Gaussian with mirror ("reflect") boundaries.
    rng = np.random.default_rng(1)
    x = rng.random((33, 41, 3))
    for sigma in (1.5, 4.0):
        fast = msrcr.gaussian_surround(x, sigma)
        ref = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="reflect", truncate=8.0)
        np.testing.assert_allclose(fast, ref, atol=1e-4)
    np.testing.assert_allclose(msrcr.gaussian_surround(np.full((5, 7, 3), 2.0), 176.8), 2.0)


def test_dehz_white_stays_white_and_gains_in_the_dark():
    white = np.ones((16, 24, 3), np.float32)
    np.testing.assert_array_equal(dehz.enhance(white), white)
    # The guided filter keeps a constant transmission constant.
    guide = dark_image(16, 24).mean(axis=2).astype(np.float64)
    np.testing.assert_allclose(dehz.guided_filter(guide, np.full((16, 24), 0.3), 5, 1e-4), 0.3)
    # Dark pixels are brightened (t < 0.5 there, so Dong's P = 2t amplifies them).
    img = dark_image()
    assert np.all(dehz.enhance(img).max(axis=2) >= img.max(axis=2) - 1e-6)


def test_lime_illumination_and_recombination():
    img = dark_image()
    t = lime.estimate_illumination(img)
    t_hat = img.max(axis=2).astype(np.float64)
    assert t.shape == img.shape[:2]
    assert t.min() >= lime.T_FLOOR
    # Maximum principle of (I + weighted Laplacian): no new extremes.
    assert t.min() >= t_hat.min() - 1e-6 and t.max() <= t_hat.max() + 1e-6
    # The refinement smooths: total variation drops.
    tv = lambda a: np.abs(np.diff(a, axis=0)).sum() + np.abs(np.diff(a, axis=1)).sum()  # noqa: E731
    assert tv(t) < 0.5 * tv(t_hat)
    out = lime.enhance(img)
    expected = np.clip(img / (t ** lime.GAMMA)[:, :, None], 0.0, 1.0)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_lime_solver_solves_the_system():
    rng = np.random.default_rng(2)
    h, w = 23, 31
    rhs = rng.random((h, w))
    wx = rng.uniform(0.0, 1e5, (h, w))
    wy = rng.uniform(0.0, 1e5, (h, w))
    t = lime.solve_weighted_smoothing(rhs, wx, wy)
    # Residual of (I + Dx^T Wx Dx + Dy^T Wy Dy) t - rhs, written with explicit differences.
    fx = np.zeros((h, w))
    fy = np.zeros((h, w))
    fx[:, :-1] = wx[:, :-1] * (t[:, 1:] - t[:, :-1])
    fy[:-1, :] = wy[:-1, :] * (t[1:, :] - t[:-1, :])
    lhs = t.copy()
    lhs[:, :-1] -= fx[:, :-1]
    lhs[:, 1:] += fx[:, :-1]
    lhs[:-1, :] -= fy[:-1, :]
    lhs[1:, :] += fy[:-1, :]
    np.testing.assert_allclose(lhs, rhs, atol=1e-6)


def test_srie_decomposition_and_hue():
    img = dark_image()
    v = img.max(axis=2).astype(np.float64)
    refl, illum, iters = srie.decompose(v)
    s = np.maximum(v, 1.0 / 255.0)
    assert 1 <= iters <= srie.MAX_ITER
    assert refl.max() <= 1.0 and refl.min() > 0.0
    assert np.all(illum >= s - 1e-9) and illum.max() <= 1.0
    # Retinex model: R * L reproduces the value channel (the weak TV term on r lets it deviate
    # a little at isolated noisy pixels).
    rel_err = np.abs(refl * illum - s) / s
    assert np.median(rel_err) < 0.03 and rel_err.max() < 0.1
    # The illumination is smoother than the image.
    assert np.abs(np.diff(illum, axis=1)).mean() < np.abs(np.diff(s, axis=1)).mean()
    out = srie.enhance(img).astype(np.float64)
    # V-channel recombination keeps chromaticity: every pixel is a positive multiple of the input.
    ratio = out / img
    np.testing.assert_allclose(ratio, ratio[:, :, :1].repeat(3, axis=2), rtol=1e-4)
    assert np.all(ratio >= 1.0 - 1e-5)


def test_gamma_is_the_stated_curve():
    img = dark_image()
    out = gamma.enhance(img)
    np.testing.assert_allclose(out, np.sqrt(img.astype(np.float64)), rtol=1e-6)
    np.testing.assert_array_equal(gamma.enhance(np.array([[[0.0, 1.0, 0.25]]])), [[[0.0, 1.0, 0.5]]])
    np.testing.assert_allclose(gamma.enhance(img, exponent=1.0), img, rtol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        gamma.enhance(img, exponent=0.0)
