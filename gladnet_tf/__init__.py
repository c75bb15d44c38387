"""gladnet-tf: GLADNet (Wang, Wei, Yang, Liu, FG 2018) in TensorFlow 2 / Keras 3.

Importing the package loads neither TensorFlow nor Keras; it makes their first import quiet
(no C++ start-up lines on stderr; ``GLADNET_VERBOSE=1`` shows them, see ``console``).
The public entry points live in their own modules:

- ``gladnet_tf.model``: ``GLADNet`` (registered Keras model) and ``LegacyNearestResize``.
- ``gladnet_tf.convert``: the original TF1 checkpoint -> Keras weights.
- ``gladnet_tf.inference``: ``Enhancer`` (one traced function, tiled for big images).
- ``gladnet_tf.images``: robust image reading and atomic writing.
"""

from gladnet_tf import console as _console

_console.install()

__version__ = "0.1.0"
