"""Atomic file writes: a temporary file beside the target, then ``os.replace``; and moves
that lose nothing when they fail (:func:`move_file`).

Every file edgecolor writes for a user (colorized photos and videos, exported models and
their metadata, configs, splits, sample grids, reports) goes through here, so an
interrupted run never leaves half a file under a real name; ``write_json`` and
``save_image`` are the two common cases. No TensorFlow, no optional libraries (Pillow is
a core dependency, imported by ``save_image`` only): the device runtime uses it too.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def temporary_beside(path: str | Path) -> Path:
    """A fresh, hidden temporary file in ``path``'s folder, ending in ``path``'s suffix.

    Hidden (leading dot) so folder watchers and globbing skip it; the same suffix because
    writers such as Pillow and OpenCV pick the format from it.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent
    )
    os.close(descriptor)
    return Path(temporary)


def current_umask() -> int:
    """This process's umask, read without changing it (Linux: /proc/self/status).

    ``os.umask`` can only be read by setting it, which races with other threads creating
    files; the fallback (not Linux) does that briefly.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def commit(temporary: str | Path, path: str | Path) -> None:
    """Move a finished temporary file into place, with the mode a normal file would get.

    mkstemp creates files private (0600); outputs are meant to be shared, so the file gets
    0666 less the umask, as ``open()`` would give it: 0644 with the usual 022, and 0664
    (group-writable) under the scan service's ``UMask=0002``, whose folders are shared
    with the login user's group.
    """
    os.chmod(temporary, 0o666 & ~current_umask())
    os.replace(temporary, path)


def move_file(source: str | Path, target: str | Path) -> None:
    """Move ``source`` to ``target`` (a name not taken) so that a failure loses nothing.

    In one file system it is one rename. Across file systems (another disk: EXDEV) the file
    is copied under a hidden temporary name beside ``target``, flushed to disk, renamed
    into place, and only then is ``source`` removed. When any step fails (a full disk,
    a read-only or forbidden destination, a source that cannot be removed) the OSError is
    raised with ``source`` where it was, as it was, and nothing left at ``target``: not a
    half-copied file, not a second copy. (``shutil.move`` leaves a partial copy behind.)

    Raises:
        OSError: from the failing step; ``source`` is untouched.
    """
    source, target = Path(source), Path(target)
    try:
        os.rename(source, target)
        return
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    temporary = temporary_beside(target)
    try:
        shutil.copy2(source, temporary)  # its bytes, mode and times, as shutil.move keeps
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())  # on disk before the original goes
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    try:
        os.unlink(source)
    except BaseException:
        target.unlink(missing_ok=True)  # the original stays the only copy
        raise


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    Creates ``path``'s folder when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(path)
    try:
        yield temporary
        commit(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(content)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _json_value(value: Any):
    """What ``json`` cannot write itself: numpy scalars and arrays, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _finite(value: Any):
    """Replace inf/nan floats (e.g. PSNR of identical images) by None so the JSON is strict."""
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as indented, strict JSON (inf/nan -> null) to ``path`` atomically.

    numpy scalars and arrays and paths are written as numbers, lists and strings.
    """
    text = json.dumps(_finite(data), indent=2, default=_json_value, allow_nan=False) + "\n"
    atomic_write_text(path, text)
    return Path(path)


def save_image(path: str | Path, image: np.ndarray, quality: int = 92) -> Path:
    """Write uint8 (H, W) or (H, W, 3) to ``path`` atomically; format from the suffix.

    ``quality`` applies to JPEG and WebP.
    """
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    suffix = Path(path).suffix.lower()
    options = {"quality": quality} if suffix in (".jpg", ".jpeg", ".webp") else {}
    format_name = Image.registered_extensions().get(suffix)
    with atomic_output(path) as temporary:
        picture.save(temporary, format=format_name, **options)
    return Path(path)
