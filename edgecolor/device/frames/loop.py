"""The live loop: source -> frame colorizer -> sinks.

A capture thread feeds frames; the main thread colorizes each one with a
:class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer` and hands the result to every sink
(:class:`~edgecolor.device.frames.sinks.Sink`: a recording, a window, the web preview, ...).

Capture and inference run in separate threads, so reading the camera or decoding the file
overlaps the model. What the capture thread hands over depends on the source:

* a camera or stream (``source.live``): a one-frame slot that always holds the newest
  frame; a frame the model had no time for is dropped (and counted), never queued, so the
  picture never lags behind reality;
* a file: a short queue, every frame in order. Paced at the file's own frame rate when
  somebody watches (``--display``/``--serve``), as fast as possible otherwise (recording a
  file with ``--record`` alone needs no waiting: the recording gets the file's frame rate).
  ``--loop`` restarts the file at its end; without it the end of the file ends the run.

The capture thread is :class:`~edgecolor.device.frames.capture.Capture`. A camera that
stops delivering is reopened with growing pauses (``retry_delays``); when it does not come
back the run ends with :class:`SourceLost` and a clear message, unless
``reconnect_forever`` (the appliance, ``live --serve``: it keeps trying, its page saying
"camera lost, retrying in 60 s", and the picture resumes by itself). A camera that is
missing or busy at the start is waited for (:func:`wait_for_source`): the service keeps its
page up and says why there is no picture.

The colour is smoothed over time by the frame colorizer (its ``smoothing``). A frame
colorizer around a :class:`~edgecolor.device.runtime.lazy_colorizer.LazyColorizer` survives
an Edge TPU that fails mid-run (rebuilt, then left for the CPU); the sinks are told
(``show_colorizer_problem``: the web page says so) while the CPU stands in.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgecolor.device.frames.capture import (  # noqa: F401 (SourceLost: part of this API)
    DEFAULT_RETRY_DELAYS,
    END,
    PROBLEM_CHANGED,
    Capture,
    SourceLost,
)
from edgecolor.device.frames.frame import CameraUnavailable, Frame, FrameSource
from edgecolor.device.frames.frame_colorizer import FRAME_STAGES, FrameColorizer
from edgecolor.device.frames.sinks import FramePictures, Sink, StopRequested, StreamInfo
from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
from edgecolor.errors import UsageError, one_line

logger = logging.getLogger(__name__)

# capture (the source's read), the frame colorizer's own stages, and encode (the sinks)
STAGES = ("capture", *FRAME_STAGES, "encode")
# Pauses between tries to open a camera missing or busy at the start; the last repeats for
# ever. In the process, because Bookworm's systemd (252) restarts a unit at a fixed pace.
OPEN_RETRY_DELAYS = (2.0, 5.0, 10.0, 30.0, 60.0)
# How late (seconds) a paced file frame may be before the pace clock moves instead.
PACE_SLACK = 0.1
# Per-stage timings kept for medians and percentiles: bounded, so memory stays flat.
TIMING_WINDOW = 2000


class SourceUnavailable(UsageError):
    """The source cannot be opened at all (no such camera, a device that is not one)."""


def wait_for_source(
    source: FrameSource,
    on_problem: Callable[[str | None], None],
    delays: Sequence[float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Open a live ``source``, trying again with growing pauses while it cannot be opened
    (what :class:`LiveLoop` does with ``wait_for_source``).

    Each failure is logged (one warning line with the source's own reason) and passed to
    ``on_problem`` as a short status, e.g. "camera not found, retrying in 10 s" or "camera
    busy, retrying in 10 s" (:class:`~edgecolor.device.frames.frame.CameraUnavailable`'s reason);
    ``on_problem(None)`` once it is open. Runs until it opens or ``sleep`` is interrupted
    (KeyboardInterrupt: Ctrl+C, or SIGTERM under ``stop_on_sigterm``). ``delays``: the
    pauses, the last repeated (None: :data:`OPEN_RETRY_DELAYS`).

    Returns:
        How many tries failed before it opened.
    """
    delays = tuple(delays or OPEN_RETRY_DELAYS)
    failures = 0
    told: str | None = None
    while True:
        try:
            source.open()
        except OSError as error:
            delay = delays[min(failures, len(delays) - 1)]
            failures += 1
            if isinstance(error, CameraUnavailable):
                reason = error.reason  # "camera not found" / "camera busy"
            else:  # a USB webcam or a stream: its own words go to the log
                reason = f"{source.name} not available"
            problem = f"{reason}, retrying in {delay:g} s"
            logger.warning("%s: %s; retrying in %g s", source.name, one_line(error), delay)
            if problem != told:
                on_problem(problem)
                told = problem
            sleep(delay)
            continue
        if failures:
            logger.info("%s is there now (after %d failed tries)", source.name, failures)
        if told is not None:
            on_problem(None)
        return failures


class FrameRate:
    """Frames per second from the intervals between frames (exponentially averaged)."""

    def __init__(self, smoothing: float = 0.1):
        self.smoothing = smoothing
        self.value = 0.0
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self, now: float) -> float:
        if self._last is not None:
            interval = max(now - self._last, 1e-6)
            if self._interval is None:
                self._interval = interval
            else:
                self._interval += self.smoothing * (interval - self._interval)
            self.value = 1.0 / self._interval
        self._last = now
        return self.value


@dataclass
class LiveResult:
    """What a run did. ``stage_seconds`` keeps the last timings of each stage."""

    frames: int = 0
    dropped: int = 0
    seconds: float = 0.0
    first_frame_seconds: float | None = None
    reconnects: int = 0
    stage_seconds: dict[str, deque] = field(
        default_factory=lambda: {stage: deque(maxlen=TIMING_WINDOW) for stage in STAGES}
    )

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def median_ms(self, stage: str) -> float:
        values = self.stage_seconds[stage]
        return float(np.median(values)) * 1000.0 if values else 0.0


class LiveLoop:
    """Colorize a stream of frames and hand each to every sink.

    Args:
        source: a :class:`FrameSource`, closed; :meth:`run` opens and closes it.
        frame_colorizer: colorizes each frame (and smooths the colour over frames); warmed
            up by :meth:`run` before the first frame.
        sinks: where the pictures go (record, window, web preview; none: nowhere).
        frames: stop after this many colorized frames (None: until the end / interrupted).
        loop: restart a file at its end.
        pace: play a file at its own frame rate (the command does when somebody watches:
            ``--display`` or ``--serve``); False: as fast as possible. Cameras set their own pace.
        overlay: give the pictures a frame-rate label (the window and the web preview
            draw it; a recording only when asked: ``VideoFileSink(label=True)``).
        retry_delays: pauses between reconnection attempts for a lost camera
            (:data:`~edgecolor.device.frames.capture.DEFAULT_RETRY_DELAYS`: five tries).
        reconnect_forever: a lost camera is never given up: after the last pause it is
            tried again at that pause for as long as it takes (the appliance, with
            :data:`~edgecolor.device.frames.capture.APPLIANCE_RETRY_DELAYS`), the sinks
            told meanwhile (``show_problem``: "camera lost, retrying in 60 s").
            False: after the last pause the run ends with :class:`SourceLost`.
        wait_for_source: a camera (or stream) missing or busy at the start is waited for
            (:func:`wait_for_source`), the sinks told (``show_problem``) why there is no
            picture (the web preview: "camera not found, retrying in 10 s"); False: it
            ends the run at once with :class:`SourceUnavailable`. Files never wait.
    """

    def __init__(
        self,
        source: FrameSource,
        frame_colorizer: FrameColorizer,
        sinks: Sequence[Sink] = (),
        *,
        frames: int | None = None,
        loop: bool = False,
        pace: bool = False,
        overlay: bool = True,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        reconnect_forever: bool = False,
        wait_for_source: bool = False,
    ):
        self.source = source
        self.frame_colorizer = frame_colorizer
        self.sinks = list(sinks)
        self.frame_limit = frames
        self.loop = loop
        self.pace = pace
        self.overlay = overlay
        self.retry_delays = retry_delays
        self.reconnect_forever = reconnect_forever
        self.wait_for_source = wait_for_source
        self.frame_rate = FrameRate()
        self._pace_origin: float | None = None

    def run(self) -> LiveResult:
        """Run until the file ends, ``frames`` are done, a sink stops it or Ctrl+C.

        The loop alone opens and closes the source; every sink is started (with the
        source's :class:`StreamInfo`) before the first frame and stopped at the end,
        however the run ends.

        Raises:
            SourceLost: the camera went away for good (after the retries; never with
                ``reconnect_forever``).
            SourceUnavailable: the source cannot be opened at all.
            EdgecolorError: the source's own error (a file's corrupt data, UnreadableFile).
        """
        result = LiveResult()
        started = time.perf_counter()
        capture = None
        colorizer = self.frame_colorizer.colorizer
        if isinstance(colorizer, LazyColorizer):  # an Edge TPU that fails mid-run: say so
            colorizer.on_problem = self._show_colorizer_problem
        try:
            warm_up = self.frame_colorizer.warm_up()
            if warm_up:
                logger.info("lookup tables and model ready in %.2f s", warm_up)
            self._open_source()
            info = StreamInfo(
                self.source.fps,
                getattr(self.source, "size", None),
                self.source.live,
                getattr(self.source, "audio", None),
                getattr(self.source, "time_base", None),
            )
            for sink in self.sinks:
                sink.start(info)
            capture = Capture(self.source, self.loop, self.retry_delays, self.reconnect_forever)
            self._pace_origin = None
            shown = None  # the capture problem the sinks were told ("camera lost, ...")
            capture.start()
            while self.frame_limit is None or result.frames < self.frame_limit:
                item = capture.take(timeout=0.5)
                if capture.problem is not shown:  # rare: the camera was lost or is back
                    shown = capture.problem
                    self._show_problem(shown)
                if item is None:
                    if not capture.is_alive():
                        break
                    continue
                frame, capture_seconds = item
                if frame is END:
                    break
                if frame is PROBLEM_CHANGED:  # shown above
                    continue
                if isinstance(frame, Exception):
                    raise frame
                self._process(frame, capture_seconds, result)
                if result.first_frame_seconds is None:
                    result.first_frame_seconds = time.perf_counter() - started
                    logger.info("first colorized frame after %.2f s", result.first_frame_seconds)
        except StopRequested as reason:
            logger.info("stopped: %s", reason)
        finally:
            if isinstance(colorizer, LazyColorizer):
                colorizer.on_problem = None
            if capture is not None:
                capture.stop.set()
                capture.join(timeout=5.0)
                result.dropped = capture.dropped
                result.reconnects = capture.reconnects
            self.source.close()
            result.seconds = time.perf_counter() - started
            for sink in self.sinks:
                try:
                    sink.stop()
                except Exception:  # stopping one sink must not lose another's file
                    logger.exception("stopping %s failed", type(sink).__name__)
        return result

    def _open_source(self) -> None:
        """Open the source: a live one waited for when ``wait_for_source`` (interrupted by
        Ctrl+C or SIGTERM under ``stop_on_sigterm``: KeyboardInterrupt)."""
        if self.source.live and self.wait_for_source:
            wait_for_source(self.source, self._show_problem)
            return
        try:
            self.source.open()
        except OSError as error:
            raise SourceUnavailable(str(error)) from None

    def _show_problem(self, problem: str | None) -> None:
        for sink in self.sinks:
            sink.show_problem(problem)

    def _show_colorizer_problem(self, problem: str | None) -> None:
        """The Edge TPU was left for the CPU (``problem``) or is used again (None)."""
        for sink in self.sinks:
            sink.show_colorizer_problem(problem)

    def _wait_until_due(self, timestamp: float) -> None:
        """Present file frames at the file's pace, like a video player.

        The clock starts at the first frame; when a frame is late (the machine stalled) the
        clock moves, so the frames after it keep their spacing instead of bursting out.
        """
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = now - timestamp
        delay = self._pace_origin + timestamp - now
        if delay < -PACE_SLACK:
            self._pace_origin -= delay
        elif delay > 0:
            time.sleep(delay)

    def _process(self, frame: Frame, capture_seconds: float, result: LiveResult) -> None:
        timings = result.stage_seconds
        timings["capture"].append(capture_seconds)
        # picamera2's lores stream, when there is one, feeds the model
        colour = self.frame_colorizer.process(frame.gray, frame.model_gray)
        for stage, seconds in self.frame_colorizer.stage_seconds.items():
            timings[stage].append(seconds)
        if self.pace and not self.source.live:
            self._wait_until_due(frame.timestamp)  # the wait is not part of any stage
        clock = time.perf_counter
        start = clock()
        fps = self.frame_rate.tick(start)
        label = None
        if self.overlay:
            label = f"{fps:4.1f} fps" if fps else "-- fps"
        pictures = FramePictures(frame.gray, colour, frame.timestamp, fps, label)
        for sink in self.sinks:
            sink.output(pictures)
        timings["encode"].append(clock() - start)
        result.frames += 1
