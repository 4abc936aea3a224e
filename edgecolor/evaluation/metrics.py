"""Colorization quality metrics: PSNR, CIEDE2000 and colourfulness against the original photo.

Every metric compares two 8-bit sRGB images of the same size: the original colour photo and
an output (a model's colorization, or the grayscale input itself for the gray baseline).
scikit-image computes PSNR and CIEDE2000; it is imported when a metric is first used, so
importing this module needs only numpy. No TensorFlow here.

Reusable outside ``edgecolor eval`` (e.g. export verification)::

    from edgecolor.evaluation.metrics import to_grayscale, compare
    gray = to_grayscale(original)                 # uint8 (H, W)
    scores = compare(original, colorizer.colorize(gray))
    scores.psnr, scores.delta_e2000, scores.colorfulness_ratio
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgecolor.color import colorfulness, lab_to_rgb, rgb_to_luminance
from edgecolor.errors import require

# Photos whose Hasler-Suesstrunk colourfulness (0-255 scale) is below this are treated as
# black-and-white: they have no colour to recover, and the colourfulness ratio (output /
# original) would divide by almost zero. 15 is the paper's "slightly colourful"; JPEG noise
# on a gray photo stays well under 5.
MIN_COLORFULNESS = 5.0

SKIMAGE_INSTALL = "pip install scikit-image"


def require_skimage():
    """The scikit-image submodules the metrics need, or MissingDependencyError."""
    metrics = require("skimage.metrics", SKIMAGE_INSTALL, "scikit-image")
    color = require("skimage.color", SKIMAGE_INSTALL, "scikit-image")
    return metrics, color


def _check_rgb8(name: str, image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    return image


def to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """A colour photo's black-and-white version with the photo's own CIE lightness.

    Each pixel becomes the neutral gray whose Lab L equals the original pixel's L (the gray
    of the same perceived lightness), which is exactly the luminance channel a colorizer
    keeps. This is the "original -> 8-bit grayscale" step of every evaluation.

    Args:
        rgb: uint8 (H, W, 3) sRGB.
    Returns:
        uint8 (H, W), 0-255.
    """
    rgb = _check_rgb8("rgb", rgb)
    lightness = rgb_to_luminance(rgb.astype(np.float32) / 255.0)  # (H, W), L in [0, 100]
    # A neutral Lab colour (a = b = 0) converts to R = G = B; take one channel.
    neutral = np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)], axis=-1)
    gray = lab_to_rgb(neutral)[..., 0]
    return np.clip(np.round(gray * 255.0), 0, 255).astype(np.uint8)


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """uint8 (H, W) gray -> uint8 (H, W, 3) with R = G = B (the gray baseline as a colour image)."""
    gray = np.asarray(gray)
    return np.repeat(gray[..., None], 3, axis=-1)


def psnr(original: np.ndarray, output: np.ndarray) -> float:
    """PSNR in dB over the 8-bit RGB images (data range 255); inf when they are identical.

    Args:
        original, output: uint8 (H, W, 3) sRGB, same shape.
    """
    metrics, _ = require_skimage()
    original = _check_rgb8("original", original)
    output = _check_rgb8("output", output)
    with np.errstate(divide="ignore"):  # identical images: inf, not a warning
        return float(metrics.peak_signal_noise_ratio(original, output, data_range=255))


def mean_delta_e2000(original: np.ndarray, output: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over all pixels (0 = identical; ~2.3 is just noticeable).

    Args:
        original, output: uint8 (H, W, 3) sRGB, same shape.
    """
    _, color = require_skimage()
    original = _check_rgb8("original", original)
    output = _check_rgb8("output", output)
    difference = color.deltaE_ciede2000(color.rgb2lab(original), color.rgb2lab(output))
    return float(np.mean(difference))


def is_color_photo(rgb: np.ndarray, threshold: float = MIN_COLORFULNESS) -> bool:
    """True when a photo has colour to evaluate against (colourfulness >= ``threshold``).

    Args:
        rgb: uint8 (H, W, 3) sRGB.
    """
    return colorfulness(_check_rgb8("rgb", rgb)) >= threshold


def colorfulness_ratio(original: np.ndarray, output: np.ndarray) -> float:
    """Colourfulness of the output divided by the original's (1.0 = as colourful; 0 for gray).

    Args:
        original, output: uint8 (H, W, 3) sRGB. ``original`` must be a colour photo
            (see :func:`is_color_photo`), otherwise the ratio is meaningless.
    """
    reference = colorfulness(_check_rgb8("original", original))
    if reference < 1e-6:
        raise ValueError("the original has no colour: colourfulness ratio is undefined")
    return colorfulness(_check_rgb8("output", output)) / reference


@dataclass(frozen=True)
class Scores:
    """The three metrics of one output against its original."""

    psnr: float
    delta_e2000: float
    colorfulness_ratio: float

    def as_dict(self) -> dict:
        return asdict(self)


def compare(original: np.ndarray, output: np.ndarray) -> Scores:
    """All three metrics of ``output`` against ``original`` (both uint8 (H, W, 3) sRGB)."""
    return Scores(
        psnr=psnr(original, output),
        delta_e2000=mean_delta_e2000(original, output),
        colorfulness_ratio=colorfulness_ratio(original, output),
    )


def mean_scores(scores: list[Scores]) -> Scores:
    """Mean of each metric over photos (the issue's "mean over photos"); PSNR inf values kept."""
    if not scores:
        raise ValueError("no scores to average")
    return Scores(
        psnr=float(np.mean([score.psnr for score in scores])),
        delta_e2000=float(np.mean([score.delta_e2000 for score in scores])),
        colorfulness_ratio=float(np.mean([score.colorfulness_ratio for score in scores])),
    )
