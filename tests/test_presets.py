"""Golden outputs: every shipped preset, read and run as ``test.py`` does, on a fixed input.

A changed weights file, a changed preprocessing step (decoding, the legacy resize, tiling,
quantisation) or a preset added without its golden output fails here. The golden outputs
(``tests/golden/presets.npz``) are rewritten on purpose only, with
``python tests/scripts/make_golden.py``.
"""

import hashlib
import pathlib

import numpy as np
import pytest

from gladnet_tf import checkpoints, images

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "presets.npz"
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "sample_images" / "chelsea_dark.png"
# An odd-sized crop, so that the 96x96 global branch resizes by uneven factors both ways.
CROP = (slice(40, 113), slice(60, 165))
# 8-bit outputs computed on another CPU may differ by a rounding step at a few values
# (float32 sums in another order); a changed weights file or preprocessing step changes many.
MAX_LEVEL_STEPS = 1
MAX_CHANGED_FRACTION = 0.002


def golden_input():
    """float32 73x105x3 RGB in [0, 1]: a crop of a shipped sample image, decoded by ``images``."""
    return np.ascontiguousarray(images.read(str(SAMPLE)).rgb[CROP])


def preset_output(weights, image):
    """uint8 HxWx3: the preset's output on ``image``, quantised as ``test.py`` saves it."""
    from gladnet_tf import inference

    output = inference.Enhancer(weights, tile=64).enhance(image)  # tiled: 73x105 > 64^2
    return images.quantize(np.clip(output, 0.0, 1.0))


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: run python tests/scripts/make_golden.py")
    with np.load(GOLDEN) as stored:
        return {name: stored[name] for name in stored.files}


def test_every_shipped_preset_has_a_golden_output(golden):
    assert set(golden) == set(checkpoints.presets()), (
        "shipped presets and golden outputs differ: run python tests/scripts/make_golden.py")


def test_golden_input_is_a_dark_crop():
    image = golden_input()
    assert image.shape == (73, 105, 3) and image.dtype == np.float32
    assert 0.0 < image.mean() < 0.25  # a low-light input, not a blank one


@pytest.mark.parametrize("name", list(checkpoints.presets()))
def test_preset_output_matches_golden(name, golden):
    record = checkpoints.presets()[name]
    assert checkpoints.sha256_of(record["path"]) == record["sha256"], f"{record['path']} changed"
    output, expected = preset_output(record["path"], golden_input()), golden[name]
    assert output.shape == expected.shape
    if _digest(output) == _digest(expected):
        return
    steps = np.abs(output.astype(np.int16) - expected.astype(np.int16))
    changed = float(np.mean(steps > 0))
    assert steps.max() <= MAX_LEVEL_STEPS and changed <= MAX_CHANGED_FRACTION, (
        f"{name}: output differs from the golden one (checksum {_digest(output)} != "
        f"{_digest(expected)}; {changed:.2%} of values, by up to {steps.max()} levels)")
