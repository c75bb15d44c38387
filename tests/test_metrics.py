"""Tests for gladnet_tf.metrics: NIQE (vs MATLAB LIVE-release scores), imresize, PSNR, SSIM, CLI."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gladnet_tf.metrics import fidelity
from gladnet_tf.metrics import niqe as niqe_mod

REPO = Path(__file__).resolve().parents[1]


def _shared_dir():
    """The ``shared`` folder beside the repository, else $GLADNET_SHARED, else None."""
    candidates = [Path(__file__).resolve().parents[2] / "shared"]
    if os.environ.get("GLADNET_SHARED"):
        candidates.append(Path(os.environ["GLADNET_SHARED"]))
    for candidate in candidates:
        if (candidate / "reference" / "niqe" / "reference_values.json").is_file():
            return candidate
    return None


SHARED = _shared_dir()
NIQE_REF = SHARED / "reference" / "niqe" if SHARED else None
needs_shared = pytest.mark.skipif(
    SHARED is None,
    reason="NIQE reference data not found: no shared/reference/niqe beside the repository "
    "and GLADNET_SHARED is unset",
)

# LIVE-release references without flat 7x7 plateaus: only these are tight targets (on
# plateaus the score depends on floating-point summation order; see niqe.py).
FLAT_FREE = [
    "images/live_niqe_image1.png",
    "images/live_niqe_image2.png",
    "images/live_niqe_image4.png",
    "images/tid2013_I04_pyiqa_calib.png",
]


def _matlab_live_reference(image):
    entries = json.loads((NIQE_REF / "reference_values.json").read_text())
    matches = [
        e for e in entries if e["image"] == image and e["matlab_variant"].startswith("LIVE release")
    ]
    assert len(matches) == 1, f"expected one LIVE-release entry for {image}"
    return matches[0]


# ----------------------------------------------------------------------------- NIQE


@needs_shared
@pytest.mark.parametrize("image", FLAT_FREE)
def test_niqe_matches_matlab_live_release(image):
    entry = _matlab_live_reference(image)
    assert entry["flat_7x7_pixels"] in (0, 122)  # image4's plateau is exact zeros
    score = niqe_mod.niqe(niqe_mod._read_rgb(NIQE_REF / image))
    assert abs(score - entry["matlab_niqe"]) < 1e-3, (score, entry["matlab_niqe"])


@needs_shared
def test_niqe_tid2013_i04_full_precision():
    # I04 was published in full double precision, so it pins the whole pipeline.
    entry = _matlab_live_reference("images/tid2013_I04_pyiqa_calib.png")
    score = niqe_mod.niqe(niqe_mod._read_rgb(NIQE_REF / entry["image"]))
    assert score == pytest.approx(entry["matlab_niqe"], abs=1e-6)


def test_niqe_input_validation():
    with pytest.raises(ValueError, match="at least 96x96"):
        niqe_mod.niqe(np.zeros((95, 200), np.uint8))
    with pytest.raises(ValueError, match="HxWx3"):
        niqe_mod.niqe(np.zeros((100, 100, 4), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        niqe_mod.niqe(np.zeros((100, 100), np.int32))
    with pytest.raises(ValueError, match="NaN"):
        niqe_mod.niqe(np.full((100, 100), np.nan))


def test_niqe_gray_equals_rgb_of_gray():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (100, 120), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    assert niqe_mod.niqe(rgb) == niqe_mod.niqe(gray)


def test_rgb2gray_matlab_rounding():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [1, 1, 2]]], np.uint8)
    # 0.2989*255 = 76.23 -> 76, 0.5870*255 = 149.70 -> 150, 0.1140*255 = 29.07 -> 29.
    np.testing.assert_array_equal(niqe_mod.rgb2gray(rgb), [[76, 150, 29, 255, 1]])
    assert niqe_mod.rgb2gray(rgb).dtype == np.uint8


def test_aggd_fit_gaussian_samples():
    # Standard normal samples: shape ~2 and equal left/right scales ~sqrt(2).
    values = np.random.default_rng(1).standard_normal(200_000)
    alpha, beta_l, beta_r = niqe_mod._aggd_fit(values)
    assert alpha == pytest.approx(2.0, abs=0.05)
    assert beta_l == pytest.approx(math.sqrt(2), rel=0.02)
    assert beta_r == pytest.approx(math.sqrt(2), rel=0.02)


# ------------------------------------------------------------------------- imresize

# MATLAB's antialiased bicubic kernel at scale 0.5 has 8 taps, all exact dyadic
# rationals: 0.5 * cubic(0.5 * d) for d = +-3.5, +-2.5, +-1.5, +-0.5.
HALF_TAPS = np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256.0


def test_imresize_half_shape_is_ceil():
    assert niqe_mod.imresize(np.zeros((97, 95)), 0.5).shape == (49, 48)
    assert niqe_mod.imresize(np.zeros((96, 192)), 0.5).shape == (48, 96)


def test_imresize_half_constant_stays_constant():
    out = niqe_mod.imresize(np.full((20, 30), 37.0), 0.5)
    np.testing.assert_array_equal(out, np.full((10, 15), 37.0))


def test_imresize_half_linear_ramp():
    # Output sample i sits at input coordinate 2i + 0.5 (0-based); a symmetric kernel
    # summing to 1 keeps a ramp linear wherever all 8 taps are inside the image.
    ramp = np.tile(np.arange(20.0), (6, 1))
    out = niqe_mod.imresize(ramp, 0.5)
    interior = np.arange(2, 8)  # taps 2i-3 .. 2i+4 lie within 0..19
    np.testing.assert_array_equal(out[:, interior], np.tile(2.0 * interior + 0.5, (3, 1)))
    # Left border: taps -3..4 read samples [2, 1, 0, 0, 1, 2, 3, 4] (symmetric padding).
    expected_border = HALF_TAPS @ np.array([2, 1, 0, 0, 1, 2, 3, 4.0])
    assert out[0, 0] == expected_border == 115 / 256


def test_imresize_half_impulse_gives_kernel_taps():
    image = np.zeros((16, 16))
    image[8, 8] = 1.0
    out = niqe_mod.imresize(image, 0.5)
    # Input index 8 feeds output i through tap 8 - (2i - 3) = 11 - 2i.
    profile = np.zeros(8)
    for i in range(2, 6):
        profile[i] = HALF_TAPS[11 - 2 * i]
    np.testing.assert_allclose(out, np.outer(profile, profile), rtol=0, atol=1e-15)


# --------------------------------------------------------------------- PSNR / SSIM


def test_psnr_identical_is_inf():
    image = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert fidelity.psnr(image, image.copy()) == math.inf


def test_psnr_known_mse():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[::2] += 10  # half the rows differ by 10 -> MSE 50 (no uint8 wrap-around)
    assert fidelity.psnr(a, b) == pytest.approx(10 * math.log10(255.0**2 / 50.0), abs=1e-10)
    assert fidelity.psnr(b, a) == fidelity.psnr(a, b)


def test_ssim_identical_is_one():
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert fidelity.ssim(image, image.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_different_is_below_one():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    assert 0.0 < fidelity.ssim(a, b) < 1.0


def test_fidelity_rejects_bad_inputs():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        fidelity.psnr(a, np.zeros((16, 17, 3), np.uint8))
    with pytest.raises(ValueError, match="same shape"):
        fidelity.ssim(a, np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        fidelity.psnr(a, np.full((16, 16, 3), 300.0))


# ----------------------------------------------------------------------------- CLI


def _run_cli(*paths):
    return subprocess.run(
        [sys.executable, "-m", "gladnet_tf.metrics.niqe", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def _noise_png(path, size=(128, 112)):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_cli_one_line_per_image(tmp_path):
    first = _noise_png(tmp_path / "a.png")
    second = _noise_png(tmp_path / "b.png", size=(160, 100))
    result = _run_cli(first, second)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, (first, second)):
        name, score = line.split("\t")
        assert name == str(path)
        assert math.isfinite(float(score))
    expected = niqe_mod.niqe(niqe_mod._read_rgb(first))
    assert float(lines[0].split("\t")[1]) == pytest.approx(expected, abs=1e-4)


def test_cli_bad_file_reports_and_continues(tmp_path):
    good = _noise_png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    missing = tmp_path / "missing.png"
    result = _run_cli(bad, good, missing)
    assert result.returncode != 0
    assert result.stdout.splitlines()[0].startswith(f"{good}\t")
    assert len(result.stdout.splitlines()) == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert str(bad) in errors[0] and str(missing) in errors[1]


def test_read_rgb_applies_exif_orientation(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored 40 wide x 20 high
    Image.new("RGB", (40, 20), (10, 20, 30)).save(path, exif=exif)
    assert niqe_mod._read_rgb(path).shape == (40, 20, 3)
