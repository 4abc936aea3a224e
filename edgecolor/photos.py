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

import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.errors import EdgecolorError, UsageError
from edgecolor.photo_frames import (
    apply_orientation,
    eight_bit,
    exif_orientation,
    frame_array,
    read_metadata,
)

logger = logging.getLogger(__name__)

# Photo files that training, export calibration and ``edgecolor eval`` take from a folder
# tree (the device's ``colorize`` takes whatever Pillow can open: ``image_suffixes``).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
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
                read_metadata(image, still)
                frame_count = getattr(image, "n_frames", 1) if all_frames else 1
                if frame_count > 1:
                    still.durations = []
                    still.loop = image.info.get("loop", 0)
                    for frame in ImageSequence.Iterator(image):
                        still.frames.append(frame_array(frame, still, path, full_depth))
                        still.durations.append(int(frame.info.get("duration", 100) or 100))
                else:
                    still.frames.append(frame_array(image, still, path, full_depth))
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
    frame = eight_bit(frame)
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
            orientation = exif_orientation(image.getexif())
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

    frame = eight_bit(read_image(path, all_frames=False, full_depth=False).frames[0])
    if frame.ndim == 2:
        return frame
    return np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., :3])).convert("L"))
