"""A corpus of broken and awkward inputs (tests/bad_inputs/make_corpus.py) through test.py,
find_pairs and train.py: every file gets its declared outcome, one clear line per failure, the
run goes on, the exit code tells, inputs stay untouched, and no output is partial or
overwritten."""

import hashlib
import json
import math
import os
import re
import stat

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import data as data_lib
from gladnet_tf import images as images_lib
from gladnet_tf import model as model_lib
from tests.bad_inputs.make_corpus import make_corpus
from tests.conftest import random_weights, run_python

TINY_TRAIN = ["--global_filters", "8", "--detail_filters", "8", "--patch_size", "24", "--batch_size", "2",
              "--steps", "2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs") / "corpus"
    return root, make_corpus(root)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w"), 11)


def snapshot(folder, skip=()):
    """relative path -> what it is: file digest, link target, FIFO, or (size, mtime) if unreadable."""
    state = {}
    for current, subfolders, names in os.walk(folder):
        subfolders[:] = [d for d in subfolders if os.path.join(current, d) not in skip]
        for name in names + [d for d in subfolders if os.path.islink(os.path.join(current, d))]:
            path = os.path.join(current, name)
            info = os.lstat(path)
            key = os.path.relpath(path, folder)
            if stat.S_ISLNK(info.st_mode):
                state[key] = ("link", os.readlink(path))
            elif not stat.S_ISREG(info.st_mode):
                state[key] = ("special", stat.S_IFMT(info.st_mode))
            else:
                try:
                    with open(path, "rb") as f:
                        state[key] = ("file", hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(info.st_mode))
                except PermissionError:
                    state[key] = ("unreadable", info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
    return state


def png_bit_depth(path):
    with open(path, "rb") as f:
        head = f.read(25)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return head[24]


def summary(stderr):
    found = re.findall(r"(\d+) enhanced, (\d+) skipped, (\d+) failed of (\d+)", stderr)
    assert len(found) == 1, stderr[-3000:]
    return tuple(int(n) for n in found[0])


def check_error_lines(stderr, infer, error_cases):
    """One line per failure, naming the file and the reason; nothing for the others."""
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    for name, case in error_cases.items():
        prefix = f"error: {infer / name}: "
        lines = [line for line in error_lines if line.startswith(prefix)]
        assert len(lines) == 1, (name, error_lines)
        assert case["reason"] in lines[0], (name, lines[0])
    assert len(error_lines) == len(error_cases), error_lines


def written_files(out):
    """relative path -> path of every file under ``out``."""
    written = {}
    for current, _, names in os.walk(out):
        for name in names:
            written[os.path.relpath(os.path.join(current, name), out)] = os.path.join(current, name)
    return written


def check_outputs(written, ok_cases, groups):
    """One output per ok case, complete, nothing left over, none overwritten."""
    assert not [w for w in written if os.path.basename(w).startswith(".") or w.endswith(".part")], written
    assert len(written) == len(ok_cases), sorted(written)
    written = dict(written)
    for name, case in ok_cases.items():
        if "group" in case:
            continue
        target = written.pop(os.path.splitext(name)[0] + ".png")
        with Image.open(target) as image:
            assert image.format == "PNG" and list(image.size) == case["size"], name
            assert image.mode == case["mode"], (name, image.mode)
        assert png_bit_depth(target) == case["bit_depth"], name
    for group, sizes in groups.items():
        members = [w for w in written if w.startswith(group)]
        got = []
        for member in members:
            with Image.open(written.pop(member)) as image:
                got.append(list(image.size))
        assert sorted(got) == sorted(sizes), (group, members)  # each input has its own output
    assert not written


def check_tiled_equals_whole(infer, out, tiled, tile, weights):
    """The tiled image equals the whole-image model output."""
    with Image.open(infer / tiled) as image:
        x = np.asarray(image.convert("RGB"), np.float32)[None] / 255.0
    assert max(x.shape[1:3]) > tile
    whole = model_lib.load(weights)(x).numpy()[0]
    expected = np.clip(np.round(whole * 255.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(out / tiled)), expected)


def test_every_inference_case_gets_its_declared_outcome(corpus, weights):
    root, manifest = corpus
    cases = manifest["inference"]["files"]
    infer = root / "infer"
    out = infer / "enhanced"  # an output folder inside the input folder, with --recursive
    ok_cases = {name: case for name, case in cases.items() if case["expect"] == "ok"}
    error_cases = {name: case for name, case in cases.items() if case["expect"] == "error"}
    assert len(cases) >= 30 and len(error_cases) >= 10

    before = snapshot(infer)
    args = ["test.py", "--input", str(infer), "--output_dir", str(out), "--weights", str(weights), "--recursive",
            "--tile", str(manifest["tile"]), "--max_megapixels", str(manifest["max_megapixels"])]
    result = run_python(args, timeout=300)
    assert result.returncode == 1, result.stderr[-4000:]
    assert snapshot(infer, skip={str(out)}) == before  # inputs byte-identical, links and modes kept
    check_error_lines(result.stderr, infer, error_cases)
    # Ignored files are not counted at all; every other file is enhanced or failed.
    assert summary(result.stderr) == (len(ok_cases), 0, len(error_cases), len(cases)), result.stderr[-3000:]
    check_outputs(written_files(out), ok_cases, manifest["inference"]["groups"])
    check_tiled_equals_whole(infer, out, manifest["inference"]["tiled"], manifest["tile"], weights)

    # A second run does not take the outputs inside the input folder for inputs.
    again = run_python(args + ["--skip_existing"], timeout=300)
    assert again.returncode == 1, again.stderr[-3000:]
    assert summary(again.stderr) == (0, len(ok_cases), len(error_cases), len(cases))
    assert sum(len(names) for _, _, names in os.walk(out)) == len(ok_cases)
    assert snapshot(infer, skip={str(out)}) == before


def test_ignored_and_unsupported_files(corpus):
    root, manifest = corpus
    infer = root / "infer"
    found = images_lib.find_images(infer, recursive=True, exclude=[infer / "enhanced"])  # may exist
    found = {os.path.relpath(p, infer) for p in found}
    assert found == set(manifest["inference"]["files"])
    assert not found & set(manifest["inference"]["ignored"])
    # A GIF is skipped in a folder, but refused clearly when named on its own.
    assert images_lib.find_images(infer / "animated.gif") == [str(infer / "animated.gif")]
    with pytest.raises(images_lib.ImageError, match=r"animated\.gif: unsupported image format 'GIF'"):
        images_lib.read(infer / "animated.gif")


def test_an_output_folder_that_cannot_be_created_stops_the_run(corpus, weights, tmp_path):
    root, _ = corpus
    blocker = root / "not_a_folder"  # a regular file: no one, not even root, can make it a folder
    content = blocker.read_bytes()
    result = run_python(["test.py", "--input", str(root / "infer" / "good.png"), "--output_dir", str(blocker),
                         "--weights", str(weights)])
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"error: {blocker}: cannot create the output folder" in result.stderr
    assert blocker.read_bytes() == content
    if os.geteuid() != 0:  # permissions do not stop root, so this part only means something for users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        result = run_python(["test.py", "--input", str(root / "infer" / "good.png"), "--output_dir", str(locked),
                             "--weights", str(weights)])
        assert result.returncode == 2 and "output folder is not writable" in result.stderr
        assert os.listdir(locked) == []


def test_find_pairs_names_every_problem(corpus):
    root, manifest = corpus
    train = root / "train"
    report = data_lib.find_pairs(train, patch_size=24)
    expected = manifest["training"]["problems"]
    assert len(report.problems) == len(expected), report.problems
    for name, reason in expected.items():
        lines = [line for line in report.problems if line.startswith(f"{train / name}: ")]
        assert len(lines) == 1 and reason in lines[0], (name, report.problems)
    assert [os.path.basename(low)[:-4] for low, _ in report.pairs] == sorted(manifest["training"]["pairs"])
    assert not report.small


@pytest.mark.slow
def test_train_stops_on_bad_pairs_and_skips_them_on_request(corpus, tmp_path):
    root, manifest = corpus
    train = root / "train"
    before = snapshot(train)
    base = ["train.py", "--preset", "smoke", "--data", str(train), *TINY_TRAIN]
    stopped = run_python(base + ["--run_dir", str(tmp_path / "stopped")])
    assert stopped.returncode == 1, stopped.stderr[-3000:]
    assert f"{len(manifest['training']['problems'])} problem(s) in {train}" in stopped.stderr
    for name in manifest["training"]["problems"]:
        assert f"{train / name}: " in stopped.stderr, name
    assert not (tmp_path / "stopped" / "checkpoints").exists()

    # With --skip_bad_pairs it trains on the 4 good pairs; 2 steps of 2 cover the first epoch,
    # so the all-black pair is seen, and the loss stays finite.
    run_dir = tmp_path / "skipped"
    trained = run_python(base + ["--run_dir", str(run_dir), "--skip_bad_pairs", "--val_data", str(train)])
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "4 pairs" in trained.stderr
    final = json.loads((run_dir / "final.json").read_text())
    assert final["step"] == 2 and math.isfinite(final["val_psnr"])
    losses = [float(v) for v in re.findall(r"loss ([^\s,]+)", (run_dir / "log.txt").read_text())]
    assert losses and all(math.isfinite(v) for v in losses)
    assert snapshot(train) == before
