"""Image quality metrics for evaluating enhanced images (numpy/scipy/scikit-image only).

- ``gladnet_tf.metrics.niqe.niqe(image)``: no-reference NIQE with the LIVE-release
  pristine model, HxWx3 uint8 RGB (or HxW gray) on 0..255; lower is better. Also a
  command line: ``python -m gladnet_tf.metrics.niqe IMAGE...``.
- ``psnr(a, b)`` and ``ssim(a, b)`` (from ``gladnet_tf.metrics.fidelity``):
  full-reference fidelity of same-shape 0..255 images; higher is better.

``niqe`` is deliberately not re-exported here: the function shares its name with its
module, and whichever import ran last would decide what ``gladnet_tf.metrics.niqe``
means. Import it as ``from gladnet_tf.metrics.niqe import niqe``.

Importing this package imports nothing heavy (no TensorFlow, and scikit-image only when
``psnr`` or ``ssim`` is first used).
"""

import importlib
from typing import Any

__all__ = ["psnr", "ssim"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the NIQE command line does not pay for importing scikit-image.
    if name in __all__:
        return getattr(importlib.import_module("gladnet_tf.metrics.fidelity"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
