"""Input checks shared by the baselines."""

import numpy as np


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Validates an HxWx3 float image and returns it as float64 clipped to [0, 1].

    Raises ValueError for another layout, an integer dtype (divide by 255 first: an 8-bit
    array would otherwise be silently misread) or NaN/inf values.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(
            f"expected a float image in [0, 1], got dtype {arr.dtype} (divide by 255 first)"
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or infinite values")
    return np.clip(arr, 0.0, 1.0)
