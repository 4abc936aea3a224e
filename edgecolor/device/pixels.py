"""Vectorized pixel work for the Colorizer: luminance, resizing, and the Lab join.

Everything works on row bands, so a 36-megapixel scan never needs more than a few
full-size float planes at once. numpy only; OpenCV is used for the downscale when it is
installed (it is faster), Pillow otherwise.

Value conventions: RGB float32 in [0, 1] (sRGB-encoded), Lab L in [0, 100], ab in about
[-110, 110] (see ``edgecolor.color``).
"""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from edgecolor import color
from edgecolor.errors import UsageError

logger = logging.getLogger(__name__)

# Rows per band scale with the width so that a band holds about this many pixels: small
# enough that the join's ~60 bytes of temporaries per pixel stay near 60 MB.
BAND_PIXELS = 1 << 16
# Frames up to this size get their ab upsampled in one piece (a video frame); larger images
# (scans) in bands of rows.
WHOLE_FRAME_PIXELS = 1 << 22
# The gray-join lookup table: a and b on a grid of this step over [-AB_LIMIT, AB_LIMIT].
AB_LIMIT = 110
AB_TABLE_STEP = 2


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


@functools.cache
def opencv_available() -> bool:
    """Whether OpenCV (``pip install opencv-python-headless``) can be imported: the fast paths use it."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


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
    weights = color._RGB_TO_XYZ[1]
    y = weights[0] * linear[..., 0] + weights[1] * linear[..., 1] + weights[2] * linear[..., 2]
    return (116.0 * color._lab_f(y) - 16.0).astype(np.float32)


def _resize_plane(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """float32 (h, w) -> (height, width): area averaging down, bilinear up."""
    shrinking = width <= plane.shape[1] and height <= plane.shape[0]
    try:
        import cv2
    except ImportError:
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
    if opencv_available():
        import cv2

        return cv2.LUT(gray, table)
    return table[gray]


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


def upsample(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (h, w, C) -> float32 (height, width, C), bilinear with half-pixel centres."""
    return np.moveaxis(upsample_band(widen_planes(small, width), height, 0, height), 0, -1)


def ab_bands(ab_small: np.ndarray, height: int, width: int):
    """Yield ``(start, stop, a, b)``: the bilinear upsample of ``ab_small`` band by band.

    Images up to :data:`WHOLE_FRAME_PIXELS` are one band resized by OpenCV when it is
    installed (a video frame: fast); larger ones go in bands of rows, so the full-size ab
    (8 bytes a pixel) never exists at once.

    Args:
        ab_small: float32 (h, w, 2).
    Yields:
        start, stop (rows), and a, b: float32 (stop - start, width) planes.
    """
    if height * width <= WHOLE_FRAME_PIXELS:
        try:
            import cv2
        except ImportError:
            pass
        else:
            ab = cv2.resize(ab_small, (width, height), interpolation=cv2.INTER_LINEAR)
            a, b = cv2.split(ab)
            yield 0, height, a, b
            return
    wide = widen_planes(ab_small, width)
    rows = band_rows(width)
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        a, b = upsample_band(wide, height, start, stop)
        yield start, stop, a, b


def _lab_f_inverse(f: np.ndarray) -> np.ndarray:
    """Lab's inverse companding, in place on a float32 plane: f^3, linear near black."""
    dark = f <= np.float32(6.0 / 29.0)
    dark_values = f[dark] if dark.any() else None
    np.multiply(f, f * f, out=f)
    if dark_values is not None:
        # Below 6/29 the curve is the straight segment 3 (6/29)^2 (f - 4/29).
        f[dark] = np.float32(3.0 * (6.0 / 29.0) ** 2) * (dark_values - np.float32(4.0 / 29.0))
    return f


# Linear RGB of the neutral gray with Y = 1 under D65 (about (1, 1, 1)): a gray of
# luminance Y is Y times this vector.
_GRAY_RGB = (color._XYZ_TO_RGB.astype(np.float64) @ color._WHITE_D65.astype(np.float64)).astype(
    np.float32
)


def lab_to_rgb_keep_luminance(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Lab planes -> sRGB planes, where out-of-gamut colours lose chroma, never luminance.

    Clipping RGB would change the luminance (and the hue); instead a colour outside sRGB
    is mixed in linear light with the gray of the same luminance Y, just enough to fit.
    Y is linear in linear RGB, so the mix keeps Y, hence Lab L, exactly (and the dominant
    wavelength: the colour moves straight towards the white point).

    Args:
        L: float32 (rows, W), in [0, 100].
        a, b: float32 (rows, W), in about [-110, 110]; overwritten (used as scratch).
    Returns:
        [R, G, B]: three float32 (rows, W) planes, sRGB in [0, 1].
    """
    fy = (L + np.float32(16.0)) * np.float32(1.0 / 116.0)
    a *= np.float32(1.0 / 500.0)
    a += fy
    x = _lab_f_inverse(a)
    x *= color._WHITE_D65[0]
    b *= np.float32(-1.0 / 200.0)
    b += fy
    z = _lab_f_inverse(b)
    z *= color._WHITE_D65[2]
    y = _lab_f_inverse(fy)
    matrix = color._XYZ_TO_RGB
    linear = [matrix[k, 0] * x + matrix[k, 1] * y + matrix[k, 2] * z for k in range(3)]

    outside = np.zeros(y.shape, dtype=bool)
    for channel in linear:
        outside |= (channel < 0.0) | (channel > 1.0)
    if outside.any():
        # Largest s in [0, 1] with gray + s (colour - gray) inside [0, 1] in every channel.
        y_out = y[outside]
        share = np.ones(y_out.shape, np.float32)
        grays = []
        for k, channel in enumerate(linear):
            gray = np.clip(y_out * _GRAY_RGB[k], 0.0, 1.0)
            value = channel[outside]
            with np.errstate(divide="ignore", invalid="ignore"):
                limit = np.where(
                    value > 1.0,
                    (1.0 - gray) / (value - gray),
                    np.where(value < 0.0, gray / (gray - value), 1.0),
                )
            np.minimum(share, np.nan_to_num(limit, nan=0.0, posinf=1.0), out=share)
            grays.append((gray, value))
        np.clip(share, 0.0, 1.0, out=share)
        for channel, (gray, value) in zip(linear, grays, strict=True):
            channel[outside] = gray + share * (value - gray)
    for channel in linear:
        np.clip(channel, 0.0, 1.0, out=channel)
    return [_linear_to_srgb_inplace(channel) for channel in linear]


def _linear_to_srgb_inplace(linear: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB in [0, 1], in place on a float32 plane."""
    dark = linear <= np.float32(0.0031308)
    dark_values = linear[dark] * np.float32(12.92) if dark.any() else None
    np.power(linear, np.float32(1.0 / 2.4), out=linear)
    linear *= np.float32(1.055)
    linear -= np.float32(0.055)
    if dark_values is not None:
        linear[dark] = dark_values
    return linear


def from_unit(rgb: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 in [0, 1] -> ``dtype`` (uint8/uint16 rounded, float as float32); scales ``rgb`` in place."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rgb.astype(np.float32, copy=False)
    rgb *= np.float32(unit_scale(dtype))
    rgb += np.float32(0.5)  # round half up; values are >= 0, so truncation then rounds
    return rgb.astype(dtype)


_table_lock = threading.Lock()
_tables: dict[str, np.ndarray] = {}


def join_tables_ready() -> bool:
    """True once both join tables (:func:`gray_join_table`, :func:`chroma_join_table`) exist."""
    return len(_tables) == 2


def prebuild_join_tables() -> threading.Thread:
    """Build both join tables in a background thread (the live loop starts it early).

    A failure (say, out of memory on a small Pi) is logged; the caller keeps joining
    without the tables, exactly and more slowly.
    """

    def build() -> None:
        try:
            chroma_join_table()
        except Exception:  # a thread's exception would vanish: say why the loop stays slow
            logger.exception("building the join tables failed; frames are joined without them")

    thread = threading.Thread(target=build, name="edgecolor-tables", daemon=True)
    thread.start()
    return thread


def gray_join_table() -> np.ndarray:
    """The table of :func:`_build_gray_join_table`, built once per process (thread-safe)."""
    with _table_lock:
        if "rgb" not in _tables:
            _tables["rgb"] = _build_gray_join_table()
        return _tables["rgb"]


def chroma_join_table() -> np.ndarray:
    """The table of :func:`_build_chroma_join_table` (and the gray one it comes from), built once."""
    rgb = gray_join_table()
    with _table_lock:
        if "chroma" not in _tables:
            _tables["chroma"] = _build_chroma_join_table(rgb)
        return _tables["chroma"]


def _build_gray_join_table() -> np.ndarray:
    """sRGB for every (8-bit gray level, a, b) on the ab grid: uint32 (256 * n * n,).

    Each entry is an RGBX pixel (4 bytes, X unused) so that one gather moves whole pixels.

    Built once (about 3 million colours through :func:`lab_to_rgb_keep_luminance`, a few
    tenths of a second) so that joining an 8-bit gray frame costs one table look-up per
    pixel instead of a dozen float passes: the live loop's fast path. The index of
    (gray, a, b) is ``gray * n * n + ia * n + ib`` with ``ia = (a + AB_LIMIT) / AB_TABLE_STEP``.
    """
    steps = 2 * AB_LIMIT // AB_TABLE_STEP + 1
    grid = np.arange(steps, dtype=np.float32) * AB_TABLE_STEP - AB_LIMIT
    L_levels = gray_luminance_table("uint8")
    table = np.zeros((256, steps * steps, 4), dtype=np.uint8)
    a = np.repeat(grid, steps)
    b = np.tile(grid, steps)
    for level in range(256):
        L = np.full(a.shape, L_levels[level], dtype=np.float32)
        planes = lab_to_rgb_keep_luminance(L, a.copy(), b.copy())
        for channel, plane in enumerate(planes):
            table[level, :, channel] = from_unit(plane, np.uint8)
    return table.reshape(-1, 4).view(np.uint32)[:, 0]


# JFIF's RGB -> Y'CbCr (BT.601, full range): rows Y', Cb - 128, Cr - 128.
RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float32,
)


def _build_chroma_join_table(rgb_table: np.ndarray) -> np.ndarray:
    """The gray-join table's colours as JFIF chroma: uint16 (256 * 256 * 256,).

    Entry ``(ib * 256 + ia) * 256 + gray`` holds the chroma (Cb, Cr) of the colour of
    (gray, a, b), full range, rounded: two bytes viewed as one uint16, so that one gather
    gives an interleaved two-channel plane. The index is a shift of the grid point's bytes
    (ia, ib) read as one little-endian uint16; entries with ``ia`` or ``ib >= n`` are
    padding, never read. Gray is the innermost axis, unlike the RGB table's: neighbouring
    pixels share a colour and differ in gray, so a frame's gathers stay within a few
    cache lines.
    """
    steps = 2 * AB_LIMIT // AB_TABLE_STEP + 1
    rgbx = rgb_table.view(np.uint8).reshape(256, steps, steps, 4)  # (gray, ia, ib)
    # np.zeros: the padding's pages are never touched, so never resident
    chroma_table = np.zeros((steps, 256, 256, 2), np.uint8)  # (ib, ia, gray, CbCr)
    for level in range(256):  # a level at a time: a few MB of temporaries, not 150
        chroma = rgbx[level, :, :, :3].astype(np.float32) @ RGB_TO_YCBCR[1:].T + 128.5
        np.clip(chroma, 0, 255, out=chroma)
        chroma_table[:, :steps, level] = chroma.transpose(1, 0, 2)  # (ia, ib) -> (ib, ia)
    return chroma_table.reshape(-1, 2).view(np.uint16)[:, 0]


def table_index(gray: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index into :func:`gray_join_table` (the RGB one only: the chroma table is laid out
    differently) of each (gray, a, b): int32, the shape of ``gray``.

    Args:
        gray: uint8 gray levels; a, b: float32 Lab a and b (clipped to +-AB_LIMIT here,
            then rounded to the nearest grid point), the shape of ``gray``.
    """
    steps = 2 * AB_LIMIT // AB_TABLE_STEP + 1
    scale = np.float32(1.0 / AB_TABLE_STEP)
    offset = np.float32(AB_LIMIT / AB_TABLE_STEP + 0.5)  # + 0.5: truncation rounds
    index = gray.astype(np.int32)
    index *= steps * steps
    for plane, weight in ((a, steps), (b, 1)):
        level = np.clip(plane, -AB_LIMIT, AB_LIMIT)
        level *= scale
        level += offset
        part = level.astype(np.int32)
        if weight != 1:
            part *= weight
        index += part
    return index


def join_gray_uint8(
    gray: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """8-bit gray + ab -> sRGB uint8 through :func:`gray_join_table` (nearest ab on its grid).

    The luminance is exact (the table has a row for each gray level); a and b are rounded to
    the grid, at most ``AB_TABLE_STEP / 2`` per axis (a colour difference below 1.5 Delta E).

    Args:
        gray: uint8 (rows, W).
        a, b: float32 (rows, W), clipped into [-AB_LIMIT, AB_LIMIT].
        out: optional contiguous uint8 (rows, W, 3) to write into.
    Returns:
        uint8 (rows, W, 3) (``out`` when given).
    """
    rgbx = np.take(gray_join_table(), table_index(gray, a, b)).view(np.uint8)
    rgbx = rgbx.reshape(*gray.shape, 4)
    if out is None:
        out = np.empty((*gray.shape, 3), dtype=np.uint8)
    try:
        import cv2
    except ImportError:
        out[...] = rgbx[..., :3]
    else:
        cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB, dst=out)  # a strided copy, but vectorized
    return out


class GrayFrameJoiner:
    """The table join of :func:`join_gray_uint8` for whole video frames, with OpenCV.

    The photo mode's path for frame-sized 8-bit gray images (the live loop's video mode
    uses :func:`~edgecolor.device.yuv.join_gray_frame`): the ab upsample, the rounding
    to the table's grid and the index arithmetic all write into buffers kept between
    frames (fresh multi-megabyte temporaries cost page faults on every frame), so a
    640x480 frame joins in about a millisecond. Same result as :func:`join_gray_uint8` (the ab rounding of OpenCV's
    ``convertScaleAbs`` is to nearest, like the table's).
    """

    def __init__(self):
        import cv2

        self._cv2 = cv2
        self._size: tuple[int, int] | None = None

    def _buffers(self, height: int, width: int) -> None:
        if self._size == (height, width):
            return
        self._size = (height, width)
        self._a = np.empty((height, width), np.float32)
        self._b = np.empty((height, width), np.float32)
        self._grid_a = np.empty((height, width), np.uint8)
        self._grid_b = np.empty((height, width), np.uint8)
        self._index = np.empty((height, width), np.int32)
        self._part = np.empty((height, width), np.int32)
        self._rgbx = np.empty((height, width), np.uint32)

    def __call__(self, gray: np.ndarray, ab_small: np.ndarray, out: np.ndarray) -> np.ndarray:
        """uint8 (H, W) gray + float32 (h, w, 2) ab (clipped to +-AB_LIMIT) -> ``out`` uint8 (H, W, 3)."""
        cv2 = self._cv2
        height, width = gray.shape
        self._buffers(height, width)
        steps = 2 * AB_LIMIT // AB_TABLE_STEP + 1
        for channel, plane, grid in ((0, self._a, self._grid_a), (1, self._b, self._grid_b)):
            cv2.resize(
                np.ascontiguousarray(ab_small[..., channel]),
                (width, height),
                dst=plane,
                interpolation=cv2.INTER_LINEAR,
            )
            # (ab + 110) / 2, rounded to nearest and saturated into 0..110 (uint8)
            cv2.convertScaleAbs(
                plane, dst=grid, alpha=1.0 / AB_TABLE_STEP, beta=AB_LIMIT / AB_TABLE_STEP
            )
        np.multiply(gray, steps * steps, out=self._index, dtype=np.int32)
        np.multiply(self._grid_a, steps, out=self._part, dtype=np.int32)
        self._index += self._part
        self._index += self._grid_b
        np.take(gray_join_table(), self._index, out=self._rgbx)
        rgbx = self._rgbx.view(np.uint8).reshape(height, width, 4)
        cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB, dst=out)
        return out


def frame_model_gray(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """An 8-bit video frame shrunk to the model's input: uint8 (H, W) -> uint8 (height, width).

    Exact 2x2 box averages (OpenCV's fast path) while both axes are at least twice too
    long; then what is left, at most 2x on both axes, one bilinear step (with half-pixel
    centres every input pixel still weighs in); at most 4x, a bilinear step to twice the
    size and one more exact halving; beyond (a very elongated frame), OpenCV's general
    area resize. For 640x480 -> 128x128: one halving, bilinear to 256x256, one halving:
    about 0.04 ms here, against 0.4 ms for the area resize in one go, and no input column
    or row is skipped. Averaging happens on the gray levels, as the training pipeline
    resizes sRGB photos before it converts them to Lab.
    """
    import cv2

    def halve(image: np.ndarray) -> np.ndarray:
        rows, columns = image.shape
        if rows % 2 or columns % 2:  # an odd last row or column is dropped: an exact 2x2 box
            image = image[: rows - rows % 2, : columns - columns % 2]
        return cv2.resize(image, (columns // 2, rows // 2), interpolation=cv2.INTER_AREA)

    while gray.shape[0] >= 2 * height and gray.shape[1] >= 2 * width:
        gray = halve(gray)
    if gray.shape == (height, width):
        return gray
    ratio = max(gray.shape[0] / height, gray.shape[1] / width)
    if ratio <= 2.0:
        return cv2.resize(gray, (width, height), interpolation=cv2.INTER_LINEAR)
    if ratio <= 4.0:
        twice = cv2.resize(gray, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
        return halve(twice)
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
