"""test.py end to end: good and bad files, exit codes, untouched inputs, formats."""

import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gladnet_tf import checkpoints, model as model_lib
from tests.conftest import REPO, random_weights, run_python


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w"), 3)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "in"
    (root / "nested").mkdir(parents=True)
    Image.fromarray((rng.random((23, 31, 3)) * 60).astype(np.uint8)).save(root / "dark.png")
    Image.fromarray((rng.random((20, 20)) * 60).astype(np.uint8)).save(root / "gray.jpg")
    rgba = (rng.random((9, 13, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(root / "nested" / "alpha.png")
    pixels16 = (rng.random((8, 9, 3)) * 9000).astype(np.uint16)
    (root / "deep.png").write_bytes(tf.io.encode_png(pixels16).numpy())
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("not a picture")
    good = (root / "dark.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    return root


def test_enhances_a_folder_and_reports_bad_files(folder, tmp_path, weights):
    before = {p: digest(p) for p in folder.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    result = run_python(["test.py", "--input", str(folder), "--output_dir", str(out), "--weights", str(weights), "--recursive"])
    assert result.returncode == 1, result.stderr[-3000:]
    for name, reason in [("zero.png", "empty file"), ("text.jpg", "not an image"), ("truncated.png", "truncated")]:
        lines = [l for l in result.stderr.splitlines() if l.startswith("error:") and name in l]
        assert len(lines) == 1 and reason in lines[0], result.stderr[-3000:]
    assert "4 enhanced, 0 skipped, 3 failed of 7" in result.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["dark.png", "deep.png", "gray.png", "nested/alpha.png"]
    assert {p: digest(p) for p in folder.rglob("*") if p.is_file()} == before  # inputs untouched
    assert Image.open(out / "dark.png").size == (31, 23)
    assert Image.open(out / "nested" / "alpha.png").mode == "RGBA"
    deep = tf.io.decode_png((out / "deep.png").read_bytes(), dtype=tf.uint16).numpy()
    assert deep.dtype == np.uint16 and deep.shape == (8, 9, 3)
    # The written values are the model's output, rounded: check one image.
    model = model_lib.load(weights)
    x = np.asarray(Image.open(folder / "dark.png"), np.float32)[None] / 255.0
    expected = np.clip(np.round(model(x).numpy()[0] * 255.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "dark.png")), expected)


def test_same_format_and_skip_existing(folder, tmp_path, weights):
    out = tmp_path / "out"
    args = ["test.py", "--input", str(folder), "--output_dir", str(out), "--weights", str(weights), "--format", "same"]
    first = run_python(args)
    assert first.returncode == 1
    assert Image.open(out / "gray.jpg").format == "JPEG"
    assert Image.open(out / "dark.png").format == "PNG"
    mtime = os.path.getmtime(out / "gray.jpg")
    again = run_python(args + ["--skip_existing"])
    assert "0 enhanced, 3 skipped, 3 failed" in again.stderr, again.stderr[-2000:]
    assert os.path.getmtime(out / "gray.jpg") == mtime


def test_single_file_input_and_jpeg_output(folder, tmp_path, weights):
    out = tmp_path / "one"
    result = run_python(["test.py", "--input", str(folder / "dark.png"), "--output_dir", str(out), "--weights", str(weights), "--format", "jpeg"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.listdir(out) == ["dark.jpg"]
    assert Image.open(out / "dark.jpg").format == "JPEG"


def test_missing_weights_and_input_are_clear(tmp_path, folder):
    result = run_python(["test.py", "--input", str(folder), "--output_dir", str(tmp_path / "o"), "--weights", str(tmp_path / "none.weights.h5")])
    assert result.returncode == 2 and "none.weights.h5: weights file not found" in result.stderr
    result = run_python(["test.py", "--input", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")])
    assert result.returncode == 2 and "nope: no such file or folder" in result.stderr
    with pytest.raises(FileNotFoundError, match="train.py"):
        checkpoints.default_weights(str(tmp_path / "MANIFEST.json"))


def test_shipped_default_weights_are_used(tmp_path):
    if not os.path.exists(checkpoints.MANIFEST):
        pytest.skip("no weights shipped in checkpoints/ yet")
    path = checkpoints.default_weights()
    assert os.path.basename(path).split(".")[0].endswith(checkpoints.sha256_of(path)[:8])
    result = run_python(["test.py", "--input", str(REPO / "sample_images"), "--output_dir", str(tmp_path / "o")])
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(os.listdir(tmp_path / "o")) == len([p for p in os.listdir(REPO / "sample_images") if p.endswith(".png")])


def test_winograd_algorithm_flag(folder, tmp_path, weights):
    outputs = {}
    for algorithm in ("direct", "winograd"):
        out = tmp_path / algorithm
        result = run_python(["test.py", "--input", str(folder / "dark.png"), "--output_dir", str(out),
                             "--weights", str(weights), "--algorithm", algorithm, "--tile", "16"])
        assert result.returncode == 0, result.stderr
        outputs[algorithm] = np.asarray(Image.open(out / "dark.png"), np.int16)
    # float outputs differ by ~1e-6, so 8-bit values differ by at most one level, rarely
    assert np.abs(outputs["direct"] - outputs["winograd"]).max() <= 1
    result = run_python(["test.py", "--input", str(folder), "--output_dir", str(tmp_path / "b"),
                         "--weights", str(weights), "--algorithm", "winograd", "--precision", "bfloat16"])
    assert result.returncode == 2 and "float32" in result.stderr
