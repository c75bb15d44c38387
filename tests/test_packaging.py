"""The package as a user installs it: a wheel with its dependencies, commands and the shipped
weights, installed into a fresh virtual environment outside the checkout."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("gladnet-enhance", "gladnet-train", "gladnet-evaluate", "gladnet-export",
            "gladnet-convert", "gladnet-synthesize")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Builds the wheel from a copy of the sources (the checkout gets no build/ folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "gladnet_tf", source / "gladnet_tf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (source / "checkpoints").mkdir()
    for path in (ROOT / "checkpoints").iterdir():
        if path.is_file():
            shutil.copy(path, source / "checkpoints" / path.name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", str(source), "-w", str(out)], check=True, capture_output=True, timeout=600)
    (built,) = out.glob("gladnet_tf-*.whl")
    return built


def test_the_wheel_declares_dependencies_commands_and_carries_the_weights(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        manifest = json.loads(archive.read("gladnet_tf/weights/MANIFEST.json"))
    for package in ("tensorflow", "keras", "numpy", "pillow", "absl-py"):
        assert f"Requires-Dist: {package}" in metadata
    assert "Provides-Extra: export" in metadata and "Provides-Extra: video" in metadata
    for command in COMMANDS:
        assert f"{command} = " in entry_points
    assert f"gladnet_tf/weights/{manifest['default']}" in names
    assert not any("resume" in n for n in names)  # resume weights stay in the checkout


@pytest.mark.slow
def test_installed_outside_the_checkout_the_commands_and_the_api_work(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The dependencies come from this environment (no download in tests); the package itself
    # only from the wheel: the checkout is not on the new environment's path.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    pixels = (np.random.default_rng(1).random((20, 30, 3)) * 50).astype(np.uint8)
    Image.fromarray(pixels).save(work / "photo.png")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    done = subprocess.run([str(env_dir / "bin" / "gladnet-enhance"), "--input", "photo.png",
                           "--output_dir", "out"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (work / "out" / "photo.png").is_file()
    code = ("import gladnet_tf, numpy as np; print(gladnet_tf.__file__); "
            "print(gladnet_tf.enhance(np.zeros((5, 7, 3), np.uint8)).shape)")
    done = subprocess.run([str(python), "-c", code], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    where, shape = done.stdout.strip().splitlines()[-2:]
    assert str(ROOT) not in where and str(env_dir) in where
    assert shape == "(5, 7, 3)"
