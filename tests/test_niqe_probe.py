"""results/niqe_probe.py: the probe's variants are what they say, and it scores each of them."""

import numpy as np
import pytest

from gladnet_tf import images
from tests.conftest import load_script, shared_path


@pytest.fixture(scope="module")
def probe_script():
    return load_script("results/niqe_probe.py")


def _textured(seed=0, size=192):
    """A photo-like test image: smooth shading plus fine random texture, float RGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.3 + 0.4 * np.sin(3 * x + 2 * y)[..., None] * np.array([1.0, 0.8, 0.6])
    return np.clip(base + 0.08 * rng.standard_normal((size, size, 3)), 0, 1)


def test_the_exposure_gain_undoes_a_uniform_darkening(probe_script):
    target = _textured()
    assert probe_script.exposure_matched(0.5 * target, target)[0] == pytest.approx(2.0)
    v = probe_script.variants(0.25 * target, target, 0.5 * target)
    np.testing.assert_array_equal(v["target"], images.quantize(target))
    assert np.abs(v["output_gain"].astype(int) - v["target"].astype(int)).max() <= 1
    assert v["input"].mean() < v["output"].mean() < v["target"].mean()


def test_blurring_raises_niqe_and_the_probe_scores_every_variant(probe_script, tmp_path):
    from PIL import Image

    photo = shared_path("reference", "niqe", "images", "live_niqe_image1.png")  # a pristine LIVE photo
    target = np.asarray(Image.open(photo).convert("RGB"), np.float32)[:288, :384] / 255
    for side, image in (("low", 0.2 * target), ("high", target)):
        (tmp_path / side).mkdir()
        Image.fromarray(images.quantize(image)).save(tmp_path / side / "a.png")
    scores = probe_script.probe(str(tmp_path), lambda low: np.clip(low * 5, 0, 1))
    assert set(scores) == set(probe_script.VARIANTS) and all(len(s) == 1 for s in scores.values())
    assert scores["target_blur1"][0] > scores["target"][0] + 1.0  # this photo's texture is lost to a blur
    from gladnet_tf.metrics.niqe import niqe  # the probe scores the 8-bit images it is given

    assert scores["target"][0] == pytest.approx(niqe(images.quantize(target)))
    assert scores["output"][0] == pytest.approx(niqe(images.quantize(np.clip(
        np.asarray(Image.open(tmp_path / "low" / "a.png"), np.float32) / 255 * 5, 0, 1))))
