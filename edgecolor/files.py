"""Atomic file writes: a temporary file beside the target, then ``os.replace``.

Every file edgecolor writes for a user (colorized photos and videos, exported models and
their metadata, configs, splits, sample grids, reports) goes through here, so an
interrupted run never leaves half a file under a real name. No TensorFlow, no optional
libraries: the device runtime uses it too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


def commit(temporary: str | Path, path: str | Path) -> None:
    """Move a finished temporary file into place, readable like any normal file.

    (mkstemp creates files private, 0600; outputs are meant to be shared.)
    """
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


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
