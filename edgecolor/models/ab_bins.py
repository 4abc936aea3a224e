"""The quantised ab space of the distribution head: in-gamut bins of 10 Lab units.

Zhang, Isola and Efros (2016) predict, per pixel, a distribution over Q colour bins instead
of one ab value: an L1 or L2 regression averages the plausible colours of an uncertain
object (green or red or blue) into a desaturated brown, while a distribution keeps them
apart and a decoder can pick among them. Their grid: ab bins of side 10 centred on
multiples of 10 (so neutral gray is a bin of its own), kept where some sRGB colour falls;
Q = 313 for their gamut. Here the gamut is computed, not copied: every sRGB colour of a
65-level cube is converted to Lab and the bins it lands in are kept (Q = 261).

numpy only: the model builder, the training losses and the tests share these arrays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edgecolor import color

BIN_SIZE = 10.0
# Bin centres on each axis: -110, -100, ..., 110 (23 per axis); a bin holds the ab values
# within 5 units of its centre. color.AB_GAMUT bounds sRGB's a and b.
GRID_SIDE = int(round(2 * color.AB_GAMUT / BIN_SIZE)) + 1  # 23
# Levels per RGB channel when the gamut is sampled: 65^3 colours (0.3 s) land in 261 bins;
# 193 levels find one more, a sliver at the gamut's rim that no photo needs.
GAMUT_LEVELS = 65


def grid_index(ab: np.ndarray) -> np.ndarray:
    """(row, column) of the grid bin nearest each ab: int64 (..., 2) in [0, GRID_SIDE).

    Args:
        ab: float (..., 2), Lab a and b (values beyond +-110 go to the edge bins).
    """
    index = np.rint((np.asarray(ab, np.float64) + color.AB_GAMUT) / BIN_SIZE).astype(np.int64)
    return np.clip(index, 0, GRID_SIDE - 1)


@lru_cache(maxsize=1)
def gamut_grid_cells() -> tuple[tuple[int, int], ...]:
    """The (row, column) grid cells some sRGB colour falls in, row-major order."""
    levels = np.linspace(0.0, 1.0, GAMUT_LEVELS, dtype=np.float32)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    cells = grid_index(color.rgb_to_lab(cube)[:, 1:])
    occupied = np.zeros((GRID_SIDE, GRID_SIDE), bool)
    occupied[cells[:, 0], cells[:, 1]] = True
    return tuple((int(r), int(c)) for r, c in zip(*np.nonzero(occupied), strict=True))


def bin_centres() -> np.ndarray:
    """The Q in-gamut bin centres in Lab units: float32 (Q, 2), a then b."""
    cells = np.array(gamut_grid_cells(), np.float64)
    return (cells * BIN_SIZE - color.AB_GAMUT).astype(np.float32)


def bin_count() -> int:
    """Q, the number of in-gamut bins (the distribution head's channels)."""
    return len(gamut_grid_cells())
