"""results/tone_conventions.py: a paired set's tone curve and what it predicts for an image."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import load_script, run_python


@pytest.fixture(scope="module")
def tones():
    return load_script("results/tone_conventions.py")


def test_pooled_curve_pools_pixels_and_predicts_a_mean(tones):
    # Two pairs: the target doubles the darkest bin's pixels and keeps the brightest ones.
    low_a = np.array([[0.02, 0.02], [0.9, 0.9]])
    low_b = np.array([[0.04, 0.04], [0.04, 0.8]])
    high_a = np.array([[0.04, 0.04], [0.9, 0.9]])
    high_b = np.array([[0.08, 0.08], [0.08, 0.8]])
    mean_in, mean_out, counts = tones.pooled_curve([(low_a, high_a), (low_b, high_b)])
    assert counts.tolist() == [5, 0, 0, 0, 0, 3]
    np.testing.assert_allclose(mean_in[0], (0.02 * 2 + 0.04 * 3) / 5)
    np.testing.assert_allclose(mean_out[0], (0.04 * 2 + 0.08 * 3) / 5)
    np.testing.assert_allclose(mean_out[5], (0.9 * 2 + 0.8) / 3)
    assert np.isnan(mean_out[1])  # an empty bin has no mean
    # A picture half in the darkest bin, half in the brightest, gets the two bins' mean.
    picture = np.array([[0.01, 0.95]])
    np.testing.assert_allclose(tones.predicted_mean(picture, mean_out), (0.064 + (2.6 / 3)) / 2)
    # A pixel in a bin the set never filled leaves the prediction undefined, not darker.
    assert np.isnan(tones.predicted_mean(np.array([[0.01, 0.07]]), mean_out))


def test_pair_paths_match_stems_in_either_layout(tmp_path, tones):
    for low, high in (("low", "high"), ("input", "target")):
        root = tmp_path / low
        for sub, names in ((low, ("a.png", "b.png", "c.png")), (high, ("a.png", "b.jpg"))):
            (root / sub).mkdir(parents=True)
            for name in names:
                Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(root / sub / name)
        assert [(p.name, q.name) for p, q in tones.pair_paths(root)] == [("a.png", "a.png"), ("b.png", "b.jpg")]
    with pytest.raises(ValueError, match="no low/ and high/"):
        tones.pair_paths(tmp_path / "low" / "low")


def test_command_prints_each_convention_against_the_samples(tmp_path):
    """End to end on stand-ins: samples whose official output is twice the input, and a set whose
    targets are three times the input, so its curve gives every sample 1.50 of the official brightness."""
    samples, pairs = tmp_path / "samples", tmp_path / "pairs"
    rng = np.random.default_rng(0)
    for name, out in (("4.bmp", "4_glad.png"), ("chinese_garden3.png", "chinese_garden3_glad.png"),
                      ("kluki1.png", "kluki1_glad.png")):
        low = np.full((8, 8, 3), 10 * (1 + rng.integers(0, 3)), np.uint8)
        for folder, image, file in (("eval-low", low, name), ("pr4-tf2-port-results", 2 * low, out)):
            (samples / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(samples / folder / file)
    for sub, value in (("low", 10), ("high", 30)):
        (pairs / sub).mkdir(parents=True)
        for k in range(1, 4):
            Image.fromarray(np.full((8, 8, 3), value * k, np.uint8)).save(pairs / sub / f"{k}.png")
    result = run_python(["results/tone_conventions.py", "--pairs", str(pairs), "--samples", str(samples)])
    assert result.returncode == 0, result.stderr
    assert "pairs (3)" in result.stdout
    assert "4.bmp: 1.50   chinese_garden3.png: 1.50   kluki1.png: 1.50" in result.stdout
