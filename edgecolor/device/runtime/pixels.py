"""Vectorized pixel work for the Colorizer: image dtypes, luminance and resizing.

Everything works on row bands, so a 36-megapixel scan never needs more than a few
full-size float planes at once. numpy only; OpenCV is used for the downscale when it is
installed (it is faster), Pillow otherwise. The Lab maths is :mod:`edgecolor.color`'s; the
join's lookup tables are in :mod:`edgecolor.device.runtime.join_tables`, the frame path's shrink in
:mod:`edgecolor.device.frames.frame_colorizer`.

Value conventions: RGB float32 in [0, 1] (sRGB-encoded), Lab L in [0, 100], ab in about
[-110, 110] (see ``edgecolor.color``).
"""

from __future__ import annotations

import functools

import numpy as np

from edgecolor import color, optional
from edgecolor.errors import UsageError

# Rows per band scale with the width so that a band holds about this many pixels: small
# enough that the join's ~60 bytes of temporaries per pixel stay near 60 MB.
BAND_PIXELS = 1 << 16
# Frames up to this size get their ab upsampled in one piece (a video frame); larger images
# (scans) in bands of rows.
WHOLE_FRAME_PIXELS = 1 << 22


class KeptArrays:
    """Scratch arrays kept between calls, re-made only when a shape changes (not thread-safe).

    A fresh multi-megabyte temporary costs a page fault every 4 KB whenever the allocator
    has given its memory back in between, which depends on what else the process did:
    at 640x480, 2 to 3 ms on a join that takes about one. The photo join of 8-bit gray
    images writes all its per-pixel work into arrays from here instead.
    """

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """The array kept as ``name``: uninitialized, ``shape`` and ``dtype``."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array


def band_rows(width: int) -> int:
    """How many image rows make one band for an image ``width`` pixels wide."""
    return max(1, BAND_PIXELS // max(1, width))


def unit_scale(dtype: np.dtype) -> float:
    """The value that means full intensity for an image dtype (255, 65535 or 1.0)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == "f":
        return 1.0
    raise UsageError(f"unsupported image dtype {dtype}: use uint8, uint16 or float in [0, 1]")


@functools.lru_cache(maxsize=2)
def gray_luminance_table(dtype_name: str) -> np.ndarray:
    """L for every value of an 8- or 16-bit gray level: float32 (256,) or (65536,)."""
    levels = 256 if dtype_name == "uint8" else 65536
    return color.gray_to_luminance(np.arange(levels, dtype=np.float32) / (levels - 1))


@functools.lru_cache(maxsize=2)
def _linear_table(dtype_name: str) -> np.ndarray:
    """Linear light for every value of an 8- or 16-bit sRGB channel: float32 (256,) or (65536,)."""
    levels = 256 if dtype_name == "uint8" else 65536
    return color.srgb_to_linear(np.arange(levels, dtype=np.float32) / (levels - 1))


def luminance(pixels: np.ndarray) -> np.ndarray:
    """Lab L of gray or colour pixels, at their full precision.

    Args:
        pixels: (rows, W) gray or (rows, W, C) with C >= 3 (RGB first, alpha ignored);
            uint8, uint16 (full 16-bit precision, via lookup tables) or float in [0, 1].
    Returns:
        float32 (rows, W), L in [0, 100].
    """
    integer = pixels.dtype in (np.uint8, np.uint16)
    if pixels.ndim == 2:
        if integer:
            return gray_luminance_table(pixels.dtype.name)[pixels]
        return color.gray_to_luminance(np.clip(pixels, 0.0, 1.0))
    rgb = pixels[..., :3]
    if integer:
        linear = _linear_table(pixels.dtype.name)[rgb]
    else:
        linear = color.srgb_to_linear(np.clip(rgb, 0.0, 1.0))
    # Y of linear sRGB: the second row of the RGB -> XYZ matrix, then Lab's cube-root curve.
    weights = color.RGB_TO_XYZ[1]
    y = weights[0] * linear[..., 0] + weights[1] * linear[..., 1] + weights[2] * linear[..., 2]
    return color.luminance_from_y(y)


def _resize_plane(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """float32 (h, w) -> (height, width): area averaging down, bilinear up."""
    shrinking = width <= plane.shape[1] and height <= plane.shape[0]
    cv2 = optional.cv2()
    if cv2 is None:
        from PIL import Image

        resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
        resized = Image.fromarray(np.ascontiguousarray(plane, np.float32), mode="F").resize(
            (width, height), resample
        )
        return np.asarray(resized, dtype=np.float32)
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(plane, (width, height), interpolation=interpolation)


def gray_lookup(gray: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[gray]`` for a uint8 image and a (256,) table, by OpenCV's LUT when installed."""
    cv2 = optional.cv2()
    return table[gray] if cv2 is None else cv2.LUT(gray, table)


def _frame_luminance(image: np.ndarray) -> np.ndarray:
    """:func:`luminance`, with OpenCV's vectorized table look-up for 8-bit gray when installed."""
    if image.ndim == 2 and image.dtype == np.uint8:
        return gray_lookup(image, gray_luminance_table("uint8"))
    return luminance(image)


def model_luminance(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Full-resolution L of ``image`` resized to the model's input size.

    Area averaging is separable, so each band of rows is resized across first and the
    (H, width) result down afterwards: the full-size L plane never exists at once.

    Args:
        image: (H, W) or (H, W, C) uint8/uint16/float, as for :func:`luminance`.
        height, width: the model's input size.
    Returns:
        float32 (height, width), L in [0, 100].
    """
    if image.shape[0] * image.shape[1] <= WHOLE_FRAME_PIXELS:  # a video frame: in one piece
        return _resize_plane(_frame_luminance(image), width, height)
    rows = band_rows(image.shape[1])
    narrow = np.empty((image.shape[0], width), dtype=np.float32)
    for start in range(0, image.shape[0], rows):
        band = luminance(image[start : start + rows])
        narrow[start : start + rows] = _resize_plane(band, width, band.shape[0])
    return _resize_plane(narrow, width, height)


def _bilinear_taps(output_size: int, input_size: int, start: int = 0, stop: int | None = None):
    """Source indices and weights of half-pixel-centred bilinear resampling (as OpenCV/Pillow).

    Returns (index0, index1, weight1), each (stop - start,): output i = (1 - w) * in[i0] + w * in[i1].
    """
    stop = output_size if stop is None else stop
    position = (np.arange(start, stop, dtype=np.float64) + 0.5) * (input_size / output_size) - 0.5
    position = np.clip(position, 0.0, input_size - 1)
    index0 = np.floor(position).astype(np.intp)
    index1 = np.minimum(index0 + 1, input_size - 1)
    return index0, index1, (position - index0).astype(np.float32)


def widen_planes(small: np.ndarray, width: int) -> np.ndarray:
    """Bilinear resize along the width only: float32 (h, w, C) -> planar float32 (C, h, width).

    The first half of the full bilinear upsample; :func:`upsample_band` does the rows.
    """
    column0, column1, weight = _bilinear_taps(width, small.shape[1])
    planes = np.ascontiguousarray(np.moveaxis(np.asarray(small, np.float32), -1, 0))
    return planes[:, :, column0] * (1.0 - weight) + planes[:, :, column1] * weight


def upsample_band(wide: np.ndarray, height: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the bilinear upsample of ``wide`` to ``height`` rows.

    Args:
        wide: planar float32 (C, h, W) from :func:`widen_planes`.
    Returns:
        planar float32 (C, stop - start, W): exactly those rows of the full resize, so bands
        join without seams.
    """
    row0, row1, weight = _bilinear_taps(height, wide.shape[1], start, stop)
    weight = weight[None, :, None]
    return wide[:, row0] * (1.0 - weight) + wide[:, row1] * weight


def ab_bands(ab_small: np.ndarray, height: int, width: int, kept: KeptArrays):
    """Yield ``(start, stop, a, b)``: the bilinear upsample of ``ab_small`` band by band.

    Images up to :data:`WHOLE_FRAME_PIXELS` are one band resized by OpenCV when it is
    installed (a video frame: fast), into ``kept``'s arrays "a" and "b"; larger ones go in
    bands of rows, so the full-size ab (8 bytes a pixel) never exists at once.

    Args:
        ab_small: float32 (h, w, 2).
    Yields:
        start, stop (rows), and a, b: float32 (stop - start, width) planes, valid until
        the next call with the same ``kept``.
    """
    cv2 = optional.cv2()
    if height * width <= WHOLE_FRAME_PIXELS and cv2 is not None:
        a, b = (  # plane by plane: OpenCV's one-channel float resize is the fast one
            cv2.resize(
                np.ascontiguousarray(ab_small[..., channel]),
                (width, height),
                dst=kept.get(name, (height, width), np.float32),
            )
            for channel, name in ((0, "a"), (1, "b"))
        )
        yield 0, height, a, b
        return
    wide = widen_planes(ab_small, width)
    rows = band_rows(width)
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        a, b = upsample_band(wide, height, start, stop)
        yield start, stop, a, b


def from_unit(rgb: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 in [0, 1] -> ``dtype`` (uint8/uint16 rounded, float as float32); scales ``rgb`` in place."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rgb.astype(np.float32, copy=False)
    rgb *= np.float32(unit_scale(dtype))
    rgb += np.float32(0.5)  # round half up; values are >= 0, so truncation then rounds
    return rgb.astype(dtype)
