"""Shipping weights: sha256 in the name, a record, the manifest's default."""

import json
import os
import types

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import checkpoints, config as config_lib, model as model_lib, ship
from tests.conftest import random_gladnet


def test_ship_writes_named_weights_record_and_default(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(config_lib.TrainConfig(data="d", patch_size=32).to_json())
    (run_dir / "best.json").write_text(json.dumps({"step": 5, "val_psnr": 12.0}))
    data = tmp_path / "eval"
    for sub in ("low", "high"):
        (data / sub).mkdir(parents=True)
    high = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(high).save(data / "high" / "1.png")
    Image.fromarray(high // 3).save(data / "low" / "1.png")

    full = model_lib.save(random_gladnet(0), run_dir / "final.weights.h5")
    target, record = ship.ship(full, str(run_dir), "demo", str(data), checkpoint_dir=str(tmp_path / "ckpt"))
    digest = checkpoints.sha256_of(target)
    assert target.endswith(f"demo-{digest[:8]}.weights.h5")
    assert record["config"]["patch_size"] == 32 and record["best"]["step"] == 5
    assert record["evaluation"]["images"] == 1 and np.isfinite(record["evaluation"]["input_psnr"])
    manifest = json.loads((tmp_path / "ckpt" / "MANIFEST.json").read_text())
    assert manifest["default"] == f"demo-{digest[:8]}.weights.h5"
    assert checkpoints.default_weights(str(tmp_path / "ckpt" / "MANIFEST.json")) == target


def test_ship_without_a_run_folder_records_the_recipe_stage_config(tmp_path):
    root = os.path.dirname(checkpoints.CHECKPOINT_DIR)
    made_by = {"recipe": os.path.join(root, "recipes", "gladnet_bright17.json"), "stage": "bright17",
               "steps": [500, 900], "steps_weights": os.path.join(root, "checkpoints", "resume", "x.weights.h5")}
    weights = model_lib.save(random_gladnet(1), tmp_path / "w.weights.h5")
    _, record = ship.ship(weights, None, "demo", checkpoint_dir=str(tmp_path / "ckpt"), made_by=made_by)
    config = record["config"]
    assert config["patch_size"] == 320 and config["steps"] == 900 and config["seed"] == 17
    # Paths as the checkout sees them, not this machine's.
    assert config["init_weights"] == "checkpoints/gladnet_bright12avg_p320-7b69c605.weights.h5"
    assert config["data"] == "runs/data/gladnet_bright17/train17"
    assert record["made_by"]["recipe"] == "recipes/gladnet_bright17.json"
    assert record["made_by"]["steps_weights"] == "checkpoints/resume/x.weights.h5"
    with pytest.raises(ValueError, match="run folder or a recipe"):
        ship.ship(weights, None, "demo", checkpoint_dir=str(tmp_path / "ckpt"))


def test_blend_is_the_weighted_mean_and_refuses_a_bad_share(tmp_path, monkeypatch):
    a = model_lib.save(random_gladnet(2), tmp_path / "a.weights.h5")
    b = model_lib.save(random_gladnet(3), tmp_path / "b.weights.h5")
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    flag_values = types.SimpleNamespace(blend_with=[str(a)], blend_share=0.25, name="demo")
    blended = ship._blend(str(b), flag_values)
    assert blended == str(tmp_path / "runs" / "blends" / "demo.weights.h5")
    wa, wb = model_lib.load(a).get_weights(), model_lib.load(b).get_weights()
    for k, value in enumerate(model_lib.load(blended).get_weights()):
        np.testing.assert_allclose(value, 0.75 * wa[k].astype(np.float64) + 0.25 * wb[k], rtol=1e-6, atol=1e-7)
    for share in (0, 1.5, None):
        with pytest.raises(ValueError, match="blend_share"):
            ship._blend(str(b), types.SimpleNamespace(blend_with=[str(a)], blend_share=share, name="x"))


def test_blend_with_several_files_takes_each_share_in_order(tmp_path, monkeypatch):
    paths = [model_lib.save(random_gladnet(seed), tmp_path / f"{seed}.weights.h5") for seed in (2, 3, 4)]
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    flag_values = types.SimpleNamespace(blend_with=[str(p) for p in paths[:2]], blend_with_shares=["0.15", "0.45"],
                                        blend_share=0.4, name="three")
    blended = ship._blend(str(paths[2]), flag_values)
    w = [model_lib.load(p).get_weights() for p in paths]
    for k, value in enumerate(model_lib.load(blended).get_weights()):
        expected = 0.15 * w[0][k].astype(np.float64) + 0.45 * w[1][k] + 0.4 * w[2][k]
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
    record = ship._blend_record(flag_values)
    assert record["shares"] == [0.15, 0.45] and record["share"] == 0.4 and len(record["weights"]) == 2
    for shares in ([], ["0.15"], ["0.2", "0.45"], ["-0.05", "0.65"]):  # missing, too few, sum != 1, negative
        flag_values.blend_with_shares = shares
        with pytest.raises(ValueError, match="blend_with_shares"):
            ship._blend(str(paths[2]), flag_values)


def test_ship_refuses_flags_it_would_drop_or_record_incompletely():
    base = dict(run_dir=None, weights="w.h5", recipe="recipes/r.json", stage="s", blend_with=[], blend_share=None,
                blend_with_shares=[])
    ship._check_flag_combinations(types.SimpleNamespace(**base), ValueError)  # a complete command passes
    bad = [("--run_dir is required", dict(recipe=None)),
           ("--recipe needs --stage", dict(stage=None)),
           ("need their --blend_with", dict(blend_share=0.4)),
           ("need their --blend_with", dict(blend_with_shares=["0.5"])),
           ("--blend_with needs --recipe", dict(run_dir="runs/x", recipe=None, blend_with=["a.h5"], blend_share=0.5))]
    for message, changes in bad:
        with pytest.raises(ValueError, match=message):
            ship._check_flag_combinations(types.SimpleNamespace(**{**base, **changes}), ValueError)


def test_a_record_that_cannot_be_made_leaves_no_file_behind(tmp_path):
    weights = model_lib.save(random_gladnet(2), tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="run folder or a recipe"):
        ship.ship(str(weights), None, "orphan", checkpoint_dir=str(tmp_path / "checkpoints"))
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())


def test_every_shipped_record_says_what_it_is_and_names_no_machine():
    with open(checkpoints.MANIFEST) as f:
        manifest = json.load(f)
    for name, record in manifest["weights"].items():
        assert record.get("note", "").strip(), f"{name}: the record has no note"
        assert not os.path.isabs(record["source"]), f"{name}: source {record['source']} names a machine"
