"""Still images out: the colorized file, saved atomically with its source's metadata.

Reading is ``edgecolor.photos`` (one reader for every stage): ``read_image`` gives the
upright frames and what the output should carry over (:class:`~edgecolor.photos.StillImage`).

Writing keeps the ICC profile, DPI and EXIF (minus orientation) where the format can hold
them, always through a temporary file and ``os.replace``: a crash never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecolor import optional
from edgecolor.files import atomic_output
from edgecolor.photos import StillImage

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


def output_suffix(source: Path) -> str:
    """The suffix of the colorized file for ``source``: its own when writable, else .png."""
    suffix = source.suffix.lower()
    if suffix in (".pgm", ".pbm", ".pnm"):
        return ".ppm"  # the colour member of the same family
    return source.suffix if suffix in WRITABLE_FORMATS else ".png"


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
    with atomic_output(path) as temporary:
        if frames[0].dtype == np.uint16:
            _write_sixteen_bit(temporary, frames[0], source)
        else:
            _write_pillow(temporary, frames, source)
    return path


def _write_sixteen_bit(path: Path, frame: np.ndarray, source: StillImage) -> None:
    """16-bit colour PNG/TIFF through OpenCV (Pillow writes 16 bits for gray only)."""
    cv2 = optional.cv2()
    if cv2 is None:
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
