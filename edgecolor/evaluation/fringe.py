"""Colour along the borders: does a model paint a band where a plain texture meets the frame?

A uniform texture has no reason to be more colourful at its edges than in its middle. A
model that is (the first default's rainbow strip along the left and bottom, the
distribution head's green band along the bottom after long training, a prior learned
through the zero padding) shows it on every photo whose border holds something plain: a
gray floor, a wall, a sky. The bundled-model test and the model selection rule both ask
this question, through :func:`border_bands`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecolor.color import rgb_to_lab

# scikit-image's plain textures (uint8 (512, 512) gray), shipped with scikit-image.
TEXTURES = ("grass", "gravel")
# A strip may carry at most this much more mean chroma (CIELAB C*ab) than the middle.
BAND_MARGIN = 4.0
SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class BorderBands:
    """Mean output chroma of one texture's middle and of a strip along each border."""

    texture: str
    interior: float
    strips: dict[str, float]

    def excess(self) -> dict[str, float]:
        """Strip chroma minus the interior's, per side."""
        return {side: value - self.interior for side, value in self.strips.items()}

    def passes(self, margin: float = BAND_MARGIN) -> bool:
        return all(value <= self.interior + margin for value in self.strips.values())


def border_bands(colorized_rgb: np.ndarray, texture: str = "") -> BorderBands:
    """Chroma along the borders of a colorized plain texture.

    Args:
        colorized_rgb: uint8 (H, W, 3), the colorizer's output for a plain gray texture.
        texture: its name, for reports.
    Returns:
        The mean C*ab of the middle half (rows and columns H/4..3H/4, W/4..3W/4) and of
        a strip min(H, W) // 32 pixels wide along each border (16 px at 512).
    """
    lab = rgb_to_lab(colorized_rgb.astype(np.float32) / 255.0)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    height, width = chroma.shape
    band = max(1, min(height, width) // 32)
    interior = chroma[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4].mean()
    strips = {
        "top": chroma[:band],
        "bottom": chroma[-band:],
        "left": chroma[:, :band],
        "right": chroma[:, -band:],
    }
    return BorderBands(texture, float(interior), {k: float(v.mean()) for k, v in strips.items()})


def texture_bands(colorize) -> list[BorderBands]:
    """:func:`border_bands` of every plain texture in ``TEXTURES``.

    Args:
        colorize: a callable uint8 (H, W) gray -> uint8 (H, W, 3) RGB (``Colorizer.colorize``).
    """
    from skimage import data

    return [border_bands(colorize(getattr(data, name)()), name) for name in TEXTURES]
