"""The GPU training path, checked on JAX's CPU: the in-memory data stream, the FLOP count,
and the bundle's one command end to end in an environment like the GPU machine's.

The end-to-end test makes a tiny bundle (one file per set of the default recipe stage) and
runs ``gpu/train_on_device.py --smoke`` with a fresh virtual environment's interpreter that
sees only JAX, numpy, Pillow, h5py, scipy, tifffile and their needs (no TensorFlow, Keras,
absl, rich, optree or rawpy: the bundle brings what is missing), with TensorFlow blocked in
every step (``gpu/guard.py``).
"""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import flops
from tests.conftest import REPO, shared_path

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="JAX is not installed (pip install -r requirements-jax.txt)")

# What the GPU machine has that these steps use (its Python has many more packages): the
# import names, and the distributions whose metadata goes with them.
CLEAN_MODULES = ("jax", "jaxlib", "numpy", "numpy.libs", "PIL", "pillow.libs", "h5py", "h5py.libs",
                 "ml_dtypes", "scipy", "scipy.libs", "opt_einsum", "tifffile", "typing_extensions.py",
                 "packaging", "flatbuffers", "filelock", "zstandard")
CLEAN_DISTRIBUTIONS = ("jax", "jaxlib", "numpy", "pillow", "h5py", "ml_dtypes", "scipy", "opt_einsum",
                       "tifffile", "typing_extensions", "packaging", "flatbuffers", "filelock", "zstandard")


def clean_interpreter(folder):
    """A virtual environment whose site-packages holds links to ``CLEAN_MODULES`` (and their
    metadata) of this interpreter's and nothing else; returns its python."""
    folder = Path(folder)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True)
    site = folder / "site"
    site.mkdir()
    for entry in sorted(Path(sysconfig.get_paths()["purelib"]).iterdir()):
        name = entry.name
        distribution = name.split("-")[0].lower() if name.endswith(".dist-info") else None
        if name in CLEAN_MODULES or distribution in CLEAN_DISTRIBUTIONS:
            os.symlink(entry, site / name)
    python = folder / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "clean.pth").write_text(f"{site}\n")
    return python


@needs_jax
def test_device_stream_equals_pair_stream(tmp_path):
    from gladnet_tf import device_data, numpy_data

    rng = np.random.default_rng(0)
    pairs = []
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
    for i, (height, width) in enumerate([(40, 48), (33, 60), (50, 30)]):
        high = (rng.random((height, width, 3)) * 255).astype(np.uint8)
        Image.fromarray(high).save(tmp_path / "high" / f"{i}.png")
        Image.fromarray(high // 3).save(tmp_path / "low" / f"{i}.png")
        pairs.append((str(tmp_path / "low" / f"{i}.png"), str(tmp_path / "high" / f"{i}.png")))
    pairs += pairs[:2]  # repeats, as a mix lists them: stored once
    reference = numpy_data.PairStream(pairs, 24, 3, seed=4, start_step=2, workers=1)
    stream = device_data.DeviceStream(pairs, 24, 3, seed=4, start_step=2)
    assert stream.bytes_on_device == 2 * 3 * 50 * 60 * 3
    for _ in range(12):  # past the first epoch: the reshuffle too
        expected, got = next(reference), next(stream)
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, np.asarray(b))  # bit for bit
    np.testing.assert_array_equal(np.asarray(stream.batch(3)[1]), reference.batch(3)[1])
    reference.close()
    stream.close()


@needs_jax
def test_training_flops_match_xla():
    """The FLOP count of gladnet_tf.flops against XLA's cost analysis of the forward
    pass. XLA leaves out the taps that fall on SAME padding (2 % at 64x64, less on larger
    patches) and adds the bias adds, activations and additions (under 1 %)."""
    code = (
        "import json, jax, numpy as np\n"
        "from gladnet_tf import model\n"
        "net = model.GLADNet()\n"
        "x = np.zeros((1, 64, 64, 3), np.float32)\n"
        "cost = jax.jit(lambda v: net(v)).lower(x).compile().cost_analysis()\n"
        "cost = cost[0] if isinstance(cost, list) else cost\n"
        "print(json.dumps(cost['flops']))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr[-2000:]
    xla = float(result.stdout.strip().splitlines()[-1])
    ours = flops.gladnet(64)["forward_per_image"]
    assert abs(xla / ours - 1) < 0.04, (ours, xla)


@needs_jax
def test_bundle_trains_without_tensorflow(tmp_path):
    shared_path("datasets", "LOL-train-subset")
    shared_path("datasets", "FiveK-test500")
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    bundle = tmp_path / "bundle"
    made = subprocess.run([sys.executable, str(REPO / "gpu" / "make_bundle.py"), "--output", str(bundle),
                           "--limit", "1", "--python", python_version, "--max_mib", "12", "--weights_stay"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {w["module"] for w in manifest["wheels"]} >= {"keras", "namex", "optree"}
    assert {s["kind"] for s in manifest["sets"]} == {"sources", "pairs"}
    assert not any("eval15" in p or "DICM" in p for p in manifest["files"])
    assert manifest["weights_stay"] and manifest["init_weights"]["from"].startswith("checkpoints/")

    python = clean_interpreter(tmp_path / "clean")
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print([m for m in "
                            "('tensorflow', 'keras', 'absl', 'rich', 'optree', 'rawpy') if u.find_spec(m)])"],
                           capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "/usr/bin")})
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    out = tmp_path / "out"
    run = subprocess.run([str(python), str(REPO / "gpu" / "train_on_device.py"), "--smoke", "--bundle", str(bundle),
                          "--out", str(out), "--work", str(tmp_path / "work"), "--steps", "4"],
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": str(tmp_path)})
    log = (out / "device.log").read_text() if (out / "device.log").exists() else run.stdout
    assert run.returncode == 0, log[-4000:] + run.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["device.log", "gladnet_gpu.weights.h5", "run.tar.gz",
                                                     "throughput.json"]
    summary = json.loads((out / "throughput.json").read_text())
    assert summary["state"] == "finished" and summary["newest_checkpoint"] == 4
    assert f"--init_weights {bundle / 'init.weights.h5'}" in log  # the bundle's, not the checkout's
    assert summary["training"]["steps_per_second"] > 0 and summary["rates"]["conv"]["tflops"] > 0
    assert summary["training"]["fraction_of_conv_rate"] > 0
    assert [r["tensorflow_loaded"] for r in summary["tensorflow"]] == [False, False, False]
    import h5py

    with h5py.File(out / "gladnet_gpu.weights.h5") as weights:
        assert len(weights.keys()) > 0


def test_bundle_carries_a_filter_of_synthetic_pairs(tmp_path):
    """A mix entry that selects some of a synthesize step's pairs (stage 24's lamp-like filter):
    the bundle ships the synthesis sources, and its recipe synthesizes, filters and mixes there."""
    import io

    from gladnet_tf import recipe as recipe_lib
    from tests.conftest import load_script

    bundle = load_script("gpu/make_bundle.py")
    sources = tmp_path / "sources"
    sources.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(sources / f"s{i}.png")
    options = {"exposure_range": [-4.0, -3.0], "backlight_prob": 0.0, "black_pair_prob": 0.0,
               "white_pair_prob": 0.0}
    recipe = {"name": "t", "data": [
        {"kind": "synthesize", "output": "syn", "input": str(sources), "seed": 1, "num_per_image": 2,
         "max_side": 64, "options": options},
        {"kind": "select", "output": "syn-some", "input": "@syn", "pairs": True, "drop_every": [2, 1]},
        {"kind": "mix", "output": "train", "pairs": [["@syn-some", 3]]}],
        "stages": [{"name": "s", "config": {"data": "@train", "steps": 1}}]}
    sets, mix, _ = bundle.plan_data(recipe, recipe["stages"][0], str(tmp_path), tmp_path / "work")
    assert [(s["name"], s["kind"], s["select"]["output"]) for s in sets] == [("syn", "sources", "syn-some")]
    assert len(sets[0]["items"]) == 3
    for s in sets:  # as encode_sets and choose leave them, every source kept
        s["encoded"] = s["items"]
    rewritten = bundle.bundle_recipe(recipe, recipe["stages"][0], mix, sets, {"syn": [0, 1, 2]})
    assert [(d["kind"], d["output"]) for d in rewritten["data"]] == [
        ("synthesize", "syn"), ("select", "syn-some"), ("mix", "train")]
    assert rewritten["data"][0]["input"] == "${shared}/sources/syn"
    assert rewritten["data"][2]["pairs"] == [["@syn-some", 3]]
    # Thinned to 2 of 3 sources with 1 pair each, 1.5 pairs per source are due: 2 pairs per
    # source, and the mix repeat 3 x 0.75 -> 2 (8 pairs there where the recipe makes 9, not 12).
    recipe["data"][0]["num_per_image"] = 1
    thinned = bundle.bundle_recipe(recipe, recipe["stages"][0], mix, sets, {"syn": [0, 2]})
    assert thinned["data"][0]["num_per_image"] == 2 and thinned["data"][2]["pairs"] == [["@syn-some", 2]]
    recipe["data"][0]["num_per_image"] = 2

    # Built where the bundle's files are, it makes what the original recipe makes.
    os.makedirs(tmp_path / "bundle" / "sources")
    os.symlink(sources, tmp_path / "bundle" / "sources" / "syn")
    recipe_lib.build(rewritten, tmp_path / "there", tmp_path / "bundle", log=io.StringIO())
    recipe_lib.build(recipe, tmp_path / "here", tmp_path, log=io.StringIO())
    for root in ("there", "here"):
        kept = sorted(p.name for p in (tmp_path / root / "syn-some" / "low").iterdir())
        assert len(kept) == 3  # 6 pairs, every second dropped
    assert kept == sorted(p.name for p in (tmp_path / "there" / "syn-some" / "low").iterdir())


def test_weights_stay_behind(tmp_path):
    """``--weights_stay``: the checkout's weights files do not count, the stage's initial weights
    travel in the bundle, and the device side starts from them."""
    import argparse
    import hashlib

    from tests.conftest import load_script

    bundle = load_script("gpu/make_bundle.py")
    repo = tmp_path / "repo"
    (repo / "checkpoints" / "resume").mkdir(parents=True)
    (repo / "checkpoints" / "a.weights.h5").write_bytes(b"w" * 1000)
    (repo / "checkpoints" / "resume" / "b.weights.h5").write_bytes(b"r" * 500)
    (repo / "checkpoints" / "README.md").write_bytes(b"m" * 30)
    (repo / "train.py").write_bytes(b"t" * 7)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    assert bundle.travelling_bytes(repo) == 1537
    assert bundle.travelling_bytes(repo, weights_stay=True) == 37

    out = tmp_path / "bundle"
    out.mkdir()
    init = str(repo / "checkpoints" / "a.weights.h5")
    record = bundle.carry_init_weights({"config": {"init_weights": init}}, out)
    assert record == {"from": init, "sha256": hashlib.sha256(b"w" * 1000).hexdigest(), "bytes": 1000}
    assert (out / bundle.INIT_WEIGHTS).read_bytes() == b"w" * 1000
    assert bundle.carry_init_weights({"config": {}}, out) is None
    with pytest.raises(bundle.BundleError, match="not a file"):
        bundle.carry_init_weights({"config": {"init_weights": str(repo / "missing.weights.h5")}}, out)

    device = load_script("gpu/train_on_device.py")
    args = argparse.Namespace(out=str(tmp_path / "o"), work=str(tmp_path / "w"), bundle=str(out), python=None,
                              precision="mixed_bfloat16", no_device_data=False, learning_rate=None,
                              from_scratch=False, init_weights=None)
    settings = dict(device.SMOKE)
    arguments = device.Driver(args).train_arguments(settings)
    assert arguments[arguments.index("--init_weights") + 1] == out / bundle.INIT_WEIGHTS
    args.init_weights = "other.weights.h5"  # a flag given wins
    arguments = device.Driver(args).train_arguments(settings)
    assert arguments[arguments.index("--init_weights") + 1] == "other.weights.h5"
