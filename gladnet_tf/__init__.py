"""gladnet-tf: GLADNet (Wang, Wei, Yang, Liu, FG 2018) in TensorFlow 2 / Keras 3.

Importing the package has no side effects beyond importing TensorFlow and Keras.
The public entry points live in their own modules:

- ``gladnet_tf.model``: ``GLADNet`` (registered Keras model) and ``LegacyNearestResize``.
- ``gladnet_tf.convert``: the original TF1 checkpoint -> Keras weights.
- ``gladnet_tf.inference``: ``Enhancer`` (one traced function, tiled for big images).
- ``gladnet_tf.images``: robust image reading and atomic writing.
"""

__version__ = "0.1.0"
