"""DeHZ: low-light enhancement by dehazing the inverted image (Dong, Pang, Wen, ICME 2011,
"Fast efficient algorithm for enhancement of low lighting video").

Layout and ranges: ``enhance`` takes an HxWx3 RGB image (float, values in [0, 1]; values
outside are clipped, integer arrays are rejected) and returns an HxWx3 float32 image in [0, 1].

Algorithm:

1. Invert: R = 1 - I. Inverted low-light images look hazy, so the haze model
   R(x) = J(x) t(x) + A (1 - t(x)) is inverted with the dark channel prior (He, Sun, Tang 2009).
2. Atmospheric light A (Dong's rule): among the 100 pixels whose minimum over R, G, B is highest,
   the one with the largest R + G + B; its colour is A (floored at 1e-6 per channel so that an
   all-white input, whose inverse is all zero, does not divide by zero).
3. Transmission t(x) = 1 - omega * min_c min_{y in patch(x)} R^c(y) / A^c with omega = 0.8
   (Dong) and a 15x15 patch (He et al.).
4. Refinement: Dong et al. use the raw block-wise transmission (their goal is video speed). Here
   it is refined with He's guided filter (He, Sun, Tang, ECCV 2010 / TPAMI 2013) instead, with the
   grey level of the inverted image (mean of its channels) as guide, radius 60 px, eps = 1e-4,
   the settings He et al. give for transmission refinement; this removes the block/halo artefacts
   of the raw patch minimum at O(N) cost. The refined t is clipped to [0.1, 1] (He's t0 = 0.1).
5. Dong's low-light adjustment: J(x) = (R(x) - A) / (P(x) t(x)) + A with P(x) = 2 t(x) where
   t(x) < 0.5 and P(x) = 1 elsewhere (so t is replaced by 2 t^2 in the dark, hazier-looking
   regions; continuous at t = 0.5), which amplifies the darkest regions more.
6. Invert back: output = 1 - J, clipped to [0, 1].
"""

import numpy as np
from scipy import ndimage

from ._common import as_rgb

OMEGA = 0.8
PATCH = 15
N_BRIGHTEST = 100
GUIDED_RADIUS = 60
GUIDED_EPS = 1e-4
T_MIN = 0.1
A_FLOOR = 1e-6

__all__ = ["enhance", "guided_filter"]


def _box_mean(x, r):
    """Mean of x over the (2r+1)^2 window clipped to the image (so any r works on any size)."""
    h, w = x.shape

    def along(a, axis, n):
        c = np.cumsum(a, axis=axis)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        idx = np.arange(n)
        hi = np.minimum(idx + r + 1, n)
        lo = np.maximum(idx - r, 0)
        return np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)

    s = along(along(x, 0, h), 1, w)
    ones = np.ones((h, w))
    count = along(along(ones, 0, h), 1, w)
    return s / count


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s grey-guide guided filter: HxW guide and source -> HxW filtered source.

    Float arrays of any range (here in [0, 1]); ``radius`` in pixels (window 2r+1, clipped at
    the borders), ``eps`` the regularisation on the guide's variance. Returns float64.
    """
    mean_i = _box_mean(guide, radius)
    mean_p = _box_mean(src, radius)
    cov_ip = _box_mean(guide * src, radius) - mean_i * mean_p
    var_i = _box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box_mean(a, radius) * guide + _box_mean(b, radius)


def _atmospheric_light(inv):
    """Dong's A: brightest (by R+G+B) of the N pixels with the highest min(R, G, B)."""
    flat = inv.reshape(-1, 3)
    k = min(N_BRIGHTEST, flat.shape[0])
    mins = flat.min(axis=1)
    top = np.argpartition(-mins, k - 1)[:k]
    best = top[np.argmax(flat[top].sum(axis=1))]
    return np.maximum(flat[best], A_FLOOR)


def enhance(image: np.ndarray, omega: float = OMEGA, patch: int = PATCH) -> np.ndarray:
    """DeHZ-enhance an HxWx3 RGB image in [0, 1]; returns HxWx3 float32 in [0, 1]."""
    img = as_rgb(image)
    inv = 1.0 - img
    a = _atmospheric_light(inv)
    normalised_min = (inv / a).min(axis=2)
    dark = ndimage.minimum_filter(normalised_min, size=patch, mode="nearest")
    t = 1.0 - omega * dark
    t = guided_filter(inv.mean(axis=2), t, GUIDED_RADIUS, GUIDED_EPS)
    t = np.clip(t, T_MIN, 1.0)
    t_adj = np.where(t < 0.5, 2.0 * t * t, t)
    j = (inv - a) / t_adj[:, :, None] + a
    return np.clip(1.0 - j, 0.0, 1.0).astype(np.float32)
