"""A plain run prints only the project's own lines: TensorFlow's C++ start-up records are
held back (gladnet_tf.console) and come back with GLADNET_VERBOSE=1."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from gladnet_tf import console

ROOT = Path(__file__).resolve().parents[1]
CAPTURED = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796403752.067096    8751 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796403752.782165    8751 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.
/x/site-packages/keras/src/thing.py:12: UserWarning: something the user should see
E0000 00:00:1796403757.936886    8751 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error
E0000 00:00:1796403757.936887    8751 gpu_device.cc:9] Could not load dynamic library libcudnn.so.9
a line of our own
"""


def test_split_holds_back_info_records_and_the_failed_cuinit_only():
    held, shown = console.split_startup_output(CAPTURED)
    assert len(held) == 5  # the notice, two records (one on two lines), the cuInit error
    assert any("To enable the following instructions" in line for line in held)
    assert shown == [
        "/x/site-packages/keras/src/thing.py:12: UserWarning: something the user should see\n",
        "E0000 00:00:1796403757.936887    8751 gpu_device.cc:9] Could not load dynamic library libcudnn.so.9\n",
        "a line of our own\n",
    ]


def _run_test_py(tmp_path, verbose):
    inputs = tmp_path / "in"
    inputs.mkdir()
    pixels = (np.random.default_rng(0).random((24, 40, 3)) * 60).astype(np.uint8)
    Image.fromarray(pixels).save(inputs / "dark.png")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", console.VERBOSE_ENV)}
    if verbose:
        env[console.VERBOSE_ENV] = "1"
    out = tmp_path / ("out-verbose" if verbose else "out")
    done = subprocess.run([sys.executable, str(ROOT / "test.py"), "--input", str(inputs),
                           "--output_dir", str(out)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (out / "dark.png").is_file()
    return done.stderr.splitlines()


def test_a_plain_run_prints_only_the_projects_lines(tmp_path):
    lines = _run_test_py(tmp_path, verbose=False)
    assert lines, "test.py reports its progress and summary on stderr"
    for line in lines:
        # test.py's own lines: the progress bar and the summary.
        assert line.startswith("[") or " enhanced, " in line, f"not one of ours: {line!r}"
    assert any("1 enhanced, 0 skipped, 0 failed of 1" in line for line in lines)


def test_verbose_shows_tensorflows_start_up_records(tmp_path):
    lines = _run_test_py(tmp_path, verbose=True)
    assert any(console._RECORD.match(line) for line in lines)
