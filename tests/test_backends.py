"""GLADNet on Keras' other backends (JAX, PyTorch): the same weights file, the same outputs.

Each backend runs in its own process (Keras picks its backend at import). The oracle cases
are the original graph's outputs with the surrogate weights (``../shared/reference``); the
odd sizes are compared with TensorFlow's outputs made here. A backend that is not installed
is skipped with the reason (PyTorch is not in CI: its wheel pulls gigabytes of CUDA).
"""

import importlib.util
import json

import numpy as np
import pytest

from gladnet_tf import convert, model as model_lib
from tests.conftest import run_python, shared_path

TOLERANCE = 1e-5
ODD_SIZES = [(1, 1), (37, 53), (601, 401)]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """(weights path, [case .npz paths]): surrogate weights, oracle cases and odd sizes."""
    folder = tmp_path_factory.mktemp("backends")
    oracle = shared_path("reference", "gladnet-official-outputs")
    weights = str(folder / "surrogate.weights.h5")
    model = convert.convert(str(oracle / "surrogate-checkpoint-NOT-OFFICIAL" / "GLADNet"), weights)
    paths = sorted(str(p) for p in oracle.glob("*.npz"))
    for height, width in ODD_SIZES:
        image = np.random.default_rng(height * width).random((height, width, 3), dtype=np.float32)
        path = folder / f"odd_{height}x{width}.npz"
        np.savez(path, input=image, output=model(image[None], training=False).numpy()[0])
        paths.append(str(path))
    return weights, paths


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_compute_the_same_function(backend, cases):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (JAX: pip install -r requirements-jax.txt; "
                    f"PyTorch is tested only where it is installed)")
    weights, paths = cases
    result = run_python(["tests/scripts/backend_parity.py", weights, *paths],
                        env={"KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    assert not report["tensorflow_imported"]  # the model needs no TensorFlow on this backend
    assert len(report["cases"]) == 5 + len(ODD_SIZES)
    for row in report["cases"]:
        assert row["output_max_abs"] <= TOLERANCE, row
        assert row.get("global96_max_abs", 0.0) <= TOLERANCE, row


def test_gather_resize_equals_the_tensorflow_op():
    """The backend-neutral gather (used on JAX and PyTorch) picks TF's pixels, any size."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for (h, w), size in [((1, 1), (96, 96)), ((37, 53), (96, 96)), ((96, 96), (601, 401)),
                         ((3, 3), (6, 6)), ((1023, 7), (2, 800))]:
        images = rng.random((1, h, w, 2), dtype=np.float32)
        expected = tf.raw_ops.ResizeNearestNeighbor(images=images, size=size,
                                                    align_corners=False, half_pixel_centers=False)
        np.testing.assert_array_equal(np.asarray(model_lib.gather_resize(images, size)),
                                      expected.numpy(), err_msg=f"{h}x{w}->{size}")


def test_winograd_constants_match():
    from gladnet_tf import inference, winograd

    assert (inference.WINOGRAD_ALIGN, inference.WINOGRAD_BLOCK) == (winograd.ALIGN, winograd.BLOCK)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_test_py_on_another_backend_matches_tensorflow(backend, tmp_path):
    """``KERAS_BACKEND=... python test.py`` on the sample images with the shipped weights:
    every 8-bit output within one level of TensorFlow's (a big image is tiled)."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    from PIL import Image

    from tests.conftest import REPO

    outputs = {}
    for name in ("tensorflow", backend):
        out = tmp_path / name
        result = run_python(["test.py", "--input", str(REPO / "sample_images"), "--output_dir", str(out),
                             "--tile", "256"], env={"KERAS_BACKEND": name})
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[name] = {p.name: np.asarray(Image.open(p), np.int16) for p in sorted(out.glob("*.png"))}
    assert len(outputs["tensorflow"]) == 4 and outputs[backend].keys() == outputs["tensorflow"].keys()
    for name, expected in outputs["tensorflow"].items():
        assert np.abs(outputs[backend][name] - expected).max() <= 1, name
