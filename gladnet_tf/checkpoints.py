"""The weights shipped in ``checkpoints/`` and how to find the default ones.

``checkpoints/MANIFEST.json`` names the default weights file and keeps one record per shipped
file (data, steps, patch, batch, training commit, wall time, metrics). File names carry the
first 8 hex digits of the file's sha256, so a record can never silently describe other bytes.
"""

import hashlib
import json
import os

CHECKPOINT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints")
MANIFEST = os.path.join(CHECKPOINT_DIR, "MANIFEST.json")

HOW_TO_GET_WEIGHTS = (
    "No GLADNet weights found. Either pass --weights FILE (a .weights.h5 or .keras file), "
    "train your own with `python train.py --data DIR --run_dir runs/NAME`, or convert the "
    "original TF1 checkpoint with `python -m gladnet_tf.convert --tf1_checkpoint model/GLADNet "
    "--output gladnet.weights.h5`."
)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_weights(manifest=MANIFEST):
    """Path of the default shipped weights; raises FileNotFoundError with instructions."""
    if not os.path.exists(manifest):
        raise FileNotFoundError(HOW_TO_GET_WEIGHTS)
    with open(manifest) as f:
        entry = json.load(f).get("default")
    path = os.path.join(os.path.dirname(manifest), entry or "")
    if not entry or not os.path.isfile(path):
        raise FileNotFoundError(f"{manifest} names {entry!r}, which is missing. " + HOW_TO_GET_WEIGHTS)
    return path
