"""Where the loop's pictures go: a window, the web preview, nowhere (a recording: video.py).

Every sink is a :class:`Sink` (picamera2's outputs are the model: ``start``, one call per
frame, ``stop``), so the live loop treats them all alike: it hands each sink the frame's
:class:`FramePictures`, and each sink takes the layout it shows (colour alone, or gray |
colour side by side), composed and labelled once per frame whoever asks first. The web
preview (:class:`edgecolor.device.web.PreviewServer`) is a sink like the others; a loop
with no sink colorizes and shows nothing (a headless run that only measures).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from edgecolor.device.frames.yuv import Yuv420Picture
from edgecolor.errors import UsageError
from edgecolor.optional import require_cv2

logger = logging.getLogger(__name__)


class StopRequested(Exception):
    """A sink asks the loop to stop (the window was closed, q was pressed)."""


@dataclass
class StreamInfo:
    """What a sink is told before the first frame (:meth:`Sink.start`).

    Attributes:
        fps: the source's nominal frame rate, or None when unknown.
        size: (width, height) of the source's frames, or None when unknown.
        live: a camera or stream (timestamps are ``time.monotonic()``), not a file.
        audio: a file whose audio a recording copies (the source itself), or None.
        time_base: the source's clock (a file's video stream), or None.
    """

    fps: float | None
    size: tuple[int, int] | None
    live: bool
    audio: Path | None = None
    time_base: Fraction | None = None


class FramePictures:
    """One colorized frame as the sinks may want it: each layout composed and labelled once.

    Args:
        gray: uint8 (H, W), the frame as it came.
        colour: the frame colorized, (H, W) planes.
        timestamp: the frame's time in seconds (see :class:`~edgecolor.device.frames.sources.Frame`).
        fps: the loop's frame rate so far (0 before it is known).
        label: text a sink may have drawn into the top-left corner (the fps), or None.
    """

    def __init__(
        self,
        gray: np.ndarray,
        colour: Yuv420Picture,
        timestamp: float,
        fps: float = 0.0,
        label: str | None = None,
    ):
        self.gray = gray
        self.colour = colour
        self.timestamp = timestamp
        self.fps = fps
        self.label = label
        self._pictures: dict[tuple[bool, bool], Yuv420Picture] = {}
        self._rgb: dict[tuple[bool, bool], np.ndarray] = {}

    def picture(self, side_by_side: bool = False, labelled: bool = True) -> Yuv420Picture:
        """Colour alone (H, W) or gray | colour (H, 2W), with the label when ``labelled``
        (and there is one); shared: do not draw on it."""
        key = (side_by_side, labelled and self.label is not None)
        if key not in self._pictures:
            if side_by_side:
                picture = Yuv420Picture.side_by_side(
                    Yuv420Picture.from_gray(self.gray), self.colour
                )
            elif key[1]:
                # own chroma: the label must not reach the colour half of the other layouts
                colour = self.colour
                picture = Yuv420Picture(colour.y, colour.cb.copy(), colour.cr.copy(), False)
            else:
                picture = self.colour
            if key[1]:
                picture.draw_label(self.label)
            self._pictures[key] = picture
        return self._pictures[key]

    def rgb(self, side_by_side: bool = False, labelled: bool = True) -> np.ndarray:
        """:meth:`picture` as RGB uint8 (H, W, 3) or (H, 2W, 3), converted once per frame."""
        key = (side_by_side, labelled)
        if key not in self._rgb:
            self._rgb[key] = self.picture(side_by_side, labelled).to_rgb()
        return self._rgb[key]


class Sink:
    """Where the live loop's pictures go: ``start``, then ``output`` once per frame, ``stop``.

    ``stop`` is called once at the end however the run ended (also after an error), so a
    sink finishes its file or closes its window there.
    """

    def start(self, info: StreamInfo) -> None:
        """Called before the first frame, with what the source is."""

    def output(self, pictures: FramePictures) -> None:
        """Take one frame; raise :class:`StopRequested` to end the run."""
        raise NotImplementedError

    def stop(self) -> None:
        """Called after the last frame."""

    def show_problem(self, problem: str | None) -> None:
        """Why there is no picture now (e.g. "camera not found, retrying in 10 s", "camera
        lost, retrying in 60 s"), None once it flows; a sink that shows something to people
        says so (the web preview)."""

    def show_colorizer_problem(self, problem: str | None) -> None:
        """Why the picture is colorized otherwise than asked (the Edge TPU failed and the
        CPU stands in: ``LazyColorizer.problem``), None once it is as asked again."""


class WindowSink(Sink):
    """``--display``: an OpenCV window; q or Esc (or closing the window) stops the loop.

    Args:
        side_by_side: show gray | colour instead of colour alone.
    """

    TITLE = "edgecolor live"

    def __init__(self, side_by_side: bool = False):
        self.side_by_side = side_by_side
        cv2 = require_cv2("OpenCV (for --display)")
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

    def output(self, pictures: FramePictures) -> None:
        cv2 = require_cv2()
        cv2.imshow(self.TITLE, cv2.cvtColor(pictures.rgb(self.side_by_side), cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            raise StopRequested("q pressed")
        if self._shown and cv2.getWindowProperty(self.TITLE, cv2.WND_PROP_VISIBLE) < 1:
            raise StopRequested("window closed")
        self._shown = True

    def stop(self) -> None:
        cv2 = require_cv2()
        cv2.destroyWindow(self.TITLE)
        cv2.waitKey(1)
