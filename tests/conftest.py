"""Shared fixtures: where ../shared lives, and small helpers."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("GLADNET_SHARED", REPO.parent / "shared"))


def shared_path(*parts):
    """A path under ../shared, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared reference data is not on this machine)")
    return path


def load_script(relative_path):
    """Imports a script of the repository that is not a package module (e.g. results/*.py)."""
    import importlib.util

    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_gladnet(seed=0, **kwargs):
    """A GLADNet (``kwargs``: its sizes) with Keras' random init under ``seed``: the one way
    the tests make a network with untrained weights."""
    import keras

    from gladnet_tf import model as model_lib

    keras.utils.set_random_seed(seed)
    return model_lib.GLADNet(**kwargs)


def random_weights(folder, seed, name="random.weights.h5"):
    """``random_gladnet(seed)`` saved as ``folder/name`` (the same bytes for the same seed);
    returns the path."""
    from gladnet_tf import model as model_lib

    return model_lib.save(random_gladnet(seed), pathlib.Path(folder) / name)


@pytest.fixture(scope="module")
def gladnet():
    """A full-size GLADNet with random weights (seed 7), shared by a test module's tests."""
    return random_gladnet(seed=7)


@pytest.fixture(scope="session")
def default_weights():
    """The shipped default weights file (checkpoints/MANIFEST.json's ``default``)."""
    from gladnet_tf import checkpoints

    return checkpoints.default_weights()


def run_python(args, cwd=REPO, timeout=600, env=None):
    """Runs ``python ARGS`` in a fresh process; returns the CompletedProcess."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def write_pairs(root, count, height, width, low=40, divisor=5, seed=0):
    """Writes ``count`` random PNG pairs into root/low and root/high; returns ``root``.

    high = uniform noise in [low, low + 200); its low-light partner is ``high // divisor``.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for sub in ("low", "high"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        high = (rng.random((height, width, 3)) * 200 + low).astype(np.uint8)
        Image.fromarray(high).save(root / "high" / f"{i}.png")
        Image.fromarray(high // divisor).save(root / "low" / f"{i}.png")
    return root


def write_pair(root, low, high, name="a.png"):
    """Writes one given pair (uint8 HxWx3 arrays) as root/low/NAME and root/high/NAME; returns ``root``."""
    from PIL import Image

    for sub, image in (("low", low), ("high", high)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / sub / name)
    return root


# (height, width, tile): odd sizes, 1x1, 1xN and Nx1 strips, a tile larger than the image.
TILING_CASES = [(1, 1, 16), (1, 300, 16), (300, 1, 16), (37, 53, 16), (130, 201, 64), (257, 389, 100), (50, 60, 500)]


def check_tiles(tiles, height, width, tile, slack):
    """The tiles partition the image, each has at most tile^2 (+ slack) pixels, and an image
    is cut only when it has more than tile^2 pixels."""
    covered = np.zeros((height, width), np.int32)
    for y0, y1, x0, x1 in tiles:
        covered[y0:y1, x0:x1] += 1
        assert (y1 - y0) * (x1 - x0) <= max(tile * tile + slack, height * width * (len(tiles) == 1))
    np.testing.assert_array_equal(covered, 1)
    assert (len(tiles) > 1) == (height * width > tile * tile)
