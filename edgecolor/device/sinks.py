"""Where live frames go: a video file, a window, the web preview (``edgecolor.device.web``).

Each sink is a small protocol (:class:`FrameSink`): ``write`` gets the picture to show
(RGB uint8) with its timestamp, ``close`` finishes. The live loop composes the picture once
(side by side or colour only, with the fps overlay) and hands it to every sink.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from edgecolor import files
from edgecolor.errors import INSTALL_CAMERA, MissingDependencyError, UsageError

logger = logging.getLogger(__name__)


class FrameSink(Protocol):
    """A consumer of composed frames: RGB uint8 (H, W, 3)."""

    def write(self, picture: np.ndarray, timestamp: float) -> None: ...

    def close(self) -> None: ...


class StopRequested(Exception):
    """A sink asks the loop to stop (the window was closed, q was pressed)."""


class VideoFileSink:
    """``--record FILE``: a video OpenCV reads back (MJPG in .avi, mp4v in .mp4/.mov/.mkv).

    For a file source every frame is written once, so the recording has the source's frame
    count and rate. For a camera (``realtime``), frames are repeated or skipped to follow the
    wall clock, so the recording plays at the speed things happened even when the model is
    slower than the camera.

    The file is written under a temporary name and moved into place by ``close``.
    """

    def __init__(self, path: str | Path, fps: float, realtime: bool = False):
        self.path = Path(path)
        if self.path.suffix.lower() not in (".avi", ".mp4", ".mov", ".mkv", ".m4v"):
            raise UsageError(f"--record {self.path}: use a .mp4, .avi, .mov or .mkv file name")
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.realtime = realtime
        self.frames_written = 0
        self._writer = None
        self._temporary: Path | None = None
        self._first_timestamp: float | None = None

    def write(self, picture: np.ndarray, timestamp: float) -> None:
        try:
            import cv2
        except ImportError:
            raise MissingDependencyError("OpenCV (for --record)", INSTALL_CAMERA) from None
        from edgecolor.device import video

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._temporary = files.temporary_beside(self.path)
            self._writer = video.open_video_writer(
                self._temporary, self.fps, picture.shape[1], picture.shape[0]
            )
            self._first_timestamp = timestamp
        bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
        copies = 1
        if self.realtime:
            due = int(round((timestamp - self._first_timestamp) * self.fps)) + 1
            copies = max(0, due - self.frames_written)
        for _ in range(copies):
            self._writer.write(bgr)
        self.frames_written += copies

    def close(self) -> None:
        if self._writer is None:
            return

        self._writer.release()
        self._writer = None
        if self.frames_written:
            files.commit(self._temporary, self.path)
            logger.info("recorded %d frames to %s", self.frames_written, self.path)
        else:
            self._temporary.unlink(missing_ok=True)


class WindowSink:
    """``--display``: an OpenCV window; q or Esc (or closing the window) stops the loop."""

    TITLE = "edgecolor live"

    def __init__(self):
        try:
            import cv2
        except ImportError:
            raise MissingDependencyError("OpenCV (for --display)", INSTALL_CAMERA) from None
        message = (
            "--display needs OpenCV with a GUI (pip install opencv-python, not -headless) "
            "and a desktop; on a headless Pi use --serve and a browser instead"
        )
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            # Without a desktop, OpenCV's GUI back-ends abort the whole process: refuse first.
            raise UsageError(message + " (no DISPLAY is set)")
        try:
            cv2.namedWindow(self.TITLE, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UsageError(message) from None
        self._shown = False

    def write(self, picture: np.ndarray, timestamp: float) -> None:
        import cv2

        cv2.imshow(self.TITLE, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            raise StopRequested("q pressed")
        if self._shown and cv2.getWindowProperty(self.TITLE, cv2.WND_PROP_VISIBLE) < 1:
            raise StopRequested("window closed")
        self._shown = True

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.TITLE)
        cv2.waitKey(1)
