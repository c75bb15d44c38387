"""Writes a corpus of awkward and broken inputs, with the outcome each one should have.

    python tests/bad_inputs/make_corpus.py OUT_DIR

OUT_DIR receives:

    infer/          inputs for ``test.py --recursive`` (good, odd and broken files, links, a FIFO)
    train/          a paired dataset (low/, high/) with a bad pair of every kind
    not_a_folder    a regular file, to be given as --output_dir (must fail even for root)
    manifest.json   what ``make_corpus`` returns (see below)

Everything is generated from fixed seeds, so two runs give the same bytes. The manifest:

    inference.files:   relative path -> {"expect": "ok", "size": [w, h], "mode": "RGB" | "RGBA",
                                         "bit_depth": 8 | 16}
                                     or {"expect": "error", "reason": substring of the error line}
                       (size/mode/bit_depth only where the outcome pins them down)
    inference.ignored: relative paths that a folder run must not count at all
    inference.groups:  group -> sizes of the inputs whose outputs would collide (each ok entry
                       of a group has "group"; their outputs start with the group's name)
    inference.tiled:   the relative path of the image larger than the test's --tile
    training.pairs:    stems of the pairs that must be accepted
    training.problems: relative path -> substring of its problem line
"""

import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

TILE = 64  # the test runs with --tile 64: "big.png" spans several tiles
MAX_MEGAPIXELS = 1  # ...and --max_megapixels 1: "bomb_small_header.png" exceeds it


def _noise(rng, height, width, channels=3, scale=90):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return (rng.random(shape) * scale).astype(np.uint8)


def _encode(array_or_image, fmt, **options):
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_with_header_only(width, height):
    """A well-formed PNG whose header claims width x height but holds one row of data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    data = zlib.compress(b"\x00" + b"\x00" * 3 * min(width, 16))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def _png16(array):
    """16-bit RGB PNG (Pillow writes 16-bit grayscale only)."""
    height, width, _ = array.shape
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def _tiff(array, **options):
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


def make_inference_inputs(root):
    rng = np.random.default_rng(1234)
    files, ignored, groups = {}, [], {}

    def ok(name, data, size, mode="RGB", bit_depth=8, group=None):
        if data is not None:
            _write(os.path.join(root, name), data)
        files[name] = {"expect": "ok", "size": list(size), "mode": mode, "bit_depth": bit_depth}
        if group:
            files[name]["group"] = group
            groups.setdefault(group, []).append(list(size))

    def error(name, data, reason):
        if data is not None:
            _write(os.path.join(root, name), data)
        files[name] = {"expect": "error", "reason": reason}

    good = _noise(rng, 30, 40)
    good_png = _encode(good, "PNG")
    photo = _noise(rng, 48, 64)  # big enough that half a JPEG cuts into the scan data
    photo_jpeg = _encode(photo, "JPEG", quality=90)

    # -- broken files --
    error("truncated.png", good_png[: len(good_png) // 2], "truncated")
    error("truncated.jpg", photo_jpeg[: len(photo_jpeg) // 2], "truncated")
    error("zero.png", b"", "empty file (0 bytes)")
    error("text.png", b"this is not a picture\n", "not an image file")
    error("only_jpeg_marker.jpg", photo_jpeg[:2], "not an image file")
    error("bomb.png", _png_with_header_only(100_000, 100_000), "decompression bomb")
    error("bomb_small_header.png", _png_with_header_only(2000, 2000), "exceeds the limit of 1 megapixels")
    deep = (rng.random((20, 24, 3)) * 20000).astype(np.uint16)
    deep_png = _png16(deep)
    error("truncated16.png", deep_png[: len(deep_png) // 2], "corrupt 16-bit PNG")
    tiff8 = _tiff(_noise(rng, 30, 40))
    error("truncated.tif", tiff8[: len(tiff8) // 2], "truncated")
    webp = _encode(good, "WEBP", quality=80)
    error("truncated.webp", webp[: len(webp) // 2], "not a readable image")
    bmp = _encode(good, "BMP")
    error("truncated.bmp", bmp[: len(bmp) // 2], "truncated")

    # -- modes and depths --
    ok("deep16.png", deep_png, (24, 20), bit_depth=16)
    gray16 = Image.fromarray((rng.random((14, 18)) * 30000).astype(np.uint16))
    ok("gray16.png", _encode(gray16, "PNG"), (18, 14), bit_depth=16)
    ok("tiff16.tif", _tiff((rng.random((16, 12, 3)) * 40000).astype(np.uint16), photometric="rgb"), (12, 16), bit_depth=16)
    floats = rng.random((10, 15, 3)).astype(np.float32) * 2.0 - 0.5  # outside [0, 1] on purpose
    floats[0, 0, 0] = np.nan
    ok("float.tif", _tiff(floats, photometric="rgb"), (15, 10), bit_depth=16)
    planar = np.moveaxis(_noise(rng, 5, 4), -1, 0)  # (3, H=5, W=4): width 4 looks like channels
    ok("planar.tif", _tiff(planar, photometric="rgb", planarconfig="separate"), (4, 5))
    ok("lzw.tif", _encode(_noise(rng, 21, 17), "TIFF", compression="tiff_lzw"), (17, 21))
    pages = io.BytesIO()
    import tifffile

    with tifffile.TiffWriter(pages) as tif:
        tif.write(_noise(rng, 12, 10), photometric="rgb")
        tif.write(_noise(rng, 6, 5), photometric="rgb")
    ok("two_pages.tif", pages.getvalue(), (10, 12))  # the first page is enhanced
    ok("cmyk.jpg", _encode(Image.fromarray(_noise(rng, 22, 26)).convert("CMYK"), "JPEG", quality=90), (26, 22))
    palette = Image.fromarray(_noise(rng, 13, 11)).quantize(16)
    palette.info["transparency"] = 0
    ok("palette_alpha.png", _encode(palette, "PNG", transparency=0), (11, 13), mode="RGBA")
    ok("palette.png", _encode(Image.fromarray(_noise(rng, 9, 7)).quantize(8), "PNG"), (7, 9))
    ok("gray.png", _encode(_noise(rng, 15, 16, channels=1), "PNG"), (16, 15))
    ok("gray_alpha.png", _encode(Image.fromarray(_noise(rng, 8, 12, channels=2, scale=255), "LA"), "PNG"), (12, 8), mode="RGBA")
    ok("rgba.png", _encode(Image.fromarray(_noise(rng, 10, 10, channels=4, scale=255), "RGBA"), "PNG"), (10, 10), mode="RGBA")
    ok("bilevel.png", _encode(Image.fromarray(_noise(rng, 9, 9, channels=1, scale=255) > 127), "PNG"), (9, 9))

    # -- odd shapes; "big.png" is tiled, and so are the 1 x N and N x 1 lines --
    ok("one_pixel.png", _encode(_noise(rng, 1, 1), "PNG"), (1, 1))
    ok("row.png", _encode(_noise(rng, 1, 150), "PNG"), (150, 1))
    ok("column.png", _encode(_noise(rng, 150, 1), "PNG"), (1, 150))
    ok("big.png", _encode(_noise(rng, 100, 150), "PNG"), (150, 100))

    # -- formats and names --
    frames = [Image.fromarray(_noise(rng, 10, 10, scale=255)) for _ in range(2)]
    _write(os.path.join(root, "animated.gif"), _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    ignored.append("animated.gif")  # not a supported extension: a folder run skips it
    error("gif_named.png", _encode(frames[0], "GIF"), "unsupported image format 'GIF'")
    error("animated.png", _encode(frames[0], "PNG", save_all=True, append_images=frames[1:]), "animated PNG with 2 frames")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    ok("exif_rotated.jpg", _encode(_noise(rng, 20, 40), "JPEG", exif=exif.tobytes()), (20, 40))
    ok("lossless.webp", _encode(_noise(rng, 17, 19), "WEBP", lossless=True), (19, 17))
    ok("bitmap.bmp", _encode(_noise(rng, 11, 13), "BMP"), (13, 11))
    ok("nuit_é.png", _encode(_noise(rng, 7, 8), "PNG"), (8, 7))
    ok("with space.png", _encode(_noise(rng, 8, 7), "PNG"), (7, 8))
    ok("UPPER.PNG", _encode(_noise(rng, 6, 5), "PNG"), (5, 6))
    ok("png_bytes.jpg", _encode(_noise(rng, 5, 6), "PNG"), (6, 5))  # judged by content
    ok("fake.png/inner.png", _encode(_noise(rng, 4, 4), "PNG"), (4, 4))  # a folder named .png
    ok("sub/nested.jpg", _encode(_noise(rng, 12, 14), "JPEG"), (14, 12))
    ok("good.png", good_png, (40, 30))
    _write(os.path.join(root, "notes.txt"), b"not an image, not an image extension\n")
    ignored.append("notes.txt")
    _write(os.path.join(root, "._good.png"), b"\x00\x05\x16\x07" + b"\x00" * 60)  # macOS AppleDouble
    ignored.append("._good.png")
    _write(os.path.join(root, ".hidden", "secret.png"), _encode(_noise(rng, 4, 4), "PNG"))
    ignored.append(".hidden/secret.png")
    raw_name = os.fsdecode(b"latin1_caf\xe9.png")  # not valid UTF-8
    try:
        _write(os.path.join(root, raw_name), _encode(_noise(rng, 6, 6), "PNG"))
        files[raw_name] = {"expect": "ok", "size": [6, 6], "mode": "RGB", "bit_depth": 8}
    except (OSError, UnicodeError):
        pass  # a file system that only takes UTF-8 names

    # -- outputs that would collide: every input must get its own output --
    # dup.png and dup.jpg both map to dup.png, and a renamed dup.png must not land on dup_png.png.
    for name, fmt, (width, height) in [("dup.png", "PNG", (10, 11)), ("dup.jpg", "JPEG", (12, 13)),
                                       ("dup_png.png", "PNG", (14, 15))]:
        ok(name, _encode(_noise(rng, height, width), fmt), (width, height), group="dup")
    for name, (width, height) in [("twin.png", (6, 7)), ("twin.PNG", (8, 9))]:  # differ only in case
        ok(name, _encode(_noise(rng, height, width), "PNG"), (width, height), group="twin")

    # -- links and special files --
    os.symlink("good.png", os.path.join(root, "link_to_good.png"))
    files["link_to_good.png"] = dict(files["good.png"])
    os.symlink("..", os.path.join(root, "sub", "loop"))  # sub/loop/sub/loop/... must not be walked
    ignored.append("sub/loop")
    os.symlink("self_loop.png", os.path.join(root, "self_loop.png"))
    files["self_loop.png"] = {"expect": "error", "reason": "cannot open"}
    os.symlink("missing.png", os.path.join(root, "dangling.png"))
    files["dangling.png"] = {"expect": "error", "reason": "cannot open (No such file or directory)"}
    os.mkfifo(os.path.join(root, "pipe.png"))  # opening it for reading would wait for a writer
    files["pipe.png"] = {"expect": "error", "reason": "not a regular file"}
    locked = os.path.join(root, "unreadable.png")
    _write(locked, _encode(_noise(rng, 5, 5), "PNG"))
    os.chmod(locked, 0)
    if _can_read(locked):  # root (or a capability) reads it anyway: then it is simply processed
        files["unreadable.png"] = {"expect": "ok", "size": [5, 5], "mode": "RGB", "bit_depth": 8}
    else:
        files["unreadable.png"] = {"expect": "error", "reason": "cannot open (Permission denied)"}
    return {"files": files, "ignored": ignored, "groups": groups, "tiled": "big.png"}


def make_training_data(root):
    """low/ + high/ with 4 usable pairs (one all black) and one problem of each kind."""
    rng = np.random.default_rng(99)
    pairs, problems = [], {}

    def pair(stem, low, high):
        _write(os.path.join(root, "low", f"{stem}.png"), low)
        _write(os.path.join(root, "high", f"{stem}.png"), high)

    for stem in ["a", "b", "d"]:
        high = (rng.random((36, 44, 3)) * 200 + 40).astype(np.uint8)
        pair(stem, _encode(high // 5, "PNG"), _encode(high, "PNG"))
        pairs.append(stem)
    black = np.zeros((36, 44, 3), np.uint8)
    pair("black", _encode(black, "PNG"), _encode(black, "PNG"))
    pairs.append("black")
    # A corrupt file in the middle of the sorted list.
    high = (rng.random((36, 44, 3)) * 200 + 40).astype(np.uint8)
    low_png = _encode(high // 5, "PNG")
    pair("c_corrupt", low_png[: len(low_png) // 2], _encode(high, "PNG"))
    problems["low/c_corrupt.png"] = "truncated"
    pair("sizes", _encode(_noise(rng, 36, 44), "PNG"), _encode(_noise(rng, 40, 44), "PNG"))
    problems["low/sizes.png"] = "size 44x36 differs from its partner"
    _write(os.path.join(root, "low", "lonely.png"), _encode(_noise(rng, 36, 44), "PNG"))
    problems["low/lonely.png"] = "no partner"
    pair("empty", _encode(_noise(rng, 36, 44), "PNG"), b"")
    problems["high/empty.png"] = "empty file"
    # Readable by Pillow, but the training pipeline (tf.io.decode_image) cannot decode it.
    pair("tiff_inside", _tiff(_noise(rng, 36, 44)), _encode(_noise(rng, 36, 44), "PNG"))
    problems["low/tiff_inside.png"] = "TIFF"
    return {"pairs": pairs, "problems": problems}


def make_corpus(out_dir):
    """Writes the corpus under ``out_dir`` (which must not exist or be empty); returns the manifest."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    if os.listdir(out_dir):
        raise FileExistsError(f"{out_dir}: not empty")
    manifest = {
        "inference": make_inference_inputs(os.path.join(out_dir, "infer")),
        "training": make_training_data(os.path.join(out_dir, "train")),
        "tile": TILE,
        "max_megapixels": MAX_MEGAPIXELS,
    }
    _write(os.path.join(out_dir, "not_a_folder"), b"a regular file where an output folder is expected\n")
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    result = make_corpus(sys.argv[1])
    cases = result["inference"]["files"]
    print(f"{len(cases)} inference cases ({sum(c['expect'] == 'ok' for c in cases.values())} ok), "
          f"{len(result['training']['problems'])} training problems -> {sys.argv[1]}")
