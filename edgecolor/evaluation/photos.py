"""Finding and reading photos, and writing results atomically (Pillow, numpy; no TensorFlow)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.files import IMAGE_SUFFIXES, atomic_output, atomic_write_text


def find_photos(folder: Path, exclude: Iterable[Path] = ()) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted), skipping hidden files and ``exclude`` trees.

    ``exclude`` keeps an output folder placed inside the data folder from being read back
    as input on the next run.
    """
    excluded = [Path(path).resolve() for path in exclude]
    photos = []
    for path in sorted(Path(folder).rglob("*")):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if not path.is_file():
            continue
        resolved = path.resolve()
        if any(resolved.is_relative_to(tree) for tree in excluded):
            continue
        photos.append(path)
    return photos


def spread_sample(items: list, count: int | None) -> list:
    """``count`` items evenly spaced over ``items`` (all of them when count is None or larger).

    Deterministic, and it samples every part of a sorted folder tree rather than its first
    sub-folder.
    """
    if count is None or count >= len(items):
        return list(items)
    if count <= 0:
        return []
    indices = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[index] for index in sorted(set(indices.tolist()))]


def load_rgb(path: Path) -> np.ndarray:
    """Read a photo as uint8 (H, W, 3) sRGB, applying its EXIF orientation.

    Raises OSError (Pillow's UnidentifiedImageError is one) or ValueError for an unreadable
    or truncated file.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.load()  # decode now, so a truncated file fails here and not later
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit gray: Pillow's convert("RGB") would clip; scale to 8 bits first.
            array = np.asarray(image, dtype=np.float64)
            scale = 65535.0 if array.max() > 255 else 255.0
            gray = np.clip(np.round(array / scale * 255.0), 0, 255).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=-1)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def save_image(path: Path, image: np.ndarray, quality: int = 92) -> Path:
    """Write uint8 (H, W) or (H, W, 3) to ``path`` atomically; format from the suffix."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    suffix = Path(path).suffix.lower()
    options = {"quality": quality} if suffix in (".jpg", ".jpeg", ".webp") else {}
    format_name = Image.registered_extensions().get(suffix)
    with atomic_output(path) as temporary:
        picture.save(temporary, format=format_name, **options)
    return Path(path)


def _json_value(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _finite(value: Any):
    """Replace inf/nan floats (e.g. PSNR of identical images) by None so the JSON is strict."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_json(path: Path, data: dict) -> Path:
    """Write ``data`` as indented, strict JSON (inf/nan -> null) to ``path`` atomically."""
    text = json.dumps(_finite(data), indent=2, default=_json_value, allow_nan=False) + "\n"
    atomic_write_text(path, text)
    return Path(path)
