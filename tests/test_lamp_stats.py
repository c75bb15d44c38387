"""results/lamp_stats.py: which low images count as lamp-like, and the brightness it reports."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import load_script


@pytest.fixture(scope="module")
def lamp_stats():
    return load_script("results/lamp_stats.py")


def _pair(folder, name, low, high):
    for sub, image in (("low", low), ("high", high)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / sub / f"{name}.png")


def test_lamp_like_and_dark_pairs(tmp_path, lamp_stats):
    # A night photo with a lamp: 92 % of its pixels at 10/255, 8 % white.
    night = np.full((10, 10, 3), 10, np.uint8)
    night[:8, 0] = 255
    # A dim photo with no lights: all at 25/255.
    dim = np.full((10, 10, 3), 25, np.uint8)
    _pair(tmp_path, "night", night, np.full((10, 10, 3), 128, np.uint8))
    _pair(tmp_path, "dim", dim, np.full((10, 10, 3), 102, np.uint8))

    mean, median, bright = lamp_stats.low_stats(night / 255.0)
    np.testing.assert_allclose(mean, 0.92 * 10 / 255 + 0.08, atol=1e-6)
    np.testing.assert_allclose(median, 10 / 255, atol=1e-6)
    np.testing.assert_allclose(bright, 0.08)
    assert lamp_stats.is_lamp_like(median, bright)
    assert not lamp_stats.is_lamp_like(median, bright, min_bright_share=0.1)
    assert not lamp_stats.is_lamp_like(*lamp_stats.low_stats(dim / 255.0)[1:])

    rows = lamp_stats.folder_rows(tmp_path, enhance=lambda rgb: rgb * 4.0)  # dim first (sorted)
    assert [round(r["target"] * 255) for r in rows] == [102, 128]
    np.testing.assert_allclose(rows[0]["output"], 100 / 255, atol=1e-6)
    np.testing.assert_allclose(rows[1]["output"], 0.92 * 40 / 255 + 0.08, atol=1e-6)  # clipped at 1
    text = lamp_stats.summary(rows[:1], "dark")
    assert "n=1" in text and "output/target 0.98" in text
