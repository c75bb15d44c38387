"""gladnet-tf: GLADNet (Wang, Wei, Yang, Liu, FG 2018) in TensorFlow 2 / Keras 3.

    import gladnet_tf
    enhanced = gladnet_tf.enhance(image)     # numpy (uint8/uint16/float), PIL image or path
    gladnet_tf.presets()                     # the shipped weights, with their records
    model = gladnet_tf.GLADNet.from_preset("default")

Importing the package loads neither TensorFlow nor Keras (the names above load them on first
use); it makes their first import quiet (no C++ start-up lines on stderr;
``GLADNET_VERBOSE=1`` shows them, see ``console``). The modules:

- ``gladnet_tf.api``: ``enhance``, ``get_enhancer``, ``presets``.
- ``gladnet_tf.model``: ``GLADNet`` (registered Keras model) and ``LegacyNearestResize``.
- ``gladnet_tf.convert``: the original TF1 checkpoint -> Keras weights.
- ``gladnet_tf.inference``: ``Enhancer`` (one traced function, tiled for big images).
- ``gladnet_tf.images``: robust image reading and atomic writing.
"""

from gladnet_tf import console as _console

_console.install()

__version__ = "0.1.0"

_LAZY = {"enhance": "api", "get_enhancer": "api", "presets": "api", "GLADNet": "model",
         "Enhancer": "inference"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"gladnet_tf.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'gladnet_tf' has no attribute {name!r}")
