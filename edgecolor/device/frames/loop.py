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

A camera that stops delivering is reopened with growing pauses (``retry_delays``); when it
does not come back the run ends with :class:`SourceLost` and a clear message. A camera that
is missing or busy at the start is waited for (:func:`wait_for_source`): the service keeps
its page up and says why there is no picture.

The colour is smoothed over time by the frame colorizer (its ``smoothing``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgecolor.device.frames.frame import CameraUnavailable, Frame, FrameSource
from edgecolor.device.frames.frame_colorizer import FRAME_STAGES, FrameColorizer
from edgecolor.device.frames.sinks import FramePictures, Sink, StopRequested, StreamInfo
from edgecolor.errors import EdgecolorError, UsageError, one_line

logger = logging.getLogger(__name__)

# capture (the source's read), the frame colorizer's own stages, and encode (the sinks)
STAGES = ("capture", *FRAME_STAGES, "encode")
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
# Pauses between tries to open a camera missing or busy at the start; the last repeats for
# ever. In the process, because Bookworm's systemd (252) restarts a unit at a fixed pace.
OPEN_RETRY_DELAYS = (2.0, 5.0, 10.0, 30.0, 60.0)
# How late (seconds) a paced file frame may be before the pace clock moves instead.
PACE_SLACK = 0.1
# Per-stage timings kept for medians and percentiles: bounded, so memory stays flat.
TIMING_WINDOW = 2000


class SourceLost(EdgecolorError):
    """A camera or stream stopped delivering frames and did not come back."""


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


class _Latest:
    """A one-frame slot: ``put`` replaces what the consumer has not taken (counted as dropped)."""

    def __init__(self):
        self._condition = threading.Condition()
        self._item = None
        self.dropped = 0

    def put(self, item) -> None:
        with self._condition:
            if self._item is not None and isinstance(self._item[0], Frame):
                self.dropped += 1
            self._item = item
            self._condition.notify()

    def get(self, timeout: float):
        with self._condition:
            if self._item is None:
                self._condition.wait(timeout)
            item, self._item = self._item, None
            return item


_END = object()


class _Capture(threading.Thread):
    """Reads the source; hands (frame, capture seconds) over; signals the end or a lost source."""

    def __init__(self, source: FrameSource, loop: bool, retry_delays: Sequence[float]):
        super().__init__(name="edgecolor-capture", daemon=True)
        self.source = source
        self.loop = loop
        self.retry_delays = tuple(retry_delays)
        self.stop = threading.Event()
        self.handoff = _Latest() if source.live else queue.Queue(maxsize=4)
        self.reconnects = 0

    def _deliver(self, item) -> None:
        if isinstance(self.handoff, _Latest):
            self.handoff.put(item)
            return
        while not self.stop.is_set():  # a full queue: wait for the consumer, but not forever
            try:
                self.handoff.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def take(self, timeout: float):
        if isinstance(self.handoff, _Latest):
            return self.handoff.get(timeout)
        try:
            return self.handoff.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def dropped(self) -> int:
        return self.handoff.dropped if isinstance(self.handoff, _Latest) else 0

    def run(self) -> None:
        try:
            self._run()
        except EdgecolorError as error:  # e.g. a file's corrupt data: reported as it is
            self._deliver((error, 0.0))
        except Exception as error:  # anything unexpected ends the run with a message
            logger.debug("capture failed", exc_info=True)
            self._deliver((SourceLost(f"{self.source.name}: {error}"), 0.0))

    def _run(self) -> None:
        time_offset = 0.0  # file time of the earlier passes (--loop): timestamps keep growing
        last_timestamp = 0.0
        while not self.stop.is_set():
            started = time.perf_counter()
            frame = self.source.read()
            capture_seconds = time.perf_counter() - started
            if frame is None:
                if not self.source.live:
                    if not self.loop:
                        self._deliver((_END, 0.0))
                        return
                    time_offset = last_timestamp + 1.0 / (self.source.fps or 25.0)
                    self.source.close()
                    self.source.open()
                    continue
                if not self._reconnect():
                    return
                continue
            if not self.source.live:
                frame.timestamp += time_offset
                last_timestamp = frame.timestamp
            self._deliver((frame, capture_seconds))

    def _reconnect(self) -> bool:
        """Reopen a lost camera with growing pauses; False (after signalling) when it stays gone."""
        waited = 0.0
        for attempt, delay in enumerate(self.retry_delays, start=1):
            logger.warning(
                "%s stopped delivering frames; reconnecting in %.1f s (attempt %d of %d)",
                self.source.name,
                delay,
                attempt,
                len(self.retry_delays),
            )
            if self.stop.wait(delay):
                return False
            waited += delay
            try:
                self.source.close()
                self.source.open()
            except Exception as error:  # still gone
                logger.debug("reopen failed: %s", error)
                continue
            self.reconnects += 1
            logger.info("%s is back", self.source.name)
            return True
        self._deliver(
            (
                SourceLost(
                    f"{self.source.name} stopped delivering frames and did not come back "
                    f"after {len(self.retry_delays)} reconnection attempts over {waited:.0f} s"
                ),
                0.0,
            )
        )
        return False


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
        retry_delays: pauses between reconnection attempts for a lost camera.
        wait_for_source: a camera (or stream) missing or busy at the start is waited for
            (:func:`wait_for_source`), each sink with a ``show_problem`` method told why
            there is no picture (the web preview: "camera not found, retrying in 10 s");
            False: it ends the run at once with :class:`SourceUnavailable`. Files never wait.
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
        self.wait_for_source = wait_for_source
        self.frame_rate = FrameRate()
        self._pace_origin: float | None = None

    def run(self) -> LiveResult:
        """Run until the file ends, ``frames`` are done, a sink stops it or Ctrl+C.

        The loop alone opens and closes the source; every sink is started (with the
        source's :class:`StreamInfo`) before the first frame and stopped at the end,
        however the run ends.

        Raises:
            SourceLost: the camera went away for good (after the retries).
            SourceUnavailable: the source cannot be opened at all.
            EdgecolorError: the source's own error (a file's corrupt data, UnreadableFile).
        """
        result = LiveResult()
        started = time.perf_counter()
        capture = None
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
            capture = _Capture(self.source, self.loop, self.retry_delays)
            self._pace_origin = None
            capture.start()
            while self.frame_limit is None or result.frames < self.frame_limit:
                item = capture.take(timeout=0.5)
                if item is None:
                    if not capture.is_alive():
                        break
                    continue
                frame, capture_seconds = item
                if frame is _END:
                    break
                if isinstance(frame, Exception):
                    raise frame
                self._process(frame, capture_seconds, result)
                if result.first_frame_seconds is None:
                    result.first_frame_seconds = time.perf_counter() - started
                    logger.info("first colorized frame after %.2f s", result.first_frame_seconds)
        except StopRequested as reason:
            logger.info("stopped: %s", reason)
        finally:
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
            show = getattr(sink, "show_problem", None)
            if show is not None:
                show(problem)

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
