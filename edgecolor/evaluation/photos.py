"""Sampling photo lists and writing results atomically (Pillow, numpy; no TensorFlow).

Finding and reading photos is ``edgecolor.photos``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.files import atomic_output, atomic_write_text


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
