"""The join's lookup tables: the exact gamut-mapped Lab join of every (8-bit gray, a, b).

Joining an 8-bit gray image with the model's colour costs a dozen float passes per pixel
(:func:`edgecolor.color.lab_to_rgb_keep_luminance`); the answer depends only on the gray
level and the (a, b) pair, so it is worked out once for every gray level and every point of
an ab grid and then looked up:

* the RGB table (:meth:`JoinTables.rgb`): the photo path's join of 8-bit gray images;
* the chroma table (:meth:`JoinTables.chroma`): the same colours as JFIF Cb, Cr, for the
  frame path's join into Y'CbCr 4:2:0 planes (:mod:`edgecolor.device.frames.frame_colorizer`).

The tables are the state of a :class:`JoinTables` object, built when first asked for (a few
tenths of a second; the frame path asks for both before its first frame); nothing is global
and nothing is built behind the caller's back, so which join a pixel gets never depends on
timing.
"""

from __future__ import annotations

import numpy as np

from edgecolor import color, optional
from edgecolor.device.runtime.pixels import KeptArrays, from_unit, gray_luminance_table

# JFIF's RGB -> Y'CbCr (BT.601, full range): rows Y', Cb - 128, Cr - 128.
RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float32,
)


# sRGB has no colour beyond |a|, |b| = 110 (the model's own range at saturation 1): the
# tables' ab grid covers [-AB_LIMIT, AB_LIMIT] in steps of AB_TABLE_STEP.
AB_LIMIT = 110
AB_TABLE_STEP = 2
GRID_STEPS = 2 * AB_LIMIT // AB_TABLE_STEP + 1  # points per axis of the ab grid


class JoinTables:
    """The RGB and chroma join tables, built once each on first use (not thread-safe).

    One object serves any number of colorizers in one thread; a :class:`Colorizer` makes
    its own unless given one, and a frame colorizer uses its Colorizer's.
    """

    def __init__(self):
        self._rgb: np.ndarray | None = None
        self._chroma: np.ndarray | None = None

    def join_gray(
        self, gray: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray, kept: KeptArrays
    ) -> np.ndarray:
        """8-bit gray + ab -> sRGB uint8 through :meth:`rgb` (nearest ab on its grid).

        The luminance is exact (the table has a row for each gray level); a and b are
        rounded to the grid, at most ``AB_TABLE_STEP / 2`` per axis (a colour difference
        below 1.5 Delta E). The index and the gathered pixels go into ``kept``'s arrays
        (see :class:`~edgecolor.device.runtime.pixels.KeptArrays` for why).

        Args:
            gray: uint8 (rows, W); a, b: float32 (rows, W), within +-AB_LIMIT.
            out: contiguous uint8 (rows, W, 3), written and returned.
        """
        index = table_index(gray, a, b, kept)
        gathered = kept.get("gathered", gray.shape, np.uint32)
        # mode="clip": the index is in range by construction, and the default "raise"
        # gathers through a temporary copy of ``out`` and checks every index
        np.take(self.rgb(), index, out=gathered, mode="clip")
        rgbx = gathered.view(np.uint8).reshape(*gray.shape, 4)
        cv2 = optional.cv2()
        if cv2 is None:
            out[...] = rgbx[..., :3]
        else:
            cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB, dst=out)  # a strided copy, vectorized
        return out

    def rgb(self) -> np.ndarray:
        """sRGB for every (8-bit gray level, a, b) on the ab grid: uint32 (256 * n * n,).

        Each entry is an RGBX pixel (4 bytes, X unused) so that one gather moves whole
        pixels. The index of (gray, a, b) is ``gray * n * n + ia * n + ib`` with
        ``ia = (a + AB_LIMIT) / AB_TABLE_STEP`` (:func:`table_index`).
        """
        if self._rgb is None:
            self._rgb = _build_rgb_table()
        return self._rgb

    def chroma(self) -> np.ndarray:
        """The RGB table's colours as JFIF chroma: uint16 (n * 256 * 256,).

        Entry ``(ib * 256 + ia) * 256 + gray`` holds the chroma (Cb, Cr) of the colour of
        (gray, a, b), full range, rounded: two bytes viewed as one uint16, so that one
        gather gives an interleaved two-channel plane. The index is a shift of the grid
        point's bytes (ia, ib) read as one little-endian uint16; entries with ``ia >= n``
        are padding, never read. Gray is the innermost axis, unlike the RGB table's:
        neighbouring pixels share a colour and differ in gray, so a frame's gathers stay
        within a few cache lines.
        """
        if self._chroma is None:
            self._chroma = _build_chroma_table(self.rgb())
        return self._chroma


def _build_rgb_table() -> np.ndarray:
    """:meth:`JoinTables.rgb`: about 3 million colours through the exact join."""
    grid = np.arange(GRID_STEPS, dtype=np.float32) * AB_TABLE_STEP - AB_LIMIT
    L_levels = gray_luminance_table("uint8")
    table = np.zeros((256, GRID_STEPS * GRID_STEPS, 4), dtype=np.uint8)
    a = np.repeat(grid, GRID_STEPS)
    b = np.tile(grid, GRID_STEPS)
    for level in range(256):
        L = np.full(a.shape, L_levels[level], dtype=np.float32)
        planes = color.lab_to_rgb_keep_luminance(L, a.copy(), b.copy())
        for channel, plane in enumerate(planes):
            table[level, :, channel] = from_unit(plane, np.uint8)
    return table.reshape(-1, 4).view(np.uint32)[:, 0]


def _build_chroma_table(rgb_table: np.ndarray) -> np.ndarray:
    """:meth:`JoinTables.chroma` from the RGB table."""
    rgbx = rgb_table.view(np.uint8).reshape(256, GRID_STEPS, GRID_STEPS, 4)  # (gray, ia, ib)
    # np.zeros: the padding's pages are never touched, so never resident
    chroma_table = np.zeros((GRID_STEPS, 256, 256, 2), np.uint8)  # (ib, ia, gray, CbCr)
    for level in range(256):  # a level at a time: a few MB of temporaries, not 150
        chroma = rgbx[level, :, :, :3].astype(np.float32) @ RGB_TO_YCBCR[1:].T + 128.5
        np.clip(chroma, 0, 255, out=chroma)
        chroma_table[:, :GRID_STEPS, level] = chroma.transpose(1, 0, 2)  # (ia, ib) -> (ib, ia)
    return chroma_table.reshape(-1, 2).view(np.uint16)[:, 0]


def table_index(gray: np.ndarray, a: np.ndarray, b: np.ndarray, kept: KeptArrays) -> np.ndarray:
    """Index into :meth:`JoinTables.rgb` (not the chroma table: it is laid out differently)
    of each (gray, a, b): ``kept``'s int32 array "index", the shape of ``gray``.

    Args:
        gray: uint8 gray levels; a, b: float32 Lab a and b within +-AB_LIMIT (the model's
            ab is clipped there, and a bilinear upsample stays inside), the shape of
            ``gray``; rounded to the nearest grid point, ties to even (as the frame path).
    """
    index = kept.get("index", gray.shape, np.int32)
    grid = kept.get("grid", gray.shape, np.uint8)
    index[...] = gray
    cv2 = optional.cv2()
    for plane in (a, b):  # ((gray * n) + ia) * n + ib, in place
        if cv2 is not None:  # one pass to the small uint8 grid
            cv2.convertScaleAbs(
                plane, dst=grid, alpha=1 / AB_TABLE_STEP, beta=AB_LIMIT / AB_TABLE_STEP
            )
        else:
            level = np.clip(plane, -AB_LIMIT, AB_LIMIT) / AB_TABLE_STEP + AB_LIMIT / AB_TABLE_STEP
            np.rint(level, out=level)
            grid[...] = level
        index *= GRID_STEPS
        index += grid
    return index
