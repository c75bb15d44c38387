"""A global power curve: the simplest brightening, as a reference point for the metrics.

Not one of the paper's baselines. It is here because it answers a question every reader of a
no-reference table should ask: how much of a method's NIQE does plain brightening earn?

Layout and ranges: ``enhance`` takes an HxWx3 RGB image (float, values in [0, 1]; values
outside are clipped, integer arrays are rejected) and returns an HxWx3 float32 image in [0, 1].

Algorithm: ``out = in ** exponent`` on the sRGB-encoded values, the same curve on all three
channels, with ``exponent = 0.5`` (fixed beforehand, not tuned on any evaluation set). It keeps
black at 0 and white at 1, is monotone, and lifts a mid-dark 0.1 to 0.32.
"""

import numpy as np

from ._common import as_rgb

EXPONENT = 0.5


def enhance(image: np.ndarray, exponent: float = EXPONENT) -> np.ndarray:
    """Returns ``image ** exponent`` as float32 in [0, 1]; ``exponent`` must be in (0, inf)."""
    if not exponent > 0:
        raise ValueError(f"exponent must be positive, got {exponent}")
    return np.power(as_rgb(image), exponent).astype(np.float32)
