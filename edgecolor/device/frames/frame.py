"""What a frame source gives the loop: :class:`Frame`, and the :class:`FrameSource` protocol
that cameras (:mod:`.sources`, :mod:`.pi_camera`) and video files (:mod:`.video_io`) follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Frame:
    """One captured frame.

    Attributes:
        gray: uint8 (H, W): the picture's luminance; the colorized output has this size.
        index: the frame's number from the source, counting from 0.
        timestamp: seconds; the presentation time for files, ``time.monotonic()`` for cameras.
        model_gray: optional smaller uint8 (h, w) gray for the model input (picamera2's lores
            stream); None = ``gray`` is resized instead.
    """

    gray: np.ndarray
    index: int
    timestamp: float
    model_gray: np.ndarray | None = None


CAMERA_BUSY = "camera busy"
CAMERA_NOT_FOUND = "camera not found"


class CameraUnavailable(OSError):
    """A camera cannot be opened now: ``reason`` is CAMERA_BUSY or CAMERA_NOT_FOUND (both
    may pass: another program stops, a cable is reseated), so the live loop waits for it."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class FrameSource(Protocol):
    """Where frames come from.

    Attributes:
        name: shown in messages ("usb:0", "clip.mp4", "picamera2").
        live: True for cameras and streams (the newest frame wins, stale frames are dropped);
            False for files (every frame, in order).
        fps: the nominal frame rate, or None when unknown.
    """

    name: str
    live: bool
    fps: float | None

    def open(self) -> None:
        """Start capturing; raise (OSError, MissingDependencyError) when the device is not
        there (:class:`CameraUnavailable` when it may come: missing or busy)."""

    def read(self) -> Frame | None:
        """The next frame; None at the end of a file or when a camera stops delivering."""

    def close(self) -> None:
        """Release the device; safe to call twice."""
