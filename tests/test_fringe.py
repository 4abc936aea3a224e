"""The border-band check (edgecolor/evaluation/fringe.py) sees a band and passes a plain frame."""

from __future__ import annotations

import numpy as np

from edgecolor.color import lab_to_rgb
from edgecolor.evaluation.fringe import border_bands, texture_bands


def _lab_image(chroma_by_row: np.ndarray, width: int) -> np.ndarray:
    """uint8 RGB whose rows have L 50 and a green hue at the given chroma."""
    height = len(chroma_by_row)
    lab = np.zeros((height, width, 3), np.float32)
    lab[..., 0] = 50.0
    lab[..., 1] = -chroma_by_row[:, None] * 0.7
    lab[..., 2] = chroma_by_row[:, None] * 0.7
    return np.round(lab_to_rgb(lab) * 255).astype(np.uint8)


def test_a_plain_frame_passes_and_a_bottom_band_fails():
    plain = border_bands(_lab_image(np.full(256, 8.0), 256), "plain")
    assert plain.passes()
    assert abs(plain.interior - 8.0) < 1.0
    assert max(abs(value) for value in plain.excess().values()) < 0.5

    chroma = np.full(256, 8.0)
    chroma[-8:] = 20.0  # a band as wide as the checked strip (256 // 32)
    banded = border_bands(_lab_image(chroma, 256), "banded")
    assert not banded.passes()
    assert banded.excess()["bottom"] > 10.0
    assert banded.excess()["top"] < 0.5 and banded.passes(margin=15.0)


def test_texture_bands_colorizes_every_texture_once():
    seen = []

    def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
        seen.append(gray.shape)
        return np.repeat(gray[..., None], 3, axis=2)  # a gray output: no chroma anywhere

    bands = texture_bands(gray_to_rgb)
    assert [band.texture for band in bands] == ["grass", "gravel"] and len(seen) == 2
    assert all(band.passes() and band.interior < 0.5 for band in bands)
