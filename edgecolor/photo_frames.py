"""From a Pillow image to the arrays and metadata of ``edgecolor.photos.StillImage``: EXIF and
ICC carried over, colour management (CMYK and gray profiles to sRGB), 16-bit depth, EXIF
orientation. Split from ``edgecolor.photos`` (the reader and walker that call these), which
stays the one place the stages read photos through.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # photos imports this module; the type is only named here
    from edgecolor.photos import StillImage

logger = logging.getLogger("edgecolor.photos")  # the reader's warnings keep the reader's name

EXIF_ORIENTATION = 0x0112
EXIF_IFD_POINTER = 0x8769
GPS_IFD_POINTER = 0x8825
# TIFF tags that describe the photo (kept), as opposed to the file's layout (dropped):
# ImageDescription, Make, Model, Software, DateTime, Artist, Copyright.
TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)


def eight_bit(frame: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by x / 257 (full scale to full scale, rounded); uint8 unchanged."""
    if frame.dtype == np.uint8:
        return frame
    return np.round(frame.astype(np.float32) / 257.0).astype(np.uint8)


def read_metadata(image: Any, still: StillImage) -> None:
    from PIL import Image

    icc = image.info.get("icc_profile")
    still.icc_profile = still.source_profile = icc or None
    dpi = image.info.get("dpi")
    if dpi:
        still.dpi = (float(dpi[0]), float(dpi[1]))
    source_exif = image.getexif()
    if not len(source_exif):
        return
    still.orientation = exif_orientation(source_exif)
    exif = Image.Exif()  # a copy: the image's own must keep its tag while frames load
    if image.format == "TIFF":
        # A TIFF's "EXIF" is its own directory (sizes, strips, photometric...): carry over
        # only what describes the photo, never the structure of the old file.
        for tag in TIFF_DESCRIPTIVE_TAGS:
            if tag in source_exif:
                exif[tag] = source_exif[tag]
        for pointer in (EXIF_IFD_POINTER, GPS_IFD_POINTER):
            sub_directory = source_exif.get_ifd(pointer)
            if sub_directory:
                exif.get_ifd(pointer).update(sub_directory)
    else:
        exif.load(source_exif.tobytes())
    exif.pop(EXIF_ORIENTATION, None)  # the pixels are turned upright instead
    if len(exif):
        still.exif = exif.tobytes()


def exif_orientation(exif: Any) -> int:
    """The EXIF orientation (1-8) of a Pillow ``Exif``; 1 when missing or not a number."""
    try:
        return int(exif.get(EXIF_ORIENTATION, 1))
    except (TypeError, ValueError):
        return 1


def _profile_colour_space(icc: bytes | None) -> str | None:
    """The colour space of an ICC profile ("RGB ", "GRAY", "CMYK") from its header, or None."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", "replace")


def _colour_managed(frame: Any, still: StillImage, path: Path) -> Any:
    """A CMYK frame, or a gray one with a gray ICC profile, converted to sRGB through the
    source's profile (LittleCMS); sets the profile the output will carry.

    An RGB profile stays with the pixels as they are (it is carried over to the output);
    a gray or CMYK profile cannot describe an RGB output, so the pixels are converted.
    """
    from PIL import Image, ImageCms

    source_profile = still.source_profile
    space = _profile_colour_space(source_profile)
    if space not in ("CMYK", "GRAY") and frame.mode != "CMYK":
        return frame
    still.icc_profile = None
    convertible = (frame.mode == "CMYK" and space == "CMYK") or (
        frame.mode in ("L", "LA") and space == "GRAY"
    )
    if not convertible:
        return frame.convert("RGB") if frame.mode == "CMYK" else frame
    alpha = frame.getchannel("A") if frame.mode == "LA" else None
    try:
        target = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(
            frame.convert("L") if alpha is not None else frame,
            ImageCms.ImageCmsProfile(io.BytesIO(source_profile)),
            target,
            outputMode="RGB",
        )
    except Exception as error:  # a broken profile: Pillow's plain conversion instead
        logger.warning("%s: ICC conversion failed (%s); converting without it", path, error)
        return frame.convert("RGB") if frame.mode == "CMYK" else frame
    still.icc_profile = ImageCms.ImageCmsProfile(target).tobytes()
    if alpha is not None:
        converted = Image.merge("RGBA", (*converted.split(), alpha))
    return converted


def frame_array(frame: Any, still: StillImage, path: Path, full_depth: bool = True) -> np.ndarray:
    """One Pillow frame -> upright (H, W[, 3|4]) uint8/uint16 array."""
    frame.load()  # decode now, so truncated data raises here
    frame = _colour_managed(frame, still, path)
    mode = frame.mode
    if mode in ("RGB", "RGBA", "L") or mode.startswith("I;16"):
        pass
    elif mode == "LA" or mode == "PA" or (mode == "P" and "transparency" in frame.info):
        frame = frame.convert("RGBA")
    elif mode in ("I", "F"):
        frame = _wide_gray(frame)
    elif mode == "1":
        frame = frame.convert("L")
    else:  # P, YCbCr, LAB, HSV, RGBX, RGBa, La ...
        frame = frame.convert("RGBA" if "A" in mode or "a" in mode else "RGB")

    array = np.asarray(frame)
    if array.dtype != np.uint8:  # I;16B (big-endian) and friends -> native uint16
        array = array.astype(np.uint16)
    if (
        array.ndim == 3
        and array.dtype == np.uint8
        and full_depth
        and still.format in ("PNG", "TIFF")
        and _is_sixteen_bit_colour(frame, path)
    ):
        array = _read_sixteen_bit_colour(path, array, still)
    if still.orientation != 1:
        array = apply_orientation(array, still.orientation)
    return np.ascontiguousarray(array)


def _wide_gray(frame: Any) -> Any:
    """Pillow "I" (32-bit int) or "F" (float) gray -> "I;16" (16-bit), scaled not clipped."""
    from PIL import Image

    values = np.asarray(frame)
    if frame.mode == "F":
        top = float(values.max()) if values.size else 1.0
        values = values / (top if top > 1.0 else 1.0) * 65535.0
    return Image.fromarray(np.clip(values, 0, 65535).astype(np.uint16), mode="I;16")


def _is_sixteen_bit_colour(frame: Any, path: Path) -> bool:
    if frame.format == "TIFF" or getattr(frame, "tag_v2", None) is not None:
        bits = getattr(frame, "tag_v2", {}).get(258)
        return bool(bits) and max(bits if isinstance(bits, tuple) else (bits,)) == 16
    with open(path, "rb") as handle:
        header = handle.read(26)
    # PNG: 8-byte signature, IHDR length + type, width, height, then the bit depth byte.
    return len(header) >= 25 and header[12:16] == b"IHDR" and header[24] == 16


def _read_sixteen_bit_colour(path: Path, fallback: np.ndarray, still: StillImage) -> np.ndarray:
    """Re-read a 16-bit colour PNG/TIFF at full depth with OpenCV (Pillow gives 8 bits)."""
    try:
        import cv2
    except ImportError:
        still.notes.append(
            "16-bit colour read as 8-bit: install OpenCV (pip install opencv-python-headless)"
        )
        return fallback
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16 or array.shape[:2] != fallback.shape[:2]:
        return fallback
    if array.ndim == 2:
        return array
    conversion = cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(array, conversion)


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an (H, W[, C]) array upright for an EXIF orientation value 1-8 (as Pillow's exif_transpose)."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.swapaxes(array, 0, 1)[:, ::-1]
    if orientation == 7:
        return np.swapaxes(array, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.swapaxes(array, 0, 1)[::-1]
    return array
