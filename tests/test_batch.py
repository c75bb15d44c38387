"""The folder job: output names, collisions, refusals, skips, stale temporaries, the loop."""

import os

import numpy as np
import pytest

from gladnet_tf import batch, images as images_lib


def test_plan_outputs_keeps_paths_and_avoids_collisions(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    sources = [str(root / n) for n in ["a.png", "a.jpg", "b.JPG", "sub/c.tif"]]
    jobs, formats = batch.plan_outputs(sources, str(root), str(tmp_path / "out"), "png")
    targets = [j.target for j in jobs]
    assert targets == [str(tmp_path / "out" / n) for n in ["a_png.png", "a_jpg.png", "b.png", "sub/c.png"]]
    assert len(set(targets)) == len(targets)
    jobs, formats = batch.plan_outputs(sources, str(root), str(tmp_path / "out"), "same")
    assert [j.target.rsplit("/", 1)[1] for j in jobs] == ["a.png", "a.jpg", "b.JPG", "c.tif"]
    assert formats[sources[2]] == "jpeg" and formats[sources[3]] == "tiff"


def test_plan_outputs_refuses_to_overwrite_an_input(tmp_path):
    source = str(tmp_path / "a.png")
    jobs, _ = batch.plan_outputs([source], str(tmp_path), str(tmp_path), "png")
    assert jobs[0].target is None and "overwrite" in jobs[0].error


def test_plan_folder_names_glob_matches_relative_to_the_pattern_folder(tmp_path):
    for name in ["in/a.png", "in/a.jpg", "in/s/b.png", "in/notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    out = tmp_path / "out"
    jobs, _ = batch.plan_folder(str(tmp_path / "in" / "**" / "*.png"), str(out), recursive=True)
    assert [os.path.relpath(j.target, out) for j in jobs] == ["a.png", "s/b.png"]
    jobs, _ = batch.plan_folder(str(tmp_path / "in"), str(out), recursive=True)
    assert [os.path.relpath(j.target, out) for j in jobs] == ["a_jpg.png", "a_png.png", "s/b.png"]


def test_a_taken_collision_name_gets_a_number(tmp_path):
    root = tmp_path / "in"
    sources = [str(root / n) for n in ["a.png", "a.PNG", "a_png.png"]]
    jobs, _ = batch.plan_outputs(sources, str(root), str(tmp_path / "out"), "png")
    assert [os.path.basename(j.target) for j in jobs] == ["a_png_2.png", "a_png_3.png", "a_png.png"]


def test_videos_are_planned_as_mp4_only_when_asked(tmp_path):
    root = tmp_path / "in"
    sources = [str(root / "clip.MOV"), str(root / "a.webp")]
    jobs, formats = batch.plan_outputs(sources, str(root), str(tmp_path / "out"), "jpeg", (".mov",))
    assert [os.path.basename(j.target) for j in jobs] == ["clip.mp4", "a.jpg"]
    assert formats == {sources[0]: "video", sources[1]: "jpeg"}


def test_should_skip_follows_the_flag_and_raises_for_refused_jobs(tmp_path):
    (tmp_path / "out.png").write_bytes(b"x")
    job = batch.Job("in.png", str(tmp_path / "out.png"))
    assert batch.should_skip(job, True) and not batch.should_skip(job, False)
    assert not batch.should_skip(batch.Job("in.png", str(tmp_path / "new.png")), True)
    with pytest.raises(images_lib.ImageError, match="refused"):
        batch.should_skip(batch.Job("in.png", None, "refused"), True)


def test_failure_message_is_one_line_naming_the_file():
    assert batch.failure_message("a.png", ValueError("bad\nmore")) == "a.png: ValueError: bad"
    assert batch.failure_message("a.png", images_lib.ImageError("a.png", "truncated")).startswith("a.png")


def test_stale_temporaries_are_removed_and_logged(tmp_path):
    for name in [".tmp-1.part", ".tmp-2.part.mp4", "keep.png", ".tmp-3.partial"]:
        (tmp_path / name).write_bytes(b"x")
    lines = []
    batch.remove_stale_temporaries({str(tmp_path)}, lines.append)
    assert sorted(os.listdir(tmp_path)) == [".tmp-3.partial", "keep.png"]
    assert len(lines) == 2 and all("interrupted run" in line for line in lines)


class _Doubling:
    """An enhancer stand-in: twice the input (raw output, clipped when written)."""

    def enhance(self, rgb):
        return rgb * 2


def test_enhance_files_counts_writes_and_reports(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    pixels = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 3).astype(np.uint8)
    images_lib.write_atomic(root / "a.png", pixels / np.float32(255))
    (root / "b.png").write_bytes(b"")
    out = tmp_path / "out"
    lines = []
    result = batch.enhance_files(_Doubling(), str(root), str(out), log=lines.append)
    assert {k: result[k] for k in ("processed", "skipped", "failed", "total")} == {
        "processed": 1, "skipped": 0, "failed": 1, "total": 2}
    assert result["failures"] == [line[len("error: "):] for line in lines] and "b.png" in lines[0]
    written = images_lib.read(str(out / "a.png")).rgb
    expected = images_lib.quantize(np.clip(pixels / np.float32(255) * 2, 0, 1), 8)
    np.testing.assert_array_equal(images_lib.quantize(written, 8), expected)
    again = batch.enhance_files(_Doubling(), str(root), str(out), skip_existing=True, log=lines.append)
    assert (again["processed"], again["skipped"], again["failed"]) == (0, 1, 1)
