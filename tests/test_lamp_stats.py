"""degradation.is_lamp_like and results/lamp_stats.py: which low images count as lamp-like, and
the brightness the script reports."""

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import degradation
from tests.conftest import load_script


@pytest.fixture(scope="module")
def lamp_stats():
    return load_script("results/lamp_stats.py")


def _night():
    """A night photo with a lamp: 92 % of its pixels at 10/255, 8 % white."""
    night = np.full((10, 10, 3), 10, np.uint8)
    night[:8, 0] = 255
    return night


def _pair(folder, name, low, high):
    for sub, image in (("low", low), ("high", high)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / sub / f"{name}.png")


def test_lamp_like_and_dark_pairs(tmp_path, lamp_stats):
    night = _night()
    # A dim photo with no lights: all at 25/255.
    dim = np.full((10, 10, 3), 25, np.uint8)
    _pair(tmp_path, "night", night, np.full((10, 10, 3), 128, np.uint8))
    _pair(tmp_path, "dim", dim, np.full((10, 10, 3), 102, np.uint8))

    mean, median, bright = degradation.lamp_stats(night / 255.0)
    np.testing.assert_allclose(mean, 0.92 * 10 / 255 + 0.08, atol=1e-6)
    np.testing.assert_allclose(median, 10 / 255, atol=1e-6)
    np.testing.assert_allclose(bright, 0.08)
    assert degradation.is_lamp_like(night / 255.0)
    assert not degradation.is_lamp_like(night / 255.0, min_bright_share=0.1)
    assert not degradation.is_lamp_like(dim / 255.0)

    rows = lamp_stats.folder_rows(tmp_path, enhance=lambda rgb: rgb * 4.0)  # dim first (sorted)
    assert [round(r["target"] * 255) for r in rows] == [102, 128]
    np.testing.assert_allclose(rows[0]["output"], 100 / 255, atol=1e-6)
    np.testing.assert_allclose(rows[1]["output"], 0.92 * 40 / 255 + 0.08, atol=1e-6)  # clipped at 1
    assert [lamp_stats.is_lamp_like(r) for r in rows] == [False, True]
    text = lamp_stats.summary(rows[:1], "dark")
    assert "n=1" in text and "output/target 0.98" in text


def test_recipe_selects_lamp_like_pairs(tmp_path):
    import io

    from gladnet_tf import recipe

    night = _night()
    source = tmp_path / "pairs"
    for name, low in (("a", night), ("b", np.full((10, 10, 3), 25, np.uint8)), ("c", night)):
        _pair(source, name, low, np.full((10, 10, 3), 128, np.uint8))
    step = {"kind": "select", "output": "lamps", "input": str(source), "pairs": True,
            "low_lamp_like": True, "drop_every": [3, 0]}  # by name first (drops a), then by content
    recipe.build({"name": "t", "data": [step], "stages": []}, tmp_path / "data", log=io.StringIO())
    assert sorted(p.name for p in (tmp_path / "data" / "lamps" / "low").iterdir()) == ["c.png"]
    bad = dict(step, pairs=False, output="bad")
    with pytest.raises(recipe.RecipeError, match="low_lamp_like selects pairs"):
        recipe.build({"name": "t", "data": [bad], "stages": []}, tmp_path / "data", log=io.StringIO())


def test_lamp_like_selection_limits_what_it_keeps(tmp_path):
    import io

    from gladnet_tf import recipe

    night = _night()
    source = tmp_path / "pairs"
    for name, low in (("a", np.full((10, 10, 3), 25, np.uint8)), ("b", night), ("c", night)):
        _pair(source, name, low, np.full((10, 10, 3), 128, np.uint8))
    step = {"kind": "select", "output": "lamps", "input": str(source), "pairs": True, "low_lamp_like": True}
    # A small build (limit 1) still finds a lamp-like pair: the limit caps what the filter keeps.
    recipe.build({"name": "t", "data": [step], "stages": []}, tmp_path / "data", limit=1, log=io.StringIO())
    assert [p.name for p in (tmp_path / "data" / "lamps" / "low").iterdir()] == ["b.png"]


def test_lamp_like_selection_that_keeps_nothing_fails_unless_the_build_is_limited(tmp_path):
    import io

    from gladnet_tf import recipe

    source = tmp_path / "pairs"
    for name in ("a", "b"):  # flat and dim: no lights, so not lamp-like
        _pair(source, name, np.full((10, 10, 3), 25, np.uint8), np.full((10, 10, 3), 128, np.uint8))
    step = {"kind": "select", "output": "lamps", "input": str(source), "pairs": True, "low_lamp_like": True}
    with pytest.raises(recipe.RecipeError, match="keeps no pair"):
        recipe.build({"name": "t", "data": [step], "stages": []}, tmp_path / "full", log=io.StringIO())
    # A limited build (a recipe's smoke test) keeps its shape: the first pair stands in.
    recipe.build({"name": "t", "data": [step], "stages": []}, tmp_path / "small", limit=2, log=io.StringIO())
    assert [p.name for p in (tmp_path / "small" / "lamps" / "low").iterdir()] == ["a.png"]


def test_lamp_like_selection_with_moved_thresholds(tmp_path):
    import io

    from gladnet_tf import recipe

    broad = np.full((10, 10, 3), 40, np.uint8)  # median 40/255 = 0.157: too bright to be lamp-like
    broad[:2] = 230  # 20 % of the pixels bright, like a sky
    source = tmp_path / "pairs"
    for name, low in (("broad", broad), ("night", _night()), ("dim", np.full((10, 10, 3), 25, np.uint8))):
        _pair(source, name, low, np.full((10, 10, 3), 128, np.uint8))

    def kept(rule, output):
        step = {"kind": "select", "output": output, "input": str(source), "pairs": True, "low_lamp_like": rule}
        recipe.build({"name": "t", "data": [step], "stages": []}, tmp_path / "data", log=io.StringIO())
        return sorted(p.stem for p in (tmp_path / "data" / output / "low").iterdir())

    assert kept(True, "default") == ["night"]
    assert kept({"max_median": 0.25}, "broad") == ["broad", "night"]
    assert kept({"max_median": 0.25, "min_bright_share": 0.1}, "sky") == ["broad"]  # night: 8 %
    for bad in ({"max_median": "0.25"}, {"median": 0.25}, 1):
        with pytest.raises(recipe.RecipeError, match="low_lamp_like is true or an object"):
            kept(bad, f"bad{len(str(bad))}")
