"""Shipping weights: sha256 in the name, a record, the manifest's default."""

import json

import numpy as np
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
