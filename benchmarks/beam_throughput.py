"""Images per second of the Beam pipeline against test.py on the same folder, measured in one run.

    python benchmarks/beam_throughput.py [--folder DIR] [--weights FILE] [--workers 2] [--rounds 1]

Without ``--folder``, a folder of 16 synthetic low-light photos is made: 8 of 160x120 (small
and of one size: the pipeline enhances them in stacks), 6 of 320x240 and 2 of 640x480 (above
512 x 512 pixels: tiled). Each command runs in a fresh process, in turn, ``--rounds`` times
(best round per command):

- ``test.py --input DIR --output_dir OUT``;
- ``python -m gladnet_tf.beam`` on the DirectRunner, in multi-process mode with ``--workers``
  worker processes (each loads the weights once), and in one process (``in_memory``).

Reported per command: wall seconds of the whole process (start-up, TensorFlow import,
weight loading and tracing included) and images/s over it, and the rate the command prints
itself (from its planning on, after the imports). The outputs of every run must be
byte-identical to test.py's (checked; the dead-letter file aside).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [(120, 160)] * 8 + [(240, 320)] * 6 + [(480, 640)] * 2  # (height, width)


def make_folder(folder):
    """Synthetic dark photos: smooth gradients with noise, uint8 PNG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    for i, (height, width) in enumerate(SIZES):
        ramp = np.linspace(5, 60, height * width, dtype=np.float32).reshape(height, width, 1)
        pixels = np.clip(ramp * rng.uniform(0.5, 1.0, 3) + rng.normal(0, 4, (height, width, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(folder, f"{i:02d}_{width}x{height}.png"))
    return folder


def _files(root):
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if name != "dead_letter.jsonl":
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, root)] = f.read()
    return found


def run(command, out):
    """Runs one command in a fresh process; returns (wall seconds, its own reported rate)."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    own = re.search(r"\(([0-9.]+) images/s", done.stderr)
    return wall, float(own.group(1)) if own else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="images to enhance (default: 16 synthetic photos)")
    parser.add_argument("--weights", help="weights file (default: the shipped default weights)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="beam-bench-")
    try:
        folder = args.folder or make_folder(os.path.join(scratch, "photos"))
        sys.path.insert(0, REPO)
        from gladnet_tf import images

        count = len(images.find_images(folder))
        weights = ["--weights", args.weights] if args.weights else []
        commands = {
            "test.py": ["test.py", "--input", folder, *weights],
            f"beam, DirectRunner, {args.workers} processes": [
                "-m", "gladnet_tf.beam", "--input", folder, *weights,
                "--direct_num_workers", str(args.workers), "--direct_running_mode", "multi_processing"],
            "beam, DirectRunner, 1 process": [
                "-m", "gladnet_tf.beam", "--input", folder, *weights, "--direct_running_mode", "in_memory"],
        }
        best = {}
        reference = None
        for round_index in range(args.rounds):
            for name, command in commands.items():
                out = os.path.join(scratch, "out")
                wall, own = run([*command, "--output_dir", out], out)
                written = _files(out)
                if reference is None:
                    reference = written  # test.py runs first
                elif written != reference:
                    raise SystemExit(f"{name}: outputs differ from test.py's")
                print(f"round {round_index + 1}: {name}: {wall:.1f} s", file=sys.stderr, flush=True)
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, own)
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   "unknown CPU") if os.path.exists("/proc/cpuinfo") else "unknown CPU"
        print(f"{count} images ({'synthetic: 8 x 160x120, 6 x 320x240, 2 x 640x480' if not args.folder else folder}); "
              f"{os.cpu_count()} cores, {cpu}; best of {args.rounds} round(s); outputs byte-identical to test.py's")
        base = best["test.py"][0]
        for name, (wall, own) in best.items():
            print(f"{name:34s} {wall:6.1f} s wall  {count / wall:5.2f} images/s  ({base / wall:4.2f}x test.py)  "
                  f"after start-up: {own:5.2f} images/s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
