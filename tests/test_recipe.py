"""The shipped recipes: their data build keeps validation out of training, and their first
training steps run (on a tiny budget), so a recipe cannot rot."""

import io
import json
import os
from pathlib import Path

import pytest

from gladnet_tf import recipe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
RECIPES = sorted((ROOT / "recipes").glob("*.json"))
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not found (shared datasets)")


def test_select_names_rules():
    names = [f"{n}.png" for n in (10, 2, 33, 4, 5)]
    assert recipe.select_names(names, {"order": "numeric"}) == ["2.png", "4.png", "5.png", "10.png", "33.png"]
    assert recipe.select_names(names, {"order": "numeric", "skip_first": 2, "first": 2}) == ["5.png", "10.png"]
    assert recipe.select_names(names, {"order": "numeric", "every": [2, 0]}) == ["2.png", "5.png", "33.png"]
    assert recipe.select_names(names, {"order": "numeric", "drop_every": [2, 0]}) == ["4.png", "10.png"]
    with pytest.raises(recipe.RecipeError, match="unknown selection keys"):
        recipe.select_names(names, {"evrey": [2, 0]})


def test_recipe_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "data": [{"kind": "bake", "output": "a"}], "stages": []}))
    with pytest.raises(recipe.RecipeError, match="kind 'bake'"):
        recipe.load(bad)
    bad.write_text(json.dumps({"name": "x", "data": [], "stages": [{"config": {"patch": 3}}]}))
    with pytest.raises(recipe.RecipeError, match="unknown config keys"):
        recipe.load(bad)


def test_stage_last_is_the_recipe_own_stage_after_its_parents():
    loaded = recipe.load(ROOT / "recipes" / "gladnet_night9.json")  # extends gladnet_real8.json
    assert [s["name"] for s in loaded["stages"]] == ["real8", "night9"]
    assert recipe.stage_config(loaded, "last", "data") == recipe.stage_config(loaded, "night9", "data")
    assert recipe.stage_config(loaded, "last", "data") != recipe.stage_config(loaded, 0, "data")
    with pytest.raises(recipe.RecipeError, match="out of range"):
        recipe.stage_config(loaded, 2, "data")


def test_a_step_folder_from_another_step_is_never_reused(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for n in range(4):
        (source / f"{n}.png").write_bytes(b"not read by select")
    step = {"kind": "select", "output": "some", "input": str(source), "first": 2}
    made = {"name": "x", "data": [step], "stages": []}
    recipe.build(made, tmp_path / "data", log=io.StringIO())
    assert sorted(os.listdir(tmp_path / "data" / "some")) == [recipe.STEP_FILE, "0.png", "1.png"]
    log = io.StringIO()
    recipe.build(made, tmp_path / "data", log=log)  # the same step: skipped
    assert "exists, skipped" in log.getvalue()
    changed = {"name": "y", "data": [{**step, "first": 3}], "stages": []}
    with pytest.raises(recipe.RecipeError, match="different data step"):
        recipe.build(changed, tmp_path / "data", log=io.StringIO())


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_paths_name_no_machine(path):
    text = path.read_text()
    assert "/work/" not in text and "/home/" not in text and "/tmp/" not in text
    loaded = recipe.load(path)
    for stage in loaded["stages"]:
        weights = stage["config"].get("init_weights")
        if weights:
            assert (ROOT / weights).is_file(), f"{path.name}: {weights} is not in the checkout"


@needs_shared
def test_validation_splits_stay_out_of_training(tmp_path):
    loaded = recipe.load(ROOT / "recipes" / "gladnet_real8.json")
    only = ["src-fivek-train", "src-fivek-val", "lol-more-train", "val-lol20", "src-bsds-train", "src-bsds-val"]
    recipe.build(loaded, tmp_path, only=only, log=io.StringIO())
    names = {n: {f for f in os.listdir(tmp_path / n / ("low" if "lol" in n else ""))
                 if not f.startswith(".")} for n in only}
    fivek_train = {n.split("-")[0] for n in names["src-fivek-train"]}
    assert len(fivek_train) == 400 and max(fivek_train) == "a4900"  # a4901-a5000 validate
    assert not names["lol-more-train"] & names["val-lol20"]
    assert len(names["val-lol20"]) == 20 and max(int(n.split(".")[0]) for n in names["val-lol20"]) == 120
    assert not names["src-bsds-train"] & names["src-bsds-val"] and len(names["src-bsds-val"]) == 20


def default_made_by():
    """The default weights' ``made_by`` record (recipe, stage, steps) from MANIFEST.json."""
    manifest = json.loads((ROOT / "checkpoints" / "MANIFEST.json").read_text())
    record = manifest["weights"][manifest["default"]]
    assert "made_by" in record, f"the default {manifest['default']} records no recipe (made_by)"
    return record["made_by"]


def test_shipped_records_name_real_recipes_stages_and_starting_weights():
    manifest = json.loads((ROOT / "checkpoints" / "MANIFEST.json").read_text())
    made = {name: r["made_by"] for name, r in manifest["weights"].items() if "made_by" in r}
    assert manifest["default"] in made
    for name, made_by in made.items():
        loaded = recipe.load(ROOT / made_by["recipe"])
        values = recipe.stage_config(loaded, made_by["stage"], "data")
        assert made_by["steps"] and all(0 < s <= values["steps"] for s in made_by["steps"]), name
        assert (ROOT / values["init_weights"]).is_file(), f"{name}: {values['init_weights']} is not shipped"
        if "blend" in made_by:  # (1 - share) blend["weights"] + share (the stage's steps), or several
            partners, shares = blend_parts(made_by)
            assert 0 < made_by["blend"]["share"] <= 1 and sum(shares) + made_by["blend"]["share"] == pytest.approx(1)
            for partner in partners:
                assert (ROOT / partner).is_file(), f"{name}: its blend partner {partner} is not shipped"
                assert os.path.basename(partner) in manifest["weights"], f"{name}: {partner} has no record"


def blend_parts(made_by):
    """(partner files, their shares) of a blended record's made_by, in blending order."""
    blend = made_by["blend"]
    if isinstance(blend["weights"], str):
        return [blend["weights"]], [1 - blend["share"]]
    return blend["weights"], blend["shares"]


def test_blended_weights_rebuild_bit_for_bit_from_their_committed_parts(tmp_path):
    from gladnet_tf import averaging, checkpoints

    manifest = json.loads((ROOT / "checkpoints" / "MANIFEST.json").read_text())
    blends = {name: r for name, r in manifest["weights"].items()
              if "blend" in r.get("made_by", {}) and "steps_weights" in r["made_by"]}
    for name, record in blends.items():
        made_by = record["made_by"]
        partners, shares = blend_parts(made_by)
        rebuilt = averaging.average_weights([*(ROOT / p for p in partners), ROOT / made_by["steps_weights"]],
                                            tmp_path / f"{name}", [*shares, made_by["blend"]["share"]])
        assert checkpoints.sha256_of(rebuilt) == record["sha256"], name


@needs_shared
def test_default_recipe_first_steps_train(tmp_path, monkeypatch):
    from gladnet_tf import config as config_lib
    from gladnet_tf import training

    monkeypatch.chdir(ROOT)  # init_weights is relative to the checkout
    made_by = default_made_by()
    loaded = recipe.load(ROOT / made_by["recipe"])
    recipe.build(loaded, tmp_path / "data", limit=2, log=io.StringIO())
    values = recipe.stage_config(loaded, made_by["stage"], tmp_path / "data")
    values.update(patch_size=32, steps=2, checkpoint_every=1, log_every=1)
    summary = training.run(config_lib.TrainConfig(**values), str(tmp_path / "run"))
    assert summary["step"] == 2
    assert (tmp_path / "run" / "init_weights.json").is_file()  # started from the recipe's weights
