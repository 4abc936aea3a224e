"""The optional libraries, in one place: looked up once, never at module load.

Each library has a getter that returns the module or None (for code with a fallback) and a
``require_*`` that returns it or raises :class:`~edgecolor.errors.MissingDependencyError`
naming the install line (for code without one). What is optional, and what it gives:

* ``cv2`` (OpenCV, ``'.[camera]'``): the frame path's shrink and 4:2:0 join, webcams,
  ``--display``, fast resizes. Without it photos still colorize (Pillow and numpy), and
  frames take the exact photo join.
* ``av`` (PyAV, ``'.[camera]'``): every video file, read and written (H.264 with the audio).
  No fallback: a video needs PyAV.
* ``simplejpeg`` (``'.[camera]'``): JPEG straight from Y'CbCr planes for the web preview;
  without it the preview converts to RGB first (OpenCV or Pillow).
* the Edge TPU delegate: :mod:`edgecolor.device.runtime.backends` (it is a shared library, loaded
  by the interpreter, and probed in a child process).

Nothing here imports a library until asked.
"""

from __future__ import annotations

import functools
import importlib
import threading
from types import ModuleType

from edgecolor.errors import INSTALL_CAMERA, require


@functools.cache
def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def cv2() -> ModuleType | None:
    """OpenCV, or None when it is not installed."""
    return _module("cv2")


def simplejpeg() -> ModuleType | None:
    """simplejpeg, or None when it is not installed."""
    return _module("simplejpeg")


def require_cv2(what: str = "OpenCV") -> ModuleType:
    """OpenCV, or MissingDependencyError naming ``what`` needs it and the install line."""
    return _module("cv2") or require("cv2", INSTALL_CAMERA, what)


def require_av(what: str = "PyAV (for video files)") -> ModuleType:
    """PyAV, or MissingDependencyError naming ``what`` needs it and the install line."""
    return _module("av") or require("av", INSTALL_CAMERA, what)


def preload(name: str) -> None:
    """Start importing ``name`` in a background thread (a later getter waits for it).

    PyAV's import maps FFmpeg's libraries, a few tenths of a second on a small machine:
    ``live --source FILE`` starts it before loading the model, so the two overlap and the
    first frame comes sooner.
    """
    threading.Thread(target=_module, args=(name,), name=f"import-{name}", daemon=True).start()
