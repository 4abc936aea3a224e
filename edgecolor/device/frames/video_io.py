"""Video files in and out through PyAV: :class:`VideoFileSource` (every frame, its own
timestamp) and :class:`VideoFileSink` (a recording).

A video file is a frame source like a camera, except that it gives every frame in order;
:class:`VideoFileSink` writes what the loop colorizes: H.264 (libx264, yuv420p,
``+faststart``: every browser plays it) with each frame at its own timestamp (variable
frame rates survive) and the source's audio copied unchanged (or re-encoded to AAC when the
container cannot hold its codec), under a temporary name moved into place when complete.
``colorize clip.mp4`` (:mod:`edgecolor.device.files.video`) and ``live --source clip.mp4
--record out.mp4`` run the same loop with these two, so they give the same video.

PyAV (``pip install av``; ``'.[camera]'`` in the checkout) is required for video files.
"""

from __future__ import annotations

import errno
import glob
import logging
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.device.backoff import Backoff
from edgecolor.device.frames.frame import Frame
from edgecolor.device.frames.sinks import FramePictures, Sink, StreamInfo
from edgecolor.device.frames.video_writer import VideoWriter, playable
from edgecolor.errors import UsageError
from edgecolor.files import commit
from edgecolor.optional import require_av
from edgecolor.photos import UnreadableFile

logger = logging.getLogger(__name__)

# Containers a recording may use.
RECORDING_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
# A recording that survives write errors (segments, or live's one file) whose folder takes
# nothing (full, read-only) pauses: retried after this many seconds of frames, doubling up
# to the most.
RECORDING_RETRY_FIRST = 5.0
RECORDING_RETRY_MOST = 300.0


class VideoFileSource:
    """A video file decoded by PyAV: every frame in order, each with its own timestamp.

    Args:
        path: the video file.
        size: (width, height) to scale every frame to (``edgecolor bench``), or None.

    Attributes (after ``open``): ``fps`` (the average rate), ``time_base`` (the video
    stream's), ``size`` (width, height of the frames read), ``audio`` (``path`` when the
    file has an audio stream, for a recording to copy; None otherwise), ``notes`` (what
    went wrong but was survived, e.g. corrupt data near the end).
    """

    live = False

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None):
        self.path = Path(path)
        self.name = self.path.name
        self.scale_to = size
        self.fps: float | None = None
        self.time_base: Fraction | None = None
        self.size: tuple[int, int] | None = size
        self.audio: Path | None = None
        self.notes: list[str] = []
        self._container = None
        self._frames: Iterator[Any] | None = None
        self._index = 0

    def open(self) -> None:
        """Raises UnreadableFile (not a video FFmpeg reads, no video stream)."""
        av = require_av()
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as error:
            raise UnreadableFile(f"not a video FFmpeg can open ({error})") from None
        if not container.streams.video:
            container.close()
            raise UnreadableFile("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.time_base = stream.time_base
        self.size = self.scale_to or (stream.width, stream.height)
        self.audio = self.path if container.streams.audio else None
        self._container = container
        self._frames = container.decode(stream)
        self._index = 0

    def read(self) -> Frame | None:
        """The next frame (uint8 gray), or None at the end (or at corrupt data after a frame).

        Raises:
            UnreadableFile: the data is corrupt before the first frame.
        """
        if self._frames is None:
            return None
        av = require_av()
        try:
            decoded = next(self._frames, None)
        except av.error.InvalidDataError as error:
            if not self._index:
                raise UnreadableFile(f"corrupt video data ({error})") from None
            self.notes.append(f"stopped at corrupt data after {self._index} frames ({error})")
            return None
        if decoded is None:
            return None
        if self.scale_to:
            width, height = self.scale_to
            decoded = decoded.reformat(width=width, height=height, interpolation="AREA")
        gray = decoded.to_ndarray(format="gray")
        timestamp = decoded.time
        if timestamp is None:
            timestamp = self._index / (self.fps or 25.0)
        frame = Frame(gray, self._index, float(timestamp))
        self._index += 1
        return frame

    def close(self) -> None:
        container, self._container, self._frames = self._container, None, None
        if container is not None:
            container.close()


class VideoFileSink(Sink):
    """A recording (``--record FILE``, the demo's clip, ``colorize clip.mp4``'s output).

    Every frame is written at its own timestamp: a file source's recording has the source's
    frames, timing and audio; a camera's plays at the speed things happened, even when the
    model is slower than the camera.

    With ``segment_seconds`` the recording is cut into ``NAME-0001.mp4``, ``NAME-0002.mp4``,
    ..., each moved into place as soon as it is full: a power cut (or a kill) loses at most
    the segment being written. Numbers go on after the highest already there, so a
    restarted service never overwrites an earlier run's segments; a killed run's hidden
    partial segments are removed at start (or kept when they play), and a name that is taken
    is skipped. A segment that cannot be opened, written or finished (a full or read-only
    folder) is discarded, said in one log line, and the recording pauses, tried again after
    5 s of frames doubling up to 5 minutes, while the loop and preview go on. A file that
    does not play back (cut short by a full disk) is never moved into place.

    One file (no ``segment_seconds``): a write error ends the run (``colorize`` reports the
    file as failed), unless ``keep_going`` (``live --record``): then the file is finished
    as far as it can be (closed normally, or kept as far as it plays: an .mkv cut short
    plays, an .mp4 without its index at the end does not and is removed), one warning
    names the file, the cause and its errno, the loop and preview go on, and recording
    resumes into ``NAME-2.mp4`` (then ``-3``, ...; never over a file that is there) after
    the same back-off, once the folder takes files again.

    Args:
        path: the recording (.mp4, .m4v, .mov, .mkv, .webm, .avi).
        side_by_side: record gray | colour instead of colour alone.
        segment_seconds: recording time per segment, or None for one file at ``path``.
        label: draw the frame-rate label into the recording (default: no).
        keep_going: one file survives a write error as described above (segments always do).
    """

    def __init__(
        self,
        path: str | Path,
        side_by_side: bool = False,
        segment_seconds: float | None = None,
        label: bool = False,
        keep_going: bool = False,
    ):
        self.path = Path(path)
        if self.path.suffix.lower() not in RECORDING_SUFFIXES:
            raise UsageError(f"--record {self.path}: use a .mp4, .mov, .mkv or .avi file name")
        self.side_by_side = side_by_side
        self.segment_seconds = segment_seconds
        self.label = label
        self.keep_going = keep_going or bool(segment_seconds)  # a write error pauses it
        self.finished: list[Path] = []  # the files moved into place so far
        self.notes: list[str] = []
        self.audio = False
        self._info = StreamInfo(None, None, False)
        self._writer: VideoWriter | None = None
        self._next_number: int | None = None
        self._last_number: int | None = None  # the segment being written (or tried)
        self._paused_until: float | None = None  # the frame time to try a segment again at
        self._retry = Backoff(RECORDING_RETRY_FIRST, RECORDING_RETRY_MOST)
        self._part = 1  # one file: NAME.mp4, then NAME-2.mp4, ... after write errors

    def start(self, info: StreamInfo) -> None:
        self._info = info

    def output(self, pictures: FramePictures) -> None:
        timestamp = pictures.timestamp
        if self._paused_until is not None and timestamp < self._paused_until:
            return  # the folder took nothing: the preview goes on, the recording waits
        picture = pictures.rgb(self.side_by_side, self.label)
        if not self.keep_going:  # one file: a failure ends the run (colorize reports it)
            self._record(picture, timestamp)
            return
        try:
            self._record(picture, timestamp)
        except Exception as error:  # a full or read-only folder, an encoder's I/O error
            self._pause(error, timestamp)
        else:
            if self._paused_until is not None:
                where = self.path.parent if self.segment_seconds else self._writer.target
                logger.warning("recording again into %s", where)
                self._paused_until = None
                self._retry.reset()

    def _record(self, picture: np.ndarray, timestamp: float) -> None:
        if self._writer is None:
            self._open(picture.shape[1], picture.shape[0], timestamp)
        self._writer.write(picture, timestamp)
        if self.segment_seconds:
            frame_seconds = 1.0 / (self._info.fps or 25.0)
            if timestamp + frame_seconds - self._writer.start >= self.segment_seconds - 1e-6:
                self._close(audio_until=timestamp + frame_seconds)  # full: finished now

    def _pause(self, error: Exception, timestamp: float) -> None:
        """A segment that could not be opened, written or finished: discard it (a file cut
        short is never moved into place), say why in one line, retry after a back-off. One
        file (``keep_going``): :meth:`_pause_one_file`."""
        writer, self._writer = self._writer, None
        delay = self._retry.pause()
        self._paused_until = timestamp + delay
        if not self.segment_seconds:
            self._pause_one_file(writer, error, timestamp, delay)
            return
        if writer is not None:
            writer.discard()
        if self._last_number is not None:
            self._next_number = self._last_number  # nothing was kept under it: used again
        logger.warning(
            "recording paused: cannot write %s (%s); retrying in %.0f s",
            self.path.parent,
            _write_cause(error),
            delay,
        )

    def _pause_one_file(
        self, writer: VideoWriter | None, error: Exception, timestamp: float, delay: float
    ) -> None:
        """One file that could not be opened or written (``keep_going``): finish what it
        holds as far as it can be, say so in one warning, go on in the next file after
        ``delay`` seconds of frames."""
        target = writer.target if writer is not None else self._part_path()
        kept = writer is not None and self._salvage(writer, timestamp) is None
        if kept:
            self._part += 1  # the next file gets the next name; this one is done
            what = f"what was written up to then is kept in {target.name}"
        elif writer is not None and writer.frames:
            what = f"the {writer.frames} frames written could not be finished"
        else:
            what = "nothing was written"
        logger.warning(
            "recording paused: writing %s failed (%s, %s); %s; recording again into %s in %.0f "
            "s if the folder takes it",
            target,
            _write_cause(error),
            errno.errorcode.get(getattr(error, "errno", None) or 0, "no errno"),
            what,
            self._part_path().name,
            delay,
        )

    def _salvage(self, writer: VideoWriter, audio_until: float | None) -> Exception | None:
        """Finish ``writer``'s file, or keep as much of it as plays; None when something
        was kept (and counted as finished), else the error that lost it."""
        try:
            if not writer.frames:
                writer.discard()
                return OSError(errno.EIO, "no frame written")
            writer.close(audio_until)
        except Exception as error:  # finishing failed too (the disk is still full)
            logger.debug("finishing %s failed", writer.target, exc_info=True)
            if not writer.keep_what_plays():
                return error
        self._kept(writer)
        return None

    def _part_path(self) -> Path:
        """One file's name now: ``path`` itself, or after write errors ``NAME-2.mp4``, ...
        (a name taken by a file that is there is skipped: nothing is overwritten)."""
        while self._part > 1:
            target = self.path.with_name(f"{self.path.stem}-{self._part}{self.path.suffix}")
            if not target.exists():
                return target
            self._part += 1
        return self.path

    def stop(self) -> None:
        if not self.keep_going:
            self._close(audio_until=None)
            return
        if not self.segment_seconds:  # one file that survives errors: keep what plays
            writer, self._writer = self._writer, None
            failed = self._salvage(writer, None) if writer is not None else None
            if failed is not None and writer.frames:
                logger.warning(
                    "recording stopped: %s could not be finished (%s)",
                    writer.target,
                    _write_cause(failed),
                )
            return
        try:
            self._close(audio_until=None)
        except Exception as error:  # the last segment is lost, the others are in place
            logger.warning(
                "recording stopped: the last segment in %s could not be finished (%s)",
                self.path.parent,
                _write_cause(error),
            )
        # Ctrl+C or SIGTERM can land between a segment's hidden file being made and the
        # sink holding its writer (or letting go of it): whatever such a moment left is
        # finished if it plays, else removed, as a killed run's leftovers are at start.
        if self._next_number is not None:
            self._clean_leftovers(self.path.stem, self.path.suffix, "this run")

    def _open(self, width: int, height: int, timestamp: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        target = self._next_segment() if self.segment_seconds else self._part_path()
        # A file keeps its source's clock (and so its audio); a camera's starts at 0.
        start = timestamp if self._info.live or self.finished else 0.0
        self._writer = VideoWriter(target, width, height, self._info, start)

    def _close(self, audio_until: float | None) -> None:
        """Finish the file being written and move it into place (safe to call again)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close(audio_until)
        except BaseException:
            writer.discard()
            raise
        self._kept(writer)

    def _kept(self, writer: VideoWriter) -> None:
        """Count a file moved into place."""
        self.notes += writer.notes
        self.audio = self.audio or writer.has_audio
        if writer.frames:
            self.finished.append(writer.target)
            logger.info("recorded %d frames to %s", writer.frames, writer.target)

    def _next_segment(self) -> Path:
        """``NAME-0001.mp4`` on a first run; after a restart the number after the highest,
        leftover partial segments of a killed run counted too (and cleaned up first); never
        the name of a file that is there."""
        stem, suffix = self.path.stem, self.path.suffix
        if self._next_number is None:
            self._next_number = self._clean_leftovers(stem, suffix) + 1
        while True:
            number, self._next_number = self._next_number, self._next_number + 1
            self._last_number = number
            target = self.path.with_name(f"{stem}-{number:04d}{suffix}")
            if not target.exists():
                return target

    def _clean_leftovers(self, stem: str, suffix: str, who: str = "an earlier run") -> int:
        """Finish or remove the hidden partial segments a killed run (``who``) left;
        returns the highest segment number in use (0 for none)."""
        folder = self.path.parent
        finished = re.compile(rf"{re.escape(stem)}-(\d{{4,}}){re.escape(suffix)}")
        partial = re.compile(rf"\.{re.escape(stem)}-(\d{{4,}})\..*\.partial{re.escape(suffix)}")
        highest = 0
        for name in sorted(glob.glob(glob.escape(str(folder)) + "/*")):
            path = Path(name)
            if match := finished.fullmatch(path.name):
                highest = max(highest, int(match.group(1)))
        for name in sorted(glob.glob(glob.escape(str(folder)) + "/.*")):
            path = Path(name)
            if not (match := partial.fullmatch(path.name)):
                continue
            number = int(match.group(1))
            target = path.with_name(f"{stem}-{number:04d}{suffix}")
            try:
                if not target.exists() and playable(path, 1):
                    commit(path, target)  # a container readable as it is (.mkv): kept
                    logger.warning("kept %s, left unfinished by %s", target.name, who)
                    highest = max(highest, number)
                else:
                    path.unlink()
                    logger.warning("removed %s, left unplayable by %s", path.name, who)
            except OSError as error:
                highest = max(highest, number)  # still there: its number stays taken
                logger.warning("cannot clean up %s: %s", path, _write_cause(error))
        return highest


def _write_cause(error: BaseException) -> str:
    """Why a recording could not be written, for people: "disk full", "read-only", ..."""
    code = getattr(error, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if code == errno.EROFS:
        return "read-only"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
