"""The Beam pipeline (``python -m gladnet_tf.beam``) on the DirectRunner in multi-process mode:
test.py's outputs byte for byte, the bad file in the dead letters, reruns that skip only what
exists and overwrite no input."""

import hashlib
import os
import shutil

import numpy as np
import pytest
from PIL import Image

beam = pytest.importorskip(
    "apache_beam", reason="apache-beam is not installed (pip install -r requirements-beam.txt)")

from gladnet_tf import beam as pipeline  # noqa: E402
from gladnet_tf import batch as batch_lib, images, inference  # noqa: E402
from tests.conftest import random_weights, run_python  # noqa: E402

TILE = 32  # big.png (70 x 90) is tiled, the others are not
MULTI_PROCESS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w"), 11)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Small images of every kind test.py handles, a name collision, a subfolder, a bad file."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    rng = np.random.default_rng(5)

    def pixels(height, width, channels=3):
        return (rng.random((height, width, channels)) * 70).astype(np.uint8)

    Image.fromarray(pixels(37, 53)).save(root / "a.png")            # a.png + a.jpg: a_png.png, a_jpg.png
    Image.fromarray(pixels(37, 53)).save(root / "a.jpg", quality=90)
    Image.fromarray(pixels(37, 53)).save(root / "b.png")            # same size: enhanced in one stack
    Image.fromarray(pixels(30, 20, 4), "RGBA").save(root / "alpha.png")
    Image.fromarray(pixels(25, 31)[..., 0], "L").save(root / "sub" / "gray.jpg")
    Image.fromarray(pixels(70, 90)).save(root / "sub" / "big.png")   # tiled
    deep = rng.random((19, 23, 3)).astype(np.float32) * 0.2
    (root / "sub" / "deep.png").write_bytes(images.encode(deep, bit_depth=16, fmt="png"))
    (root / "bad.png").write_bytes(b"this is text, not a PNG")
    return root


def _tree(root, skip=("dead_letter.jsonl",)):
    """{relative path: bytes} of every file under root."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            if relative not in skip:
                with open(path, "rb") as f:
                    found[relative] = f.read()
    return found


def _hashes(root):
    return {path: hashlib.sha256(data).hexdigest() for path, data in _tree(root, skip=()).items()}


@pytest.fixture(scope="module")
def reference(folder, weights, tmp_path_factory):
    """What ``test.py --recursive --tile 32`` writes (its code path, in this process)."""
    out = tmp_path_factory.mktemp("reference")
    result = batch_lib.enhance_files(inference.Enhancer(weights, tile=TILE), str(folder), str(out),
                                     recursive=True, log=lambda m: None)
    assert result["processed"] == 7 and result["failed"] == 1
    return out


def _beam(folder, out, weights, *extra):
    return run_python(["-m", "gladnet_tf.beam", "--input", str(folder), "--output_dir", str(out),
                       "--weights", str(weights), "--tile", str(TILE), "--batch_size", "4",
                       *extra, *MULTI_PROCESS], timeout=300)


@pytest.fixture(scope="module")
def first_run(folder, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("beam") / "out"
    before = _hashes(folder)
    result = _beam(folder, out, weights, "--recursive")
    assert _hashes(folder) == before  # no input touched
    return out, result


def test_outputs_are_byte_identical_to_test_py(first_run, reference):
    out, result = first_run
    assert result.returncode == 1, result.stderr[-3000:]  # 1: a file failed, as test.py
    assert "7 enhanced, 0 skipped, 1 failed of 8" in result.stderr
    written, expected = _tree(out), _tree(reference)
    assert sorted(written) == sorted(expected) == [
        "a_jpg.png", "a_png.png", "alpha.png", "b.png", "sub/big.png", "sub/deep.png", "sub/gray.png"]
    for name in expected:
        assert written[name] == expected[name], name
    assert not [n for n in os.listdir(out) if n.startswith((".tmp-", "beam-temp"))]


def test_dead_letter_file_names_the_bad_file(first_run, folder):
    out, result = first_run
    records = pipeline.read_dead_letters(out / "dead_letter.jsonl")
    assert records == [{"path": str(folder / "bad.png"), "stage": "read",
                        "reason": "not an image file (content is not PNG, JPEG, BMP, TIFF or WebP)"}]
    assert f"{folder / 'bad.png'}: not an image file" in result.stderr


def test_rerun_skips_only_existing_outputs_and_overwrites_no_input(first_run, folder, reference, weights, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    os.remove(out / "b.png")
    os.remove(out / "sub" / "big.png")
    kept = {name: os.stat(out / name) for name in _tree(out)}
    inputs = _hashes(folder)
    result = _beam(folder, out, weights, "--recursive", "--skip_existing")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "2 enhanced, 5 skipped, 1 failed of 8" in result.stderr
    assert _tree(out) == _tree(reference)  # the two missing ones are back, byte for byte
    for name, before in kept.items():  # the others were left alone, not rewritten
        after = os.stat(out / name)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name
    assert [r["path"] for r in pipeline.read_dead_letters(out / "dead_letter.jsonl")] == [str(folder / "bad.png")]
    assert _hashes(folder) == inputs

    # Outputs that would be inputs (--format same into the input folder) are all refused.
    photos = tmp_path / "photos"
    shutil.copytree(folder, photos)
    inputs = _hashes(photos)
    result = _beam(photos, photos, weights, "--format", "same")
    assert result.returncode == 1, result.stderr[-3000:]
    records = pipeline.read_dead_letters(photos / "dead_letter.jsonl")
    assert [r["path"] for r in records] == sorted(str(photos / n) for n in ("a.jpg", "a.png", "alpha.png", "b.png", "bad.png"))
    assert {(r["stage"], r["reason"]) for r in records} == {("plan", "output path is an input file; refusing to overwrite it")}
    assert {k: v for k, v in _hashes(photos).items() if k != "dead_letter.jsonl"} == inputs


def test_handler_batches_exactly_and_isolates_a_failing_image(weights):
    handler = pipeline.EnhancerHandler(str(weights), tile=TILE, batch_size=8)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 8}
    enhancer = handler.load_model()
    rng = np.random.default_rng(2)
    shapes = [(20, 30), (20, 30), (20, 30), (70, 90), (0, 4), (5, 6)]
    batch = [((f"in/{i}.png", f"out/{i}.png", "png"),
              images.LoadedImage(rng.random((*shape, 3), dtype=np.float32), None, 8, "png"))
             for i, shape in enumerate(shapes)]
    results = list(handler.run_inference(batch, enhancer))
    assert len(results) == len(batch) and all(r.example is e for r, e in zip(results, batch))
    for result, (_, loaded) in zip(results, batch):
        if loaded.rgb.size:
            np.testing.assert_array_equal(result.inference, enhancer.enhance(loaded.rgb))
        else:  # the empty one fails alone, named
            assert isinstance(result.inference, pipeline.Failure)
            assert result.inference.message.startswith("in/4.png: ValueError: expected an HxWx3 image")


class _TestFileSystem(beam.io.filesystem.FileSystem):
    """``testfs://PATH`` is the local file PATH seen as a remote filesystem: only Beam's
    FileSystems reach it (the project's os.path calls see no such file)."""

    PREFIX = "testfs://"

    def __init__(self, pipeline_options):
        super().__init__(pipeline_options)
        self._disk = beam.io.localfilesystem.LocalFileSystem(pipeline_options)

    @classmethod
    def scheme(cls):
        return "testfs"

    def _strip(self, path):
        return path[len(self.PREFIX):] if path.startswith(self.PREFIX) else path

    def _meta(self, metadata):
        return beam.io.filesystem.FileMetadata(self.PREFIX + metadata.path, metadata.size_in_bytes,
                                               metadata.last_updated_in_seconds)

    def join(self, base, *paths):
        return self.PREFIX + self._disk.join(self._strip(base), *paths)

    def split(self, path):
        head, tail = self._disk.split(self._strip(path))
        return self.PREFIX + head, tail

    def has_dirs(self):
        return True

    def _url_dirname(self, path):
        return self.PREFIX + self._disk._url_dirname(self._strip(path))

    def _list(self, prefix):
        return (self._meta(m) for m in self._disk._list(self._strip(prefix)))

    def metadata(self, path):
        return self._meta(self._disk.metadata(self._strip(path)))

    def create(self, path, *args, **kwargs):
        return self._disk.create(self._strip(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return self._disk.open(self._strip(path), *args, **kwargs)

    def copy(self, sources, targets):
        self._disk.copy([self._strip(p) for p in sources], [self._strip(p) for p in targets])

    def rename(self, sources, targets):
        self._disk.rename([self._strip(p) for p in sources], [self._strip(p) for p in targets])

    def delete(self, paths):
        self._disk.delete([self._strip(p) for p in paths])

    def mkdirs(self, path):
        self._disk.mkdirs(self._strip(path))

    def exists(self, path):
        return self._disk.exists(self._strip(path))

    def size(self, path):
        return self._disk.size(self._strip(path))

    def last_updated(self, path):
        return self._disk.last_updated(self._strip(path))

    def checksum(self, path):
        return self._disk.checksum(self._strip(path))


def test_urls_of_a_beam_filesystem_for_images_outputs_and_weights(folder, reference, weights, tmp_path):
    """The same job with every path a URL (read, listed and written through FileSystems),
    run in this process (the test filesystem lives here)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    url = _TestFileSystem.PREFIX
    source, out = f"{url}{folder}", f"{url}{tmp_path}/out"
    jobs, formats = pipeline.plan(source, out, recursive=True)
    local_jobs, _ = batch_lib.plan_folder(str(folder), str(tmp_path / "out"), recursive=True, videos=True)
    assert [(j.source, j.target) for j in jobs] == [(url + j.source, url + j.target) for j in local_jobs]
    with beam.Pipeline(options=PipelineOptions(["--direct_running_mode", "in_memory"])) as p:
        pipeline.build(p, pipeline.elements(jobs, formats), f"{out}/dead_letter.jsonl",
                       weights=f"{url}{weights}", tile=TILE, batch_size=4)
    assert _tree(tmp_path / "out") == _tree(reference)
    assert pipeline.read_dead_letters(f"{out}/dead_letter.jsonl") == [
        {"path": f"{source}/bad.png", "stage": "read",
         "reason": "not an image file (content is not PNG, JPEG, BMP, TIFF or WebP)"}]
    assert not [n for _, _, names in os.walk(tmp_path) for n in names if n.startswith(".tmp-")]
    assert [os.path.relpath(p[len(url):], folder) for p in pipeline.find_url_images(f"{source}/*.png")] == [
        "a.png", "alpha.png", "b.png", "bad.png"]
    copied = pipeline.local_weights(f"{url}{weights}")
    with open(copied, "rb") as copy, open(weights, "rb") as original:
        assert copied != str(weights) and copy.read() == original.read()
    with pytest.raises(FileNotFoundError, match="cannot read the weights"):
        pipeline.local_weights(f"{url}/nowhere/none.weights.h5")


def test_missing_input_and_weights_stop_before_the_pipeline(folder, tmp_path):
    result = run_python(["-m", "gladnet_tf.beam", "--input", str(tmp_path / "none"), "--output_dir", str(tmp_path / "o")])
    assert result.returncode == 2 and "none: no such file or folder" in result.stderr
    result = run_python(["-m", "gladnet_tf.beam", "--input", str(folder), "--output_dir", str(tmp_path / "o"),
                         "--weights", str(tmp_path / "none.weights.h5")])
    assert result.returncode == 2 and "none.weights.h5: no such weights file" in result.stderr
