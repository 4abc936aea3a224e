"""Still images in and out: reading every kind of file a photo archive holds, saving atomically.

Reading (Pillow) turns whatever is on disk into arrays the Colorizer takes, upright:

* EXIF orientation is applied (the pixels are rotated; the tag is dropped from the copy).
* Gray, RGB, alpha (RGBA, LA, palette with transparency) are kept as such; palette, 1-bit,
  YCbCr and the like become RGB(A); CMYK and images with a gray or CMYK ICC profile are
  converted to sRGB through their profile (LittleCMS) when they have one.
* 16-bit gray is read at 16 bits by Pillow; 16-bit colour PNG/TIFF (which Pillow reads as
  8-bit) through OpenCV when it is installed.
* Every frame of an animated GIF, WebP or PNG is read (with its duration), so the output is
  animated too.
* What cannot be read raises :class:`ImageReadError` with a short reason: empty file, not an
  image, a decompression bomb (Pillow's pixel limit), truncated or corrupt data.

Writing keeps the ICC profile, DPI and EXIF (minus orientation) where the format can hold
them, always through a temporary file and ``os.replace``: a crash never leaves half a file.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.errors import EdgecolorError
from edgecolor.files import commit, temporary_beside

logger = logging.getLogger(__name__)

EXIF_ORIENTATION = 0x0112
EXIF_IFD_POINTER = 0x8769
GPS_IFD_POINTER = 0x8825
# TIFF tags that describe the photo (kept), as opposed to the file's layout (dropped):
# ImageDescription, Make, Model, Software, DateTime, Artist, Copyright.
TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
# File suffixes Pillow writes colour images to, mapped to Pillow's format name. Anything else
# (a format Pillow only reads, or gray-only PGM) is written as PNG.
WRITABLE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".apng": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pbm": "PPM",
    ".pnm": "PPM",
}
JPEG_QUALITY = 95
# Suffixes Pillow registers that are not photos it can read by itself (write-only formats,
# Ghostscript, scientific stubs, MPEG which is a video).
NOT_PHOTO_SUFFIXES = frozenset(
    ".pdf .eps .ps .h5 .hdf .bufr .grib .mpeg .mpg .wmf .emf .palm".split()
)


class UnreadableFile(EdgecolorError):
    """An input file that cannot be read; ``str(error)`` is the reason, without the path.

    A batch reports it with the file's name and goes on with the next file.
    """


class ImageReadError(UnreadableFile):
    """A file that cannot be read as an image."""


@dataclass
class StillImage:
    """An image read from disk, upright, with what its output should carry over.

    Attributes:
        frames: one array per frame: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA; uint8 or uint16.
        durations: milliseconds per frame for animations, else None.
        loop: the animation's loop count (0 = forever), or None.
        icc_profile: ICC profile bytes to embed in the output, or None (sRGB).
        dpi: (x, y) dots per inch, or None.
        exif: EXIF bytes without the orientation tag, or None.
        format: Pillow's name of the source format ("JPEG", "PNG", ...).
        orientation: the source's EXIF orientation (already applied to ``frames``).
        source_profile: the source's own ICC profile (``icc_profile`` is the output's).
        notes: remarks for the user (e.g. what a format could not keep).
    """

    frames: list[np.ndarray]
    durations: list[int] | None = None
    loop: int | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None
    format: str | None = None
    orientation: int = 1
    source_profile: bytes | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def animated(self) -> bool:
        return len(self.frames) > 1


def output_suffix(source: Path) -> str:
    """The suffix of the colorized file for ``source``: its own when writable, else .png."""
    suffix = source.suffix.lower()
    if suffix in (".pgm", ".pbm", ".pnm"):
        return ".ppm"  # the colour member of the same family
    return source.suffix if suffix in WRITABLE_FORMATS else ".png"


def image_suffixes() -> frozenset[str]:
    """Every file suffix Pillow can open (lower case, with the dot)."""
    from PIL import Image

    Image.init()
    suffixes = {suffix.lower() for suffix in Image.registered_extensions()}
    return frozenset(suffixes - NOT_PHOTO_SUFFIXES)


# --------------------------------------------------------------------------- reading


def read_image(path: str | Path) -> StillImage:
    """Read an image file into upright arrays; ImageReadError (a reason) when it cannot be read."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                still = StillImage(frames=[], format=image.format)
                _read_metadata(image, still)
                frame_count = getattr(image, "n_frames", 1)
                if frame_count > 1:
                    still.durations = []
                    still.loop = image.info.get("loop", 0)
                    for frame in ImageSequence.Iterator(image):
                        still.frames.append(_frame_array(frame, still, path))
                        still.durations.append(int(frame.info.get("duration", 100) or 100))
                else:
                    still.frames.append(_frame_array(image, still, path))
    except ImageReadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"decompression bomb refused ({error})") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image (no reader recognizes its contents)") from None
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except PermissionError:
        raise ImageReadError("permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageReadError(f"truncated or corrupt image data ({error})") from None
    return still


def _read_metadata(image: Any, still: StillImage) -> None:
    from PIL import Image

    icc = image.info.get("icc_profile")
    still.icc_profile = still.source_profile = icc or None
    dpi = image.info.get("dpi")
    if dpi:
        still.dpi = (float(dpi[0]), float(dpi[1]))
    source_exif = image.getexif()
    if not len(source_exif):
        return
    try:
        still.orientation = int(source_exif.get(EXIF_ORIENTATION, 1))
    except (TypeError, ValueError):
        still.orientation = 1
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


def _frame_array(frame: Any, still: StillImage, path: Path) -> np.ndarray:
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


# --------------------------------------------------------------------------- writing


def write_image(path: str | Path, frames: list[np.ndarray], source: StillImage) -> Path:
    """Save colorized frames to ``path`` atomically, carrying ``source``'s metadata over.

    Args:
        path: the output file; its suffix picks the format (see :func:`output_suffix`).
        frames: (H, W, 3|4) uint8 or uint16 arrays (several = an animation).
        source: the :class:`StillImage` they came from (ICC, DPI, EXIF, durations).
    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(path)
    try:
        if frames[0].dtype == np.uint16:
            _write_sixteen_bit(temporary, frames[0], source)
        else:
            _write_pillow(temporary, frames, source)
        commit(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _write_sixteen_bit(path: Path, frame: np.ndarray, source: StillImage) -> None:
    """16-bit colour PNG/TIFF through OpenCV (Pillow writes 16 bits for gray only)."""
    try:
        import cv2
    except ImportError:
        source.notes.append("16-bit colour saved as 8-bit: pip install opencv-python-headless")
        _write_pillow(path, [(frame >> 8).astype(np.uint8)], source)
        return
    conversion = cv2.COLOR_RGBA2BGRA if frame.shape[2] == 4 else cv2.COLOR_RGB2BGR
    if not cv2.imwrite(str(path), cv2.cvtColor(frame, conversion)):
        raise OSError(f"OpenCV could not write {path.suffix}")
    if source.icc_profile or source.exif:
        source.notes.append("16-bit output: ICC profile and EXIF not embedded (OpenCV writer)")


def _write_pillow(path: Path, frames: list[np.ndarray], source: StillImage) -> None:
    from PIL import Image

    fmt = WRITABLE_FORMATS.get(path.suffix.lower(), "PNG")
    images = [Image.fromarray(frame) for frame in frames]
    if fmt in ("JPEG", "PPM", "BMP") and images[0].mode == "RGBA":
        # These formats have no alpha channel: keep the colour, say so.
        source.notes.append(f"{fmt} cannot store alpha: written without it")
        images = [image.convert("RGB") for image in images]
    options: dict[str, Any] = {}
    if fmt in ("JPEG", "PNG", "TIFF", "WEBP") and source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if fmt in ("JPEG", "PNG", "TIFF", "BMP") and source.dpi:
        options["dpi"] = source.dpi
    if fmt in ("JPEG", "PNG", "WEBP", "TIFF") and source.exif:
        options["exif"] = source.exif
    if fmt == "JPEG":
        options.update(quality=JPEG_QUALITY, subsampling=0 if JPEG_QUALITY >= 90 else 2)
    if fmt == "WEBP":
        options.update(quality=JPEG_QUALITY)
    if len(images) > 1 and fmt in ("GIF", "WEBP", "PNG", "TIFF"):
        options.update(save_all=True, append_images=images[1:])
        if source.durations and fmt != "TIFF":
            options.update(duration=source.durations, loop=source.loop or 0)
    elif len(images) > 1:
        source.notes.append(f"{fmt} holds one frame: only the first was written")
    images[0].save(path, format=fmt, **options)
