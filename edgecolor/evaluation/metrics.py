"""Colorization quality metrics against the original photo: PSNR, CIEDE2000, colourfulness
and the hue figures (hue hit per family, sepia share, neutral chroma).

Every metric compares two 8-bit sRGB images of the same size: the original colour photo and
an output (a model's colorization, or the grayscale input itself for the gray baseline).
scikit-image computes PSNR and CIEDE2000; it is imported when a metric is first used, so
importing this module needs only numpy. No TensorFlow here.

Reusable outside ``edgecolor eval`` (e.g. export verification)::

    from edgecolor.evaluation.metrics import to_grayscale, compare
    gray = to_grayscale(original)                 # uint8 (H, W)
    scores = compare(original, colorizer.colorize(gray))
    scores.psnr, scores.delta_e2000, scores.colorfulness_ratio
    scores.hue.figures()["hue_hit"]["green"]      # share of green pixels that stay green

PSNR and CIEDE2000 alone cannot see the L1 "sepia effect": a model that turns every green
and red brown can still beat gray on both. The hue figures can.
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


def _check_pair(original: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both uint8 (H, W, 3) sRGB and of one size, or ValueError naming the bad one."""
    original = _check_rgb8("original", original)
    output = _check_rgb8("output", output)
    if output.shape != original.shape:
        raise ValueError(f"output {output.shape} and original {original.shape} differ in size")
    return original, output


def _lab_pair(original: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images (checked as by ``_check_pair``) in CIELAB: float64 (H, W, 3), rgb2lab."""
    _, skcolor = require_skimage()
    original, output = _check_pair(original, output)
    return skcolor.rgb2lab(original), skcolor.rgb2lab(output)


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
    original, output = _check_pair(original, output)
    with np.errstate(divide="ignore"):  # identical images: inf, not a warning
        return float(metrics.peak_signal_noise_ratio(original, output, data_range=255))


def mean_delta_e2000(original: np.ndarray, output: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over all pixels (0 = identical; ~2.3 is just noticeable).

    Args:
        original, output: uint8 (H, W, 3) sRGB, same shape.
    """
    _, color = require_skimage()
    return float(np.mean(color.deltaE_ciede2000(*_lab_pair(original, output))))


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


# --------------------------------------------------------------------------- hue

# Hue families by the original's CIELAB hue angle h = atan2(b*, a*) in degrees, [start, end).
# "red" wraps around 0. Greens (grass, leaves) and reds are what an L1 colorizer turns brown.
HUE_FAMILIES: dict[str, tuple[float, float]] = {
    "red": (330.0, 45.0),
    "orange_skin": (45.0, 75.0),
    "yellow": (75.0, 110.0),
    "green": (110.0, 175.0),
    "cyan": (175.0, 235.0),
    "blue": (235.0, 300.0),
    "purple": (300.0, 330.0),
}
# A pixel is "clearly coloured" from this chroma C*ab = hypot(a*, b*) of the original.
COLOURED_CHROMA = 15.0
# A hue hit: output chroma at least this share of the original's, hue within HUE_TOLERANCE.
HIT_CHROMA_SHARE = 0.3
HUE_TOLERANCE = 30.0
# The brown/orange hues an unsure L1 colorizer falls back on ("sepia"), and the chroma
# from which an output pixel counts as tinted.
SEPIA_HUES = (50.0, 100.0)
SEPIA_MIN_CHROMA = 5.0
# Pixels of the original under this chroma are neutral (gray, white, black).
NEUTRAL_CHROMA = 5.0
# A family with fewer pixels than this in one photo is left out for that photo.
MIN_FAMILY_PIXELS = 50


def _hue_degrees(ab: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(ab[..., 1], ab[..., 0])) % 360.0


def _in_hue_range(hue: np.ndarray, start: float, end: float) -> np.ndarray:
    return (hue >= start) & (hue < end) if start < end else (hue >= start) | (hue < end)


@dataclass(frozen=True)
class HueCounts:
    """Pixel counts behind the hue figures of one photo (or many, added up).

    ``family_pixels`` / ``family_hits``: coloured pixels of the original per hue family and
    how many came out right (families under MIN_FAMILY_PIXELS in a photo are 0 for it).
    ``coloured`` / ``hits``: all clearly coloured pixels and the right ones; ``sepia``: of
    those, pixels turned orange-brown whose original hue is not; ``neutral`` and
    ``neutral_chroma_sum``: the original's neutral pixels and their output chroma, summed.
    """

    family_pixels: dict[str, int]
    family_hits: dict[str, int]
    coloured: int
    hits: int
    sepia: int
    neutral: int
    neutral_chroma_sum: float

    def __add__(self, other: HueCounts) -> HueCounts:
        return HueCounts(
            family_pixels={k: v + other.family_pixels[k] for k, v in self.family_pixels.items()},
            family_hits={k: v + other.family_hits[k] for k, v in self.family_hits.items()},
            coloured=self.coloured + other.coloured,
            hits=self.hits + other.hits,
            sepia=self.sepia + other.sepia,
            neutral=self.neutral + other.neutral,
            neutral_chroma_sum=self.neutral_chroma_sum + other.neutral_chroma_sum,
        )

    def figures(self) -> dict:
        """The hue figures: ``hue_hit`` {family: share or None, ..., "all": share or None},
        ``sepia_share`` and ``neutral_chroma`` (None where there is no pixel to count)."""

        def share(part, whole):
            return part / whole if whole else None

        hit = {
            name: share(self.family_hits[name], self.family_pixels[name]) for name in HUE_FAMILIES
        }
        hit["all"] = share(self.hits, self.coloured)
        return {
            "hue_hit": hit,
            "sepia_share": share(self.sepia, self.coloured),
            "neutral_chroma": share(self.neutral_chroma_sum, self.neutral),
        }


def hue_counts(original: np.ndarray, output: np.ndarray) -> HueCounts:
    """Count the hue figures' pixels of ``output`` against ``original``.

    Both uint8 (H, W, 3) sRGB, converted to CIELAB (D65) by scikit-image's ``rgb2lab``.
    Over the original's clearly coloured pixels (C*ab >= 15) a *hit* has output
    C*ab >= 0.3 x the original's and a hue within 30 degrees; *sepia* is an output hue in
    [50, 100) with C*ab >= 5 where the original's hue is not in that range. Gray output
    scores no hit, no sepia and neutral chroma 0.
    """
    return _hue_counts_lab(*_lab_pair(original, output))


def _hue_counts_lab(original_lab: np.ndarray, output_lab: np.ndarray) -> HueCounts:
    """:func:`hue_counts` of two CIELAB images (float (H, W, 3), scikit-image's rgb2lab)."""
    original_ab = original_lab[..., 1:].reshape(-1, 2)
    output_ab = output_lab[..., 1:].reshape(-1, 2)
    original_chroma = np.hypot(original_ab[:, 0], original_ab[:, 1])
    output_chroma = np.hypot(output_ab[:, 0], output_ab[:, 1])
    coloured = original_chroma >= COLOURED_CHROMA
    original_hue = _hue_degrees(original_ab[coloured])
    output_hue = _hue_degrees(output_ab[coloured])
    difference = np.abs((output_hue - original_hue + 180.0) % 360.0 - 180.0)
    hit = (output_chroma[coloured] >= HIT_CHROMA_SHARE * original_chroma[coloured]) & (
        difference <= HUE_TOLERANCE
    )
    family_pixels, family_hits = {}, {}
    for name, (start, end) in HUE_FAMILIES.items():
        member = _in_hue_range(original_hue, start, end)
        count = int(member.sum())
        keep = count >= MIN_FAMILY_PIXELS
        family_pixels[name] = count if keep else 0
        family_hits[name] = int((hit & member).sum()) if keep else 0
    sepia = (
        _in_hue_range(output_hue, *SEPIA_HUES)
        & (output_chroma[coloured] >= SEPIA_MIN_CHROMA)
        & ~_in_hue_range(original_hue, *SEPIA_HUES)
    )
    neutral = original_chroma < NEUTRAL_CHROMA
    return HueCounts(
        family_pixels=family_pixels,
        family_hits=family_hits,
        coloured=int(coloured.sum()),
        hits=int(hit.sum()),
        sepia=int(sepia.sum()),
        neutral=int(neutral.sum()),
        neutral_chroma_sum=float(output_chroma[neutral].sum()),
    )


def sum_hue_counts(counts: list[HueCounts]) -> HueCounts:
    """Counts of many photos added up: the pooled figures weigh photos by pixel count."""
    if not counts:
        raise ValueError("no hue counts to add")
    total = counts[0]
    for more in counts[1:]:
        total = total + more
    return total


# --------------------------------------------------------------------------- all metrics


@dataclass(frozen=True)
class Scores:
    """The metrics of one output against its original (or of many photos, pooled)."""

    psnr: float
    delta_e2000: float
    colorfulness_ratio: float
    hue: HueCounts | None = None

    def as_dict(self) -> dict:
        values = {
            "psnr": self.psnr,
            "delta_e2000": self.delta_e2000,
            "colorfulness_ratio": self.colorfulness_ratio,
        }
        if self.hue is not None:
            values.update(self.hue.figures())
            values["hue_counts"] = asdict(self.hue)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> Scores:
        """Inverse of :meth:`as_dict` (the figures are recomputed from ``hue_counts``)."""
        counts = values.get("hue_counts")
        return cls(
            psnr=values["psnr"],
            delta_e2000=values["delta_e2000"],
            colorfulness_ratio=values["colorfulness_ratio"],
            hue=HueCounts(**counts) if counts is not None else None,
        )


def compare(original: np.ndarray, output: np.ndarray) -> Scores:
    """Every metric of ``output`` against ``original`` (both uint8 (H, W, 3) sRGB).

    Each image is converted to CIELAB once, for both CIEDE2000 and the hue figures (the
    conversion is most of the time at a photo's full resolution).
    """
    _, skcolor = require_skimage()
    original_lab, output_lab = _lab_pair(original, output)
    return Scores(
        psnr=psnr(original, output),
        delta_e2000=float(np.mean(skcolor.deltaE_ciede2000(original_lab, output_lab))),
        colorfulness_ratio=colorfulness_ratio(original, output),
        hue=_hue_counts_lab(original_lab, output_lab),
    )


def mean_scores(scores: list[Scores]) -> Scores:
    """Mean of PSNR, CIEDE2000 and colourfulness over photos (PSNR inf values kept); the hue
    counts added up, so each hue figure weighs photos by their pixels."""
    if not scores:
        raise ValueError("no scores to average")
    hues = [score.hue for score in scores if score.hue is not None]
    return Scores(
        psnr=float(np.mean([score.psnr for score in scores])),
        delta_e2000=float(np.mean([score.delta_e2000 for score in scores])),
        colorfulness_ratio=float(np.mean([score.colorfulness_ratio for score in scores])),
        hue=sum_hue_counts(hues) if len(hues) == len(scores) else None,
    )
