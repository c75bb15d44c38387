"""Full-reference fidelity metrics (PSNR, SSIM) on 0..255 images via scikit-image.

Both take two arrays of identical shape, HxWx3 RGB or HxW gray, either uint8
(0..255) or floating point on the same 0..255 scale. The data range is fixed at 255
so that scores do not depend on the images' content or dtype. The argument order
does not matter (both metrics are symmetric).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "ssim"]

DATA_RANGE = 255.0


def _check_pair(a, b):
    """Validate a pair and return both as float64 arrays."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        raise ValueError(f"expected HxW gray or HxWx3 RGB images, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("images are empty")
    out = []
    for name, image in (("first", a), ("second", b)):
        if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
            raise ValueError(f"{name} image: expected uint8 or float on 0..255, got dtype {image.dtype}")
        image = image.astype(np.float64)
        if not np.all(np.isfinite(image)):
            raise ValueError(f"{name} image contains NaN or infinite values")
        if image.min() < 0 or image.max() > DATA_RANGE:
            raise ValueError(
                f"{name} image values must lie in [0, 255], got [{image.min():g}, {image.max():g}]"
            )
        out.append(image)
    return out[0], out[1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)`` over all samples.

    Args:
        a, b: same-shape HxWx3 or HxW arrays, uint8 or float on the 0..255 scale.

    Returns:
        PSNR in dB as a float; ``inf`` for identical images.

    Raises:
        ValueError: shape mismatch, unsupported layout or dtype, or values outside
            [0, 255].
    """
    a, b = _check_pair(a, b)
    if np.array_equal(a, b):
        # scikit-image would divide by zero (with a warning) to get the same inf.
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=DATA_RANGE))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004) with MATLAB ``ssim``'s settings.

    Gaussian weighting with sigma 1.5 (11x11 support), population covariances, K1 =
    0.01, K2 = 0.03, data range 255. RGB is scored per channel and averaged.

    Args:
        a, b: same-shape HxWx3 or HxW arrays, uint8 or float on the 0..255 scale;
            both sides must be at least 11 pixels.

    Returns:
        Mean SSIM as a float in [-1, 1]; 1.0 for identical images.

    Raises:
        ValueError: shape mismatch, unsupported layout or dtype, values outside
            [0, 255], or an image smaller than 11x11.
    """
    a, b = _check_pair(a, b)
    if a.ndim == 3 and a.shape[2] == 1:
        a, b = a[..., 0], b[..., 0]
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[0]}x{a.shape[1]}")
    return float(
        structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=DATA_RANGE,
            channel_axis=-1 if a.ndim == 3 else None,
        )
    )
