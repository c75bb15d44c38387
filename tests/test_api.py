"""gladnet_tf.enhance: the kind that goes in comes out, with test.py's pixels."""

import numpy as np
import pytest
from PIL import Image

import gladnet_tf
from gladnet_tf import batch


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(3)
    base = np.linspace(0, 70, 37 * 53).reshape(37, 53, 1)
    return np.clip(base + rng.normal(0, 8, (37, 53, 3)), 0, 255).astype(np.uint8)


def test_uint8_in_uint8_out_equals_what_test_py_writes(photo, tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(photo).save(tmp_path / "in" / "p.png")
    result = batch.enhance_files(gladnet_tf.get_enhancer(), str(tmp_path / "in"),
                                 str(tmp_path / "out"), log=lambda m: None)
    assert result["processed"] == 1
    written = np.asarray(Image.open(tmp_path / "out" / "p.png"))
    out = gladnet_tf.enhance(photo)
    assert out.dtype == np.uint8 and out.shape == photo.shape
    np.testing.assert_array_equal(out, written)
    np.testing.assert_array_equal(gladnet_tf.enhance(str(tmp_path / "in" / "p.png")), written)
    assert np.abs(out.astype(int) - photo).mean() > 5  # it did something


def test_float_gray_alpha_and_pil_keep_their_kind(photo):
    reference = gladnet_tf.enhance(photo)
    as_float = gladnet_tf.enhance(photo.astype(np.float32) / 255)
    assert as_float.dtype == np.float32 and 0.0 <= as_float.min() and as_float.max() <= 1.0
    assert np.abs(np.round(as_float * 255) - reference).max() <= 1
    alpha = np.arange(37 * 53, dtype=np.uint16).reshape(37, 53, 1) % 256
    rgba = np.concatenate([photo, alpha.astype(np.uint8)], axis=-1)
    out = gladnet_tf.enhance(rgba)
    assert out.shape == (37, 53, 4)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], reference)
    gray = photo[..., 0]
    assert gladnet_tf.enhance(gray).shape == (37, 53)
    assert gladnet_tf.enhance(gray[..., None]).shape == (37, 53, 1)
    deep = gladnet_tf.enhance(photo.astype(np.uint16) * 257)
    assert deep.dtype == np.uint16
    pil = gladnet_tf.enhance(Image.fromarray(photo))
    assert isinstance(pil, Image.Image) and pil.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(pil), reference)
    assert gladnet_tf.enhance(Image.fromarray(gray)).mode == "L"


def test_tiles_are_exact_and_the_enhancer_is_shared():
    rng = np.random.default_rng(5)
    big = (rng.random((150, 131, 3)) * 90).astype(np.uint8)
    np.testing.assert_array_equal(gladnet_tf.enhance(big, tile=64), gladnet_tf.enhance(big, tile=0))
    assert gladnet_tf.get_enhancer() is gladnet_tf.get_enhancer()
    mine = gladnet_tf.get_enhancer(tile=0)
    np.testing.assert_array_equal(gladnet_tf.enhance(big, enhancer=mine), gladnet_tf.enhance(big))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gladnet_tf.enhance(np.full((4, 4, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        gladnet_tf.enhance(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        gladnet_tf.enhance(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        gladnet_tf.enhance(np.zeros((4, 4, 3), np.int64))
    with pytest.raises(ValueError, match="known presets: default, "):
        gladnet_tf.enhance(np.zeros((4, 4, 3), np.uint8), weights="no_such_preset")


def test_presets_list_the_shipped_weights_with_records():
    presets = gladnet_tf.presets()
    default = next(iter(presets))
    assert presets[default]["default"] and sum(r["default"] for r in presets.values()) == 1
    for name, record in presets.items():
        assert record["file"].startswith(name + "-") and "config" in record
    model = gladnet_tf.GLADNet.from_preset(default)
    reference = gladnet_tf.GLADNet.from_preset("default")
    for a, b in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_package_exports_what_all_says_lazily():
    import subprocess
    import sys

    from gladnet_tf import config, inference, model

    for name in gladnet_tf.__all__:
        assert getattr(gladnet_tf, name) is not None, name
        assert name in dir(gladnet_tf)
    assert gladnet_tf.load_model is model.load and gladnet_tf.Enhancer is inference.Enhancer
    assert gladnet_tf.TrainConfig is config.TrainConfig
    with pytest.raises(AttributeError, match="no_such_name"):
        gladnet_tf.no_such_name  # noqa: B018
    # Importing the package (and reading __all__) loads neither TensorFlow nor Keras.
    code = ("import sys, gladnet_tf; gladnet_tf.__all__; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
