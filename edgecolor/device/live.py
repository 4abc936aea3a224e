"""The live loop: a capture thread feeds frames, the main thread colorizes and shows them.

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
does not come back the run ends with :class:`SourceLost` and a clear message.

The colour (ab) is smoothed over time at the model's resolution so it does not flicker, and
the smoothing restarts at a scene cut (a large change of the small luminance image).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgecolor.device import pixels
from edgecolor.device.colorizer import Colorizer, PreparedImage
from edgecolor.device.sinks import FrameSink, StopRequested
from edgecolor.device.sources import Frame, FrameSource
from edgecolor.device.yuv import Yuv420Picture
from edgecolor.errors import EdgecolorError

logger = logging.getLogger(__name__)

STAGES = ("capture", "prepare", "invoke", "join", "encode")
# Mean |change| of the model-size L (L/50-1 scale) above which a frame starts a new scene:
# 0.15 is 7.5 L units on average over the whole picture, far above sensor noise and a
# slow pan, well below a cut between shots.
SCENE_CUT_THRESHOLD = 0.15
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
# How late (seconds) a paced file frame may be before the pace clock moves instead.
PACE_SLACK = 0.1
# Per-stage timings kept for medians and percentiles: bounded, so memory stays flat.
TIMING_WINDOW = 2000


class SourceLost(EdgecolorError):
    """A camera or stream stopped delivering frames and did not come back."""


class ColourSmoother:
    """Exponential smoothing of the model's ab over frames, restarted at scene cuts.

    Args:
        previous_weight: weight of the running colour (0 = no smoothing, 0.9 = very slow).
        cut_threshold: mean |change| of the model-size L that counts as a scene cut.
    """

    def __init__(self, previous_weight: float = 0.5, cut_threshold: float = SCENE_CUT_THRESHOLD):
        self.previous_weight = float(previous_weight)
        self.cut_threshold = cut_threshold
        self.cuts = 0
        self._L: np.ndarray | None = None
        self._ab: np.ndarray | None = None

    def update(self, L_scaled: np.ndarray, ab_scaled: np.ndarray) -> np.ndarray:
        """float32 (h, w) L/50-1 and (h, w, 2) ab/110 -> smoothed (h, w, 2) ab/110."""
        cut = self._L is None or float(np.mean(np.abs(L_scaled - self._L))) > self.cut_threshold
        if cut or self.previous_weight <= 0:
            self._ab = np.array(ab_scaled, dtype=np.float32)
            self.cuts += int(self._L is not None and cut)
        else:
            self._ab *= self.previous_weight
            self._ab += (1.0 - self.previous_weight) * ab_scaled
        self._L = np.array(L_scaled, dtype=np.float32)
        return self._ab


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
    scene_cuts: int = 0
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
    """Colorize a stream of frames and hand them to sinks and the web preview.

    Args:
        colorizer: the model.
        source: a :class:`FrameSource` (opened by :meth:`run`).
        sinks: where composed pictures go (record, window).
        preview: the web preview (``PreviewServer``) or None; it always gets gray | colour.
        side_by_side: sinks get gray | colour instead of colour alone.
        frames: stop after this many colorized frames (None: until the end / interrupted).
        loop: restart a file at its end.
        pace: play a file at its own frame rate (the command does when somebody watches:
            ``--display`` or ``--serve``); False: as fast as possible. Cameras set their own pace.
        smoothing: :class:`ColourSmoother` weight of the running colour (0 = off).
        overlay: draw the frame rate into the picture.
        retry_delays: pauses between reconnection attempts for a lost camera.
    """

    def __init__(
        self,
        colorizer: Colorizer,
        source: FrameSource,
        sinks: Sequence[FrameSink] = (),
        preview=None,
        side_by_side: bool = False,
        frames: int | None = None,
        loop: bool = False,
        pace: bool = False,
        smoothing: float = 0.5,
        overlay: bool = True,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        source_is_open: bool = False,
    ):
        self.colorizer = colorizer
        self.source = source
        self.sinks = list(sinks)
        self.preview = preview
        self.side_by_side = side_by_side
        self.frame_limit = frames
        self.loop = loop
        self.pace = pace
        self.smoother = ColourSmoother(smoothing)
        self.overlay = overlay
        self.retry_delays = retry_delays
        self.frame_rate = FrameRate()
        self._source_is_open = source_is_open
        self._pace_origin: float | None = None

    def run(self) -> LiveResult:
        """Run until the file ends, ``frames`` are done, a sink stops it or Ctrl+C.

        Raises:
            SourceLost: the camera went away for good (after the retries).
            OSError: the source cannot be opened at all.
        """
        result = LiveResult()
        started = time.perf_counter()
        if not self._source_is_open:
            self.source.open()
        capture = _Capture(self.source, self.loop, self.retry_delays)
        self._pace_origin = None
        capture.start()
        try:
            while self.frame_limit is None or result.frames < self.frame_limit:
                item = capture.take(timeout=0.5)
                if item is None:
                    if not capture.is_alive():
                        break
                    continue
                frame, capture_seconds = item
                if frame is _END:
                    break
                if isinstance(frame, SourceLost):
                    raise frame
                self._process(frame, capture_seconds, result)
                if result.first_frame_seconds is None:
                    result.first_frame_seconds = time.perf_counter() - started
                    logger.info("first colorized frame after %.2f s", result.first_frame_seconds)
                    if not self.colorizer.wait_for_table and not pixels.join_tables_ready():
                        # Only now: building them earlier would compete with the first frame.
                        pixels.prebuild_join_tables()
        except StopRequested as reason:
            logger.info("stopped: %s", reason)
        finally:
            capture.stop.set()
            capture.join(timeout=5.0)
            self.source.close()
            result.dropped = capture.dropped
            result.reconnects = capture.reconnects
            result.scene_cuts = self.smoother.cuts
            result.seconds = time.perf_counter() - started
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception:  # closing one sink must not lose another's file
                    logger.exception("closing %s failed", type(sink).__name__)
        return result

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
        clock = time.perf_counter
        start = clock()
        if frame.model_gray is not None:  # picamera2: the lores stream feeds the model
            small = self.colorizer.prepare(frame.model_gray)
            prepared = PreparedImage(frame.gray, small.L_scaled, small.model_gray)
        else:
            prepared = self.colorizer.prepare(frame.gray)
        after_prepare = clock()
        ab = self.colorizer.predict_ab(prepared.L_scaled)
        after_invoke = clock()
        ab = self.smoother.update(prepared.L_scaled, ab)
        # Y'CbCr 4:2:0 planes, as the camera and JPEG hold pictures: the preview is
        # composed and encoded in them; RGB is made once, for sinks only.
        colour = self.colorizer.join_yuv420(prepared, ab)
        after_join = clock()
        if self.pace and not self.source.live:
            self._wait_until_due(frame.timestamp)
            after_join = clock()  # the wait is not part of any stage
        fps = self.frame_rate.tick(after_join)
        label = f"{fps:4.1f} fps" if fps else "-- fps"
        watched = self.preview is not None and self.preview.clients
        gray = Yuv420Picture.from_gray(frame.gray) if self.side_by_side or watched else None
        # composed before any label is drawn: labelling colour alone changes its planes
        web_picture = Yuv420Picture.side_by_side(gray, colour) if watched else None
        if self.sinks:
            picture = Yuv420Picture.side_by_side(gray, colour) if self.side_by_side else colour
            if self.overlay:
                picture.draw_label(label)
            rgb = picture.to_rgb()
            for sink in self.sinks:
                sink.write(rgb, frame.timestamp)
        if web_picture is not None:
            if self.overlay:
                web_picture.draw_label(label)
            self.preview.publish(web_picture, fps)
        elif self.preview is not None:
            self.preview.fps = fps
        end = clock()
        timings["prepare"].append(after_prepare - start)
        timings["invoke"].append(after_invoke - after_prepare)
        timings["join"].append(after_join - after_invoke)
        timings["encode"].append(end - after_join)
        result.frames += 1
