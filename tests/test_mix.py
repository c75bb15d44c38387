"""Training mixes: repeats, identity pairs, naming, and never touching an existing folder."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import data, mix


def write(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def image(seed, size=(12, 16)):
    return (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)


@pytest.fixture
def sources(tmp_path):
    synth, real, photos = tmp_path / "synth", tmp_path / "real", tmp_path / "photos"
    for i in range(3):
        write(synth / "low" / f"{i}.png", image(i) // 4)
        write(synth / "high" / f"{i}.png", image(i))
    for i in range(2):
        write(real / "low" / f"r{i}.png", image(10 + i) // 8)
        write(real / "normal" / f"r{i}.png", image(10 + i))
    for i in range(4):
        write(photos / "high" / f"p{i}.png", image(20 + i))
    return synth, real, photos / "high"


@pytest.mark.parametrize("link", mix.LINK_MODES)
def test_mix_lists_repeats_and_identity_pairs(tmp_path, sources, link):
    synth, real, photos = sources
    out = tmp_path / "mix"
    record = mix.build_mix(str(out), pairs=[(str(synth), 1), (str(real), 3)],
                           identity=[(str(photos), 1)], link=link)
    assert record["pairs"] == 3 + 2 * 3 + 4
    report = data.find_pairs(str(out))
    assert not report.problems
    assert len(report.pairs) == 13
    names = sorted(os.path.basename(low) for low, _ in report.pairs)
    assert names[:3] == ["id-photos__p0.png", "id-photos__p1.png", "id-photos__p2.png"]
    assert "real-r3__r1.png" in names and "synth__2.png" in names
    by_name = {os.path.basename(low): (low, high) for low, high in report.pairs}
    # Each entry holds its source's bytes: a real pair keeps its dark low image,
    # an identity pair has the same image on both sides.
    low, high = by_name["real-r2__r1.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(low)), image(11) // 8)
    np.testing.assert_array_equal(np.asarray(Image.open(high)), image(11))
    low, high = by_name["id-photos__p3.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(low)), np.asarray(Image.open(high)))
    np.testing.assert_array_equal(np.asarray(Image.open(low)), image(23))
    assert os.path.islink(low) == (link == "symlink")
    saved = json.loads((out / "mix.json").read_text())
    assert [(s["label"], s["kind"], s["pairs"], s["repeat"]) for s in saved["sources"]] == [
        ("synth", "pairs", 3, 1), ("real", "pairs", 2, 3), ("id-photos", "identity", 4, 1)]


def test_existing_output_is_never_touched(tmp_path, sources):
    synth, _, _ = sources
    out = tmp_path / "mix"
    write(out / "keep.png", image(0))
    with pytest.raises(FileExistsError, match="not empty"):
        mix.build_mix(str(out), pairs=[(str(synth), 1)])
    assert os.listdir(out) == ["keep.png"]


def test_sources_with_problems_are_named_and_nothing_is_written(tmp_path, sources):
    synth, _, _ = sources
    os.remove(synth / "high" / "1.png")
    out = tmp_path / "mix"
    with pytest.raises(ValueError, match=r"1\.png: no partner"):
        mix.build_mix(str(out), pairs=[(str(synth), 1)])
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("mix")]


def test_same_folder_names_get_distinct_labels(tmp_path, sources):
    synth, _, _ = sources
    record = mix.build_mix(str(tmp_path / "mix"), pairs=[(str(synth), 1), (str(synth), 1)])
    assert [s["label"] for s in record["sources"]] == ["synth", "synth-2"]
    assert len(data.find_pairs(str(tmp_path / "mix")).pairs) == 6


def test_parse_source():
    assert mix.parse_source("runs/data/a") == ("runs/data/a", 1)
    assert mix.parse_source("../LOL:8") == ("../LOL", 8)
    assert mix.parse_source("C:\\data\\LOL") == ("C:\\data\\LOL", 1)
    with pytest.raises(ValueError, match="at least 1"):
        mix.parse_source("LOL:0")
