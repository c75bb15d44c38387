"""The weights shipped in ``checkpoints/`` and how to find the default ones.

Standard library only (no TensorFlow, no Keras, no other module of the package): everything
may import it. Shipping new weights is ``gladnet_tf.ship`` (``python -m gladnet_tf.ship``;
``python -m gladnet_tf.checkpoints`` runs the same command).

``checkpoints/MANIFEST.json`` names the default weights file and keeps one record per shipped
file (data, steps, patch, batch, training commit, wall time, metrics). File names carry the
first 8 hex digits of the file's sha256, so a record can never silently describe other bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# In a checkout, the repository's checkpoints/ folder; in an installed package, the same files
# as package data (pyproject.toml maps checkpoints/ to gladnet_tf/weights/).
CHECKPOINT_DIR = next(
    (folder for folder in (os.path.join(os.path.dirname(_PACKAGE_DIR), "checkpoints"),
                           os.path.join(_PACKAGE_DIR, "weights"))
     if os.path.isfile(os.path.join(folder, "MANIFEST.json"))),
    os.path.join(os.path.dirname(_PACKAGE_DIR), "checkpoints"))
MANIFEST = os.path.join(CHECKPOINT_DIR, "MANIFEST.json")

HOW_TO_GET_WEIGHTS = (
    "No GLADNet weights found. Either pass --weights FILE (a .weights.h5 or .keras file), "
    "train your own with `python train.py --data DIR --run_dir runs/NAME`, or convert the "
    "original TF1 checkpoint with `python -m gladnet_tf.convert --tf1_checkpoint model/GLADNet "
    "--output gladnet.weights.h5`."
)


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 of the file's bytes, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_weights(manifest: str | os.PathLike = MANIFEST) -> str:
    """Path of the default shipped weights; raises FileNotFoundError with instructions."""
    if not os.path.exists(manifest):
        raise FileNotFoundError(HOW_TO_GET_WEIGHTS)
    with open(manifest) as f:
        entry = json.load(f).get("default")
    path = os.path.join(os.path.dirname(manifest), entry or "")
    if not entry or not os.path.isfile(path):
        raise FileNotFoundError(f"{manifest} names {entry!r}, which is missing. " + HOW_TO_GET_WEIGHTS)
    return path


def preset_name(filename: str) -> str:
    """``gladnet_backlit3_p256-6e52689b.weights.h5`` -> ``gladnet_backlit3_p256``."""
    stem = filename[: -len(".weights.h5")] if filename.endswith(".weights.h5") else filename
    base, _, digest = stem.rpartition("-")
    return base if base and len(digest) == 8 else stem


def presets(manifest: str | os.PathLike = MANIFEST) -> dict[str, dict[str, Any]]:
    """The shipped weights by preset name: ``{name: record}``, the default first.

    Each record is the MANIFEST entry (``file``, ``sha256``, ``config`` with the data and
    schedule, ``progress`` with steps and wall time, ``evaluation`` with PSNR/SSIM, ``note``)
    plus ``path`` (the file on this machine) and ``default`` (True for the one ``test.py``
    uses). See checkpoints/README.md and RESULTS.md for how each was made and scores.
    """
    if not os.path.exists(manifest):
        return {}
    with open(manifest) as f:
        loaded = json.load(f)
    folder = os.path.dirname(manifest)
    found = {}
    for filename, record in sorted(loaded.get("weights", {}).items(),
                                   key=lambda item: item[0] != loaded.get("default")):
        found[preset_name(filename)] = {**record, "path": os.path.join(folder, filename),
                                        "default": filename == loaded.get("default")}
    return found


def preset_path(name: str, manifest: str = MANIFEST) -> str:
    """The weights file of preset ``name`` (or ``"default"``); ValueError lists the known ones."""
    if name == "default":
        return default_weights(manifest)
    known = presets(manifest)
    if name not in known:
        raise ValueError(f"unknown GLADNet preset {name!r}; known presets: "
                         f"{', '.join(['default', *known]) if known else 'none (no ' + manifest + ')'}")
    path = known[name]["path"]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"preset {name!r}: {path} is missing. " + HOW_TO_GET_WEIGHTS)
    return path


if __name__ == "__main__":  # the shipping command moved to ``ship`` (which imports this module)
    import runpy

    runpy.run_module("gladnet_tf.ship", run_name="__main__", alter_sys=True)
