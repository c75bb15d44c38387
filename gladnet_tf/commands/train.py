"""Train GLADNet on paired low/normal-light images: ``gladnet-train`` (``python train.py``).

    python train.py --data DATA_DIR --run_dir runs/my_run [--val_data VAL_DIR] [--preset cpu]
    python train.py --preset smoke --data DATA_DIR --run_dir /tmp/smoke   # seconds on a CPU
    python train.py --recipe recipes/gladnet_real8.json --data_root runs/data/real8 --run_dir runs/real8

DATA_DIR holds low/ and high/ (or normal/) with pairs matched by file name. Run the same
command again to resume a killed run. With ``KERAS_BACKEND=jax`` the same command trains on
JAX (no TensorFlow needed; ``gladnet_tf.jax_training``). See README.md ("Training").
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from gladnet_tf import config as config_lib  # noqa: E402

_DEFAULTS = config_lib.TrainConfig()
flags.DEFINE_string("run_dir", None, "Folder for config, checkpoints, logs and weights.")
flags.DEFINE_enum("preset", "original", sorted(config_lib.PRESETS), "Starting values; flags given override them.")
flags.DEFINE_integer("max_steps_this_session", None, "Stop after this many steps (resume later).")
flags.DEFINE_string("recipe", None, "Recipe file (recipes/*.json): a stage's values replace the preset's; "
                    "flags given override them. Build its data first: python -m gladnet_tf.recipe.")
flags.DEFINE_string("stage", "last", "The recipe's stage to train: index, name, or \"last\" (the recipe's "
                    "own last stage, the one that makes its preset).")
flags.DEFINE_string("data_root", None, "With --recipe: the folder its data steps were built in.")
flags.DEFINE_bool("device_data", False, "KERAS_BACKEND=jax only: decode the training pairs once and keep "
                  "them in the accelerator's memory (gladnet_tf.device_data; the same data stream), "
                  "for GPUs, which the host cannot feed fast enough.")
for _field in config_lib.TrainConfig.__dataclass_fields__.values():
    _default = getattr(_DEFAULTS, _field.name)
    _define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}[type(_default)]
    _define(_field.name, None, f"(default {_default!r}) see gladnet_tf/config.py")
FLAGS = flags.FLAGS


def make_config() -> config_lib.TrainConfig:
    values = dict(config_lib.PRESETS[FLAGS.preset])
    if FLAGS.recipe:
        from gladnet_tf import recipe as recipe_lib

        if not FLAGS.data_root:
            raise app.UsageError("--recipe needs --data_root (where its data was built)")
        try:
            recipe = recipe_lib.load(FLAGS.recipe)
            values.update(recipe_lib.stage_config(recipe, FLAGS.stage, FLAGS.data_root))
        except recipe_lib.RecipeError as error:
            raise app.UsageError(str(error)) from None
    for name in config_lib.TrainConfig.__dataclass_fields__:
        if FLAGS[name].value is not None:
            values[name] = FLAGS[name].value
    return config_lib.TrainConfig(**values)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = make_config()
    if not config.data:
        raise app.UsageError("--data is required")
    if not FLAGS.run_dir:
        raise app.UsageError("--run_dir is required")
    import keras

    from gladnet_tf.run_folder import TrainingError

    options = {}
    if keras.backend.backend() == "jax":  # KERAS_BACKEND=jax: no TensorFlow (jax_training)
        from gladnet_tf import jax_training as training

        if FLAGS.device_data:
            from gladnet_tf import device_data

            options["stream"] = device_data.DeviceStream
    elif FLAGS.device_data:
        raise app.UsageError("--device_data needs KERAS_BACKEND=jax")
    elif keras.backend.backend() == "tensorflow":
        from gladnet_tf import training

        if config.strategy == "mirrored":
            training.configure_cpu_replicas(config.cpu_replicas)  # before TensorFlow starts
    else:
        logging.error("training runs on KERAS_BACKEND=tensorflow or jax, not %r", keras.backend.backend())
        return 1
    try:
        summary = training.run(config, FLAGS.run_dir, FLAGS.max_steps_this_session, **options)
    except (TrainingError, FileNotFoundError) as error:
        logging.error("%s", error)
        return 1
    logging.info("done: %s", summary)
    return 0



def run() -> None:
    """Console-script entry point: parses the flags, runs ``main``, exits with its code."""
    app.run(lambda argv: sys.exit(main(argv)))
