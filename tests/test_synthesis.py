"""Property tests for the synthesis: degradation, develop and synthesis (fast, CPU, tiny
images, fixed seeds)."""

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import degradation, develop, synthesis
from gladnet_tf.degradation import (
    SynthesisOptions,
    apply_exposure_contrast,
    linear_to_srgb,
    srgb_to_linear,
    synthesize_pair,
)
from gladnet_tf.synthesis import make_dataset, variant_rng

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
RAW_DIR = SHARED / "datasets" / "raw"

# Only the core exposure/contrast, no tricks: the paper's plain pair.
PLAIN = dict(black_pair_prob=0.0, white_pair_prob=0.0, gray_prob=0.0, saturation_prob=0.0,
             noise_prob=0.0)


def random_linear(rng, height=17, width=23):
    """A random linear image with exact 0s, exact 1s, a gradient and noise."""
    image = rng.random((height, width, 3), dtype=np.float32) ** rng.uniform(0.3, 3.0)
    image[0, :3] = 0.0
    image[0, 3:6] = 1.0
    image[1] = np.linspace(0.0, 1.0, width, dtype=np.float32)[:, None]
    return image


def write_png(path, array):
    Image.fromarray(array).save(path)


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------- transfer functions


def test_srgb_8bit_round_trip_is_exact():
    codes = np.arange(256, dtype=np.uint8)
    back = degradation.quantize(linear_to_srgb(srgb_to_linear(codes / 255.0)))
    np.testing.assert_array_equal(back, codes)


def test_srgb_known_values():
    np.testing.assert_allclose(linear_to_srgb(np.array([0.0, 0.18, 1.0])),
                               [0.0, 0.461356, 1.0], atol=1e-6)
    np.testing.assert_allclose(srgb_to_linear(np.array([0.04045, 0.5])),
                               [0.04045 / 12.92, 0.214041], atol=1e-6)


# ----------------------------------------------------------------- exposure / contrast


def test_exposure_is_a_power_of_two_and_contrast_zero_is_identity():
    x = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    np.testing.assert_array_equal(apply_exposure_contrast(x, 0.0, 0.0), x)
    np.testing.assert_array_equal(apply_exposure_contrast(x, -1.0, 0.0), x / 2)
    np.testing.assert_allclose(apply_exposure_contrast(x, -5.0, 0.0), x / 32, rtol=1e-6)


def test_contrast_curve_shape():
    x = np.linspace(0.0, 1.0, 2001, dtype=np.float64)
    pivot = 0.18
    for contrast in (-1.0, -37.0, -100.0):
        y = apply_exposure_contrast(x, 0.0, contrast)
        assert np.all(np.diff(y) >= 0), "contrast curve must be monotone"
        np.testing.assert_array_equal(y[x <= pivot], x[x <= pivot].astype(np.float32))
        assert np.all(y[x > 0.2] < x[x > 0.2])
    # The curve itself (no float32 guard) stays at or below the identity, and the guard in
    # apply_exposure_contrast only absorbs rounding error.
    encoded = linear_to_srgb(x)
    for contrast in np.linspace(-100.0, 0.0, 21):
        curved = degradation._contrast_curve(encoded, contrast)
        assert np.all(curved <= encoded) and np.all(np.diff(curved) >= 0)
        unguarded = srgb_to_linear(degradation._contrast_curve(linear_to_srgb(
            x.astype(np.float32)), contrast))
        guarded = apply_exposure_contrast(x, 0.0, contrast)
        assert np.abs(unguarded - guarded).max() < 1e-6
    # At C = -100 white lands halfway between mid-grey and white, in sRGB-encoded units.
    white = apply_exposure_contrast(np.array([1.0]), 0.0, -100.0)
    midpoint = (1.0 + linear_to_srgb(np.float64(0.18))) / 2.0
    np.testing.assert_allclose(linear_to_srgb(white), [midpoint], atol=1e-6)


def test_low_never_brighter_than_high_in_linear_light():
    rng = np.random.default_rng(1234)
    endpoints = [(0.0, 0.0), (0.0, -100.0), (-5.0, 0.0), (-5.0, -100.0), (-1e-4, -100.0)]
    draws = endpoints + [(rng.uniform(-5, 0), rng.uniform(-100, 0)) for _ in range(300)]
    for exposure_ev, contrast in draws:
        image = random_linear(rng)
        low = apply_exposure_contrast(image, exposure_ev, contrast)
        assert low.dtype == np.float32 and low.shape == image.shape
        assert np.all(low <= image), (exposure_ev, contrast)
        assert np.all(low >= 0.0)


@pytest.mark.parametrize("saturation_target", ["pair", "low"])
def test_synthesized_pairs_keep_low_at_or_below_high(saturation_target):
    options = SynthesisOptions(gray_prob=0.2, saturation_prob=0.5,
                               saturation_target=saturation_target)
    rng = np.random.default_rng(7)
    tricks = set()
    for _ in range(200):
        image = random_linear(rng)
        low, high, params = degradation._synthesize_linear(image, rng, options)
        tricks.update(params["tricks"])
        if saturation_target == "pair" or "saturation" not in params["tricks"]:
            # Per pixel and per channel, in linear light (no noise), and after encoding.
            assert np.all(low <= high), params
            low8, high8 = (degradation.quantize(linear_to_srgb(v)) for v in (low, high))
            assert np.all(low8 <= high8), params
        else:
            # Desaturating the low image alone moves channels toward its luminance; the
            # luminance itself is unchanged, so it is still never brighter.
            assert np.all(degradation.luminance(low) <= degradation.luminance(high) + 1e-6)
    assert {"gray", "saturation"} <= tricks


def test_zero_exposure_and_contrast_is_identity_for_8bit_images():
    rng = np.random.default_rng(0)
    image8 = rng.integers(0, 256, (31, 45, 3), dtype=np.uint8)
    linear = srgb_to_linear(image8 / 255.0)
    options = SynthesisOptions(exposure_range=(0.0, 0.0), contrast_range=(0.0, 0.0), **PLAIN)
    low, high, params = synthesize_pair(linear, rng, options)
    assert low.dtype == high.dtype == np.uint8
    assert params["exposure_ev"] == 0.0 and params["contrast"] == 0.0
    for output in (low, high):
        assert np.abs(output.astype(int) - image8.astype(int)).max() <= 1


def test_zero_exposure_and_contrast_through_files_is_identity(tmp_path):
    rng = np.random.default_rng(3)
    image8 = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    write_png(tmp_path / "in" / "a.png", image8)
    options = SynthesisOptions(exposure_range=(0.0, 0.0), contrast_range=(0.0, 0.0), **PLAIN)
    make_dataset(tmp_path / "in", tmp_path / "out", options, max_side=1024)
    for folder in ("low", "high"):
        written = np.asarray(Image.open(tmp_path / "out" / folder / "a_0.png"))
        assert np.abs(written.astype(int) - image8.astype(int)).max() <= 1


# ----------------------------------------------------------------- tricks


def test_gray_pairs_have_equal_channels():
    options = SynthesisOptions(**{**PLAIN, "gray_prob": 1.0})
    rng = np.random.default_rng(5)
    for _ in range(10):
        low, high, params = synthesize_pair(random_linear(rng), rng, options)
        assert params["tricks"] == ["gray"]
        for output in (low, high):
            assert np.array_equal(output[..., 0], output[..., 1])
            assert np.array_equal(output[..., 1], output[..., 2])
        assert np.all(low <= high)


@pytest.mark.parametrize("bit_depth,top", [(8, 255), (16, 65535)])
def test_black_and_white_pairs(bit_depth, top):
    image = random_linear(np.random.default_rng(0), 9, 11)
    for kind, value in (("black", 0), ("white", top)):
        options = SynthesisOptions(**{**PLAIN, f"{kind}_pair_prob": 1.0}, bit_depth=bit_depth)
        low, high, params = synthesize_pair(image, np.random.default_rng(1), options)
        assert params == {"kind": kind, "tricks": [kind]}
        for output in (low, high):
            assert output.shape == (9, 11, 3)
            assert output.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
            assert np.all(output == value)


def test_saturation_reduction_keeps_luminance_and_lowers_chroma():
    image = random_linear(np.random.default_rng(2))
    reduced = degradation.reduce_saturation(image, 0.4)
    np.testing.assert_allclose(degradation.luminance(reduced), degradation.luminance(image),
                               atol=1e-6)
    spread = lambda x: x.max(axis=-1) - x.min(axis=-1)  # noqa: E731
    np.testing.assert_allclose(spread(reduced), 0.4 * spread(image), atol=1e-6)


def test_noise_changes_only_the_low_image_and_not_the_draws():
    image = random_linear(np.random.default_rng(4), 32, 32) * 0.5 + 0.25
    quiet = SynthesisOptions(**PLAIN)
    noisy = SynthesisOptions(**{**PLAIN, "noise_prob": 1.0})
    low_q, high_q, params_q = synthesize_pair(image, np.random.default_rng(9), quiet)
    low_n, high_n, params_n = synthesize_pair(image, np.random.default_rng(9), noisy)
    np.testing.assert_array_equal(high_q, high_n)
    assert params_n["exposure_ev"] == params_q["exposure_ev"]
    assert params_n["contrast"] == params_q["contrast"]
    assert params_n["tricks"] == ["noise"] and params_n["noise_photons_at_white"] > 0
    assert not np.array_equal(low_q, low_n)


def left_to_right_ramp(height=20, width=100):
    """Gray linear image whose encoded value rises evenly from 0.05 (left) to 0.95 (right)."""
    encoded = np.linspace(0.05, 0.95, width, dtype=np.float32)
    return np.broadcast_to(srgb_to_linear(encoded)[None, :, None], (height, width, 3)).copy()


def test_backlight_map_darkens_the_dark_side_and_keeps_the_bright_side():
    image = left_to_right_ramp()
    ev = degradation.backlight_ev_map(image, -3.0, blur_fraction=0.01, quantile=0.3)
    assert ev.shape == image.shape[:2] and ev.dtype == np.float32
    assert np.all(ev >= -3.0) and np.all(ev <= 0.0)
    # The darkest 30 % of the columns get the full exposure, the brightest half none, and
    # the map rises in between (a smoothstep between the 30 % and 50 % quantiles).
    np.testing.assert_allclose(ev[:, :28], -3.0)
    np.testing.assert_allclose(ev[:, 52:], 0.0)
    assert np.all(np.diff(ev[10]) >= 0.0)
    assert -3.0 < ev[10, 40] < 0.0
    with pytest.raises(ValueError):
        degradation.backlight_ev_map(image, 0.5, blur_fraction=0.02, quantile=0.3)


def test_backlit_pairs_keep_low_at_or_below_high_and_the_same_draws():
    rng = np.random.default_rng(8)
    plain = SynthesisOptions(**PLAIN)
    backlit = SynthesisOptions(**{**PLAIN, "backlight_prob": 1.0})
    for index in range(60):
        image = random_linear(rng, 24, 32)
        low, high, params = degradation._synthesize_linear(image, variant_rng(1, "x", index),
                                                         backlit)
        _, _, plain_params = degradation._synthesize_linear(image, variant_rng(1, "x", index),
                                                          plain)
        assert params["tricks"] == ["backlight"]
        # Turning the trick on draws nothing earlier: E and C stay those of the plain pair.
        assert params["exposure_ev"] == plain_params["exposure_ev"]
        assert params["contrast"] == plain_params["contrast"]
        assert np.all(low <= high), params
        # Never darker than the uniform exposure: the map lies in [E, 0].
        uniform = apply_exposure_contrast(image, params["exposure_ev"], params["contrast"])
        assert np.all(low >= uniform * np.float32(1 - 1e-6)), params


def test_backlit_low_image_keeps_its_highlights():
    image = left_to_right_ramp()
    options = SynthesisOptions(**{**PLAIN, "backlight_prob": 1.0, "contrast_range": (0.0, 0.0),
                                  "exposure_range": (-4.0, -4.0),
                                  "backlight_blur_range": (0.01, 0.01),
                                  "backlight_quantile_range": (0.3, 0.3)})
    low, high, params = degradation._synthesize_linear(image, np.random.default_rng(0), options)
    np.testing.assert_allclose(low[:, :28], high[:, :28] / 16.0, rtol=1e-5)
    np.testing.assert_array_equal(low[:, 52:], high[:, 52:])
    assert params["backlight_blur"] == 0.01 and params["backlight_quantile"] == 0.3
    assert "backlight_highlight" not in params  # the trick as first shipped records nothing new


def test_night_backlight_darkens_the_highlights_by_a_fraction_of_e():
    image = left_to_right_ramp()
    ev = degradation.backlight_ev_map(image, -4.0, blur_fraction=0.01, quantile=0.3,
                                    highlight_fraction=0.25)
    np.testing.assert_allclose(ev[:, :28], -4.0)
    np.testing.assert_allclose(ev[:, 52:], -1.0)
    assert np.all(np.diff(ev[10]) >= 0.0)
    with pytest.raises(ValueError):
        degradation.backlight_ev_map(image, -4.0, blur_fraction=0.01, quantile=0.3,
                                   highlight_fraction=1.5)
    base = {**PLAIN, "backlight_prob": 1.0, "contrast_range": (0.0, 0.0),
            "exposure_range": (-4.0, -4.0), "backlight_blur_range": (0.01, 0.01),
            "backlight_quantile_range": (0.3, 0.3)}
    night = SynthesisOptions(**{**base, "backlight_highlight_range": (0.25, 0.25)})
    low, high, params = degradation._synthesize_linear(image, np.random.default_rng(0), night)
    np.testing.assert_allclose(low[:, 52:], high[:, 52:] / 2.0, rtol=1e-5)  # -1 EV
    np.testing.assert_allclose(low[:, :28], high[:, :28] / 16.0, rtol=1e-5)
    assert params["backlight_highlight"] == 0.25
    # The new draw comes last: E, C, blur and quantile match the trick without it.
    _, _, old = degradation._synthesize_linear(image, np.random.default_rng(0),
                                             SynthesisOptions(**base))
    assert {k: old[k] for k in old} == {k: params[k] for k in old}


def test_options_are_validated():
    with pytest.raises(ValueError):
        SynthesisOptions(exposure_range=(-1.0, 0.5))
    with pytest.raises(ValueError):
        SynthesisOptions(contrast_range=(-120.0, 0.0))
    with pytest.raises(ValueError):
        SynthesisOptions(gray_prob=1.5)
    with pytest.raises(ValueError):
        SynthesisOptions(saturation_target="high")
    with pytest.raises(ValueError):
        apply_exposure_contrast(np.zeros(3), 0.0, 20.0)
    with pytest.raises(ValueError):
        SynthesisOptions(backlight_prob=-0.1)
    with pytest.raises(ValueError):
        SynthesisOptions(backlight_quantile_range=(0.5, 0.9))
    with pytest.raises(ValueError):
        SynthesisOptions(backlight_blur_range=(-0.01, 0.05))
    with pytest.raises(ValueError):
        SynthesisOptions(backlight_highlight_range=(0.2, 1.2))


# ----------------------------------------------------------------- determinism


def test_same_seed_same_pair_and_names_decide_the_draws():
    image = random_linear(np.random.default_rng(0))
    first = synthesize_pair(image, variant_rng(5, "a/b.png", 0))
    second = synthesize_pair(image, variant_rng(5, "a/b.png", 0))
    for a, b in zip(first[:2], second[:2]):
        np.testing.assert_array_equal(a, b)
    assert first[2] == second[2]
    others = [synthesize_pair(image, rng)[2] for rng in (
        variant_rng(6, "a/b.png", 0), variant_rng(5, "a/c.png", 0), variant_rng(5, "a/b.png", 1))]
    assert all(other != first[2] for other in others)


def test_make_dataset_is_deterministic_and_independent_of_workers(tmp_path):
    rng = np.random.default_rng(11)
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "sub/c.png"):
        write_png(source / name, rng.integers(0, 256, (24, 28, 3), dtype=np.uint8))
    runs = []
    for output, workers in (("o1", 1), ("o2", 2)):
        make_dataset(source, tmp_path / output, seed=3, num_per_image=2, num_workers=workers)
        files = sorted(p.relative_to(tmp_path / output).as_posix()
                       for p in (tmp_path / output).rglob("*") if p.is_file())
        runs.append({f: file_digest(tmp_path / output / f) for f in files})
    assert runs[0] == runs[1]
    assert "low/sub__c_1.png" in runs[0] and "high/sub__c_1.png" in runs[0]
    make_dataset(source, tmp_path / "o3", seed=4, num_per_image=2)
    assert file_digest(tmp_path / "o3" / "synthesis.json") != runs[0]["synthesis.json"]


# ----------------------------------------------------------------- files and the CLI


def test_cli_writes_pairs_names_bad_files_and_fails(tmp_path):
    rng = np.random.default_rng(0)
    source, output = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    write_png(source / "good1.png", rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    write_png(source / "good2.png", rng.integers(0, 256, (40, 30), dtype=np.uint8))  # gray
    (source / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    (source / "empty.jpg").write_bytes(b"")
    (source / "notes.txt").write_text("not an image, ignored")
    before = {p.name: file_digest(p) for p in source.iterdir()}
    result = subprocess.run(
        [sys.executable, "-m", "gladnet_tf.synthesis", f"--input={source}",
         f"--output={output}", "--seed=1", "--num_per_image=1"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode != 0, result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert sorted(line.split()[1].rstrip(":") for line in failed) == ["corrupt.png", "empty.jpg"]
    names = ["good1_0.png", "good2_0.png"]
    assert sorted(os.listdir(output / "low")) == names
    assert sorted(os.listdir(output / "high")) == names
    for name in names:
        low = np.asarray(Image.open(output / "low" / name))
        high = np.asarray(Image.open(output / "high" / name))
        assert low.shape == high.shape and low.shape[-1] == 3 and low.dtype == np.uint8
    record = json.loads((output / "synthesis.json").read_text())
    assert sorted(record["pairs"]) == names
    assert record["pairs"]["good1_0.png"]["source"] == "good1.png"
    assert {"exposure_ev", "contrast", "tricks"} <= set(record["pairs"]["good1_0.png"]) or \
        record["pairs"]["good1_0.png"]["kind"] != "synthetic"
    assert sorted(f["source"] for f in record["failures"]) == ["corrupt.png", "empty.jpg"]
    assert {p.name: file_digest(p) for p in source.iterdir()} == before
    assert sorted(p.name for p in output.rglob("*") if p.is_file()) == sorted(
        [f"{n}" for n in names] * 2 + ["synthesis.json"])  # no temporary files left


def test_output_inside_input_is_not_scanned_and_inputs_are_untouched(tmp_path):
    write_png(tmp_path / "x.png", np.full((8, 8, 3), 128, np.uint8))
    before = file_digest(tmp_path / "x.png")
    for _ in range(2):
        report = make_dataset(tmp_path, tmp_path / "out")
        assert report.num_sources == 1 and list(report.records) == ["x_0.png"]
    assert file_digest(tmp_path / "x.png") == before


def test_max_side_downscales_in_linear_light(tmp_path):
    write_png(tmp_path / "big.png", np.full((60, 90, 3), 200, np.uint8))
    decoded = develop.read_rgb_linear(tmp_path / "big.png", max_side=30)
    assert decoded.image.shape == (20, 30, 3)
    np.testing.assert_allclose(decoded.image, srgb_to_linear(np.float32(200 / 255)), atol=1e-6)
    assert decoded.info["source_size"] == [90, 60]


def test_16bit_tiff_in_and_16bit_png_out(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(8)
    image16 = rng.integers(0, 65536, (12, 10, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", image16)
    decoded = develop.read_rgb_linear(tmp_path / "deep.tif")
    assert decoded.info["source_bits"] == 16
    options = SynthesisOptions(exposure_range=(0.0, 0.0), contrast_range=(0.0, 0.0),
                               bit_depth=16, **PLAIN)
    low, high, _ = synthesize_pair(decoded.image, rng, options)
    assert np.abs(high.astype(int) - image16.astype(int)).max() <= 1
    # Decode our 16-bit PNG writer's output by hand (filter 0 rows, one IDAT).
    data = synthesis._encode_png(high)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, color) == (10, 12, 16, 2)
    idat_length = struct.unpack(">I", data[33:37])[0]
    rows = np.frombuffer(zlib.decompress(data[41:41 + idat_length]), np.uint8)
    rows = rows.reshape(height, 1 + width * 6)
    assert np.all(rows[:, 0] == 0)
    decoded_png = rows[:, 1:].copy().view(">u2").reshape(height, width, 3)
    np.testing.assert_array_equal(decoded_png, high)


def test_16bit_color_png_is_read_at_full_precision(tmp_path):
    pytest.importorskip("tensorflow", reason="16-bit colour PNGs are decoded by TensorFlow")
    image16 = np.random.default_rng(12).integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    (tmp_path / "deep.png").write_bytes(synthesis._encode_png(image16))
    decoded = develop.read_rgb_linear(tmp_path / "deep.png")
    assert decoded.info["source_bits"] == 16
    back = degradation.quantize(linear_to_srgb(decoded.image), 16)
    assert np.abs(back.astype(int) - image16.astype(int)).max() <= 1


def test_import_has_no_side_effects():
    code = ("import sys; import gladnet_tf.synthesis; from absl import flags; "
            "assert 'tensorflow' not in sys.modules; assert 'input' not in flags.FLAGS; "
            "assert 'rawpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


# ----------------------------------------------------------------- raw files


def _raw_files():
    if not RAW_DIR.is_dir():
        pytest.skip(f"no raw samples at {RAW_DIR}")
    pytest.importorskip("rawpy", reason="rawpy is not installed (pip install rawpy)")
    files = sorted(p for p in RAW_DIR.iterdir() if p.suffix.lower() in develop.RAW_EXTENSIONS)
    if len(files) < 2:
        pytest.skip(f"expected two raw samples in {RAW_DIR}, found {len(files)}")
    return files


def test_raw_files_give_pairs():
    files = _raw_files()
    assert any(not p.name.isascii() for p in files), "the non-ASCII file name is missing"
    for path in files:
        decoded = develop.read_raw_linear(path, max_side=256)
        image = decoded.image
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[-1] == 3
        assert max(image.shape[:2]) == 256
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.mean() > 0.01
        low, high, params = synthesize_pair(
            image, variant_rng(0, path.name, 0), SynthesisOptions(**PLAIN))
        assert low.shape == high.shape == image.shape and np.all(low <= high)
        assert params["kind"] == "synthetic"
    # The KDC stores no white balance (all 1.0): auto white balance is used instead.
    kdc = develop.read_raw_linear(next(p for p in files if p.suffix == ".KDC"), max_side=256)
    assert kdc.info["white_balance"] == "auto"


def test_raw_black_level_maps_to_zero():
    import rawpy

    files = _raw_files()
    dng = next(p for p in files if p.suffix.lower() == ".dng")
    with rawpy.imread(str(dng)) as raw:
        black = max(raw.black_level_per_channel)
        # This DNG's last 4 columns hold no image. A copy: the array is a view into the
        # decoder's buffer, which is freed when the file is closed (reading it after the
        # ``with`` crashed the test process at random).
        border = raw.raw_image_visible[:, -4:].copy()
        width = raw.sizes.iwidth
    assert border.max() <= black
    # Half-size decoding (2x2 bins) without the default crop: the border becomes 2 columns.
    decoded = develop.read_raw_linear(dng, max_side=width // 2, crop=False)
    assert decoded.info["half_size"] and decoded.image.shape[1] == width // 2
    assert np.all(decoded.image[:, -2:] == 0.0)
    assert decoded.image[:, :-2].mean() > 0.05
    # "auto" raises the KDC's stored black level (0) to the floor of its data.
    kdc = next(p for p in files if p.suffix == ".KDC")
    auto = develop.read_raw_linear(kdc, max_side=256, black_point="auto")
    assert auto.info["black_level"] == [0, 0, 0, 0] and auto.info["black_level_used"] > 0
    # ... but keeps a stored non-zero black level (the DNG's 512).
    auto_dng = develop.read_raw_linear(dng, max_side=256, black_point="auto")
    assert auto_dng.info["black_level_used"] == black == 512


def test_target_lift_brightens_only_the_target_and_more_for_darker_pairs():
    image = left_to_right_ramp()
    base = {**PLAIN, "contrast_range": (0.0, 0.0), "exposure_range": (-4.0, -4.0)}
    lifted = SynthesisOptions(**{**base, "target_lift_range": (0.5, 0.5)})
    low, high, params = degradation._synthesize_linear(image, np.random.default_rng(0), lifted)
    plain_low, plain_high, plain = degradation._synthesize_linear(
        image, np.random.default_rng(0), SynthesisOptions(**base))
    np.testing.assert_array_equal(low, plain_low)  # the input comes from the unlifted source
    power = 1.0 - 0.5 * (4.0 / 5.0)
    assert params["target_lift_power"] == pytest.approx(power)
    expected = degradation.linear_to_srgb(plain_high) ** power
    np.testing.assert_allclose(degradation.linear_to_srgb(high), expected, atol=2e-5)
    inner = plain_high[:, 10:-10]
    assert np.all(high[:, 10:-10] > inner)  # every mid-tone brighter
    assert {k: plain[k] for k in plain if k != "tricks"} == {
        k: params[k] for k in plain if k != "tricks"}  # the new draw comes last
    assert degradation.target_lift_power(0.0, 0.5) == 1.0
    assert degradation.target_lift_power(-7.0, 0.5) == 0.5
    assert degradation.target_lift_power(-2.5, 0.4) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        SynthesisOptions(target_lift_range=(0.2, 1.0))
    gray = SynthesisOptions(**{**base, "gray_prob": 1.0, "target_lift_range": (0.5, 0.5)})
    _, gray_high, _ = degradation._synthesize_linear(
        np.random.default_rng(1).random((8, 8, 3)).astype(np.float32),
        np.random.default_rng(0), gray)
    np.testing.assert_array_equal(gray_high[..., 0], gray_high[..., 1])
    np.testing.assert_array_equal(gray_high[..., 2], gray_high[..., 1])


def test_target_lift_onset_leaves_mildly_darkened_pairs_unlifted():
    # E0 = -2: nothing above it, the full strength at -5 EV, linear in between.
    assert degradation.target_lift_power(-1.5, 0.6, onset_ev=-2.0) == 1.0
    assert degradation.target_lift_power(-2.0, 0.6, onset_ev=-2.0) == 1.0
    assert degradation.target_lift_power(-3.5, 0.6, onset_ev=-2.0) == pytest.approx(0.7)
    assert degradation.target_lift_power(-5.0, 0.6, onset_ev=-2.0) == pytest.approx(0.4)
    assert degradation.target_lift_power(-3.5, 0.6) == pytest.approx(1 - 0.6 * 0.7)  # E0 = 0
    with pytest.raises(ValueError, match="onset"):
        degradation.target_lift_power(-3.0, 0.5, onset_ev=-5.0)
    with pytest.raises(ValueError, match="target_lift_onset_ev"):
        SynthesisOptions(target_lift_onset_ev=0.5)
    image = left_to_right_ramp()
    base = {**PLAIN, "contrast_range": (0.0, 0.0), "target_lift_range": (0.5, 0.5),
            "target_lift_onset_ev": -2.0}
    mild = SynthesisOptions(**{**base, "exposure_range": (-1.0, -1.0)})
    _, high, params = degradation._synthesize_linear(image, np.random.default_rng(0), mild)
    _, plain_high, _ = degradation._synthesize_linear(
        image, np.random.default_rng(0),
        SynthesisOptions(**{**base, "exposure_range": (-1.0, -1.0), "target_lift_range": (0, 0)}))
    assert params["target_lift_power"] == 1.0
    np.testing.assert_allclose(high, plain_high, atol=1e-6)  # a power of 1 changes nothing
    dark = SynthesisOptions(**{**base, "exposure_range": (-4.0, -4.0)})
    _, dark_high, dark_params = degradation._synthesize_linear(image, np.random.default_rng(0), dark)
    assert dark_params["target_lift_power"] == pytest.approx(1 - 0.5 * 2 / 3)
    assert np.all(dark_high[:, 10:-10] > plain_high[:, 10:-10])


def test_luma_target_lift_keeps_chroma_ratios_and_lifts_the_luma():
    rng = np.random.default_rng(4)
    encoded = (rng.random((16, 16, 3)) * 0.5).astype(np.float32)
    lifted = degradation.lift_encoded(encoded, 0.5, luma=True)
    weights = np.asarray(degradation.LUMINANCE_WEIGHTS, np.float32)
    y, y_lifted = encoded @ weights, lifted @ weights
    unclipped = lifted.max(axis=-1) < 1.0
    assert unclipped.mean() > 0.5
    np.testing.assert_allclose(y_lifted[unclipped], (y ** 0.5)[unclipped], rtol=1e-5)
    ratios = encoded / encoded.max(axis=-1, keepdims=True)
    lifted_ratios = lifted / lifted.max(axis=-1, keepdims=True)
    np.testing.assert_allclose(lifted_ratios[unclipped], ratios[unclipped], rtol=1e-5)
    gray = np.repeat(encoded[..., :1], 3, axis=-1)  # gray: both modes agree
    np.testing.assert_allclose(degradation.lift_encoded(gray, 0.5, luma=True),
                               degradation.lift_encoded(gray, 0.5), rtol=1e-5)
    black = np.zeros((2, 2, 3), np.float32)
    np.testing.assert_array_equal(degradation.lift_encoded(black, 0.5, luma=True), black)
    assert np.all(lifted <= 1.0)


def test_target_level_raises_dim_targets_to_the_drawn_level_and_never_darkens():
    rng = np.random.default_rng(3)
    dim = (0.05 * rng.random((64, 48, 3))).astype(np.float32)  # linear, encoded mean ~0.15
    base = {**PLAIN, "contrast_range": (0.0, 0.0), "exposure_range": (-3.0, -3.0)}
    plain_low, plain_high, plain = degradation._synthesize_linear(
        dim, np.random.default_rng(0), SynthesisOptions(**base))
    levelled = SynthesisOptions(**{**base, "target_level_range": (0.5, 0.5)})
    low, high, params = degradation._synthesize_linear(dim, np.random.default_rng(0), levelled)
    np.testing.assert_array_equal(low, plain_low)  # the input is untouched
    assert degradation.encoded_level(degradation.linear_to_srgb(plain_high)) < 0.3
    level = degradation.encoded_level(degradation.linear_to_srgb(high))
    assert level == pytest.approx(0.5, abs=0.01)  # bisection ran on a quarter sample
    assert "target_level" in params["tricks"] and params["target_level_power"] < 1.0
    order = np.argsort(plain_high.ravel())
    assert np.all(np.diff(high.ravel()[order]) >= -1e-6)  # a monotone tone curve
    assert {k: plain[k] for k in plain if k != "tricks"} == {
        k: params[k] for k in plain if k != "tricks"}  # the new draw comes last
    # A target already brighter than the level is left as it is.
    bright = np.full((32, 32, 3), 0.6, np.float32)
    _, bright_high, bright_params = degradation._synthesize_linear(
        bright, np.random.default_rng(0), levelled)
    np.testing.assert_array_equal(bright_high, bright)
    assert bright_params["target_level_power"] == 1.0
    assert "target_level" not in bright_params["tricks"]
    # Gray stays gray, in both the per-channel and the luma mode.
    for luma in (False, True):
        gray = SynthesisOptions(**{**base, "gray_prob": 1.0, "target_level_range": (0.5, 0.5),
                                   "target_lift_luma": luma})
        _, gray_high, _ = degradation._synthesize_linear(dim, np.random.default_rng(0), gray)
        np.testing.assert_allclose(gray_high[..., 0], gray_high[..., 1], atol=1e-6)
        np.testing.assert_allclose(gray_high[..., 2], gray_high[..., 1], atol=1e-6)
    with pytest.raises(ValueError, match="target_level_range"):
        SynthesisOptions(target_level_range=(0.4, 1.0))
    assert degradation.level_power(np.zeros((8, 8, 3), np.float32), 0.5) == (
        degradation.LEVEL_MIN_POWER)  # black cannot be raised: the strongest power, no loop


def test_target_level_gain_curve_reaches_the_level_and_lifts_black_less_than_the_power():
    rng = np.random.default_rng(4)
    dim = (0.05 * rng.random((64, 48, 3))).astype(np.float32)
    dim[:8] = 0.0005  # a near-black band (encoded ~0.006)
    base = {**PLAIN, "contrast_range": (0.0, 0.0), "exposure_range": (-3.0, -3.0),
            "target_level_range": (0.5, 0.5)}
    _, power_high, _ = degradation._synthesize_linear(
        dim, np.random.default_rng(0), SynthesisOptions(**base))
    _, gain_high, params = degradation._synthesize_linear(
        dim, np.random.default_rng(0), SynthesisOptions(**base, target_level_curve="gain"))
    encoded = degradation.linear_to_srgb(gain_high)
    assert degradation.encoded_level(encoded) == pytest.approx(0.5, abs=0.01)
    assert params["target_level_gain"] > 1.0 and "target_level" in params["tricks"]
    black_power = degradation.linear_to_srgb(power_high)[:8].mean()
    assert encoded[:8].mean() < 0.5 * black_power  # near-black is lifted far less
    # The curve: slope k at black, 1 stays 1, monotone, gray stays gray.
    x = np.linspace(0, 1, 101, dtype=np.float32)
    y = degradation.rolled_off_gain(x, 4.0)
    assert y[0] == 0.0 and y[-1] == pytest.approx(1.0) and np.all(np.diff(y) > 0)
    assert y[1] / x[1] == pytest.approx(4.0 / (1 + 3.0 * 0.01))
    assert degradation.level_gain(np.full((8, 8, 3), 0.6, np.float32), 0.5) == 1.0
    with pytest.raises(ValueError, match="target_level_curve"):
        SynthesisOptions(target_level_curve="log")
