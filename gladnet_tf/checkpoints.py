"""The weights shipped in ``checkpoints/`` and how to find the default ones.

``checkpoints/MANIFEST.json`` names the default weights file and keeps one record per shipped
file (data, steps, patch, batch, training commit, wall time, metrics). File names carry the
first 8 hex digits of the file's sha256, so a record can never silently describe other bytes.
"""

import hashlib
import json
import os
import sys

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


def preset_name(filename):
    """``gladnet_backlit3_p256-6e52689b.weights.h5`` -> ``gladnet_backlit3_p256``."""
    stem = filename[: -len(".weights.h5")] if filename.endswith(".weights.h5") else filename
    base, _, digest = stem.rpartition("-")
    return base if base and len(digest) == 8 else stem


def presets(manifest=MANIFEST):
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


def preset_path(name, manifest=MANIFEST):
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


def _portable(path):
    """An absolute path as the checkout or ``../shared`` sees it, so no record names a machine."""
    if not isinstance(path, str) or not os.path.isabs(path):
        return path
    root = os.path.dirname(CHECKPOINT_DIR)
    relative = os.path.relpath(path, root)
    if not relative.startswith(".."):
        return relative
    shared = os.path.join(os.path.dirname(root), "shared")
    return os.path.join("../shared", os.path.relpath(path, shared)) if path.startswith(shared + os.sep) else path


def _run_record(run_dir, weights_name):
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    config = {key: _portable(value) for key, value in config.items()}
    record = {"config": config}
    for name in ("final.json", "best.json", "progress.json", "sessions.json", "init_weights.json"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path) as f:
                loaded = json.load(f)
            if isinstance(loaded, dict):
                loaded = {key: _portable(value) for key, value in loaded.items()}
            record[name.split(".")[0]] = loaded
    return record


def ship(weights, run_dir, name, eval_data=None, make_default=False, note="", checkpoint_dir=CHECKPOINT_DIR):
    """Copies trained weights into ``checkpoints/`` as ``NAME-SHA8.weights.h5`` with a record.

    The record holds the run's config (data, patch, batch, schedule), its sessions (the
    commits that trained it), steps and wall time, and, if ``eval_data`` is given, PSNR/SSIM
    measured now on that folder (and on its inputs, for reference).
    """
    import shutil

    from gladnet_tf import evaluate

    digest = sha256_of(weights)
    filename = f"{name}-{digest[:8]}.weights.h5"
    target = os.path.join(checkpoint_dir, filename)
    os.makedirs(checkpoint_dir, exist_ok=True)
    tmp = target + ".tmp"
    shutil.copyfile(weights, tmp)
    os.replace(tmp, target)
    record = {"file": filename, "sha256": digest, "source": os.path.relpath(os.path.abspath(weights)), "note": note}
    record.update(_run_record(run_dir, filename))
    if eval_data:
        _, summary = evaluate.evaluate("gladnet", eval_data, weights=target, log=lambda m: None)
        _, baseline = evaluate.evaluate("none", eval_data, log=lambda m: None)
        record["evaluation"] = {
            "data": os.path.basename(os.path.normpath(eval_data)),
            "images": summary["images"],
            "psnr": summary["mean_psnr"],
            "ssim": summary["mean_ssim"],
            "input_psnr": baseline["mean_psnr"],
            "input_ssim": baseline["mean_ssim"],
            "command": f"python -m gladnet_tf.evaluate --method gladnet --weights checkpoints/{filename} --data {eval_data}",
        }
    manifest_path = os.path.join(checkpoint_dir, "MANIFEST.json")
    manifest = {"default": None, "weights": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    manifest["weights"][filename] = record
    if make_default or not manifest.get("default"):
        manifest["default"] = filename
    with open(manifest_path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    os.replace(manifest_path + ".tmp", manifest_path)
    return target, record


def main(argv):
    del argv
    from absl import app, flags

    FLAGS = flags.FLAGS
    weights = FLAGS.weights
    if FLAGS.step is not None:
        from gladnet_tf import training

        try:
            weights = training.weights_from_checkpoint(FLAGS.run_dir, FLAGS.step)
        except (training.TrainingError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {weights}")
        if not FLAGS.name:
            return 0
    if not weights or not FLAGS.name:
        raise app.UsageError("--weights (or --step) and --name are required to ship weights")
    target, record = ship(weights, FLAGS.run_dir, FLAGS.name, FLAGS.eval_data, FLAGS.default, FLAGS.note)
    print(json.dumps(record.get("evaluation", {}), indent=2))
    print(f"shipped {target}")
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("weights", None, "Weights to ship (e.g. runs/NAME/best.weights.h5).")
    flags.DEFINE_integer("step", None, "Instead of --weights: take the run's checkpoint at this step (written "
                         "to RUN_DIR/weights/step-N.weights.h5; without --name, only that is done).")
    flags.DEFINE_string("run_dir", None, "The run folder that produced them (for the record).")
    flags.DEFINE_string("name", None, "Base name, e.g. gladnet_lol60; the sha256 prefix is appended.")
    flags.DEFINE_string("eval_data", None, "Folder with low/ and high/ to measure PSNR/SSIM on.")
    flags.DEFINE_bool("default", False, "Make these the default weights of test.py.")
    flags.DEFINE_string("note", "", "Free text for the record.")
    flags.mark_flags_as_required(["run_dir"])
    app.run(lambda argv: sys.exit(main(argv)))
