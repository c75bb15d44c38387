"""MSRCR: multi-scale Retinex with colour restoration (Jobson, Rahman, Woodell, IEEE TIP 1997).

Layout and ranges: ``enhance`` takes an HxWx3 RGB image (float, values in [0, 1]; values
outside are clipped, integer arrays are rejected) and returns an HxWx3 float32 image in [0, 1].

Algorithm, per channel i, on 8-bit-equivalent intensities J_i = 255 * I_i + 1 (the +1 is the
usual guard against log(0) on 8-bit data; the Retinex differences are scale invariant, so working
on [0, 1] data this way reproduces the 8-bit behaviour):

    MSR_i   = sum_n (1/3) [log J_i - log(F_n * J_i)],      surround scales c_n = 15, 80, 250 px
    C_i     = beta * [log(alpha * J_i) - log(sum_j J_j)],  alpha = 125, beta = 46
    MSRCR_i = C_i * MSR_i

Surround: Jobson's F(x, y) = K exp(-(x^2 + y^2) / c^2), i.e. a Gaussian of standard deviation
sigma = c / sqrt(2) (10.6, 56.6 and 176.8 px), normalised to unit sum. It is applied exactly in
the DCT-II domain (multiplication by exp(-sigma^2 w^2 / 2)), which is a convolution with
half-sample symmetric (mirror) extension at the borders, costs O(N log N) for any scale (a
direct 250-px kernel would not) and maps a constant image to itself.

Final stretch: "simplest colour balance" (Limare, Lisani, Morel, Petro, Sbert, IPOL 2011) applied
jointly to the three channels: the 1st and 99th percentiles of all MSRCR values are mapped
affinely to 0 and 1 and the rest clipped. Why not Jobson's fixed gain/offset (G = 192, b = -30):
those constants were tuned for their log base, data and display, and do not transfer to a
different log/intensity convention; the percentile clip is the image-adaptive version of the
same map (one common gain and offset for all channels, so the colour restoration is not undone
by a per-channel white balance). Degenerate case: when the MSRCR output has no spread (a
constant image, a single pixel), there is nothing to stretch and the input is returned
unchanged (clipped to [0, 1]).
"""

from collections.abc import Sequence

import numpy as np
import scipy.fft

from ._common import as_rgb

SCALES = (15.0, 80.0, 250.0)
ALPHA = 125.0
BETA = 46.0
LOW_CLIP = 0.01
HIGH_CLIP = 0.01

__all__ = ["enhance", "gaussian_surround"]


def gaussian_surround(channels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (std ``sigma`` px) of an HxWxC array with mirror boundaries, via the DCT-II.

    Float values of any range (here 8-bit-equivalent intensities in [1, 256]); returns float64.
    """
    h, w = channels.shape[:2]
    coeffs = scipy.fft.dctn(channels, type=2, axes=(0, 1), norm="ortho")
    wy = np.pi * np.arange(h) / h
    wx = np.pi * np.arange(w) / w
    transfer = np.exp(-0.5 * sigma**2 * (wy[:, None] ** 2 + wx[None, :] ** 2))
    coeffs *= transfer[:, :, None]
    return scipy.fft.idctn(coeffs, type=2, axes=(0, 1), norm="ortho")


def enhance(image: np.ndarray, scales: Sequence[float] = SCALES, alpha: float = ALPHA, beta: float = BETA,
            low_clip: float = LOW_CLIP, high_clip: float = HIGH_CLIP) -> np.ndarray:
    """MSRCR-enhance an HxWx3 RGB image in [0, 1]; returns HxWx3 float32 in [0, 1]."""
    img = as_rgb(image)
    j = 255.0 * img + 1.0
    log_j = np.log(j)
    msr = np.zeros_like(j)
    weight = 1.0 / len(scales)  # equal weights, as in the paper
    for c in scales:
        surround = gaussian_surround(j, c / np.sqrt(2.0))
        # The surround of values >= 1 is >= 1 in exact arithmetic; the max only guards rounding.
        msr += weight * (log_j - np.log(np.maximum(surround, 1.0)))
    restoration = beta * (np.log(alpha) + log_j - np.log(j.sum(axis=2, keepdims=True)))
    out = restoration * msr

    lo, hi = np.quantile(out, [low_clip, 1.0 - high_clip])
    # Rounding leaves ~1e-12 of "structure" in flat images; stretching that would be noise.
    if not hi - lo > 1e-6:
        return img.astype(np.float32)
    return np.clip((out - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
