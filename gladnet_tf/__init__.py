"""gladnet-tf: GLADNet (Wang, Wei, Yang, Liu, FG 2018) in TensorFlow 2 / Keras 3.

    import gladnet_tf
    enhanced = gladnet_tf.enhance(image)     # numpy (uint8/uint16/float), PIL image or path
    gladnet_tf.presets()                     # the shipped weights, with their records
    model = gladnet_tf.GLADNet.from_preset("default")
    enhancer = gladnet_tf.Enhancer(model)    # float32 HxWx3 in [0, 1] -> enhanced, tiled
    model = gladnet_tf.load_model("my.weights.h5")
    config = gladnet_tf.TrainConfig(data="pairs/", patch_size=256)   # what train.py runs

Importing the package loads neither TensorFlow nor Keras (the names above load them on first
use); it makes their first import quiet (no C++ start-up lines on stderr;
``GLADNET_VERBOSE=1`` shows them, see ``console``). The README's "Package layout" section
maps every module; the ones a user calls:

- ``gladnet_tf.api``: ``enhance``, ``get_enhancer``, ``presets``.
- ``gladnet_tf.model``: ``GLADNet`` (registered Keras model), ``LegacyNearestResize``, ``load``.
- ``gladnet_tf.inference``: ``Enhancer`` (one traced function, tiled for big images).
- ``gladnet_tf.batch``: folders of images to folders of enhanced files (``test.py``'s job).
- ``gladnet_tf.config``: ``TrainConfig`` and the training presets.
- ``gladnet_tf.convert``: the original TF1 checkpoint -> Keras weights.
"""

from gladnet_tf import console as _console

_console.install()

__version__ = "0.1.0"

# Public name -> (module, attribute), imported on first use.
_LAZY = {
    "enhance": ("api", "enhance"),
    "get_enhancer": ("api", "get_enhancer"),
    "presets": ("api", "presets"),
    "GLADNet": ("model", "GLADNet"),
    "load_model": ("model", "load"),
    "Enhancer": ("inference", "Enhancer"),
    "TrainConfig": ("config", "TrainConfig"),
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f"gladnet_tf.{module}"), attribute)
    raise AttributeError(f"module 'gladnet_tf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
