"""Reading and writing: modes, bit depths, EXIF, bad files, atomic writes."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gladnet_tf import images


def ramp(height=6, width=8):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 30 % 256, y * 40 % 256, (x + y) * 15 % 256], axis=-1).astype(np.uint8)


def test_rgb_png_round_trip(tmp_path):
    pixels = ramp()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    loaded = images.read(tmp_path / "a.png")
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.shape == (6, 8, 3)
    np.testing.assert_allclose(loaded.rgb, pixels / 255.0, atol=1e-7)
    assert loaded.alpha is None and loaded.bit_depth == 8 and loaded.format == "png"
    images.write_atomic(tmp_path / "b.png", loaded.rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), pixels)


def test_grayscale_becomes_rgb(tmp_path):
    Image.fromarray(ramp()[..., 0]).save(tmp_path / "g.png")
    rgb = images.read(tmp_path / "g.png").rgb
    assert rgb.shape == (6, 8, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_rgba_keeps_alpha(tmp_path):
    pixels = np.concatenate([ramp(), np.full((6, 8, 1), 77, np.uint8)], axis=-1)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    loaded = images.read(tmp_path / "a.png")
    np.testing.assert_allclose(loaded.alpha, 77 / 255.0, atol=1e-7)
    images.write_atomic(tmp_path / "out.png", loaded.rgb, loaded.alpha)
    out = Image.open(tmp_path / "out.png")
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], 77)


def test_palette_with_transparency(tmp_path):
    image = Image.fromarray(ramp()).convert("P")
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    loaded = images.read(tmp_path / "p.png")
    assert loaded.alpha is not None and loaded.alpha.min() == 0.0


def test_sixteen_bit_png_in_sixteen_bit_out(tmp_path):
    pixels = (np.arange(6 * 8 * 3).reshape(6, 8, 3) * 401 % 65536).astype(np.uint16)
    (tmp_path / "d.png").write_bytes(tf.io.encode_png(pixels).numpy())
    loaded = images.read(tmp_path / "d.png")
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb, pixels / 65535.0, atol=1e-7)
    images.write_atomic(tmp_path / "o.png", loaded.rgb, None, loaded.bit_depth)
    back = tf.io.decode_png((tmp_path / "o.png").read_bytes(), dtype=tf.uint16).numpy()
    np.testing.assert_array_equal(back, pixels)


def test_sixteen_bit_tiff(tmp_path):
    import tifffile

    pixels = (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 999 % 65536).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", pixels, photometric="rgb")
    loaded = images.read(tmp_path / "t.tif")
    assert loaded.bit_depth == 16 and loaded.format == "tiff"
    np.testing.assert_allclose(loaded.rgb, pixels / 65535.0, atol=1e-7)


def test_exif_orientation_is_applied(tmp_path):
    pixels = ramp(4, 10)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif, quality=100)
    rgb = images.read(tmp_path / "r.jpg").rgb
    assert rgb.shape == (10, 4, 3)


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(ramp()).convert("CMYK").save(tmp_path / "c.jpg")
    assert images.read(tmp_path / "c.jpg").rgb.shape == (6, 8, 3)


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.png", b"", "empty file"),
        ("text.png", b"this is not an image\n", "not an image file"),
        ("trunc.png", None, "truncated or corrupt"),
    ],
)
def test_bad_files_name_the_file_and_reason(tmp_path, name, content, reason):
    if content is None:
        buffer = io.BytesIO()
        Image.fromarray(ramp(64, 64)).save(buffer, "PNG")
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(images.ImageError) as error:
        images.read(tmp_path / name)
    assert str(error.value).startswith(str(tmp_path / name))
    assert reason in str(error.value)


def test_decompression_bomb_is_refused(tmp_path):
    # A valid PNG header claiming 100000 x 100000 pixels, and almost no data.
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(images.ImageError, match="bomb"):
        images.read(tmp_path / "bomb.png")


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    images.write_atomic(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.float32))
    assert Image.open(tmp_path / "x.jpg").format == "JPEG"
    assert sorted(os.listdir(tmp_path)) == ["x.jpg"]
    with pytest.raises(images.ImageError, match="cannot write"):
        images.write_atomic(tmp_path / "missing" / "y.png", np.zeros((4, 4, 3), np.float32))
    assert sorted(os.listdir(tmp_path)) == ["x.jpg"]


def test_quantize_rounds_and_clips():
    values = np.array([-0.1, 0.0, 0.5 / 255, 0.49 / 255, 1.0, 1.3], np.float32)
    np.testing.assert_array_equal(images.quantize(values, 8), [0, 0, 1, 0, 255, 255])


def test_find_images_skips_output_folder_and_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "out").mkdir()
    for path in ["a.png", "b.JPG", "notes.txt", "sub/c.webp", "out/old.png"]:
        (tmp_path / path).write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    found = images.find_images(tmp_path, recursive=True, exclude=[tmp_path / "out"])
    assert [os.path.relpath(p, tmp_path) for p in found] == ["a.png", "b.JPG", "sub/c.webp"]
    assert [os.path.relpath(p, tmp_path) for p in images.find_images(tmp_path)] == ["a.png", "b.JPG"]


def test_find_images_takes_a_glob_pattern(tmp_path):
    for path in ["a.png", "b.jpg", ".hidden.png", "notes.txt", "2024-01/c.png", "2024-01/deep/d.png",
                 "2024-02/e.webp", "out/old.png"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "2024-01" / "loop")

    def found(pattern, recursive=False):
        paths = images.find_images(str(tmp_path / pattern), recursive=recursive, exclude=[tmp_path / "out"])
        return [os.path.relpath(p, tmp_path) for p in paths]

    assert found("*.png") == ["a.png"]
    # A match that is a folder is searched (here without subfolders); out/ is excluded.
    assert found("*") == ["2024-01/c.png", "2024-02/e.webp", "a.png", "b.jpg"]
    assert found("2024-*") == ["2024-01/c.png", "2024-02/e.webp"]
    assert found("**/*.png", recursive=True) == ["2024-01/c.png", "2024-01/deep/d.png", "a.png"]
    assert found("nothing-*.png") == []
    assert images.is_pattern(str(tmp_path / "*.png")) and not images.is_pattern(str(tmp_path / "a.png"))
    assert images.glob_base("shots/2024-*/*.jpg") == "shots" and images.glob_base("*.png") == "."
    assert images.glob_base("/data/in/**/*.png") == "/data/in"


def test_one_quantiser_two_roundings():
    from gladnet_tf import images as images_lib

    grid = (np.arange(0, 2 * 255 + 1) / (2 * 255)).astype(np.float64)  # halfway points included
    half_even = images_lib.quantize(grid, 8, half_even=True)
    np.testing.assert_array_equal(half_even, np.rint(grid * 255.0).astype(np.uint8))
    half_up = images_lib.quantize(grid.astype(np.float32), 8)
    np.testing.assert_array_equal(half_up, np.floor(grid.astype(np.float32) * np.float32(255) + np.float32(0.5)).astype(np.uint8))
    assert np.any(half_even != half_up) and np.all(np.abs(half_even.astype(int) - half_up) <= 1)
    assert list(images_lib.quantize(np.float32([0.0, 1.0, -3.0, 7.0, 0.5]), 16)) == [0, 65535, 0, 65535, 32768]
    with pytest.raises(ValueError):
        images_lib.quantize(np.zeros(3), 12)
