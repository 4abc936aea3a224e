"""Thumbnails and browser-viewable copies of scans, made once and cached under OUT/.edgecolor/.

A rendition is a JPEG of a photo scaled down to fit a square (``THUMBNAIL`` for the grid,
``VIEW`` for the full-size view of files a browser cannot show itself, such as TIFF scans).
It is written atomically (a crash never leaves half a thumbnail) with its source's
modification time copied onto it: a rendition whose time differs from its source's is
stale and made again, also when the source was replaced by an older file. Anything in the
cache that is not a plain file (a symlink above all: it could point anywhere on the Pi) is
never taken for a rendition; it is made again, and the atomic rename replaces the link.

Making one decodes the whole scan (a 36-megapixel TIFF is over 100 MB of pixels), so at
most ``MAX_PARALLEL`` are made at once however many browsers ask; JPEGs are decoded at a
reduced size (libjpeg's DCT scaling) when that is enough.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from edgecolor.device.files.manifest import BOOKKEEPING_DIR
from edgecolor.files import atomic_output
from edgecolor.photos import read_preview

THUMBNAIL = 480  # px, the longer side: sharp on a phone's 2x screen in a two-column grid
VIEW = 2048  # px: the full-size view of a file a browser cannot show (TIFF, BMP, PPM, ...)
JPEG_QUALITY = 82
MAX_PARALLEL = 1  # a Pi 4 has 1-8 GB: one big scan decoded at a time
SIZES = {"thumb": THUMBNAIL, "view": VIEW}

_making = threading.BoundedSemaphore(MAX_PARALLEL)


def cache_path(out_dir: Path, size_name: str, side: str, key: str) -> Path:
    """Where the rendition of ``key`` (an output path relative to OUT) is kept.

    ``side`` is "before" (the original) or "after" (the colorized file).
    """
    return Path(out_dir) / BOOKKEEPING_DIR / f"{size_name}s" / side / f"{key}.jpg"


def rendition(source: Path, target: Path, longest: int) -> Path:
    """``target`` made from ``source`` if missing or stale; returns ``target``.

    Raises:
        edgecolor.photos.ImageReadError: the source is not a readable picture.
    """
    if _is_fresh(source, target):
        return target
    with _making:
        if _is_fresh(source, target):  # made by another request while this one waited
            return target
        status = source.stat()
        picture = read_preview(source, longest)  # the first frame, upright, 8-bit RGB
        with atomic_output(target) as temporary:
            picture.save(temporary, format="JPEG", quality=JPEG_QUALITY, optimize=True)
            os.utime(temporary, ns=(status.st_atime_ns, status.st_mtime_ns))
    return target


def _is_fresh(source: Path, target: Path) -> bool:
    try:
        cached = target.lstat()  # lstat: a link is not a rendition, whatever it points to
        return stat.S_ISREG(cached.st_mode) and cached.st_mtime_ns == source.stat().st_mtime_ns
    except FileNotFoundError:
        return False
