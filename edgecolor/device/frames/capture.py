"""The live loop's capture thread: reads the source, hands frames over, reconnects a lost camera.

What the thread hands over depends on the source: a camera or stream (``source.live``) gets
a one-frame slot that always holds the newest frame (a frame the model had no time for is
dropped and counted, never queued); a file gets a short queue, every frame in order.

A camera (or stream) that stops delivering mid-run is reopened after growing pauses, by
one of two policies that the command chooses (:class:`Capture`'s ``retry_delays`` and
``reconnect_forever``):

* at a terminal (and for anything but ``live --serve``): the pauses of
  :data:`DEFAULT_RETRY_DELAYS`, five tries over 15.5 s, then the run ends with
  :class:`SourceLost` and one line (exit 1): somebody is there to see it;
* the appliance (``live --serve``, a service that runs for months unattended):
  :data:`APPLIANCE_RETRY_DELAYS`, 1 s doubling to 60 s and then every 60 s for as long as
  it takes; :attr:`Capture.problem` says "camera lost, retrying in 60 s" meanwhile (the
  loop shows it on the web page) and the picture resumes by itself when the camera is back.

A file never reconnects: its end ends the run (or restarts it, with ``loop``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence

from edgecolor.device.frames.frame import Frame, FrameSource
from edgecolor.errors import EdgecolorError, one_line

logger = logging.getLogger("edgecolor.device.frames.loop")  # one logger for the live loop

# The pauses (seconds) before each try to reopen a camera lost mid-run, at a terminal;
# after the last the run ends with SourceLost.
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
# The appliance's pauses: the last one repeats for ever (``reconnect_forever``).
APPLIANCE_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
# A camera gone for good is still logged now and then, not at every try: every this many.
FOREVER_LOG_EVERY = 10


class SourceLost(EdgecolorError):
    """A camera or stream stopped delivering frames and did not come back."""


class LatestFrame:
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


# Handed over (in place of a frame) when a file ends ...
END = object()
# ... and when :attr:`Capture.problem` changed, so that the loop tells the page at once.
PROBLEM_CHANGED = object()


class Capture(threading.Thread):
    """Reads the source; hands (frame, capture seconds) over; signals the end or a lost source.

    Args:
        source: opened already.
        loop: restart a file at its end.
        retry_delays: pauses before each try to reopen a lost camera.
        reconnect_forever: after the last pause, keep trying at that pause (the appliance)
            instead of handing over :class:`SourceLost`.

    Attributes:
        problem: while a lost camera is being reconnected, what the page says ("camera
            lost, retrying in 4 s"); None while frames flow. Set by this thread, read by
            the loop's (one reference assignment: no lock needed).
        reconnects: how often a lost camera came back.
    """

    def __init__(
        self,
        source: FrameSource,
        loop: bool,
        retry_delays: Sequence[float],
        reconnect_forever: bool = False,
    ):
        super().__init__(name="edgecolor-capture", daemon=True)
        self.source = source
        self.loop = loop
        self.retry_delays = tuple(retry_delays)
        self.reconnect_forever = reconnect_forever
        self.stop = threading.Event()
        self.handoff = LatestFrame() if source.live else queue.Queue(maxsize=4)
        self.reconnects = 0
        self.problem: str | None = None

    def _deliver(self, item) -> None:
        if isinstance(self.handoff, LatestFrame):
            self.handoff.put(item)
            return
        while not self.stop.is_set():  # a full queue: wait for the consumer, but not forever
            try:
                self.handoff.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def take(self, timeout: float):
        if isinstance(self.handoff, LatestFrame):
            return self.handoff.get(timeout)
        try:
            return self.handoff.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def dropped(self) -> int:
        return self.handoff.dropped if isinstance(self.handoff, LatestFrame) else 0

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
                        self._deliver((END, 0.0))
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

    def _set_problem(self, problem: str | None) -> None:
        self.problem = problem
        self._deliver((PROBLEM_CHANGED, 0.0))  # wakes the loop (replaces no frame: none come)

    def _pause(self, attempt: int) -> float | None:
        """Seconds before try ``attempt`` (from 1) to reopen the camera; None: give up."""
        if attempt <= len(self.retry_delays):
            return self.retry_delays[attempt - 1]
        return self.retry_delays[-1] if self.reconnect_forever else None

    def _reconnect(self) -> bool:
        """Reopen a lost camera with growing pauses; False (after signalling SourceLost, or
        when stopped) when it stays gone."""
        lost = "stream lost" if "://" in self.source.name else "camera lost"
        started = time.monotonic()
        attempt = 0
        while (delay := self._pause(attempt + 1)) is not None:
            attempt += 1
            if self.reconnect_forever:
                if attempt <= len(self.retry_delays) or attempt % FOREVER_LOG_EVERY == 0:
                    logger.warning(
                        "%s stopped delivering frames %.0f s ago; reconnecting in %g s "
                        "(attempt %d; the pause grows to %g s, tried for as long as it takes)",
                        self.source.name,
                        time.monotonic() - started,
                        delay,
                        attempt,
                        self.retry_delays[-1],
                    )
            else:
                logger.warning(
                    "%s stopped delivering frames; reconnecting in %.1f s (attempt %d of %d)",
                    self.source.name,
                    delay,
                    attempt,
                    len(self.retry_delays),
                )
            self._set_problem(f"{lost}, retrying in {delay:g} s")
            if self.stop.wait(delay):
                return False
            try:
                self.source.close()
                self.source.open()
            except Exception as error:  # still gone
                logger.debug("reopen failed: %s", one_line(error))
                continue
            self.reconnects += 1
            self._set_problem(None)
            logger.info(
                "%s is back after %.0f s (%d tries)",
                self.source.name,
                time.monotonic() - started,
                attempt,
            )
            return True
        self._deliver(
            (
                SourceLost(
                    f"{self.source.name} stopped delivering frames and did not come back "
                    f"after {len(self.retry_delays)} reconnection attempts over "
                    f"{sum(self.retry_delays):.0f} s"
                ),
                0.0,
            )
        )
        return False
