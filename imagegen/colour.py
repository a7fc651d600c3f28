"""A product photo's dominant foreground colour in CIE Lab, colour distance (delta E), and Lab back to sRGB.

Product photos sit on white (studio backdrop plus our square padding), so near-white pixels are
background. The dominant colour is the most populated cell of a coarse Lab grid over the
foreground, summarised by the median of its pixels: robust to shading, logos and a stray shadow.
"""
from __future__ import annotations

import numpy as np

BACKGROUND_MIN = 235  # a pixel with every channel at or above this is white background
MIN_FOREGROUND_SHARE = 0.01  # below this the product itself is white (or nearly all background)
LAB_CELL = 10.0  # grid cell size in Lab units: colours closer than ~one just-noticeable step x 4 merge

# sRGB (D65) -> XYZ, and the D65 reference white.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE_XYZ = np.array([0.95047, 1.0, 1.08883])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or [0, 255] float) sRGB [..., 3] -> CIE Lab [..., 3] (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_XYZ
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab [..., 3] (D65) -> uint8 sRGB [..., 3], the inverse of srgb_to_lab; colours outside sRGB are clipped."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE_XYZ
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0.0, 1.0)
    c = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.round(c * 255), 0, 255).astype(np.uint8)


def foreground_mask(image: np.ndarray) -> np.ndarray:
    return (np.asarray(image) < BACKGROUND_MIN).any(axis=-1)


def dominant_colour(image: np.ndarray) -> np.ndarray:
    """The Lab colour of the largest colour region of the foreground of a uint8 [h, w, 3] image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image array [h, w, 3]; got shape {image.shape}")
    mask = foreground_mask(image)
    pixels = image[mask] if mask.mean() >= MIN_FOREGROUND_SHARE else image.reshape(-1, 3)
    return dominant_lab(srgb_to_lab(pixels))


def dominant_lab(lab: np.ndarray) -> np.ndarray:
    """The median of the most populated LAB_CELL cell of some pixels' Lab colours [n, 3] (n >= 1)."""
    lab = np.asarray(lab, dtype=np.float64).reshape(-1, 3)
    cells = np.floor(lab / LAB_CELL).astype(np.int64)
    _, cell_of_pixel, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    largest = cell_of_pixel.ravel() == counts.argmax()
    return np.median(lab[largest], axis=0)


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIE76 colour difference: Euclidean distance in Lab (about 2.3 is just noticeable)."""
    return np.linalg.norm(np.asarray(lab_a) - np.asarray(lab_b), axis=-1)


def reference_colour(photos) -> np.ndarray:
    """The Lab a colour name stands for in a catalogue: the median dominant colour of (uint8 [h, w, 3])
    photos of products in that colour."""
    photos = list(photos)
    if not photos:
        raise ValueError("no photo to take a reference colour from; give at least one")
    return np.median([dominant_colour(photo) for photo in photos], axis=0)
