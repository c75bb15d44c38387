"""Videos: temporal smoothing of the global illumination, reading/writing, test.py end to end.

The smoothing tests run on frames in memory (no codec involved); the others need the optional
requirements-video.txt and are skipped, with the reason, where imageio-ffmpeg is absent.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest
from gladnet_tf import images as images_lib
from gladnet_tf import batch, inference, video
from tests.conftest import REPO, random_weights, run_python

HAS_FFMPEG = importlib.util.find_spec("imageio_ffmpeg") is not None and importlib.util.find_spec("imageio") is not None
needs_ffmpeg = pytest.mark.skipif(
    not HAS_FFMPEG, reason="imageio-ffmpeg is not installed (pip install -r requirements-video.txt)"
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w"), 3)


@pytest.fixture(scope="module")
def enhancer(weights):
    return inference.Enhancer(weights)


def flicker_clip(frames=24, height=48, width=64, amplitude=0.3, seed=7):
    """A static dark scene whose global brightness jumps at random by up to +-amplitude."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / float(width)
    scene = np.stack([0.25 + 0.15 * np.sin(6 * xx), 0.2 + 0.1 * yy, 0.15 + 0.1 * np.cos(5 * yy + 3 * xx)], -1)
    scene = np.clip(scene + rng.normal(0, 0.02, scene.shape), 0, 1)
    gains = 1 + rng.uniform(-amplitude, amplitude, frames)
    return [np.clip(scene * g, 0, 1).astype(np.float32) for g in gains]


def flicker(outputs):
    """Variance over time of the frame-to-frame change of the mean output brightness."""
    means = np.array([np.clip(o, 0, 1).mean() for o in outputs], dtype=np.float64)
    return np.diff(means).var()


def write_clip(path, frames, fps=12.0):
    import imageio.v2 as iio

    writer = iio.get_writer(
        str(path), format="FFMPEG", fps=fps, codec="libx264", quality=None, macro_block_size=1,
        pixelformat="yuv444p", output_params=["-crf", "0"], ffmpeg_log_level="error",
    )
    for frame in frames:
        writer.append_data(images_lib.quantize(frame, 8))
    writer.close()


def read_clip(path):
    import imageio.v2 as iio

    reader = iio.get_reader(str(path), format="FFMPEG")
    fps = reader.get_meta_data()["fps"]
    frames = [np.asarray(f) for f in reader]
    reader.close()
    return frames, fps


def test_smoothing_reduces_flicker(enhancer):
    frames = flicker_clip()
    plain = list(video.enhance_frames(enhancer, frames, smoothing=0))
    smooth = list(video.enhance_frames(enhancer, frames, smoothing=0.9))
    assert len(plain) == len(smooth) == 24
    assert all(o.shape == (48, 64, 3) and o.dtype == np.float32 for o in plain + smooth)
    # smoothing=0 is exactly the image path.
    np.testing.assert_array_equal(plain[5], enhancer.enhance(frames[5]))
    without, with_ = flicker(plain), flicker(smooth)
    print(f"flicker (variance of frame-to-frame mean change): smoothing 0: {without:.3e}, 0.9: {with_:.3e}")
    assert with_ < 0.5 * without


def test_smoothing_leaves_a_steady_clip_alone(enhancer):
    frames = flicker_clip(frames=4, amplitude=0.0)
    plain = list(video.enhance_frames(enhancer, frames, smoothing=0))
    smooth = list(video.enhance_frames(enhancer, frames, smoothing=0.9))
    for a, b in zip(plain, smooth):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        next(video.enhance_frames(enhancer, frames, smoothing=1.0))


@needs_ffmpeg
@pytest.mark.parametrize("height,width", [(48, 64), (47, 63)])
def test_enhance_video_keeps_frames_size_and_rate(enhancer, tmp_path, height, width):
    frames = flicker_clip(frames=10 if height == 48 else 3, height=height, width=width)
    source = tmp_path / "clip.mkv"
    write_clip(source, frames, fps=12.0)
    target = tmp_path / "out" / "clip.mp4"
    target.parent.mkdir()
    result = video.enhance_video(enhancer, source, target, smoothing=0.9, crf=0, stream=None)
    assert result["frames"] == len(frames) and (result["height"], result["width"]) == (height, width)
    decoded, fps = read_clip(target)
    assert len(decoded) == len(frames) and fps == pytest.approx(12.0)
    assert all(f.shape == (height, width, 3) for f in decoded)
    assert os.listdir(target.parent) == ["clip.mp4"]  # no temporary left
    # The written frames are the enhanced ones (up to the codec's colour conversion).
    source_frames, _ = read_clip(source)
    expected = video.enhance_frames(enhancer, (f.astype(np.float32) / 255 for f in source_frames), 0.9)
    for got, want in zip(decoded, expected):
        assert np.abs(got.astype(np.float32) - images_lib.quantize(want, 8)).mean() < 1.5


@needs_ffmpeg
def test_bad_videos_fail_on_one_line(enhancer, tmp_path):
    good = tmp_path / "good.mp4"
    write_clip(good, flicker_clip(frames=3))
    data = good.read_bytes()
    cases = {
        "empty.mp4": (b"", "empty file"),
        "text.mov": (b"this is not a video", "not a readable video"),
        "truncated.mp4": (data[: len(data) // 2], "not a readable video"),
    }
    out = tmp_path / "out"
    out.mkdir()
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(video.VideoError) as info:
            video.enhance_video(enhancer, tmp_path / name, out / "x.mp4", stream=None)
        message = str(info.value)
        assert message.startswith(str(tmp_path / name)) and reason in message and "\n" not in message, message
    assert os.listdir(out) == []


def test_missing_ffmpeg_gives_the_install_command(enhancer, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    folder = tmp_path / "in"
    folder.mkdir()
    images_lib.write_atomic(folder / "photo.png", flicker_clip(frames=1)[0])
    (folder / "clip.mp4").write_bytes(b"whatever")
    lines = []
    result = batch.enhance_files(enhancer, folder, tmp_path / "out", videos=True, log=lines.append)
    assert (result["processed"], result["failed"]) == (1, 1)
    assert result["failures"] == [f"{folder / 'clip.mp4'}: {video.INSTALL_HINT}"]
    assert "pip install -r requirements-video.txt" in video.INSTALL_HINT
    assert (tmp_path / "out" / "photo.png").exists()


@needs_ffmpeg
def test_cli_enhances_videos_in_a_folder(weights, tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    write_clip(folder / "nested" / "clip.mov", flicker_clip(frames=6, height=32, width=48), fps=10.0)
    images_lib.write_atomic(folder / "photo.png", flicker_clip(frames=1, height=20, width=30)[0])
    (folder / "broken.avi").write_bytes(b"RIFF....AVI garbage")
    out = tmp_path / "out"
    (out / "nested").mkdir(parents=True)
    (out / "nested" / ".tmp-killed.part.mp4").write_bytes(b"left by a killed run")
    result = run_python([
        "test.py", "--input", str(folder), "--output_dir", str(out), "--weights", str(weights),
        "--recursive", "--video_smoothing", "0.5",
    ])
    assert result.returncode == 1, result.stderr[-3000:]
    assert "2 enhanced, 0 skipped, 1 failed of 3" in result.stderr, result.stderr[-3000:]
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "broken.avi" in errors[0] and "not a readable video" in errors[0], errors
    assert "frames/s" in result.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["nested/clip.mp4", "photo.png"]
    decoded, fps = read_clip(out / "nested" / "clip.mp4")
    assert len(decoded) == 6 and decoded[0].shape == (32, 48, 3) and fps == pytest.approx(10.0)


def test_cli_rejects_a_smoothing_of_one(tmp_path):
    result = run_python(["test.py", "--input", str(REPO), "--output_dir", str(tmp_path), "--video_smoothing", "1"])
    assert result.returncode != 0 and "--video_smoothing must be in [0, 1)" in result.stderr
