"""Inference speed and memory of GLADNet on this machine, measured in one run.

    python benchmarks/inference.py [--sizes 600x400,1920x1080,4000x3000] [--repeats 3]

For each size and each path, a fresh subprocess (so peak RSS is that path's own) reports
ms per image, megapixels/s, achieved GFLOP/s (forward FLOPs: detail branch per pixel + the
96x96 global branch) and its ratio to a conv ceiling measured in the same run (a 3x3 128->128
convolution on a 512x512 map). Paths:

- ``naive``: ``model.predict`` on the whole image (what a plain Keras user writes);
- ``ours``: ``gladnet_tf.inference.Enhancer`` (one traced graph for all sizes, exact tiles);
- ``ours_wino``: the same in float32 with Winograd F(4x4, 3x3) for the three 128->128
  convolutions (``algorithm="winograd"``: 4x fewer multiplications there; outputs
  ~1e-6 from ``ours``; its one-off XLA compile is in ``first_ms`` and in the folder time);
- ``ours_bf16``: the same in bfloat16 (``--paths`` must name it; not bit-exact);
- ``tf1_graph``: the original graph's op sequence (conv2d/bias/relu, ResizeNearestNeighbor,
  concat) written here from the architecture with ``tf.compat.v1`` in graph mode and random
  weights, run by a ``tf.compat.v1.Session``: the reference implementation's speed.

Then a folder of mixed sizes (``--folder``; empty to skip), tracing and compiling included:
``naive`` vs ``ours``, ``ours_wino`` and ``ours_bf16``, each in a fresh process, in
``--folder_rounds`` rounds of alternating order; the best round of each path is compared. ``--sizes ""`` and ``--memory_size ""`` skip the other parts.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _flops(height, width):
    detail = 2 * 9 * (67 * 128 + 3 * 128 * 128 + 128 * 3)  # per pixel
    sizes = [96, 48, 24, 12, 6, 3, 2]
    global_flops = sum(2 * 9 * 64 * (3 if i == 0 else 64) * s * s for i, s in enumerate(sizes[1:]))
    global_flops += sum(2 * 9 * 64 * 64 * s * s for s in [3, 6, 12, 24, 48, 96])
    return detail * height * width + global_flops


def _conv_ceiling():
    import tensorflow as tf

    x = tf.random.uniform([1, 512, 512, 128])
    w = tf.random.uniform([3, 3, 128, 128])
    conv = tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))
    conv().numpy()
    start = time.perf_counter()
    for _ in range(5):
        conv().numpy()
    return 2 * 9 * 128 * 128 * 512 * 512 / ((time.perf_counter() - start) / 5) / 1e9


def _tf1_graph_runner(height, width):
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    rng = np.random.default_rng(0)
    with graph.as_default():
        image = v1.placeholder(tf.float32, [1, None, None, 3])

        def conv(x, cin, cout, stride=1):
            w = tf.constant(rng.normal(0, 0.05, (3, 3, cin, cout)).astype(np.float32))
            b = tf.constant(np.zeros(cout, np.float32))
            return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, stride, "SAME"), b))

        def resize(x, size):
            return v1.image.resize_nearest_neighbor(x, size, align_corners=False, half_pixel_centers=False)

        x = resize(image, (96, 96))
        encoder = []
        cin = 3
        for _ in range(6):
            x = conv(x, cin, 64, 2)
            cin = 64
            encoder.append(x)
        for i, size in enumerate([3, 6, 12, 24, 48]):
            x = conv(resize(x, (size, size)), 64, 64) + encoder[4 - i]
        x = conv(resize(x, (96, 96)), 64, 64)
        x = resize(x, tf.shape(image)[1:3])
        x = tf.concat([x, image], axis=3)
        for cin in (67, 128, 128, 128):
            x = conv(x, cin, 128)
        output = conv(x, 128, 3)
    session = v1.Session(graph=graph)
    return lambda batch: session.run(output, {image: batch})


_OURS = {
    "ours": dict(precision="float32", algorithm="direct"),
    "ours_wino": dict(precision="float32", algorithm="winograd"),
    "ours_bf16": dict(precision="bfloat16", algorithm="direct"),
}


def measure(path, height, width, repeats, tile):
    """Runs in a subprocess: one path, one size. Prints a JSON line."""
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, REPO)
    from gladnet_tf import inference, model as model_lib

    tf.keras.utils.set_random_seed(0)
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32) * 0.3
    if path == "naive":
        model = model_lib.GLADNet()
        run = lambda: model.predict(image[None], verbose=0)  # noqa: E731
    elif path in _OURS:
        enhancer = inference.Enhancer(model_lib.GLADNet(), tile=tile, **_OURS[path])
        run = lambda: enhancer.enhance(image)  # noqa: E731
    elif path == "tf1_graph":
        session_run = _tf1_graph_runner(height, width)
        run = lambda: session_run(image[None])  # noqa: E731
    else:
        raise ValueError(path)
    if height * width > 4_000_000:
        # Big images: one timed call after a warm-up at a small size (ours and the TF1 graph
        # trace once for all sizes; model.predict retraces per shape, which is part of its cost).
        repeats = 1
        if path != "naive":
            small = image[:64, :64]
            if path == "tf1_graph":
                session_run(small[None])
            else:
                enhancer.enhance(small)
        first = float("nan")
    else:
        start = time.perf_counter()
        run()
        first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(max(repeats, 1)):
        run()
    seconds = (time.perf_counter() - start) / max(repeats, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    print(json.dumps({"path": path, "size": f"{width}x{height}", "ms": seconds * 1000, "first_ms": first * 1000,
                      "mpx_s": height * width / seconds / 1e6, "gflops": _flops(height, width) / seconds / 1e9,
                      "peak_rss_mib": rss}))


def measure_folder(path, sizes, tile):
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, REPO)
    from gladnet_tf import inference, model as model_lib

    tf.keras.utils.set_random_seed(0)
    model = model_lib.GLADNet()
    images = [np.random.default_rng(i).random((h, w, 3), dtype=np.float32) * 0.3 for i, (w, h) in enumerate(sizes)]
    start = time.perf_counter()
    if path == "naive":
        for image in images:
            model.predict(image[None], verbose=0)
    else:
        enhancer = inference.Enhancer(model, tile=tile, **_OURS[path])
        for image in images:
            enhancer.enhance(image)
    seconds = time.perf_counter() - start
    print(json.dumps({"path": path, "images": len(images), "seconds": seconds}))


def _subprocess(args):
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=REPO)
    lines = [l for l in result.stdout.splitlines() if l.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def _parse_args():
    """The command line (the hidden ``--_measure``/``--_folder`` flags run one measurement)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="600x400,1920x1080,4000x3000")
    parser.add_argument("--paths", default="naive,ours,ours_wino,tf1_graph")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--folder", default="600x400,640x480,800x600,1024x768,600x400,1280x720,960x720,512x512")
    parser.add_argument("--folder_rounds", type=int, default=3, help="fresh-process runs of each path")
    parser.add_argument("--memory_size", default="6000x4000", help="size for the peak-memory line of our path")
    parser.add_argument("--memory_tile", type=int, default=512)
    parser.add_argument("--_measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_folder", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def _print_size_table(args, ceiling):
    """One line per size and path (each measured in a fresh process), GFLOP/s also as a
    fraction of ``ceiling``."""
    if args.sizes:
        print(f"{'size':>10s} {'path':>10s} {'ms/image':>10s} {'MP/s':>7s} {'GFLOP/s':>8s} {'of ceiling':>10s} {'peak RSS':>10s}")
    for size in filter(None, args.sizes.split(",")):
        for path in args.paths.split(","):
            row = _subprocess([f"--_measure={path}:{size}", f"--repeats={args.repeats}", f"--tile={args.tile}"])
            if "error" in row:
                print(f"{size:>10s} {path:>10s}  failed: {row['error']}")
                continue
            print(f"{size:>10s} {path:>10s} {row['ms']:10.0f} {row['mpx_s']:7.3f} {row['gflops']:8.0f} "
                  f"{row['gflops'] / ceiling:10.0%} {row['peak_rss_mib']:8.0f} MiB")


def _print_memory_line(args, ceiling):
    """Our path once at ``--memory_size`` with ``--memory_tile``: time, fraction of ``ceiling``
    and peak RSS (nothing with an empty ``--memory_size``)."""
    if not args.memory_size:
        return
    row = _subprocess([f"--_measure=ours:{args.memory_size}", "--repeats=1", f"--tile={args.memory_tile}"])
    if "error" in row:
        print(f"peak memory at {args.memory_size}: failed: {row['error']}")
    else:
        print(f"ours at {args.memory_size} (tile {args.memory_tile}): {row['ms'] / 1000:.1f} s, "
              f"{row['gflops'] / ceiling:.0%} of ceiling, peak RSS {row['peak_rss_mib']:.0f} MiB")


def _folder_rounds(args, paths):
    """Seconds of each path over ``--folder_rounds`` rounds ({path: [s, ...]}) and the last
    error of each path that failed ({path: message})."""
    # Each round runs every path in a fresh process; rounds alternate the order, and the best
    # round of each path is compared, so that a slow minute on a shared machine does not decide.
    seconds = {p: [] for p in paths}
    errors = {}
    for round_index in range(args.folder_rounds):
        for path in paths if round_index % 2 == 0 else paths[::-1]:
            row = _subprocess([f"--_folder={path}", f"--folder={args.folder}", f"--tile={args.tile}"])
            if "seconds" in row:
                seconds[path].append(row["seconds"])
            else:
                errors[path] = row["error"]
    return seconds, errors


def _print_folder_comparison(args):
    """The folder of mixed sizes: the best round of each path, and its speed-up over naive."""
    paths = ["naive", "ours", "ours_wino", "ours_bf16"]
    seconds, errors = _folder_rounds(args, paths)
    best = {p: min(v) for p, v in seconds.items() if v}
    print(f"folder of {len(args.folder.split(','))} mixed sizes ({args.folder}), tracing included, "
          f"best of {args.folder_rounds} rounds:")
    for path in paths:
        if path not in best:
            print(f"  {path:>10s} failed: {errors.get(path, '?')}")
            continue
        ratio = f", {best['naive'] / best[path]:.2f}x naive" if "naive" in best and path != "naive" else ""
        runs = ", ".join(f"{v:.1f}" for v in seconds[path])
        print(f"  {path:>10s} {best[path]:6.1f} s{ratio}  (rounds: {runs} s)")


def main():
    args = _parse_args()
    if args._measure:
        path, size = args._measure.split(":")
        width, height = (int(v) for v in size.split("x"))
        return measure(path, height, width, args.repeats, args.tile)
    if args._folder:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.folder.split(",")]
        return measure_folder(args._folder, sizes, args.tile)

    import tensorflow as tf

    ceiling = _conv_ceiling()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, tile {args.tile}")
    print(f"conv ceiling (3x3 128->128 fp32, 512x512): {ceiling:.0f} GFLOP/s")
    _print_size_table(args, ceiling)
    _print_memory_line(args, ceiling)
    if args.folder:
        _print_folder_comparison(args)


if __name__ == "__main__":
    main()
