"""Classical low-light enhancement methods the GLADNet paper compares against (numpy/scipy only).

Every method has the same contract:

    image: HxWx3 RGB, float (any floating dtype), values in [0, 1], H, W >= 1.
           Values outside [0, 1] are clipped; integer arrays (e.g. uint8) are rejected with
           ValueError instead of being silently misread (divide by 255 first); NaN/inf are
           rejected with ValueError.
    returns: HxWx3 float32 RGB in [0, 1], same H and W.

Registry:

- ``"msrcr"``: multi-scale Retinex with colour restoration (Jobson et al. 1997), ``msrcr.py``.
- ``"dehz"``: dehazing of the inverted image (Dong et al. 2011), ``dehz.py``.
- ``"lime"``: illumination map estimation (Guo et al. 2017), ``lime.py``.
- ``"srie"``: weighted variational reflectance and illumination estimation (Fu et al. 2016),
  ``srie.py``.
- ``"gamma"``: a fixed global power curve (``in ** 0.5``), ``gamma.py``; not in the paper, a
  reference point for what plain brightening scores.

Each module's docstring states its exact parameters and any departure from the paper. Importing
these modules import only numpy and scipy (no TensorFlow).
"""

import numpy as np

from . import dehz, gamma, lime, msrcr, srie

METHODS = {
    "msrcr": msrcr.enhance,
    "dehz": dehz.enhance,
    "lime": lime.enhance,
    "srie": srie.enhance,
    "gamma": gamma.enhance,
}

__all__ = ["METHODS", "enhance"]


def enhance(method_name: str, image: np.ndarray) -> np.ndarray:
    """Enhance ``image`` (HxWx3 float RGB in [0, 1]) with the named method.

    Returns an HxWx3 float32 RGB image in [0, 1]. Raises ValueError for an unknown method name
    (the message lists the valid names) or an invalid image.
    """
    try:
        method = METHODS[method_name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown enhancement method {method_name!r}; valid names: {', '.join(sorted(METHODS))}"
        ) from None
    return method(image)
