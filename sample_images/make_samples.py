"""Regenerates the sample low-light images in this folder.

    python sample_images/make_samples.py

Sources: photographs bundled with scikit-image (skimage.data), chosen because they carry no
copyright restriction (see README.md here). Each is darkened the way the training-data
synthesis does it for 8-bit images: linearise (inverse sRGB), scale by 2**E with E in
EV, lower the contrast around mid-grey, add mild shot and read noise, re-encode as sRGB.
The random generator is seeded, so the files are reproducible.
"""

import os

import numpy as np
from PIL import Image
from skimage import data

SOURCES = {  # name: (loader, exposure EV, contrast factor)
    "coffee_dark.png": (data.coffee, -3.5, 0.8),
    "chelsea_dark.png": (data.chelsea, -3.0, 0.85),
    "astronaut_dark.png": (data.astronaut, -4.0, 0.9),
    "rocket_dark.png": (data.rocket, -3.0, 0.8),
}


def srgb_to_linear(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


def darken(rgb8, exposure_ev, contrast, rng):
    linear = srgb_to_linear(rgb8.astype(np.float64) / 255.0) * 2.0**exposure_ev
    # Contrast in the log domain around a dark mid-grey, then shot + read noise.
    pivot = 0.18 * 2.0**exposure_ev
    linear = pivot * (np.maximum(linear, 1e-6) / pivot) ** contrast
    noisy = rng.poisson(linear * 4000.0) / 4000.0 + rng.normal(0.0, 0.0008, linear.shape)
    return (np.clip(linear_to_srgb(np.clip(noisy, 0, 1)), 0, 1) * 255.0 + 0.5).astype(np.uint8)


def main():
    folder = os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(20180519)
    for name, (loader, exposure_ev, contrast) in SOURCES.items():
        Image.fromarray(darken(loader(), exposure_ev, contrast, rng)).save(os.path.join(folder, name), optimize=True)
        print(os.path.join(folder, name))


if __name__ == "__main__":
    main()
