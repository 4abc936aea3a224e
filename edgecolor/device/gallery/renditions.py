"""Thumbnails and browser-viewable copies of scans, made once and cached under OUT/.edgecolor/.

A rendition is a JPEG of a photo scaled down to fit a square (``THUMBNAIL`` for the grid,
``VIEW`` for the full-size view of files a browser cannot show itself, such as TIFF scans).
It is written atomically (a crash never leaves half a thumbnail) with its source's
modification time copied onto it: a rendition whose time differs from its source's is
stale and made again, also when the source was replaced by an older file.

Making one decodes the whole scan (a 36-megapixel TIFF is over 100 MB of pixels), so at
most ``MAX_PARALLEL`` are made at once however many browsers ask; JPEGs are decoded at a
reduced size (libjpeg's DCT scaling) when that is enough.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from edgecolor.device.batch import BOOKKEEPING_DIR
from edgecolor.files import atomic_output

logger = logging.getLogger(__name__)

THUMBNAIL = 480  # px, the longer side: sharp on a phone's 2x screen in a two-column grid
VIEW = 2048  # px: the full-size view of a file a browser cannot show (TIFF, BMP, PPM, ...)
JPEG_QUALITY = 82
MAX_PARALLEL = 1  # a Pi 4 has 1-8 GB: one big scan decoded at a time
SIZES = {"thumb": THUMBNAIL, "view": VIEW}

_making = threading.BoundedSemaphore(MAX_PARALLEL)


class RenditionError(Exception):
    """The source cannot be read as a picture (``str(error)`` says why)."""


def cache_path(out_dir: Path, size_name: str, side: str, key: str) -> Path:
    """Where the rendition of ``key`` (an output path relative to OUT) is kept.

    ``side`` is "before" (the original) or "after" (the colorized file).
    """
    return Path(out_dir) / BOOKKEEPING_DIR / f"{size_name}s" / side / f"{key}.jpg"


def rendition(source: Path, target: Path, longest: int) -> Path:
    """``target`` made from ``source`` if missing or stale; returns ``target``.

    Raises:
        RenditionError: the source is not a readable picture.
    """
    if _is_fresh(source, target):
        return target
    with _making:
        if _is_fresh(source, target):  # made by another request while this one waited
            return target
        status = source.stat()
        picture = _scaled_rgb(source, longest)
        with atomic_output(target) as temporary:
            picture.save(temporary, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            os.utime(temporary, ns=(status.st_atime_ns, status.st_mtime_ns))
    return target


def _is_fresh(source: Path, target: Path) -> bool:
    try:
        return target.stat().st_mtime_ns == source.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _scaled_rgb(source: Path, longest: int):
    """The first frame of ``source``, upright, 8-bit RGB, fitting ``longest`` x ``longest``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            image.draft("RGB", (longest, longest))  # JPEG: decode at 1/2, 1/4 or 1/8 size
            image = _eight_bit(ImageOps.exif_transpose(image))
            image.thumbnail((longest, longest), Image.Resampling.BILINEAR, reducing_gap=2.0)
            return image.convert("RGB")  # gray scaled down first: a third of the work
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise RenditionError(f"{source.name}: not a readable picture ({error})") from None
    except Image.DecompressionBombError as error:
        raise RenditionError(f"{source.name}: too large ({error})") from None


def _eight_bit(image):
    """Any Pillow mode -> 8-bit "L" or "RGB", which Pillow can scale.

    16-bit gray keeps its top 8 bits (a uint8 copy, not a float one: 1 byte a pixel more
    for a 16-bit scan, not 4); 32-bit and float gray are scaled by their maximum;
    transparency is laid over white.
    """
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
