"""Shipping trained weights into ``checkpoints/``: ``python -m gladnet_tf.ship``.

    python -m gladnet_tf.ship --weights runs/NAME/best.weights.h5 --run_dir runs/NAME \
        --name gladnet_NAME [--eval_data DIR] [--default]
    python -m gladnet_tf.ship --run_dir runs/NAME --step 1500     # a checkpoint's weights only
    python -m gladnet_tf.ship --run_dir runs/NAME --average_steps 1500,1600,1700 \
        --recipe recipes/NAME.json --stage NAME --name gladnet_NAME   # the average of checkpoints
    python -m gladnet_tf.ship --weights checkpoints/resume/AVG.weights.h5 --recipe recipes/NAME.json \
        --stage NAME --recipe_steps 500,600,700 --blend_with checkpoints/OLD.weights.h5 \
        --blend_share 0.5 --name gladnet_NAME    # (1 - 0.5) OLD + 0.5 AVG, no run folder needed
    # several partners: --blend_with A --blend_with B --blend_with_shares 0.2,0.3 --blend_share 0.5

The copy is named ``NAME-SHA8.weights.h5`` and ``MANIFEST.json`` gets its record: the run's
config with paths relative to the checkout or ``../shared``, its sessions, steps and wall
time, PSNR/SSIM on ``--eval_data`` when given, and with ``--recipe`` how to rebuild it
(``made_by``: the recipe, its stage and the checkpoint steps; with ``--blend_with`` also the
weights it was interpolated with and the share, see ``gladnet_tf.averaging``). Works for
TensorFlow and JAX run folders; with ``--recipe`` and no ``--run_dir`` (a run whose folder is
gone, its weights kept in ``checkpoints/resume/``) the record's config is the recipe stage's.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from gladnet_tf import atomic, checkpoints, run_folder


def portable_path(path: Any) -> Any:
    """An absolute path as the checkout or ``../shared`` sees it, so no record or log names a
    machine; other values (relative paths, numbers) come back as they are."""
    if not isinstance(path, str) or not os.path.isabs(path):
        return path
    root = os.path.dirname(checkpoints.CHECKPOINT_DIR)
    relative = os.path.relpath(path, root)
    if not relative.startswith(".."):
        return relative
    shared = os.path.join(os.path.dirname(root), "shared")
    return os.path.join("../shared", os.path.relpath(path, shared)) if path.startswith(shared + os.sep) else path


def _run_record(run_dir, weights_name):
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    config = {key: portable_path(value) for key, value in config.items()}
    record = {"config": config}
    for name in ("final.json", "best.json", "progress.json", "sessions.json", "init_weights.json"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path) as f:
                loaded = json.load(f)
            if isinstance(loaded, dict):
                loaded = {key: portable_path(value) for key, value in loaded.items()}
            record[name.split(".")[0]] = loaded
    return record


def _recipe_config(made_by: dict[str, Any]) -> dict[str, Any]:
    """A recipe stage's training config, paths as the checkout sees them (data under runs/data/)."""
    from gladnet_tf import recipe

    root = os.path.dirname(checkpoints.CHECKPOINT_DIR)
    loaded = recipe.load(made_by["recipe"])
    values = recipe.stage_config(loaded, made_by["stage"], os.path.join(root, "runs", "data", loaded["name"]))
    # A recipe's relative paths (init_weights) are the checkout's, whatever the working directory.
    return {key: portable_path(os.path.join(root, value) if key in ("data", "val_data", "init_weights") else value)
            for key, value in values.items()}


def ship(weights: str, run_dir: str | os.PathLike, name: str, eval_data: str | None = None,
         make_default: bool = False, note: str = "",
         checkpoint_dir: str | None = None,
         made_by: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Copies trained weights into ``checkpoints/`` as ``NAME-SHA8.weights.h5`` with a record.

    The record holds the run's config (data, patch, batch, schedule), its sessions (the
    commits that trained it), steps and wall time, and, if ``eval_data`` is given, PSNR/SSIM
    measured now on that folder (and on its inputs, for reference).

    ``weights`` is a ``.weights.h5`` file; ``run_dir`` the run folder that made it (its
    ``config.json`` is required), or None with ``made_by`` (the config is then the recipe
    stage's); ``checkpoint_dir`` defaults to ``checkpoints.CHECKPOINT_DIR``.
    ``made_by`` (optional) says how to rebuild the file: ``{"recipe": "recipes/NAME.json",
    "stage": STAGE, "steps": [the checkpoint steps whose weights, averaged if several, it is]}``,
    optionally with ``"steps_weights"`` (a committed file holding those steps' weights) and
    ``"blend": {"weights": FILE, "share": t}`` (shipped: ``(1 - t) FILE + t`` those weights; with
    several, ``{"weights": [F1, ...], "shares": [s1, ...], "share": t}``); stored as ``made_by``.
    The copy becomes the default if ``make_default`` or if the manifest has none yet. Returns
    (path of the copy, its MANIFEST record).
    """
    from gladnet_tf import evaluate

    checkpoint_dir = checkpoint_dir or checkpoints.CHECKPOINT_DIR
    digest = checkpoints.sha256_of(weights)
    filename = f"{name}-{digest[:8]}.weights.h5"
    target = os.path.join(checkpoint_dir, filename)
    record = {"file": filename, "sha256": digest, "source": portable_path(os.path.abspath(weights)), "note": note}
    if run_dir is not None:
        record.update(_run_record(run_dir, filename))
    elif made_by:
        record["config"] = _recipe_config(made_by)
    else:
        raise ValueError("a run folder or a recipe (made_by) is needed for the record's config")
    if made_by:
        record["made_by"] = {key: portable_path(value) for key, value in made_by.items()}
    os.makedirs(checkpoint_dir, exist_ok=True)  # the record is complete: only now is the file copied
    atomic.copy_file(weights, target)
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
    atomic.write_json(manifest_path, manifest)
    return target, record


def step_weights(run_dir: str | os.PathLike, step: int) -> tuple[str, bool]:
    """The model weights of ``run_dir``'s checkpoint at ``step``: (``.weights.h5`` path, written now).

    A JAX run's checkpoint holds the weights file itself (complete once its optimizer state is
    written); a TensorFlow run's is read into a model first and written to
    ``RUN_DIR/weights/step-STEP.weights.h5``. Raises ``run_folder.TrainingError`` (or
    FileNotFoundError) naming the kept checkpoints when there is none at ``step``.
    """
    folder = os.path.join(run_dir, "checkpoints")
    jax_weights = os.path.join(folder, f"ckpt-{step}.weights.h5")
    jax_steps = run_folder.jax_checkpoint_steps(folder)
    if step in jax_steps:
        return jax_weights, False
    if jax_steps:
        raise run_folder.TrainingError(f"{jax_weights}: no such checkpoint (kept: {jax_steps})")
    from gladnet_tf import training

    return training.weights_from_checkpoint(run_dir, step), True


def _weights_to_ship(flag_values: Any) -> tuple[str | None, list[int]]:
    """(weights file, checkpoint steps it came from) for the flags: ``--weights`` as given (no
    steps), ``--step N`` (that checkpoint's weights) or ``--average_steps`` (their average,
    written to ``RUN_DIR/weights/avg-FIRST-LAST-COUNT.weights.h5``). Prints what it wrote."""
    if flag_values.step is not None and flag_values.average_steps:
        raise ValueError("give --step or --average_steps, not both")
    if flag_values.step is not None:
        weights, written = step_weights(flag_values.run_dir, flag_values.step)
        print(f"wrote {weights}" if written else f"checkpoint weights: {weights}")
        return weights, [flag_values.step]
    if flag_values.average_steps:
        from gladnet_tf import averaging

        steps = sorted(int(step) for step in flag_values.average_steps)
        output = os.path.join(flag_values.run_dir, "weights", f"avg-{steps[0]}-{steps[-1]}-{len(steps)}.weights.h5")
        weights = averaging.average_weights([step_weights(flag_values.run_dir, step)[0] for step in steps], output)
        print(f"wrote {weights} (the average of steps {', '.join(map(str, steps))})")
        return weights, steps
    if flag_values.weights and flag_values.recipe_steps:
        return flag_values.weights, sorted(int(step) for step in flag_values.recipe_steps)
    return flag_values.weights, []


def blend_shares(flag_values: Any) -> list[float]:
    """The share of each ``--blend_with`` file: ``--blend_with_shares`` as given (one per file), or
    ``1 - --blend_share`` for a single file. Raises ValueError unless ``--blend_share`` is in
    (0, 1], each share in [0, 1], and all of them sum to 1."""
    share = flag_values.blend_share
    if share is None or not 0 < share <= 1:
        raise ValueError(f"--blend_share must be in (0, 1], got {share}")
    partners = flag_values.blend_with
    given = [float(s) for s in getattr(flag_values, "blend_with_shares", None) or []]
    shares = given or ([1 - share] if len(partners) == 1 else [])
    if len(shares) != len(partners) or not all(0 <= s <= 1 for s in shares) or abs(sum(shares) + share - 1) > 1e-9:
        raise ValueError(f"--blend_with_shares {shares or 'missing'}: one share in [0, 1] per --blend_with "
                         f"file ({len(partners)}), summing with --blend_share {share} to 1")
    return shares


def _blend(weights: str, flag_values: Any) -> str:
    """``s_1 BLEND_WITH_1 + ... + share weights`` (``blend_shares``), written to
    ``runs/blends/NAME.weights.h5`` beside the checkout's ``checkpoints/`` (the record's
    ``source``); returns its path."""
    from gladnet_tf import averaging

    shares = blend_shares(flag_values)
    root = os.path.dirname(checkpoints.CHECKPOINT_DIR)
    output = os.path.join(root, "runs", "blends", f"{flag_values.name}.weights.h5")
    return averaging.average_weights([*flag_values.blend_with, weights], output, [*shares, flag_values.blend_share])


def _blend_record(flag_values: Any) -> dict[str, Any]:
    """made_by's ``blend`` entry: one partner as ``weights`` and ``share``; several with ``shares``."""
    partners = [portable_path(os.path.abspath(path)) for path in flag_values.blend_with]
    if len(partners) == 1:
        return {"weights": partners[0], "share": flag_values.blend_share}
    return {"weights": partners, "shares": blend_shares(flag_values), "share": flag_values.blend_share}


def _check_flag_combinations(flag_values: Any, usage_error: type[Exception]) -> None:
    """Raises ``usage_error`` for flags that would be dropped silently or leave a record incomplete."""
    if not flag_values.run_dir and not (flag_values.recipe and flag_values.weights):
        raise usage_error("--run_dir is required, unless --weights comes with --recipe (and its steps)")
    if flag_values.recipe and not flag_values.stage:
        raise usage_error("--recipe needs --stage: the recipe's stage that made the weights")
    if (flag_values.blend_share is not None or flag_values.blend_with_shares) and not flag_values.blend_with:
        raise usage_error("--blend_share and --blend_with_shares need their --blend_with files")
    if flag_values.blend_with and not flag_values.recipe:
        raise usage_error("--blend_with needs --recipe (and --stage): the blend is recorded in made_by")


def main(argv: list[str]) -> int:
    """The command (flags defined when run as a script); returns the exit code.

    0: shipped, or with ``--step``/``--average_steps`` and no ``--name`` the weights written or
    found; 1: no such checkpoint (or weights that do not fit). Missing weights or ``--name``,
    and ``--recipe`` without steps, raise UsageError.
    """
    del argv
    from absl import app, flags

    FLAGS = flags.FLAGS
    _check_flag_combinations(FLAGS, app.UsageError)
    try:
        weights, steps = _weights_to_ship(FLAGS)
    except (run_folder.TrainingError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if steps and not FLAGS.name:
        return 0
    if not weights or not FLAGS.name:
        raise app.UsageError("--weights (or --step, --average_steps) and --name are required to ship weights")
    made_by = None
    if FLAGS.recipe:
        if not steps:
            raise app.UsageError("--recipe records the steps that rebuild the file: give --step, "
                                 "--average_steps or (with --weights) --recipe_steps")
        made_by = {"recipe": os.path.abspath(FLAGS.recipe), "stage": FLAGS.stage, "steps": steps}
        if FLAGS.recipe_steps:
            made_by["steps_weights"] = os.path.abspath(weights)
    if FLAGS.blend_with:
        try:
            weights = _blend(weights, FLAGS)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        made_by["blend"] = _blend_record(FLAGS)  # --blend_with comes with --recipe, so made_by is there
    target, record = ship(weights, FLAGS.run_dir, FLAGS.name, FLAGS.eval_data, FLAGS.default, FLAGS.note,
                          made_by=made_by)
    print(json.dumps(record.get("evaluation", {}), indent=2))
    print(f"shipped {target}")
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("weights", None, "Weights to ship (e.g. runs/NAME/best.weights.h5).")
    flags.DEFINE_integer("step", None, "Instead of --weights: take the run's checkpoint at this step (written "
                         "to RUN_DIR/weights/step-N.weights.h5; without --name, only that is done).")
    flags.DEFINE_list("average_steps", [], "Instead of --weights: the average of the run's checkpoints at "
                      "these steps (gladnet_tf.averaging; written to RUN_DIR/weights/avg-FIRST-LAST-COUNT"
                      ".weights.h5; without --name, only that is done).")
    flags.DEFINE_string("recipe", None, "The recipe (recipes/NAME.json) whose stage made the run, for the "
                        "record's made_by (with --stage and the steps).")
    flags.DEFINE_string("stage", None, "The recipe's stage that made the run.")
    flags.DEFINE_list("recipe_steps", [], "With --weights and --recipe: the stage's checkpoint steps that the "
                      "weights file holds (averaged if several), e.g. a file kept in checkpoints/resume/.")
    flags.DEFINE_multi_string("blend_with", [], "Ship (1 - s) BLEND_WITH + s WEIGHTS instead (s: --blend_share): "
                              "a weight-space interpolation, recorded in made_by. Repeat it to blend "
                              "several files (with --blend_with_shares).")
    flags.DEFINE_float("blend_share", None, "The share s of the shipped weights in --blend_with's blend.")
    flags.DEFINE_list("blend_with_shares", [], "With several --blend_with files: the share of each, in order "
                      "(with --blend_share, summing to 1).")
    flags.DEFINE_string("run_dir", None, "The run folder that produced them (for the record).")
    flags.DEFINE_string("name", None, "Base name, e.g. gladnet_lol60; the sha256 prefix is appended.")
    flags.DEFINE_string("eval_data", None, "Folder with low/ and high/ to measure PSNR/SSIM on.")
    flags.DEFINE_bool("default", False, "Make these the default weights of test.py.")
    flags.DEFINE_string("note", "", "Free text for the record.")
    app.run(lambda argv: sys.exit(main(argv)))
