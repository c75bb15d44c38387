"""Makes results/figure.png: input / MSRCR / DeHZ / LIME / SRIE / GLADNet side by side.

    python results/make_figure.py [--weights FILE] [--images sample_images/*.png] [--width 240]
        [--extra_weights "LABEL=FILE" ...]   # more GLADNet columns, e.g. other training data

Uses the project's own sample images (redistributable, see sample_images/README.md), so the
figure can ship with the repository; the evaluation datasets themselves are research-only.
"""

import argparse
import glob
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from gladnet_tf import evaluate, images  # noqa: E402

COLUMNS = [("input", "none"), ("MSRCR", "msrcr"), ("DeHZ", "dehz"), ("LIME", "lime"), ("SRIE", "srie"),
           ("GLADNet (ours)", "gladnet")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default=None)
    parser.add_argument("--images", nargs="*", default=sorted(glob.glob(os.path.join(REPO, "sample_images", "*.png")))[:3])
    parser.add_argument("--width", type=int, default=240)
    parser.add_argument("--output", default=os.path.join(REPO, "results", "figure.png"))
    parser.add_argument("--label", default="GLADNet (ours)", help="Label of the --weights column")
    parser.add_argument("--extra_weights", nargs="*", default=[], help="LABEL=FILE: one more GLADNet column each")
    args = parser.parse_args()
    columns = [(args.label, key) if key == "gladnet" else (label, key) for label, key in COLUMNS]
    methods = {key: evaluate.make_method(key, args.weights) for _, key in COLUMNS}
    for i, item in enumerate(args.extra_weights):
        label, _, path = item.partition("=")
        if not path:
            parser.error(f"--extra_weights {item!r}: expected LABEL=FILE")
        columns.append((label, f"gladnet_{i}"))
        methods[f"gladnet_{i}"] = evaluate.make_method("gladnet", path)
    rows = []
    for path in args.images:
        rgb = images.read(path).rgb
        height = round(rgb.shape[0] * args.width / rgb.shape[1])
        tiles = []
        for _, key in columns:
            out = images.quantize(np.asarray(methods[key](rgb), np.float32), 8)
            tiles.append(Image.fromarray(out).resize((args.width, height), Image.LANCZOS))
        rows.append(tiles)
    label_height, gap = 18, 4
    width = len(columns) * (args.width + gap) - gap
    height = label_height + sum(r[0].height + gap for r in rows) - gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, _) in enumerate(columns):
        draw.text((i * (args.width + gap) + 4, 3), label, fill="black")
    y = label_height
    for tiles in rows:
        for i, tile in enumerate(tiles):
            canvas.paste(tile, (i * (args.width + gap), y))
        y += tiles[0].height + gap
    images.write_bytes_atomic(args.output, _png(canvas))
    print(args.output)


def _png(image):
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
