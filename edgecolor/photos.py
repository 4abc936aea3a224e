"""Photos on disk: the one photo reader and the one folder walker (Pillow, numpy; no TensorFlow).

Training, evaluation, export verification, the device runtime and the demo all read photos
and walk folders through here, so a photo looks the same to every stage.

Reading (Pillow) turns whatever is on disk into upright arrays:

* EXIF orientation is applied (the pixels are rotated; the tag is dropped from the copy).
* Gray, RGB, alpha (RGBA, LA, palette with transparency) are kept as such; palette, 1-bit,
  YCbCr and the like become RGB(A); CMYK and images with a gray or CMYK ICC profile are
  converted to sRGB through their profile (LittleCMS) when they have one.
* 16-bit gray is read at 16 bits by Pillow; 16-bit colour PNG/TIFF (which Pillow reads as
  8-bit) through OpenCV when it is installed.
* Every frame of an animated GIF, WebP or PNG is read (with its duration).
* What cannot be read raises :class:`ImageReadError` with a short reason (without the
  path, which the caller names): empty file, not an image, a decompression bomb (Pillow's
  pixel limit), truncated or corrupt data.

``read_image`` keeps everything (frames, depth, ICC, EXIF) for the device, which writes it
back out; ``read_rgb`` is the 8-bit RGB view that training, evaluation and export take,
``read_gray`` the 8-bit gray one, and ``read_preview`` a cheap small picture for display
(the scan gallery's thumbnails).

Walking: ``walk_files`` lists a folder tree in a fixed order, never entering hidden folders
or the folders it is told to skip, and never listing hidden files (editors' and edgecolor's
own temporary files are hidden). ``find_photos`` and ``collect_photos`` keep the photo files
(``IMAGE_SUFFIXES``) of one or several trees.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.errors import EdgecolorError, UsageError

logger = logging.getLogger(__name__)

# Photo files that training, export calibration and ``edgecolor eval`` take from a folder
# tree (the device's ``colorize`` takes whatever Pillow can open: ``image_suffixes``).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
EXIF_ORIENTATION = 0x0112
EXIF_IFD_POINTER = 0x8769
GPS_IFD_POINTER = 0x8825
# TIFF tags that describe the photo (kept), as opposed to the file's layout (dropped):
# ImageDescription, Make, Model, Software, DateTime, Artist, Copyright.
TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
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


def image_suffixes() -> frozenset[str]:
    """Every file suffix Pillow can open (lower case, with the dot)."""
    from PIL import Image

    Image.init()
    suffixes = {suffix.lower() for suffix in Image.registered_extensions()}
    return frozenset(suffixes - NOT_PHOTO_SUFFIXES)


# --------------------------------------------------------------------------- walking


def walk_files(folder: str | Path, skip: Iterable[str | Path] = ()) -> list[Path]:
    """Every file under ``folder`` (recursive), in a fixed order, hidden ones left out.

    Order: each folder's files sorted by name, then its sub-folders (sorted) one by one.
    Hidden folders (leading dot) are not entered, hidden files not listed, and a folder in
    (or inside) one of the ``skip`` trees is not entered: an output folder placed inside
    the input folder is never read back as input. Symbolic links to folders are not
    followed. The paths are ``folder`` joined with the relative path (not resolved).
    """
    skipped = [Path(tree).resolve() for tree in skip]
    found = []
    for root, directories, files in os.walk(folder):
        root_path = Path(root)
        directories[:] = sorted(
            name
            for name in directories
            if not name.startswith(".") and not _inside((root_path / name).resolve(), skipped)
        )
        found.extend(root_path / name for name in sorted(files) if not name.startswith("."))
    return found


def _inside(path: Path, trees: list[Path]) -> bool:
    return any(path.is_relative_to(tree) for tree in trees)


def find_photos(folder: str | Path, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Photo files (``IMAGE_SUFFIXES``, any case) under ``folder``, sorted by path.

    Walked with :func:`walk_files` (hidden files and folders and the ``exclude`` trees left
    out); a file whose real path lies in an ``exclude`` tree (a link) is left out too.
    """
    excluded = [Path(tree).resolve() for tree in exclude]
    return sorted(
        path
        for path in walk_files(folder, skip=excluded)
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not (excluded and _inside(path.resolve(), excluded))
    )


def collect_photos(folders: Iterable[str | Path]) -> list[Path]:
    """The photos of several folders (:func:`find_photos`), resolved, sorted, each once.

    Raises:
        UsageError: no folder given, or a folder is missing, is not a folder, or holds no
            photo files.
    """
    folders = list(folders)
    if not folders:
        raise UsageError("no data folder given: pass --data DIR")
    found: set[Path] = set()
    for folder in folders:
        folder = Path(folder).expanduser()
        if not folder.exists():
            raise UsageError(f"data folder not found: {folder}")
        if not folder.is_dir():
            raise UsageError(f"data path is not a folder: {folder}")
        photos = [path.resolve() for path in find_photos(folder)]
        if not photos:
            raise UsageError(
                f"data folder {folder} has no images "
                f"({', '.join(sorted(suffix[1:] for suffix in IMAGE_SUFFIXES))})"
            )
        found.update(photos)
    return sorted(found)


# --------------------------------------------------------------------------- reading


def read_image(
    path: str | Path,
    short_side: int | None = None,
    all_frames: bool = True,
    full_depth: bool = True,
) -> StillImage:
    """Read an image file into upright arrays (see the module docstring).

    Args:
        path: the file.
        short_side: when given, a JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale
            whose short side stays at least this (Pillow's draft mode: much faster for big
            photos); other formats are read at full size. ``read_rgb`` finishes the resize.
        all_frames: read every frame of an animation (False: the first only).
        full_depth: re-read 16-bit colour PNG/TIFF at 16 bits through OpenCV (False: the
            8 bits Pillow reads).
    Returns:
        A :class:`StillImage`; frames are (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA,
        uint8 or uint16.
    Raises:
        ImageReadError: the file cannot be read; ``str(error)`` is the reason.
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if short_side is not None:
                    image.draft("RGB", (short_side, short_side))
                still = StillImage(frames=[], format=image.format)
                _read_metadata(image, still)
                frame_count = getattr(image, "n_frames", 1) if all_frames else 1
                if frame_count > 1:
                    still.durations = []
                    still.loop = image.info.get("loop", 0)
                    for frame in ImageSequence.Iterator(image):
                        still.frames.append(_frame_array(frame, still, path, full_depth))
                        still.durations.append(int(frame.info.get("duration", 100) or 100))
                else:
                    still.frames.append(_frame_array(image, still, path, full_depth))
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
    except MemoryError:
        raise ImageReadError("out of memory while decoding") from None
    except Exception as error:  # a decoder's own bug on odd data is still an unreadable file
        raise ImageReadError(f"cannot be decoded ({type(error).__name__}: {error})") from None
    return still


def read_rgb(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Read a photo as 8-bit sRGB, upright (the first frame of an animation).

    Gray becomes three equal channels, alpha is dropped, 16-bit gray is scaled to 8 bits
    (x / 257, rounded).

    Args:
        path: the file.
        short_side: when given, shrink (never enlarge) so the short side is this many
            pixels, keeping the aspect ratio (Lanczos).
    Returns:
        uint8 (H, W, 3) sRGB.
    Raises:
        ImageReadError: the file cannot be read (``str(error)`` is the reason).
    """
    from PIL import Image

    frame = read_image(path, short_side, all_frames=False, full_depth=False).frames[0]
    frame = _eight_bit(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    frame = np.ascontiguousarray(frame[..., :3])
    if short_side is not None and min(frame.shape[:2]) > short_side:
        height, width = frame.shape[:2]
        factor = short_side / min(width, height)
        size = (max(short_side, round(width * factor)), max(short_side, round(height * factor)))
        picture = Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        frame = np.asarray(picture, dtype=np.uint8)
    if min(frame.shape[:2]) < 1:
        raise ImageReadError(f"no pixels (decoded shape {frame.shape})")
    return frame


def read_preview(path: str | Path, longest: int):
    """Read a photo as a small upright 8-bit picture for display: a thumbnail or a preview.

    Cheaper than :func:`read_rgb` on big scans, and made for looking at, not for measuring:
    a JPEG is decoded at a reduced size (libjpeg's DCT scaling), 16-bit gray keeps its top 8
    bits (a uint8 copy, not a float one: 1 byte a pixel more for a 16-bit scan, not 4),
    32-bit and float gray are scaled by their maximum, transparency is laid over white,
    and gray stays gray until it has been scaled down (a third of the work).

    Args:
        path: the file.
        longest: the picture fits ``longest`` x ``longest`` (never enlarged).
    Returns:
        A Pillow image, mode "RGB", upright (EXIF orientation applied).
    Raises:
        ImageReadError: the file cannot be read (``str(error)`` is the reason).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (longest, longest))  # JPEG: decode at 1/2, 1/4 or 1/8 size
            orientation = _orientation(image.getexif())
            image = _pillow_eight_bit(image)
            image.thumbnail((longest, longest), Image.Resampling.BILINEAR, reducing_gap=2.0)
            picture = np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"too large ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageReadError(f"not a readable picture ({error})") from None
    # Turned upright once small, as read_image turns its arrays (Pillow's exif_transpose
    # mis-turns a 16-bit TIFF whose orientation swaps the sides).
    return Image.fromarray(np.ascontiguousarray(apply_orientation(picture, orientation)))


def _pillow_eight_bit(image):
    """Any Pillow mode -> 8-bit "L" or "RGB", which Pillow can scale (see read_preview)."""
    from PIL import Image

    if image.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L")
    if image.mode in ("I", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        top = 255.0 if pixels.max() <= 255 else float(pixels.max())
        return Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(backdrop, image).convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("RGB")


def read_gray(path: str | Path) -> np.ndarray:
    """Read a photo as 8-bit gray, upright (Pillow's ITU-R 601-2 luma for colour).

    Returns:
        uint8 (H, W).
    Raises:
        ImageReadError: the file cannot be read (``str(error)`` is the reason).
    """
    from PIL import Image

    frame = _eight_bit(read_image(path, all_frames=False, full_depth=False).frames[0])
    if frame.ndim == 2:
        return frame
    return np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., :3])).convert("L"))


def _eight_bit(frame: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by x / 257 (full scale to full scale, rounded); uint8 unchanged."""
    if frame.dtype == np.uint8:
        return frame
    return np.round(frame.astype(np.float32) / 257.0).astype(np.uint8)


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
    still.orientation = _orientation(source_exif)
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


def _orientation(exif: Any) -> int:
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


def _frame_array(frame: Any, still: StillImage, path: Path, full_depth: bool = True) -> np.ndarray:
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
