"""Where live pictures go: a video file, a window, the web preview, or nowhere.

Every sink is a :class:`Sink` (picamera2's outputs are the model: ``start``, one call per
frame, ``stop``), so the live loop treats them all alike: it hands each sink the frame's
:class:`FramePictures`, and each sink takes the layout it shows (colour alone, or gray |
colour side by side), composed and labelled once per frame whoever asks first. The web
preview (:class:`edgecolor.device.web.PreviewServer`) is a sink like the others;
:class:`NullSink` takes pictures and drops them.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
from pathlib import Path

import numpy as np

from edgecolor import files
from edgecolor.device.yuv import Yuv420Picture
from edgecolor.errors import INSTALL_CAMERA, MissingDependencyError, UsageError

logger = logging.getLogger(__name__)


class StopRequested(Exception):
    """A sink asks the loop to stop (the window was closed, q was pressed)."""


class FramePictures:
    """One colorized frame as the sinks may want it: each layout composed and labelled once.

    Args:
        gray: uint8 (H, W), the frame as it came.
        colour: the frame colorized, (H, W) planes.
        timestamp: the frame's time in seconds (see :class:`~edgecolor.device.sources.Frame`).
        fps: the loop's frame rate so far (0 before it is known).
        label: text drawn into the top-left corner of every layout (the fps), or None.
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
        self._pictures: dict[bool, Yuv420Picture] = {}
        self._rgb: dict[bool, np.ndarray] = {}

    def picture(self, side_by_side: bool = False) -> Yuv420Picture:
        """Colour alone (H, W) or gray | colour (H, 2W), labelled; shared: do not draw on it."""
        if side_by_side not in self._pictures:
            if side_by_side:
                picture = Yuv420Picture.side_by_side(
                    Yuv420Picture.from_gray(self.gray), self.colour
                )
            elif self.label is not None:
                # own chroma: the label must not reach the colour half of the other layout
                colour = self.colour
                picture = Yuv420Picture(colour.y, colour.cb.copy(), colour.cr.copy(), False)
            else:
                picture = self.colour
            if self.label is not None:
                picture.draw_label(self.label)
            self._pictures[side_by_side] = picture
        return self._pictures[side_by_side]

    def rgb(self, side_by_side: bool = False) -> np.ndarray:
        """:meth:`picture` as RGB uint8 (H, W, 3) or (H, 2W, 3), converted once per frame."""
        if side_by_side not in self._rgb:
            self._rgb[side_by_side] = self.picture(side_by_side).to_rgb()
        return self._rgb[side_by_side]


class Sink:
    """Where the live loop's pictures go: ``start``, then ``output`` once per frame, ``stop``.

    ``stop`` is called once at the end however the run ended (also after an error), so a
    sink finishes its file or closes its window there.
    """

    def start(self) -> None:
        """Called before the first frame."""

    def output(self, pictures: FramePictures) -> None:
        """Take one frame; raise :class:`StopRequested` to end the run."""
        raise NotImplementedError

    def stop(self) -> None:
        """Called after the last frame."""


class NullSink(Sink):
    """Takes every frame and shows it nowhere (a headless run that only measures)."""

    def __init__(self):
        self.frames = 0

    def output(self, pictures: FramePictures) -> None:
        self.frames += 1


class VideoFileSink(Sink):
    """``--record FILE``: a video OpenCV reads back (MJPG in .avi, mp4v in .mp4/.mov/.mkv).

    For a file source every frame is written once, so the recording has the source's frame
    count and rate. For a camera (``realtime``), frames are repeated or skipped to follow the
    wall clock, so the recording plays at the speed things happened even when the model is
    slower than the camera.

    The file is written under a temporary name and moved into place by ``stop``. With
    ``segment_seconds`` the recording is cut into ``NAME-0001.mp4``, ``NAME-0002.mp4``, ...,
    each moved into place as soon as it is full: a power cut (or a kill) loses at most the
    segment being written, not hours of recording. Numbers go on after the highest already
    there, so a restarted service never overwrites an earlier run's segments.

    Args:
        path: the recording (.mp4, .avi, .mov, .mkv, .m4v).
        fps: its frame rate (the source's).
        realtime: follow the wall clock (a camera), see above.
        side_by_side: record gray | colour instead of colour alone.
        segment_seconds: recording time per segment, or None for one file at ``path``.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        realtime: bool = False,
        side_by_side: bool = False,
        segment_seconds: float | None = None,
    ):
        self.path = Path(path)
        if self.path.suffix.lower() not in (".avi", ".mp4", ".mov", ".mkv", ".m4v"):
            raise UsageError(f"--record {self.path}: use a .mp4, .avi, .mov or .mkv file name")
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.realtime = realtime
        self.side_by_side = side_by_side
        self.frames_written = 0
        self.segment_frames = max(1, round(segment_seconds * self.fps)) if segment_seconds else None
        self.finished: list[Path] = []  # the files moved into place so far
        self._writer = None
        self._temporary: Path | None = None
        self._target: Path | None = None
        self._frames_in_file = 0
        self._next_number: int | None = None
        self._first_timestamp: float | None = None

    def output(self, pictures: FramePictures) -> None:
        try:
            import cv2
        except ImportError:
            raise MissingDependencyError("OpenCV (for --record)", INSTALL_CAMERA) from None
        from edgecolor.device import video

        picture, timestamp = pictures.rgb(self.side_by_side), pictures.timestamp
        if self._first_timestamp is None:
            self._first_timestamp = timestamp
        if self._writer is None:
            self._open(video, picture.shape[1], picture.shape[0])
        bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
        copies = 1
        if self.realtime:
            due = int(round((timestamp - self._first_timestamp) * self.fps)) + 1
            copies = max(0, due - self.frames_written)
        for _ in range(copies):
            self._writer.write(bgr)
        self.frames_written += copies
        self._frames_in_file += copies
        if self.segment_frames and self._frames_in_file >= self.segment_frames:
            self._close()  # full: finished now, not at the end of the run

    def stop(self) -> None:
        self._close()

    def _open(self, video, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._frames_in_file = 0
        self._target = self._next_segment() if self.segment_frames else self.path
        self._temporary = files.temporary_beside(self._target)
        self._writer = video.open_video_writer(self._temporary, self.fps, width, height)

    def _close(self) -> None:
        """Finish the file being written and move it into place (an empty one is removed).

        Safe to call again when a signal cut it short (``stop`` then finishes the job), so
        SIGTERM arriving as a segment closes still leaves no hidden partial file behind.
        """
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._temporary is None:
            return
        if not self._frames_in_file:
            self._temporary.unlink(missing_ok=True)
        elif self._temporary.exists():
            files.commit(self._temporary, self._target)
            self.finished.append(self._target)
            logger.info("recorded %d frames to %s", self._frames_in_file, self._target)
        self._temporary = None

    def _next_segment(self) -> Path:
        """``NAME-0001.mp4`` on a first run; after a restart the number after the highest."""
        stem, suffix = self.path.stem, self.path.suffix
        if self._next_number is None:
            pattern = re.compile(rf"{re.escape(stem)}-(\d{{4,}}){re.escape(suffix)}")
            taken = [
                int(match.group(1))
                for name in glob.glob(glob.escape(str(self.path.parent / stem)) + "-*" + suffix)
                if (match := pattern.fullmatch(Path(name).name))
            ]
            self._next_number = max(taken, default=0) + 1
        number, self._next_number = self._next_number, self._next_number + 1
        return self.path.with_name(f"{stem}-{number:04d}{suffix}")


class WindowSink(Sink):
    """``--display``: an OpenCV window; q or Esc (or closing the window) stops the loop.

    Args:
        side_by_side: show gray | colour instead of colour alone.
    """

    TITLE = "edgecolor live"

    def __init__(self, side_by_side: bool = False):
        self.side_by_side = side_by_side
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

    def output(self, pictures: FramePictures) -> None:
        import cv2

        cv2.imshow(self.TITLE, cv2.cvtColor(pictures.rgb(self.side_by_side), cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            raise StopRequested("q pressed")
        if self._shown and cv2.getWindowProperty(self.TITLE, cv2.WND_PROP_VISIBLE) < 1:
            raise StopRequested("window closed")
        self._shown = True

    def stop(self) -> None:
        import cv2

        cv2.destroyWindow(self.TITLE)
        cv2.waitKey(1)
