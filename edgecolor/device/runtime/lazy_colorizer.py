"""The colorizer a batch, the scan watcher and the live loop use: built on first use, and a
failing Edge TPU contained (rebuilt, then left for the CPU and tried again later) so that it
does not fail every file, or every frame, after it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgecolor.device.backoff import Backoff
from edgecolor.device.runtime import edgetpu
from edgecolor.device.runtime.options import RuntimeOptions
from edgecolor.errors import EdgecolorError, one_line

logger = logging.getLogger(__name__)

# An Edge TPU whose model calls fail this many times in a row is left for the CPU ...
EDGETPU_FAILURES_BEFORE_CPU = 3
# ... and tried again after this many seconds, doubling each time it fails again up to the
# longest pause (an accelerator plugged back in is used again without a restart).
EDGETPU_RETRY_SECONDS = 60.0
EDGETPU_RETRY_MAX_SECONDS = 3600.0


class LazyColorizer:
    """Build the Colorizer on first use, so a re-run with nothing to do loads no model; keep
    a failing Edge TPU from failing every file after it.

    Calling it returns an object with the Colorizer's interface (``colorize``,
    ``predict_ab``, ``model_path``, ``backend_name``, ...), so a
    :class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer` can wrap it too (the
    live loop, videos). When a model call on the Edge TPU raises (LiteRT's ``RuntimeError``
    from ``invoke``: a USB Accelerator pulled out, reset or locked up) the interpreter is
    rebuilt (the TPU probed again in a child process, with its time limit) and the image
    or frame tried again; after :data:`EDGETPU_FAILURES_BEFORE_CPU` failures in a row the
    CPU takes over, with a warning in the log and :attr:`problem` set (the scan page and
    the live page show it; ``on_problem`` is told at once), and the TPU is tried again
    after :data:`EDGETPU_RETRY_SECONDS`, doubling up to :data:`EDGETPU_RETRY_MAX_SECONDS` while it
    keeps failing. A rebuilt colorizer keeps the join tables already made. A CPU run
    (``device="cpu"``) is passed through as it is.

    Args:
        options: the command's :class:`~edgecolor.device.runtime.options.RuntimeOptions`.
        clock: monotonic seconds (tests pass a fake).

    Attributes:
        problem: why the TPU is not used although it was asked for; None: all well.
        on_problem: called with :attr:`problem` whenever it changes (None: nobody), on the
            thread that colorizes; it must return at once.
    """

    def __init__(
        self,
        options: RuntimeOptions,
        clock: Callable[[], float] | None = None,
    ):
        self._options = options
        self._colorizer = None
        self._clock = clock or time.monotonic
        self._failures = 0  # TPU failures in a row
        # the pause before the next TPU try, once on the CPU
        self._retry = Backoff(EDGETPU_RETRY_SECONDS, EDGETPU_RETRY_MAX_SECONDS)
        self._retry_at: float | None = None  # when to try the TPU again (on the CPU now)
        # Why the TPU is not used although it was asked for, for the page; None: all well.
        self.problem: str | None = None
        self.on_problem: Callable[[str | None], None] | None = None

    def __call__(self):
        if self._colorizer is None:
            self._colorizer = self._build(self._options)
        return self

    # ------------------------------------------------------------------ the Colorizer's face

    def __getattr__(self, name: str) -> Any:
        # model_path, backend_name, input_size, ...: the current colorizer's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self()._colorizer, name)

    def colorize(self, image: Any) -> np.ndarray:
        """``Colorizer.colorize``, with a failing Edge TPU rebuilt or replaced by the CPU
        (see the class)."""
        return self._with_fallback("colorize", image)

    def predict_ab(self, L_scaled: np.ndarray) -> np.ndarray:
        """``Colorizer.predict_ab`` (float32 (h, w) L/50-1 -> float32 (h, w, 2) ab/110: the
        frame path's model call), with a failing Edge TPU rebuilt or replaced by the CPU."""
        return self._with_fallback("predict_ab", L_scaled)

    def _with_fallback(self, method: str, argument: Any) -> Any:
        """Call the current colorizer's ``method``; an Edge TPU's RuntimeError is contained.

        The normal path (every video frame goes through here) is one attribute check and
        the call itself: no lock, nothing allocated.
        """
        if self._colorizer is None:
            self()
        if self._retry_at is not None:
            self._maybe_back_to_the_tpu()
        while True:
            colorizer = self._colorizer
            try:
                result = getattr(colorizer, method)(argument)
            except RuntimeError as error:
                if colorizer.device != "edgetpu":
                    raise  # the CPU's own failure: this file fails, as before
                self._edgetpu_failed(error)
                continue
            if colorizer.device == "edgetpu":
                self._failures = 0
                self._retry.reset()
            return result

    # ------------------------------------------------------------------ failures

    def _build(self, options: RuntimeOptions):
        from edgecolor.device.runtime.colorizer import Colorizer

        colorizer = Colorizer.from_options(options)
        logger.debug("model %s on %s", colorizer.model_path, colorizer.backend_name)
        return colorizer

    def _edgetpu_failed(self, error: RuntimeError) -> None:
        self._failures += 1
        reason = one_line(error)
        if self._failures >= EDGETPU_FAILURES_BEFORE_CPU:
            self._use_the_cpu(f"it failed {self._failures} times in a row ({reason})")
            return
        logger.warning(
            "the Edge TPU failed (%s); building its interpreter again (failure %d of %d "
            "before the CPU takes over)",
            reason,
            self._failures,
            EDGETPU_FAILURES_BEFORE_CPU,
        )
        edgetpu.forget_edgetpu_probes()  # probe in a child: it may hang now
        try:
            rebuilt = self._build(self._options)
        except EdgecolorError as rebuild_error:  # --device edgetpu and the TPU is gone
            self._use_the_cpu(one_line(rebuild_error))
            return
        self._replace(rebuilt)
        if rebuilt.device != "edgetpu":  # auto found no working TPU: it is on the CPU now
            self._use_the_cpu(f"it failed ({reason}) and does not answer")

    def _use_the_cpu(self, why: str) -> None:
        if self._colorizer is None or self._colorizer.device == "edgetpu":
            self._replace(self._build(dataclasses.replace(self._options, device="cpu")))
        self._failures = 0
        pause = self._retry.pause()
        self._retry_at = self._clock() + pause
        self._set_problem(
            f"Edge TPU not used: {why}; colorizing on the CPU, trying the TPU again in {pause:g} s"
        )
        logger.warning("%s", self.problem)

    def _replace(self, colorizer) -> None:
        """Use ``colorizer`` from now on, with the join tables the old one made (they depend
        on no model: a rebuild mid-video must not stall a frame building them again)."""
        if self._colorizer is not None:
            colorizer.join_tables = self._colorizer.join_tables
        self._colorizer = colorizer

    def _set_problem(self, problem: str | None) -> None:
        self.problem = problem
        if self.on_problem is not None:
            try:
                self.on_problem(problem)
            except Exception:  # a failing listener never stops the colorizing
                logger.exception("the colorizer problem listener failed")

    def _maybe_back_to_the_tpu(self) -> None:
        if self._retry_at is None or self._clock() < self._retry_at:
            return
        logger.info("trying the Edge TPU again")
        edgetpu.forget_edgetpu_probes()
        try:
            candidate = self._build(self._options)
        except EdgecolorError as error:
            self._use_the_cpu(one_line(error))
            return
        if candidate.device != "edgetpu":
            self._use_the_cpu("it does not answer")
            return
        self._replace(candidate)
        self._retry_at = None
        self._set_problem(None)
        logger.warning("the Edge TPU works again: %s", candidate.backend_name)
