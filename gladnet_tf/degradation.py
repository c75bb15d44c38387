r"""The low-light degradation of one well-exposed linear image: a (low, high) training pair.

The GLADNet slides ("Training Dataset Generation") darken a raw photo developed to linear light
(``develop.py``) with Adobe Lightroom's Exposure E in [-5, 0] and Contrast C in [-100, 0], add
black-to-black, white-to-white and grayscale pairs, and (slide "New result") random
saturation reduction. This module does all of that in numpy, for one image at a time;
``synthesis.py`` builds a dataset folder from it.

Value conventions (every public function):

- *linear* images are float32 HxWx3 RGB in [0, 1], scene-linear with sRGB (Rec. 709)
  primaries, 1.0 = the sensor's white (raw) or the file's white (RGB).
- *encoded* images are the sRGB OETF of linear values, floats in [0, 1].
- pairs come back from ``synthesize_pair`` as uint8 (default) or uint16 HxWx3 sRGB-encoded
  arrays.

The formulas
------------
Exposure (exactly Lightroom's meaning of an EV step)::

    exposed = 2 ** E * linear                      E in [-5, 0]

Contrast (C in [-100, 0], strength ``a = -C / 100`` in [0, 1]) is a tone curve ``f`` applied
per channel to the sRGB-encoded value ``p = oetf(linear)`` (a roughly perceptual scale),
pivoting at mid-grey ``m = oetf(0.18) = 0.4614``::

    f(p) = p                                       p <= m
    f(p) = p - a * (p - m) ** 2 / (2 * (1 - m))    p >  m

    low_linear = 2 ** E * eotf(f(oetf(high_linear)))

``f`` is continuous with a continuous slope at the pivot, its slope is ``1 - a*(p-m)/(1-m)``
in ``[1 - a, 1]`` (so it is monotone for every C in range), it leaves black and mid-grey
where they are, and at C = -100 white comes down to ``(1 + m) / 2`` (about -1 EV): the
encoded range from mid-grey to white is halved. E and C are drawn uniformly from their
ranges (uniform in EV means log-uniform in light). The curve is applied before the
exposure, i.e. the pivot follows the exposure, as Lightroom's contrast pivots around the
image's own midtones rather than a fixed output level.

Why this curve. Adobe has not published Lightroom's contrast curve. Lightroom's negative
contrast is two-sided: it pulls highlights down *and lifts shadows* toward mid-grey. The
lifted half is deliberately left out here, because (1) for E near 0 it makes dark pixels of
the "low-light" image brighter than the same pixels of the normal image, which no darker
exposure can do, and teaches the network to darken shadows; (2) it raises the black level
of the dark image, the grey veil that the slides correct by setting the black point. The
one-sided curve keeps the property the tests check: ``low <= high`` per pixel and channel
in linear light (before optional noise), for every E <= 0 and C in [-100, 0]:
``f(p) <= p`` and ``2**E <= 1``, and clipping and rounding are monotone.

Rendering. Both images of a pair go through the same chain: clip to [0, 1] (one white
scale), the sRGB OETF as the only tone curve, and rounding to 8 (or 16) bits::

    oetf(x) = 12.92 x                    x <= 0.0031308
            = 1.055 x ** (1/2.4) - 0.055 otherwise          (eotf is its inverse)


Tricks (each with its own probability, see :class:`SynthesisOptions`)
----------------------------------------------------------------------
- black pair: low = high = all 0 (same size as the source).
- white pair: low = high = all 255 (65535 for 16-bit output).
- grayscale pair: both images of a synthesised pair become their linear luminance
  (sRGB weights 0.2126, 0.7152, 0.0722), so R = G = B exactly in both.
- saturation reduction: ``x <- Y + s * (x - Y)`` in linear light with a random ``s``; on the
  low image only (default; low-light photos look dull and the network should learn to bring
  colour back, our reading of the slide) or on both images (``saturation_target="pair"``).
- backlight (beyond the paper, off by default): the exposure E darkens only the darker
  parts of the image and fades out over its bright parts (a blurred luminance map, see
  ``backlight_ev_map``), so the low image keeps a correctly exposed sky or lamp, as real
  low-light photos do; uniformly darkened pairs have no such highlights. With
  ``backlight_highlight_range`` above 0 the bright parts are darkened too, by that fraction
  of E (a night scene: lamps and lit facades a little under-exposed, the rest much more), so
  the network also learns to lift the highlights of a night photo, not only its shadows.
- target lift (beyond the paper, off by default): the high image of a synthetic pair is
  rendered brighter than its source, ``high <- high ** g`` on sRGB-encoded values with
  ``g = 1 - s * d``, ``s`` uniform in ``target_lift_range`` and ``d`` the darkness of the
  pair: ``clip((E - E0) / (-5 - E0), 0, 1)``, 1 at the paper's lowest E and 0 at the onset
  ``E0 = target_lift_onset_ev`` (default 0: every darkened pair is lifted a little; with
  ``E0 = -2`` pairs darkened by less than 2 EV keep their source's tones). The low image still comes
  from the unlifted source, so a dark input is asked for a brighter, shadow-lifted result
  (the official outputs' tone curve lifts shadows and highlights of a night photo), while a
  barely darkened one keeps its source's tones. Gray stays gray (the power is per channel).
  With ``target_lift_luma`` the power applies to the encoded luma ``Y'`` only and the three
  channels are scaled by ``Y'**g / Y'`` (clipped to 1), which keeps the colours' saturation
  where the per-channel power washes them out.
- target level (beyond the paper, off by default): after the lift, a target whose mean
  encoded luminance ``mean(Y')`` (Rec. 709 weights on sRGB-encoded values, the brightness
  that ``results/official_samples.py`` reports) is below a level ``m``, uniform in
  ``target_level_range``, is raised to ``m`` by the sRGB power that gets it there (per
  channel, or on the luma with ``target_lift_luma``; found by bisection on every fourth row
  and column). Brighter targets are left as they are; it never darkens. With
  ``target_level_curve="gain"`` the curve is an exposure gain ``k`` in linear light rolled
  off towards white, ``y = k x / (1 + (k - 1) x)`` (``y(0) = 0``, ``y(1) = 1``, slope ``k`` at
  black), which lifts near-black far less than the sRGB power does (stage 16: the power
  lifted FiveK's blacks from 0.05 to 0.23). Why: the sources'
  own exposures vary (their targets average ``mean(Y')`` 0.40, LOL's targets 0.52 and the
  official outputs 0.51), and after a random darkening the input carries no trace of its
  source's exposure, so without a level convention the per-image brightness of a target is
  noise the network cannot learn (RESULTS.md, stage 15). With it, a dark input asks for a
  photo at least as bright as a night photo's reference, as LOL and the paper's outputs do.
- sensor noise (beyond the paper, off by default): Poisson-Gaussian noise in linear light on
  the low image, ``low = Poisson(low * N) / N + Normal(0, sigma**2)``, with ``N`` photo-
  electrons at white (log-uniform in ``noise_photons_range``) and read noise ``sigma``
  (log-uniform in ``noise_read_range``).

Order within a synthetic pair: exposure (a number, or the backlight map) and contrast, then
noise (low), then saturation, then gray, then the target lift and the target level (high). Black and white pairs
get no other trick.

"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from gladnet_tf import images

# --------------------------------------------------------------------------------------
# Transfer functions
# --------------------------------------------------------------------------------------

MID_GREY_LINEAR = 0.18
# sRGB (Rec. 709) relative luminance weights, for linear light. The slides' loss weights
# (0.29891, 0.58661, 0.11448) are Rec. 601 luma weights for gamma-encoded values; in linear
# light the sRGB primaries' own luminance weights are the right ones.
LUMINANCE_WEIGHTS = (0.2126, 0.7152, 0.0722)
# Backlight trick: the darkening ramps from full to none between two quantiles of the
# blurred luminance this far apart (see backlight_ev_map).
BACKLIGHT_QUANTILE_WIDTH = 0.2


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """The sRGB EOTF: encoded floats in [0, 1] -> linear floats in [0, 1].

    Inputs outside [0, 1] are clipped first. Keeps float64 inputs float64; anything else
    comes back float32. Any shape (e.g. HxWx3).
    """
    x = np.asarray(encoded)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = np.clip(x.astype(dtype, copy=False), 0.0, 1.0)
    low = x / dtype(12.92)
    high = np.power((x + dtype(0.055)) / dtype(1.055), dtype(2.4))
    return np.where(x <= dtype(0.04045), low, high).astype(dtype, copy=False)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """The sRGB OETF: linear floats -> encoded floats in [0, 1] (input clipped to [0, 1]).

    Keeps float64 inputs float64; anything else comes back float32. Any shape.
    """
    x = np.asarray(linear)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = np.clip(x.astype(dtype, copy=False), 0.0, 1.0)
    low = x * dtype(12.92)
    high = dtype(1.055) * np.power(x, dtype(1.0 / 2.4)) - dtype(0.055)
    return np.where(x <= dtype(0.0031308), low, high).astype(dtype, copy=False)


_MID_GREY_ENCODED = float(1.055 * MID_GREY_LINEAR ** (1.0 / 2.4) - 0.055)  # 0.46136


def _contrast_curve(encoded: np.ndarray, contrast: float) -> np.ndarray:
    """One-sided contrast reduction on sRGB-encoded values in [0, 1] (see module docstring)."""
    strength = -float(contrast) / 100.0
    if strength == 0.0:
        return encoded
    pivot = _MID_GREY_ENCODED
    above = np.maximum(encoded - pivot, 0.0)
    return encoded - strength * above * above / (2.0 * (1.0 - pivot))


def apply_exposure_contrast(linear: np.ndarray, exposure_ev: float, contrast: float) -> np.ndarray:
    """Lightroom-style Exposure and (negative) Contrast on a linear image.

    Args:
      linear: linear RGB, float, any shape (typically HxWx3), values in [0, 1] (clipped).
      exposure_ev: exposure in EV; the image is multiplied by ``2 ** exposure_ev``. The
        result is never brighter than the input when ``exposure_ev <= 0``. A number, or an
        HxW map of EV per pixel (see ``backlight_ev_map``).
      contrast: Lightroom-style contrast in [-100, 0]; 0 leaves the image unchanged.

    Returns:
      float32 linear image of the same shape, in [0, 1]: ``2**E * eotf(f(oetf(x)))``.
    """
    if not np.all(np.isfinite(exposure_ev)):
        raise ValueError(f"exposure_ev must be finite, got {exposure_ev}")
    if not -100.0 <= contrast <= 0.0:
        raise ValueError(f"contrast must be in [-100, 0], got {contrast}")
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    if contrast != 0.0:
        encoded = linear_to_srgb(x)
        curved = srgb_to_linear(_contrast_curve(encoded, contrast))
        # Below the pivot f is the identity: keep those values bit for bit. Above it
        # f(p) < p; the minimum only removes float32 round-trip error, so that "never
        # brighter than the input" holds exactly.
        x = np.where(encoded <= np.float32(_MID_GREY_ENCODED), x, np.minimum(curved, x))
    if np.ndim(exposure_ev) == 0:
        gain = np.float32(2.0 ** float(exposure_ev))
    else:  # an EV map (backlight trick): HxW, broadcast over the channels
        gain = np.exp2(np.asarray(exposure_ev, np.float32))[..., None]
    return np.clip(x * gain, 0.0, 1.0).astype(np.float32)


def backlight_ev_map(
    linear: np.ndarray, exposure_ev: float, blur_fraction: float, quantile: float,
    width: float = BACKLIGHT_QUANTILE_WIDTH, highlight_fraction: float = 0.0,
) -> np.ndarray:
    """A spatially varying exposure (EV per pixel, HxW float32) for the backlight trick.

    Real low-light photos are rarely dark all over: a sky, a window or a lamp is exposed
    correctly while the rest of the scene is too dark (on DICM, on average 20 % of an
    image's pixels are brighter than 0.6, encoded; in uniformly darkened pairs, 4 %:
    ``results/brightness_stats.py``). This map darkens the darker parts of the image by
    ``exposure_ev`` and keeps the bright parts::

        b = gaussian_blur(oetf(luminance(linear)), sigma = blur_fraction * max(H, W))
        t = clip((b - q_lo) / (q_hi - q_lo), 0, 1)     q_lo, q_hi: quantiles of b at
                                                       quantile and quantile + width
        k = t * t * (3 - 2 t)                          (smoothstep)
        ev = exposure_ev * (1 - k * (1 - highlight_fraction))

    so the brightest ``1 - quantile - width`` of the (blurred) image gets
    ``highlight_fraction * exposure_ev`` (0 EV by default: kept as they are) and the darkest
    ``quantile`` gets the full ``exposure_ev``. Every value lies in ``[exposure_ev, 0]``, so
    the low image is still never brighter than the high one.
    """
    from scipy import ndimage

    if not exposure_ev <= 0.0:
        raise ValueError(f"exposure_ev must be <= 0, got {exposure_ev}")
    if not 0.0 <= highlight_fraction <= 1.0:
        raise ValueError(f"highlight_fraction must be in [0, 1], got {highlight_fraction}")
    encoded = linear_to_srgb(luminance(np.clip(linear, 0.0, 1.0)))
    sigma = max(float(blur_fraction) * max(encoded.shape), 0.5)
    blurred = ndimage.gaussian_filter(encoded.astype(np.float32), sigma, mode="reflect")
    upper = min(quantile + width, 0.995)
    low_q, high_q = np.quantile(blurred, [quantile, upper])
    t = np.clip((blurred - low_q) / max(float(high_q - low_q), 1e-6), 0.0, 1.0)
    keep = t * t * (3.0 - 2.0 * t)
    ev = np.float32(exposure_ev) * (1.0 - keep * np.float32(1.0 - highlight_fraction))
    return np.minimum(ev, 0.0).astype(np.float32)


def luminance(linear: np.ndarray) -> np.ndarray:
    """Relative luminance of linear RGB (..., 3) -> (...), float32."""
    x = np.asarray(linear, dtype=np.float32)
    red, green, blue = (np.float32(w) for w in LUMINANCE_WEIGHTS)
    # Element-wise in a fixed order (not a BLAS dot): monotone in every channel bit for bit.
    return red * x[..., 0] + green * x[..., 1] + blue * x[..., 2]


def reduce_saturation(linear: np.ndarray, factor: float) -> np.ndarray:
    """``Y + factor * (x - Y)`` in linear light; factor 1 = unchanged, 0 = gray (R=G=B).

    Luminance is kept; values stay in the range of the pixel's own channels.
    """
    y = luminance(linear)[..., None]
    if factor == 0.0:
        return np.repeat(y, 3, axis=-1)
    keep = np.float32(factor)
    # (1 - s) Y + s x rather than Y + s (x - Y): a sum of monotone terms stays monotone in
    # float arithmetic, so a pair that was ordered (low <= high) stays ordered.
    return ((np.float32(1.0) - keep) * y + keep * np.asarray(linear, np.float32)).astype(
        np.float32)


def add_sensor_noise(
    linear: np.ndarray, photons_at_white: float, read_sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Poisson-Gaussian noise in linear light, clipped to [0, 1] (float32, same shape)."""
    electrons = rng.poisson(np.asarray(linear, dtype=np.float64) * photons_at_white)
    noisy = electrons / photons_at_white + rng.normal(0.0, read_sigma, size=np.shape(linear))
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def quantize(encoded: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Encoded floats in [0, 1] -> uint8/uint16 as the synthesis always rounded: half to even
    (``images.quantize(..., half_even=True)``, the package's one quantiser)."""
    return images.quantize(encoded, bit_depth, half_even=True)


# --------------------------------------------------------------------------------------
# Pair synthesis
# --------------------------------------------------------------------------------------


def _range(values: Sequence[float], name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in values)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {values}")
    return lo, hi


@dataclasses.dataclass(frozen=True)
class SynthesisOptions:
    """What ``synthesize_pair`` draws from. Probabilities are per output pair.

    The paper gives the E and C ranges; it gives no numbers for the tricks, so their
    default probabilities are ours.
    """

    exposure_range: tuple[float, float] = (-5.0, 0.0)  # EV, uniform, must be <= 0
    contrast_range: tuple[float, float] = (-100.0, 0.0)  # uniform, within [-100, 0]
    black_pair_prob: float = 0.02
    white_pair_prob: float = 0.02
    gray_prob: float = 0.1
    saturation_prob: float = 0.2
    saturation_range: tuple[float, float] = (0.3, 0.9)  # multiplier s, uniform
    saturation_target: str = "low"  # "low" or "pair"
    noise_prob: float = 0.0  # beyond the paper; off by default
    noise_photons_range: tuple[float, float] = (1e3, 1e5)  # electrons at white, log-uniform
    noise_read_range: tuple[float, float] = (1e-4, 2e-3)  # read-noise sigma, log-uniform
    backlight_prob: float = 0.0  # beyond the paper; off by default
    backlight_blur_range: tuple[float, float] = (0.01, 0.05)  # sigma / longer side, uniform
    backlight_quantile_range: tuple[float, float] = (0.3, 0.75)  # where darkening ends
    # Fraction of E that the bright side of a backlight map still gets, uniform; (0, 0)
    # keeps the highlights as they are (the trick as first shipped).
    backlight_highlight_range: tuple[float, float] = (0.0, 0.0)
    # Strength s of the target lift (sRGB power 1 - s * darkness), uniform; (0, 0) is off.
    target_lift_range: tuple[float, float] = (0.0, 0.0)
    target_lift_luma: bool = False  # lift the luma and keep the chroma ratios (see above)
    target_lift_onset_ev: float = 0.0  # E0: pairs darkened by less than -E0 EV are not lifted
    # Mean encoded luminance a darker target is raised to, uniform; (0, 0) is off (see above).
    target_level_range: tuple[float, float] = (0.0, 0.0)
    target_level_curve: str = "power"  # "power" (sRGB power) or "gain" (rolled-off linear gain)
    bit_depth: int = 8

    def __post_init__(self):
        def set_(name, value):  # the dataclass is frozen; normalise values once, here
            object.__setattr__(self, name, value)

        for name in ("exposure_range", "contrast_range", "saturation_range",
                     "noise_photons_range", "noise_read_range", "backlight_blur_range",
                     "backlight_quantile_range", "backlight_highlight_range",
                     "target_lift_range", "target_level_range"):
            set_(name, _range(getattr(self, name), name))
        if self.exposure_range[1] > 0.0:
            raise ValueError(f"exposure_range must be <= 0 EV, got {self.exposure_range}")
        if self.contrast_range[0] < -100.0 or self.contrast_range[1] > 0.0:
            raise ValueError(f"contrast_range must lie in [-100, 0], got {self.contrast_range}")
        if not (0.0 <= self.saturation_range[0] and self.saturation_range[1] <= 1.0):
            raise ValueError(f"saturation_range must lie in [0, 1], got {self.saturation_range}")
        if self.noise_photons_range[0] <= 0.0 or self.noise_read_range[0] <= 0.0:
            raise ValueError("noise ranges must be positive")
        if self.backlight_blur_range[0] < 0.0:
            raise ValueError(f"backlight_blur_range must be >= 0, got {self.backlight_blur_range}")
        if not (0.0 <= self.backlight_highlight_range[0] and self.backlight_highlight_range[1] <= 1.0):
            raise ValueError(f"backlight_highlight_range must lie in [0, 1], got "
                             f"{self.backlight_highlight_range}")
        if not (0.0 <= self.target_lift_range[0] and self.target_lift_range[1] < 1.0):
            raise ValueError(f"target_lift_range must lie in [0, 1), got {self.target_lift_range}")
        if not (0.0 <= self.target_level_range[0] and self.target_level_range[1] < 1.0):
            raise ValueError(f"target_level_range must lie in [0, 1), got {self.target_level_range}")
        if not TARGET_LIFT_FULL_EV < self.target_lift_onset_ev <= 0.0:
            raise ValueError(f"target_lift_onset_ev must lie in ({TARGET_LIFT_FULL_EV}, 0], got "
                             f"{self.target_lift_onset_ev}")
        if not (0.0 <= self.backlight_quantile_range[0]
                and self.backlight_quantile_range[1] + BACKLIGHT_QUANTILE_WIDTH < 1.0):
            raise ValueError(f"backlight_quantile_range must lie in [0, "
                             f"{1.0 - BACKLIGHT_QUANTILE_WIDTH}), got "
                             f"{self.backlight_quantile_range}")
        for name in ("black_pair_prob", "white_pair_prob", "gray_prob", "saturation_prob",
                     "noise_prob", "backlight_prob"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
            set_(name, value)
        if self.black_pair_prob + self.white_pair_prob > 1.0:
            raise ValueError("black_pair_prob + white_pair_prob must be <= 1")
        if self.saturation_target not in ("low", "pair"):
            raise ValueError(f"saturation_target must be 'low' or 'pair', "
                             f"got {self.saturation_target!r}")
        if self.target_level_curve not in ("power", "gain"):
            raise ValueError(f"target_level_curve must be 'power' or 'gain', "
                             f"got {self.target_level_curve!r}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _draw(rng: np.random.Generator, options: SynthesisOptions) -> dict[str, Any]:
    """Every scalar a pair may use, drawn up front and always in the same order, so that
    changing one probability (say, turning noise on) does not change the E and C drawn for a
    file."""
    return {
        "kind": rng.random(),
        "exposure_ev": rng.uniform(*options.exposure_range),
        "contrast": rng.uniform(*options.contrast_range),
        "gray": rng.random(),
        "saturation": rng.random(),
        "saturation_factor": rng.uniform(*options.saturation_range),
        "noise": rng.random(),
        "noise_photons": _log_uniform(rng, options.noise_photons_range),
        "noise_read": _log_uniform(rng, options.noise_read_range),
        "noise_seed": int(rng.integers(0, 2**63 - 1)),
        # Drawn last, so that files made before the backlight trick existed keep their draws.
        "backlight": rng.random(),
        "backlight_blur": rng.uniform(*options.backlight_blur_range),
        "backlight_quantile": rng.uniform(*options.backlight_quantile_range),
        # Drawn after those, for the same reason.
        "backlight_highlight": rng.uniform(*options.backlight_highlight_range),
        "target_lift": rng.uniform(*options.target_lift_range),  # after those, likewise
        "target_level": rng.uniform(*options.target_level_range),  # last, likewise
    }


def _darken(high: np.ndarray, draws: dict[str, Any], options: SynthesisOptions,
            params: dict[str, Any]) -> np.ndarray:
    """The low image: exposure (a number, or the backlight map) and contrast."""
    exposure_ev = float(draws["exposure_ev"])
    exposure: float | np.ndarray = exposure_ev
    if draws["backlight"] < options.backlight_prob:
        exposure = backlight_ev_map(high, exposure_ev, draws["backlight_blur"],
                                    draws["backlight_quantile"],
                                    highlight_fraction=draws["backlight_highlight"])
        params["tricks"].append("backlight")
        params["backlight_blur"] = round(float(draws["backlight_blur"]), 6)
        params["backlight_quantile"] = round(float(draws["backlight_quantile"]), 6)
        if options.backlight_highlight_range != (0.0, 0.0):
            params["backlight_highlight"] = round(float(draws["backlight_highlight"]), 6)
    return apply_exposure_contrast(high, exposure, float(draws["contrast"]))


def _noise_trick(low: np.ndarray, draws: dict[str, Any], options: SynthesisOptions,
                 params: dict[str, Any]) -> np.ndarray:
    if draws["noise"] < options.noise_prob:
        low = add_sensor_noise(low, draws["noise_photons"], draws["noise_read"],
                               np.random.default_rng(draws["noise_seed"]))
        params["tricks"].append("noise")
        params["noise_photons_at_white"] = round(draws["noise_photons"], 3)
        params["noise_read_sigma"] = round(draws["noise_read"], 8)
    return low


def _colour_tricks(low: np.ndarray, high: np.ndarray, draws: dict[str, Any],
                   options: SynthesisOptions, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Saturation reduction (not on gray pairs), then gray."""
    gray = draws["gray"] < options.gray_prob
    if not gray and draws["saturation"] < options.saturation_prob:
        factor = float(draws["saturation_factor"])
        low = reduce_saturation(low, factor)
        if options.saturation_target == "pair":
            high = reduce_saturation(high, factor)
        params["tricks"].append("saturation")
        params["saturation_factor"] = round(factor, 6)
        params["saturation_target"] = options.saturation_target
    if gray:
        low, high = reduce_saturation(low, 0.0), reduce_saturation(high, 0.0)
        params["tricks"].append("gray")
    return low, high


def _target_lift_trick(high: np.ndarray, draws: dict[str, Any], options: SynthesisOptions,
                       params: dict[str, Any]) -> np.ndarray:
    if options.target_lift_range != (0.0, 0.0):
        power = target_lift_power(float(draws["exposure_ev"]), float(draws["target_lift"]),
                                  options.target_lift_onset_ev)
        high = srgb_to_linear(lift_encoded(linear_to_srgb(high), power, options.target_lift_luma))
        params["tricks"].append("target_lift")
        params["target_lift_power"] = round(power, 6)
    return high


def _target_level_trick(high: np.ndarray, draws: dict[str, Any], options: SynthesisOptions,
                        params: dict[str, Any]) -> np.ndarray:
    if options.target_level_range != (0.0, 0.0):
        level = float(draws["target_level"])
        params["target_level"] = round(level, 6)
        if options.target_level_curve == "gain":
            gain = level_gain(high, level)
            if gain > 1.0:
                high = rolled_off_gain(high, gain)
                params["tricks"].append("target_level")
            params["target_level_gain"] = round(gain, 6)
            return high
        encoded = linear_to_srgb(high)
        power = level_power(encoded, level, options.target_lift_luma)
        if power < 1.0:
            high = srgb_to_linear(lift_encoded(encoded, power, options.target_lift_luma))
            params["tricks"].append("target_level")
        params["target_level_power"] = round(power, 6)
    return high


def rolled_off_gain(linear: np.ndarray, gain: float) -> np.ndarray:
    """Linear RGB in [0, 1] -> ``k x / (1 + (k - 1) x)`` per channel: a gain ``k`` near black,
    rolled off so that 1 stays 1 (no clipping); gray stays gray."""
    gain = np.float32(gain)
    linear = np.clip(np.asarray(linear, np.float32), 0.0, 1.0)
    return gain * linear / (1.0 + (gain - 1.0) * linear)


LEVEL_MAX_GAIN = 256.0  # the strongest gain the level trick uses (a near-black target stays dim)
LEVEL_MIN_POWER = 0.05  # the strongest power the level trick uses (a near-black target stays dim)
LEVEL_BISECTION_STEPS = 30


def encoded_level(encoded: np.ndarray) -> float:
    """Mean encoded luminance ``mean(Y')`` of an sRGB-encoded HxWx3 image in [0, 1]."""
    return float(np.mean(encoded @ np.asarray(LUMINANCE_WEIGHTS, np.float32)))


# A low image that looks like a night photo with lights in it: most of it dark (median encoded
# luminance below LAMP_MAX_MEDIAN) and a few bright parts (more than LAMP_MIN_BRIGHT_SHARE of its
# pixels above LAMP_BRIGHT). RESULTS.md, stage 21: almost none of the uniform or broad backlit
# synthetic pairs is one, and GLADNet left such photos dark.
LAMP_MAX_MEDIAN = 0.1
LAMP_MIN_BRIGHT_SHARE = 0.05
LAMP_BRIGHT = 0.6


def lamp_stats(encoded: np.ndarray) -> tuple[float, float, float]:
    """(mean, median, share of pixels above ``LAMP_BRIGHT``) of the encoded luminance ``Y'``
    (Rec. 709 weights) of an sRGB-encoded HxWx3 image in [0, 1]."""
    y = encoded @ np.asarray(LUMINANCE_WEIGHTS, np.float32)
    return float(y.mean()), float(np.median(y)), float((y > LAMP_BRIGHT).mean())


def lamp_like(median: float, bright_share: float, max_median: float = LAMP_MAX_MEDIAN,
              min_bright_share: float = LAMP_MIN_BRIGHT_SHARE) -> bool:
    """The lamp-like rule on ``lamp_stats``' median and bright share."""
    return median < max_median and bright_share > min_bright_share


def is_lamp_like(encoded: np.ndarray, max_median: float = LAMP_MAX_MEDIAN,
                 min_bright_share: float = LAMP_MIN_BRIGHT_SHARE) -> bool:
    """Whether an sRGB-encoded HxWx3 image in [0, 1] is lamp-like (see ``LAMP_MAX_MEDIAN``)."""
    _, median, bright_share = lamp_stats(encoded)
    return lamp_like(median, bright_share, max_median, min_bright_share)


def _bisect_level(level_at, lo: float, hi: float, level: float) -> float:
    """The parameter in [lo, hi] at which ``level_at``, rising from the unchanged image at
    ``lo``, reaches ``level``: ``lo`` if it is there already, ``hi`` if it never gets there."""
    if level_at(lo) >= level:
        return lo
    if level_at(hi) <= level:
        return hi
    for _ in range(LEVEL_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if level_at(mid) < level:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def level_gain(linear: np.ndarray, level: float) -> float:
    """The gain in [1, ``LEVEL_MAX_GAIN``] for which ``rolled_off_gain`` raises the mean
    encoded luminance of ``linear`` to ``level`` (1 when it is already there or brighter).
    Bisection on log k, on every fourth row and column."""
    sample = np.clip(np.asarray(linear, np.float32)[::4, ::4], 0.0, 1.0)
    log_gain = _bisect_level(
        lambda t: encoded_level(linear_to_srgb(rolled_off_gain(sample, float(np.exp(t))))),
        0.0, float(np.log(LEVEL_MAX_GAIN)), level)
    return float(np.exp(log_gain))


def level_power(encoded: np.ndarray, level: float, luma: bool = False) -> float:
    """The sRGB power in [``LEVEL_MIN_POWER``, 1] that raises ``encoded``'s mean luminance
    to ``level`` under ``lift_encoded`` (1 when it is already there or brighter). Bisection on
    every fourth row and column, so the result is deterministic and cheap."""
    sample = np.clip(np.asarray(encoded, np.float32)[::4, ::4], 0.0, 1.0)
    # The level falls as the power rises: bisect on minus the power.
    return -_bisect_level(lambda t: encoded_level(lift_encoded(sample, -t, luma)),
                          -1.0, -LEVEL_MIN_POWER, level)


def _synthesize_linear(
    image: np.ndarray, rng: np.random.Generator, options: SynthesisOptions
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Like ``synthesize_pair`` but returns float32 *linear* low and high (before encoding)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must be HxWx3 linear RGB, got shape {image.shape}")
    draws = _draw(rng, options)
    high = np.clip(image.astype(np.float32, copy=False), 0.0, 1.0)
    if draws["kind"] < options.black_pair_prob + options.white_pair_prob:
        kind = "black" if draws["kind"] < options.black_pair_prob else "white"
        flat = np.full(high.shape, 0.0 if kind == "black" else 1.0, np.float32)
        return flat, flat.copy(), {"kind": kind, "tricks": [kind]}
    params: dict[str, Any] = {
        "kind": "synthetic", "exposure_ev": round(float(draws["exposure_ev"]), 6),
        "contrast": round(float(draws["contrast"]), 6), "tricks": [],
    }
    low = _darken(high, draws, options, params)
    low = _noise_trick(low, draws, options, params)
    low, high = _colour_tricks(low, high, draws, options, params)
    high = _target_lift_trick(high, draws, options, params)
    high = _target_level_trick(high, draws, options, params)
    return low, high, params


def lift_encoded(encoded: np.ndarray, power: float, luma: bool = False) -> np.ndarray:
    """sRGB-encoded HxWx3 in [0, 1] -> brighter: ``x ** power`` per channel, or (``luma``)
    every channel times ``Y' ** power / Y'`` with ``Y'`` the encoded luma, clipped to 1."""
    power = np.float32(power)
    if not luma:
        return encoded ** power
    y = encoded @ np.asarray(LUMINANCE_WEIGHTS, np.float32)
    gain = np.where(y > 0, np.maximum(y, 1e-12) ** (power - 1), 1.0).astype(np.float32)
    return np.clip(encoded * gain[..., None], 0.0, 1.0)


TARGET_LIFT_FULL_EV = -5.0  # the paper's lowest E: the darkness at which the full lift applies


def target_lift_power(exposure_ev: float, strength: float, onset_ev: float = 0.0) -> float:
    """The sRGB power ``g = 1 - strength * clip((E - E0) / (-5 - E0), 0, 1)`` of the target
    lift (``g`` in (0, 1]; 1 for E >= E0 = ``onset_ev``, ``1 - strength`` at E <= -5 EV)."""
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"target lift strength must be in [0, 1), got {strength}")
    if not TARGET_LIFT_FULL_EV < onset_ev <= 0.0:
        raise ValueError(f"target lift onset must be in ({TARGET_LIFT_FULL_EV}, 0] EV, got {onset_ev}")
    darkness = min(1.0, max(0.0, (exposure_ev - onset_ev) / (TARGET_LIFT_FULL_EV - onset_ev)))
    return 1.0 - strength * darkness


def synthesize_pair(
    image: np.ndarray, rng: np.random.Generator, options: SynthesisOptions | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One (low, high) training pair from a well-exposed linear image.

    Args:
      image: float HxWx3 linear RGB in [0, 1] (see ``develop.read_linear``); values are clipped.
      rng: the generator every random choice is drawn from.
      options: ranges and probabilities; defaults to ``SynthesisOptions()``.

    Returns:
      ``(low, high, params)``: low and high are HxWx3 sRGB-encoded uint8 (uint16 when
      ``options.bit_depth == 16``), rendered the same way (clip, sRGB OETF, rounding);
      params is a JSON-able dict: ``kind`` ("synthetic", "black" or "white"),
      ``exposure_ev``, ``contrast``, ``tricks`` (list) and the trick parameters.
    """
    options = options or SynthesisOptions()
    low, high, params = _synthesize_linear(image, rng, options)
    return (quantize(linear_to_srgb(low), options.bit_depth),
            quantize(linear_to_srgb(high), options.bit_depth), params)
