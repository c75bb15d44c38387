"""NIQE (Natural Image Quality Evaluator), numpy/scipy port of the LIVE release.

Reference: A. Mittal, R. Soundararajan and A. C. Bovik, "Making a Completely Blind
Image Quality Analyzer", IEEE Signal Processing Letters 20(3), 2013, and the LIVE
"NIQE Software Release" (2012), whose ``computequality.m`` this module follows step
by step. The code here is an independent reimplementation; only the pristine model
parameters (``niqe_pris_params.npz``, see ``NIQE_PARAMS_NOTICE.md``) come from the
release.

Lower is better. Scores are on the LIVE-release scale, which is *not* the scale of
MATLAB's Image Processing Toolbox ``niqe()`` (that one uses MathWorks' own model and
gives very different numbers, e.g. 7.20 vs 15.75 on TID2013 I03).

Pipeline (one score per image):

1. RGB uint8 -> gray with MATLAB ``rgb2gray`` (weights below, rounded back to uint8),
   then float64 on the 0..255 scale.
2. Crop to a multiple of the 96x96 block size (top-left corner kept).
3. For each of two scales: MSCN coefficients ``(I - mu) / (sigma + 1)`` with a 7x7
   Gaussian window (sigma 7/6, normalised, replicate borders); per block (96x96 at
   scale 1, 48x48 at scale 2) 18 features: an AGGD fit of the MSCN values (shape and
   mean scale) and AGGD fits of the products with the four neighbours (shape, mean,
   left and right scale each; neighbours wrap around inside the block, as MATLAB's
   ``circshift`` in ``computefeature.m``). The second scale is MATLAB
   ``imresize(I, 0.5)`` (bicubic, antialiased) of the scale-1 image.
4. Fit a multivariate Gaussian to the 36-d block features (``nanmean``,
   ``nancov``) and return ``sqrt((mu_p - mu)' pinv((C_p + C) / 2) (mu_p - mu))``.

Agreement with MATLAB (LIVE release): on images without flat 7x7 plateaus the scores
match the published MATLAB values to their printed precision (TID2013 I04, published
in full double precision, to ~1e-12). On images with plateaus (clipped highlights,
flat backgrounds) every float64 implementation, MATLAB included, differs by up to
~0.5: there the MSCN residual is 0 or +-1 ulp depending on summation order, and the
AGGD fit counts signs. The filter below uses the summation order that came closest
to the published MATLAB scores (within ~0.03, 0.13 on the worst reference).

Command line::

    python -m gladnet_tf.metrics.niqe IMAGE [IMAGE ...]

prints ``PATH<TAB>SCORE`` per image; unreadable images are reported on stderr, the
rest are still scored, and the exit status is 1 if any image failed.
"""

from __future__ import annotations

import argparse
import importlib.resources
import math
import sys
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.special

__all__ = ["niqe", "niqe_features", "rgb2gray", "imresize", "mscn", "load_pristine_params"]

BLOCK_SIZE = 96
NUM_SCALES = 2

# MATLAB rgb2gray: first row of inv([1 .956 .621; 1 -.272 -.647; 1 -1.106 1.703]),
# i.e. the NTSC luma weights MATLAB prints to 15 significant digits.
RGB2GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)

_PARAMS_FILE = "niqe_pris_params.npz"
_PARAMS_CACHE = {}


# --------------------------------------------------------------------------- model


def load_pristine_params() -> tuple[np.ndarray, np.ndarray]:
    """The LIVE pristine model: ``(mu, cov)``, shapes (36,) and (36, 36), float64.

    Read once from the package data file ``niqe_pris_params.npz`` (bit-identical to
    ``modelparameters.mat`` of the LIVE release; see ``NIQE_PARAMS_NOTICE.md``).
    Copies are returned so callers cannot corrupt the cache.
    """
    if not _PARAMS_CACHE:
        resource = importlib.resources.files(__package__).joinpath(_PARAMS_FILE)
        with resource.open("rb") as handle, np.load(handle) as data:
            _PARAMS_CACHE["mu"] = np.asarray(data["mu_pris_param"], np.float64).reshape(-1)
            _PARAMS_CACHE["cov"] = np.asarray(data["cov_pris_param"], np.float64)
    return _PARAMS_CACHE["mu"].copy(), _PARAMS_CACHE["cov"].copy()


# ------------------------------------------------------------------ MATLAB helpers


def rgb2gray(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray``: HxWx3 RGB -> HxW gray.

    uint8 input (0..255) gives uint8 output rounded to nearest (ties away from zero,
    as MATLAB's conversion to integer classes), which is what ``computequality.m``
    sees. Float input (any scale) gives the unrounded float64 weighted sum, as MATLAB
    does for double input.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb2gray expects an HxWx3 array, got shape {rgb.shape}")
    channels = rgb.astype(np.float64)
    wr, wg, wb = RGB2GRAY_WEIGHTS
    # Summed in R, G, B order in float64, as MATLAB's linear combination does.
    gray = wr * channels[..., 0] + wg * channels[..., 1] + wb * channels[..., 2]
    if rgb.dtype == np.uint8:
        # Values are >= 0, so floor(x + 0.5) is MATLAB's round-half-away-from-zero.
        return np.clip(np.floor(gray + 0.5), 0, 255).astype(np.uint8)
    return gray


def _cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB imresize's 'cubic')."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def _resize_contributions(in_length, out_length, scale, antialias=True):
    """Weights and 0-based source indices for one axis, as MATLAB ``contributions``.

    Returns ``(weights, indices)``, both of shape (out_length, taps); output sample i
    is ``sum_k weights[i, k] * input[indices[i, k]]``.
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        # Antialiasing: stretch the kernel by 1/scale (and scale its height) so it
        # low-passes before decimation.
        def kernel(x):
            return scale * _cubic(scale * x)

        kernel_width = kernel_width / scale
    else:
        kernel = _cubic

    # 1-based output coordinates mapped to continuous 1-based input coordinates, so
    # that pixel centres (not corners) line up, exactly as MATLAB computes them.
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(u[:, None] - indices)

    # Row sums accumulated tap by tap (MATLAB's sum order) before normalising.
    total = np.zeros(out_length)
    for k in range(taps):
        total = total + weights[:, k]
    weights = weights / total[:, None]

    # Out-of-range taps read the mirror image with the edge sample repeated
    # (MATLAB's aux = [1:n, n:-1:1] trick, i.e. 'symmetric' padding).
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = aux[np.mod(indices.astype(np.int64) - 1, aux.size)]

    # Taps whose weight is zero for every output sample are dropped, as MATLAB does.
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_axis(array, axis, weights, indices):
    moved = np.moveaxis(array, axis, 0)
    out = np.zeros((weights.shape[0],) + moved.shape[1:], dtype=np.float64)
    extra = (slice(None),) + (None,) * (moved.ndim - 1)
    # Accumulate tap by tap from zero, the order of MATLAB's resize kernel, so that
    # rounding (which matters on flat regions, see the module docstring) matches.
    for k in range(weights.shape[1]):
        out = out + weights[:, k][extra] * moved[indices[:, k]]
    return np.moveaxis(out, 0, axis)


def imresize(image: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB ``imresize(image, scale)`` with the default bicubic kernel.

    Args:
        image: 2-D array (any real dtype; computed in float64, no rounding or
            clipping, as MATLAB does for double input).
        scale: positive float applied to both axes; the output shape is
            ``ceil(scale * shape)``.
        antialias: MATLAB's 'Antialiasing' option (default true); only acts when
            shrinking.

    Returns:
        float64 array of shape ``(ceil(scale * H), ceil(scale * W))``.

    Borders are handled by symmetric reflection (edge sample repeated); rows are
    resized before columns, MATLAB's order for equal scales.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"imresize expects a 2-D array, got shape {image.shape}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out = image
    for axis in (0, 1):
        in_length = image.shape[axis]
        out_length = int(math.ceil(scale * in_length))
        weights, indices = _resize_contributions(in_length, out_length, scale, antialias)
        out = _resize_axis(out, axis, weights, indices)
    return out


def _gaussian_taps(size=7, sigma=7.0 / 6.0):
    """1-D factor of ``fspecial('gaussian', size, sigma)``, normalised to sum 1.

    The 2-D window of the release is separable: it equals ``outer(taps, taps)`` up to
    rounding (about 1e-17), so filtering with these taps along both axes is the same
    filter.
    """
    half = (size - 1) // 2
    taps = [math.exp(-(x * x) / (2.0 * sigma * sigma)) for x in range(-half, half + 1)]
    total = 0.0
    for tap in taps:
        total += tap
    return tuple(tap / total for tap in taps)


_GAUSSIAN_TAPS = _gaussian_taps()


def _gaussian_filter(image):
    """Correlate a 2-D float64 image with the normalised 7x7 Gaussian, replicate borders.

    Why hand-written rather than ``scipy.ndimage.correlate``: on flat plateaus
    (clipped highlights, flat backgrounds) the MSCN residual ``I - mu`` is 0 or +-1 ulp
    depending on the order the products are summed in, and the AGGD fit counts signs,
    so the order shifts NIQE on such images by up to ~0.5. MATLAB's own order is not
    documented (and changed across releases). Of the float64 orders we tried, this one
    (separable, rows then columns, taps summed left to right) lands closest to the
    published MATLAB scores on the references with plateaus; on images without
    plateaus every order agrees to ~1e-13.
    """
    radius = len(_GAUSSIAN_TAPS) // 2
    height, width = image.shape
    padded = np.pad(image, ((0, 0), (radius, radius)), mode="edge")
    rows = np.zeros_like(image)
    for k, tap in enumerate(_GAUSSIAN_TAPS):
        rows = rows + tap * padded[:, k : k + width]
    padded = np.pad(rows, ((radius, radius), (0, 0)), mode="edge")
    out = np.zeros_like(image)
    for k, tap in enumerate(_GAUSSIAN_TAPS):
        out = out + tap * padded[k : k + height, :]
    return out


def mscn(gray: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a 2-D float image.

    ``(I - mu) / (sigma + 1)`` with mu and sigma the local mean and deviation under
    the 7x7 Gaussian window (sigma 7/6, replicate borders). The constant 1 assumes
    the 0..255 intensity scale. Returns float64 of the input's shape.
    """
    gray = np.asarray(gray, dtype=np.float64)
    mu = _gaussian_filter(gray)
    # abs() guards against tiny negative variances from cancellation (as the release).
    sigma = np.sqrt(np.abs(_gaussian_filter(gray * gray) - mu * mu))
    return (gray - mu) / (sigma + 1.0)


# ------------------------------------------------------------------------ features

# The release's shape grid 0.2:0.001:10. Built from both ends, as MATLAB's colon
# operator does (start + k*step for the first half, end - (n-k)*step for the rest),
# rather than by accumulating steps, so the grid values agree to the last bit.
_GAMMA_COUNT = 9801
_k = np.arange(_GAMMA_COUNT, dtype=np.float64)
_GAMMA_GRID = np.where(
    _k <= (_GAMMA_COUNT - 1) / 2.0,
    0.2 + _k * 0.001,
    (0.2 + (_GAMMA_COUNT - 1) * 0.001) - ((_GAMMA_COUNT - 1) - _k) * 0.001,
)
_R_GAMMA = scipy.special.gamma(2.0 / _GAMMA_GRID) ** 2 / (
    scipy.special.gamma(1.0 / _GAMMA_GRID) * scipy.special.gamma(3.0 / _GAMMA_GRID)
)
del _k


def _aggd_fit(vec):
    """AGGD moment-matching fit (``estimateaggdparam.m``): (alpha, beta_l, beta_r).

    ``vec`` is a 1-D float64 array. Without negative (or positive) samples the left
    (right) deviation is NaN, as MATLAB's ``mean([])``; the NaN propagates into the
    features and the NaN-aware MVG fit drops it, as in the release.
    """
    negative = vec[vec < 0]
    positive = vec[vec > 0]
    left_std = math.sqrt(np.mean(negative * negative)) if negative.size else math.nan
    right_std = math.sqrt(np.mean(positive * positive)) if positive.size else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        # numpy scalars so that 0/0 and x/0 give NaN/inf like MATLAB, not exceptions.
        gamma_hat = np.float64(left_std) / np.float64(right_std)
        rhat = np.float64(np.mean(np.abs(vec))) ** 2 / np.float64(np.mean(vec * vec))
        rhat_norm = (rhat * (gamma_hat**3 + 1) * (gamma_hat + 1)) / ((gamma_hat**2 + 1) ** 2)
        diff = (_R_GAMMA - rhat_norm) ** 2
    # MATLAB's min skips NaNs and returns the first index when all are NaN.
    position = 0 if np.isnan(rhat_norm) else int(np.nanargmin(diff))
    alpha = float(_GAMMA_GRID[position])
    ratio = math.sqrt(math.gamma(1.0 / alpha) / math.gamma(3.0 / alpha))
    return alpha, left_std * ratio, right_std * ratio


# circshift offsets of computefeature.m: horizontal, vertical, main and anti diagonal.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _block_features(block):
    """The 18 NIQE features of one MSCN block (``computefeature.m``)."""
    # Column-major flattening, as MATLAB's (:), so sums run in the same order.
    values = block.ravel(order="F")
    alpha, beta_l, beta_r = _aggd_fit(values)
    feats = [alpha, (beta_l + beta_r) / 2.0]
    for shift in _SHIFTS:
        # Wrap-around inside the block is intended: the release calls circshift on
        # the block that blkproc hands it.
        pair = values * np.roll(block, shift, axis=(0, 1)).ravel(order="F")
        alpha, beta_l, beta_r = _aggd_fit(pair)
        mean_param = (beta_r - beta_l) * (math.gamma(2.0 / alpha) / math.gamma(1.0 / alpha))
        feats.extend([alpha, mean_param, beta_l, beta_r])
    return feats


def _to_gray(image):
    """Validate ``niqe``'s input and return the 2-D float64 gray image (0..255)."""
    image = np.asarray(image)
    if image.dtype == np.bool_ or not (
        image.dtype == np.uint8 or np.issubdtype(image.dtype, np.floating)
    ):
        raise ValueError(f"NIQE expects uint8 or float input, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = rgb2gray(image)
    elif image.ndim != 2:
        raise ValueError(f"NIQE expects an HxWx3 RGB or HxW gray image, got shape {image.shape}")
    gray = image.astype(np.float64)
    if not np.all(np.isfinite(gray)):
        raise ValueError("NIQE input contains NaN or infinite values")
    if gray.shape[0] < BLOCK_SIZE or gray.shape[1] < BLOCK_SIZE:
        raise ValueError(
            f"NIQE needs an image of at least {BLOCK_SIZE}x{BLOCK_SIZE} pixels, got "
            f"{gray.shape[0]}x{gray.shape[1]}"
        )
    return gray


def niqe_features(image: np.ndarray) -> np.ndarray:
    """Per-block NIQE features, shape (num_blocks, 36), float64.

    Columns 0..17 are scale 1 (96x96 blocks), 18..35 scale 2 (48x48 blocks of the
    half-size image). Blocks are listed column-major over the block grid (MATLAB
    ``blkproc`` + ``reshape`` order). Accepts the same input as ``niqe``.
    """
    gray = _to_gray(image)
    rows = gray.shape[0] // BLOCK_SIZE
    cols = gray.shape[1] // BLOCK_SIZE
    gray = gray[: rows * BLOCK_SIZE, : cols * BLOCK_SIZE]

    per_scale = []
    for scale_index in range(NUM_SCALES):
        block = BLOCK_SIZE >> scale_index
        coeffs = mscn(gray)
        feats = [
            _block_features(coeffs[r * block : (r + 1) * block, c * block : (c + 1) * block])
            for c in range(cols)
            for r in range(rows)
        ]
        per_scale.append(np.asarray(feats, dtype=np.float64))
        if scale_index + 1 < NUM_SCALES:
            gray = imresize(gray, 0.5)
    return np.concatenate(per_scale, axis=1)


def _matlab_pinv(matrix):
    """``pinv`` with MATLAB's default tolerance max(size) * eps(norm)."""
    if not np.all(np.isfinite(matrix)):
        # MATLAB's pinv of a NaN matrix is all NaN; LAPACK would raise instead.
        return np.full(matrix.T.shape, np.nan)
    u, s, vt = np.linalg.svd(matrix)
    tol = max(matrix.shape) * np.spacing(s[0])
    inv_s = np.where(s > tol, 1.0 / np.where(s > tol, s, 1.0), 0.0)
    return (vt.T * inv_s) @ u.T


def _nancov(feats):
    """MATLAB ``nancov``: covariance over rows without NaN, normalised by N - 1."""
    complete = feats[~np.any(np.isnan(feats), axis=1)]
    n = complete.shape[0]
    if n == 0:
        return np.full((feats.shape[1],) * 2, np.nan)
    centred = complete - complete.mean(axis=0)
    # MATLAB's cov normalises a single observation by 1 (giving zeros), not by 0.
    return centred.T @ centred / max(n - 1, 1)


def niqe(image: np.ndarray) -> float:
    """NIQE score of one image (LIVE release, 96x96 blocks, no overlap); lower is better.

    Args:
        image: one of
            - HxWx3 uint8 RGB, 0..255 (the normal case; converted with MATLAB
              ``rgb2gray`` including its rounding to uint8),
            - HxW (or HxWx1) uint8 gray, 0..255,
            - float arrays of the same layouts on the 0..255 scale (not [0, 1]:
              the MSCN constant C = 1 assumes 0..255). Float RGB is converted
              without rounding, as MATLAB does for double input, so it can differ
              slightly from the uint8 path.
          Both sides must be at least 96 pixels; the image is cropped to a multiple
          of 96 (top-left kept). Alpha channels are not accepted.

    Returns:
        The score as a Python float (NaN only if every block is degenerate, e.g. a
        constant image).

    Raises:
        ValueError: wrong layout or dtype, non-finite values, or image too small.
    """
    mu_pris, cov_pris = load_pristine_params()
    feats = niqe_features(image)
    with warnings.catch_warnings():
        # An all-NaN column warns in nanmean; its NaN result is the intended answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        # nanmean is per column, whereas nancov drops whole rows: same as the release.
        mu_dist = np.nanmean(feats, axis=0)
        cov_dist = _nancov(feats)
    diff = mu_pris - mu_dist
    inv_cov = _matlab_pinv((cov_pris + cov_dist) / 2.0)
    return float(np.sqrt(diff @ inv_cov @ diff))


# ---------------------------------------------------------------------------- CLI


def _read_rgb(path):
    """Read an image file as HxWx3 uint8 RGB, applying its EXIF orientation."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I", "F") or img.mode.startswith("I;"):
            # Pillow's conversion to RGB would clip these rather than rescale.
            raise ValueError(f"{img.mode!r} images (16-bit or float) are not supported")
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def main(argv: Sequence[str] | None = None) -> int:
    """Score image files; returns the process exit status (0 ok, 1 if any failed).

    ``argv``: the arguments without the program name (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m gladnet_tf.metrics.niqe",
        description="NIQE (LIVE release model) of image files; lower is better. "
        "Prints PATH<TAB>SCORE per image.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format Pillow reads)")
    parser.add_argument("--digits", type=int, default=4, help="decimals to print (default 4)")
    args = parser.parse_args(argv)

    failed = 0
    for path in args.images:
        try:
            score = niqe(_read_rgb(path))
        except Exception as exc:  # noqa: BLE001 - report any per-file failure and go on
            failed += 1
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"niqe: error: {path}: {message}", file=sys.stderr, flush=True)
            continue
        print(f"{path}\t{score:.{args.digits}f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
