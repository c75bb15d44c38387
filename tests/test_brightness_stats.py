"""results/brightness_stats.py: the statistics it prints are the ones it says."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import load_script


@pytest.fixture(scope="module")
def stats():
    return load_script("results/brightness_stats.py")


def test_folder_stats_numbers_and_low_subfolder(tmp_path, stats):
    low = tmp_path / "pairs" / "low"
    low.mkdir(parents=True)
    # 3/4 of the pixels at 51 (0.2), 1/4 at 255 (1.0): mean 0.4, 25 % above 0.6.
    image = np.full((8, 8, 3), 51, np.uint8)
    image[:2] = 255
    Image.fromarray(image).save(low / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(low / "b.png")
    (low / "notes.txt").write_text("not an image")
    count, values = stats.folder_stats(tmp_path / "pairs", threshold=0.6)
    assert count == 2
    mean, p50, p95, p99, above = values
    np.testing.assert_allclose(mean, (0.4 + 0.0) / 2, atol=1e-6)
    np.testing.assert_allclose(p50, (0.2 + 0.0) / 2, atol=1e-6)
    np.testing.assert_allclose(p99, (1.0 + 0.0) / 2, atol=1e-6)
    np.testing.assert_allclose(above, (0.25 + 0.0) / 2)
    with pytest.raises(ValueError, match="no images"):
        stats.folder_stats(tmp_path)
