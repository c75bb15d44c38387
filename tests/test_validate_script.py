"""results/validate.py: the tone curve and the neutral-pixel colour bias are what they say."""

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def validate():
    return load_script("results/validate.py")


def test_tone_curve_bins_pixels_by_input_luma_and_weights_images_by_pixels(validate):
    # Image 1: 3 gray pixels at 0.02 (bin 0) mapped to target 0.3 / output 0.2, one at 0.5
    # (bin [0.4, 0.7)) kept at 0.5 / output 0.6. Image 2: one gray pixel at 0.03 -> 0.5 / 0.1.
    low1 = np.array([0.02, 0.02, 0.02, 0.5])[:, None, None] * np.ones((1, 1, 3))
    target1 = np.array([0.3, 0.3, 0.3, 0.5])[:, None, None] * np.ones((1, 1, 3))
    output1 = np.array([0.2, 0.2, 0.2, 0.6])[:, None, None] * np.ones((1, 1, 3))
    low2, target2, output2 = (np.full((1, 1, 3), v) for v in (0.03, 0.5, 0.1))
    sums = validate.tone_sums(low1, output1, target1) + validate.tone_sums(low2, output2, target2)
    curve = validate.tone_curve(sums)
    assert len(curve["share"]) == len(validate.TONE_BINS) - 1
    assert curve["share"][0] == pytest.approx(0.8) and curve["share"][4] == pytest.approx(0.2)
    assert curve["input"][0] == pytest.approx((3 * 0.02 + 0.03) / 4)
    assert curve["target"][0] == pytest.approx((3 * 0.3 + 0.5) / 4)  # pixel-weighted, not per image
    assert curve["output"][0] == pytest.approx((3 * 0.2 + 0.1) / 4)
    assert curve["output"][4] == pytest.approx(0.6) and curve["target"][4] == pytest.approx(0.5)
    assert curve["share"][1] == 0 and curve["output"][1] == 0  # an empty bin is 0, not NaN


def test_tone_curve_uses_luma_not_the_channel_mean(validate):
    # Pure green at 0.15 has luma 0.587 * 0.15 = 0.088: bin [0.05, 0.1), not the mean's 0.05 bin.
    low = np.zeros((2, 2, 3))
    low[..., 1] = 0.15
    curve = validate.tone_curve(validate.tone_sums(low, low, low))
    assert curve["share"][1] == 1.0
    assert curve["input"][1] == pytest.approx(0.587 * 0.15, abs=1e-4)  # logged to 4 decimals


def test_neutral_bias_sees_a_pink_cast_only_on_neutral_pixels(validate):
    target = np.full((10, 10, 3), 0.5)
    target[:5, :, 0] = 0.9  # a red half: not neutral, ignored
    output = target.copy()
    output[5:, :, 0] += 0.03  # pink on the neutral half
    output[5:, :, 2] += 0.01
    rg, bg = validate.neutral_bias(output, target)
    assert rg == pytest.approx(0.03) and bg == pytest.approx(0.01)
    assert validate.neutral_bias(output, np.zeros((10, 10, 3))) is None  # too dark to count


def test_exposure_matched_finds_the_gain_and_clips(validate):
    rng = np.random.default_rng(0)
    target = rng.uniform(0.05, 0.6, (8, 8, 3))
    gain, matched = validate.exposure_matched(0.5 * target, target)
    assert gain == pytest.approx(2.0) and np.allclose(matched, target)  # too dark by half: x2
    # A gain that overshoots 1 is clipped, and a wrong tone curve is not a matter of gain.
    output = np.array([0.45, 0.01])[:, None, None] * np.ones((1, 1, 3))
    target2 = np.array([1.0, 0.5])[:, None, None] * np.ones((1, 1, 3))
    gain, matched = validate.exposure_matched(output, target2)
    assert gain == pytest.approx(0.455 / 0.2026) and 0.45 * gain > 1.0
    assert matched.max() == 1.0 and matched[1, 0, 0] == pytest.approx(0.01 * gain)
    curved = target ** 2
    gain, matched = validate.exposure_matched(curved, target)
    assert np.mean((matched - target) ** 2) > 1e-3  # no single factor undoes a gamma of 2
    assert np.mean((matched - target) ** 2) < np.mean((curved - target) ** 2)


def test_summary_gives_the_mean_gain_and_its_spread_over_images(validate):
    rows = [{"psnr": 20.0, "gain": g, "tone": np.zeros((len(validate.TONE_BINS) - 1, 4))}
            for g in (0.9, 1.1, 1.3)]
    summary = validate.summarise(rows)
    assert summary["gain"] == pytest.approx(1.1) and summary["gain_sd"] == pytest.approx(0.1633, abs=1e-4)
    assert summary["n"] == 3 and summary["psnr"] == 20.0


def test_one_gain_for_the_set_is_the_least_squares_over_all_pixels(validate):
    rng = np.random.default_rng(1)
    t1, t2 = rng.uniform(0.1, 0.5, (6, 6, 3)), rng.uniform(0.1, 0.5, (4, 4, 3))
    o1, o2 = 0.5 * t1, t2.copy()  # one image half as bright, one exact
    terms = [validate.gain_terms(o1, t1), validate.gain_terms(o2, t2)]
    gain, mean_psnr = validate.set_gain_psnr(terms)
    both_o = np.concatenate([o1.ravel(), o2.ravel()])
    both_t = np.concatenate([t1.ravel(), t2.ravel()])
    assert gain == pytest.approx(np.dot(both_o, both_t) / np.dot(both_o, both_o))
    assert 1.0 < gain < 2.0  # between what each image alone asks for
    expected = np.mean([10 * np.log10(1 / np.mean((gain * o - t) ** 2)) for o, t in ((o1, t1), (o2, t2))])
    assert mean_psnr == pytest.approx(expected)


def test_selection_scores_need_their_sets(validate):
    summaries = {"val-lol20": {"psnr": 20.0}, "val-fivek100": {"psnr": 22.0}, "val-syn": {"psnr": 24.5}}
    assert validate.selection_scores(summaries) == (pytest.approx(22.1667, abs=1e-4), 21.0)
    # Only the two real splits scored (--sets val-lol20,val-fivek100): score_real alone.
    del summaries["val-syn"]
    assert validate.selection_scores(summaries) == (None, 21.0)
    assert validate.selection_scores({"val-syn": {"psnr": 24.5}}) == (None, None)


def test_the_log_names_a_file_by_its_place_in_the_checkout_not_the_machine(validate, tmp_path):
    inside = Path(validate.REPO) / "checkpoints" / "x.weights.h5"
    assert validate._logged_path(inside) == os.path.join("checkpoints", "x.weights.h5")
    outside = tmp_path / "y.weights.h5"
    assert validate._logged_path(outside) == str(outside)
