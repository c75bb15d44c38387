"""Image quality metrics for evaluating enhanced images.

- ``niqe(image)``: no-reference NIQE with the LIVE-release pristine model (lower is
  better); also a command line, ``python -m gladnet_tf.metrics.niqe IMAGE...``.
- ``psnr(a, b)`` and ``ssim(a, b)``: full-reference fidelity of 0..255 images (higher
  is better).

numpy/scipy/scikit-image only; importing this package does not import TensorFlow.
"""

import importlib

__all__ = ["niqe", "psnr", "ssim"]

_EXPORTS = {
    "niqe": "gladnet_tf.metrics.niqe",
    "psnr": "gladnet_tf.metrics.fidelity",
    "ssim": "gladnet_tf.metrics.fidelity",
}


def __getattr__(name):
    # Lazy re-exports: importing the submodules eagerly here would make
    # ``python -m gladnet_tf.metrics.niqe`` warn that the module was already imported.
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
