"""The frame path: 8-bit gray video frames in, colour pictures as Y'CbCr 4:2:0 planes out.

``edgecolor live``, ``edgecolor bench`` and ``edgecolor demo`` all run every frame through
one :class:`FrameColorizer`::

    gray (H, W) uint8 [lores (h', w') uint8] -> box-halving shrink -> 256-entry L table
    -> L/50-1 (h, w) -> invoke -> ab/110 (h, w, 2) -> smoothed over time
    -> chroma table at the model's resolution -> upsampled to (H/2, W/2)
    -> Yuv420Picture(y = the frame itself, cb, cr)

The lores input is picamera2's small stream (its Y plane, see
:class:`~edgecolor.device.frames.pi_camera.Picamera2Source`): when given, the model sees it instead
of a shrunk copy of the frame. The lookup tables and the model's first call are made by
:meth:`FrameColorizer.warm_up` (explicitly, or before the first frame), so every frame,
the first included, takes the same path: the output depends on the frames alone, never
on timing.

Example::

    from edgecolor.device import Colorizer
    from edgecolor.device.frames.frame_colorizer import FrameColorizer

    frames = FrameColorizer(Colorizer(device="cpu"))
    frames.warm_up()
    picture = frames.process(gray)  # uint8 (H, W) -> Yuv420Picture; picture.to_rgb() for RGB

A FrameColorizer (like its Colorizer) is not thread-safe: use one per thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from edgecolor.device.frames.yuv import FRAMES_NEED, Yuv420Picture
from edgecolor.device.runtime import pixels
from edgecolor.device.runtime.colorizer import Colorizer, PreparedImage
from edgecolor.device.runtime.join_tables import AB_LIMIT, AB_TABLE_STEP
from edgecolor.errors import UsageError
from edgecolor.optional import require_cv2

logger = logging.getLogger(__name__)

# Mean |change| of the model-size L (L/50-1 scale) above which a frame starts a new scene:
# 0.15 is 7.5 L units on average over the whole picture, far above sensor noise and a
# slow pan, well below a cut between shots.
SCENE_CUT_THRESHOLD = 0.15
# The stages of one frame that :attr:`FrameColorizer.stage_seconds` times.
FRAME_STAGES = ("prepare", "invoke", "join")


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


def frame_model_gray(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """An 8-bit video frame shrunk to the model's input: uint8 (H, W) -> uint8 (height, width).

    Exact 2x2 box averages (OpenCV's fast path) while both axes are at least twice too
    long; then what is left, at most 2x on both axes, one bilinear step (with half-pixel
    centres every input pixel still weighs in); at most 4x, a bilinear step to twice the
    size and one more exact halving; beyond (a very elongated frame), OpenCV's general
    area resize. For 640x480 -> 128x128: one halving, bilinear to 256x256, one halving:
    about 0.04 ms here, against 0.4 ms for the area resize in one go, and no input column
    or row is skipped. Averaging happens on the gray levels, as the training pipeline
    resizes sRGB photos before it converts them to Lab.
    """
    cv2 = require_cv2(FRAMES_NEED)

    def halve(image: np.ndarray) -> np.ndarray:
        rows, columns = image.shape
        if rows % 2 or columns % 2:  # an odd last row or column is dropped: an exact 2x2 box
            image = image[: rows - rows % 2, : columns - columns % 2]
        return cv2.resize(image, (columns // 2, rows // 2), interpolation=cv2.INTER_AREA)

    while gray.shape[0] >= 2 * height and gray.shape[1] >= 2 * width:
        gray = halve(gray)
    if gray.shape == (height, width):
        return gray
    ratio = max(gray.shape[0] / height, gray.shape[1] / width)
    if ratio <= 2.0:
        return cv2.resize(gray, (width, height), interpolation=cv2.INTER_LINEAR)
    if ratio <= 4.0:
        twice = cv2.resize(gray, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
        return halve(twice)
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)


@dataclass
class PreparedFrame:
    """A frame reduced to the model's input.

    Attributes:
        gray: uint8 (H, W), the frame (not copied).
        L_scaled: float32 (h, w), the model-size luminance as L / 50 - 1 in [-1, 1].
        model_gray: uint8 (h, w), the frame at the model's size for the 4:2:0 join; None
            for a frame that is joined exactly (see :meth:`FrameColorizer.takes_fast_path`).
    """

    gray: np.ndarray
    L_scaled: np.ndarray
    model_gray: np.ndarray | None = None


class FrameColorizer:
    """Colorize video frames: the live path, end to end (see the module docstring).

    Frames of even size up to 4 megapixels (:data:`~edgecolor.device.runtime.pixels.WHOLE_FRAME_PIXELS`)
    take the fast path: shrunk by box halvings and joined as
    Y'CbCr 4:2:0 planes that keep the frame's own luma, about 7x faster than the exact join
    and within about 1 CIEDE2000 of it (docs/architecture.md). Other frames (odd sizes, larger
    ones) are prepared and joined exactly, as photos, and converted to planes.

    Args:
        colorizer: the model (its interpreter, scaling, saturation and join tables): a
            :class:`Colorizer`, or a
            :class:`~edgecolor.device.runtime.lazy_colorizer.LazyColorizer` (``edgecolor
            live``, videos in a batch), whose Edge TPU failing mid-run is rebuilt or left
            for the CPU without losing a frame.
        smoothing: :class:`ColourSmoother` weight of the running colour (0 = off).

    Attributes:
        stage_seconds: how long the last frame's prepare, invoke and join took (smoothing
            counts as join).
    """

    def __init__(self, colorizer: Colorizer, smoothing: float = 0.5):
        require_cv2(FRAMES_NEED)  # now, not at the first frame
        self.colorizer = colorizer
        self.smoother = ColourSmoother(smoothing)
        self.stage_seconds: dict[str, float] = dict.fromkeys(FRAME_STAGES, 0.0)
        # L / 50 - 1 of every 8-bit gray level (made by warm_up): the prepare is one look-up.
        self._gray_L_scaled: np.ndarray | None = None

    @property
    def input_size(self) -> tuple[int, int]:
        """The model's input (height, width)."""
        return self.colorizer.input_size

    def warm_up(self) -> float:
        """Build the lookup tables and call the model once; seconds taken (0 when done before).

        :meth:`process` warms up on its first frame if nobody did; the live loop does it
        before it starts reading frames.
        """
        if self._gray_L_scaled is not None:
            return 0.0
        started = time.perf_counter()
        self.colorizer.join_tables.chroma()  # both tables: the chroma one is made from the RGB one
        self.colorizer.predict_ab(np.zeros(self.input_size, np.float32))  # allocates its buffers
        self._gray_L_scaled = self.colorizer.scale_L(pixels.gray_luminance_table("uint8"))
        seconds = time.perf_counter() - started
        logger.debug("frame colorizer warmed up in %.2f s", seconds)
        return seconds

    def takes_fast_path(self, gray: np.ndarray) -> bool:
        """Whether the frame ``gray`` (uint8 (H, W)) is joined as 4:2:0 planes directly."""
        height, width = gray.shape
        return height % 2 == 0 and width % 2 == 0 and height * width <= pixels.WHOLE_FRAME_PIXELS

    def prepare(self, gray: np.ndarray, lores: np.ndarray | None = None) -> PreparedFrame:
        """Check a frame and make the model's input from it (or from ``lores``).

        Args:
            gray: uint8 (H, W), the frame (a camera's Y plane, a decoded video frame).
            lores: optional uint8 (h', w'), the same picture smaller (picamera2's lores
                stream): the model's input is made from it instead of from ``gray``.
        Raises:
            UsageError: ``gray`` or ``lores`` is not an 8-bit gray image.
        """
        gray = _check_frame("frame", gray)
        model_input = gray if lores is None else _check_frame("lores", lores)
        self.warm_up()
        if not self.takes_fast_path(gray):
            return PreparedFrame(gray, self.colorizer.prepare(model_input).L_scaled)
        model_gray = frame_model_gray(model_input, *self.input_size)
        return PreparedFrame(gray, pixels.gray_lookup(model_gray, self._gray_L_scaled), model_gray)

    def join(self, prepared: PreparedFrame, ab_scaled: np.ndarray) -> Yuv420Picture:
        """The model's colour (float32 (h, w, 2), ab / 110) joined with the frame's own gray.

        Returns:
            The colour picture, (H, W); on the fast path its luma is the frame itself (not
            copied, ``owns_luma`` False), otherwise the exact join made planes.
        """
        if prepared.model_gray is None:
            rgb = self.colorizer.join(PreparedImage(prepared.gray, prepared.L_scaled), ab_scaled)
            return Yuv420Picture.from_rgb(rgb)
        ab_small = self.colorizer.ab_from_model(ab_scaled)
        return self._join_planes(prepared.gray, prepared.model_gray, ab_small)

    def process(self, gray: np.ndarray, lores: np.ndarray | None = None) -> Yuv420Picture:
        """Colorize one frame: :meth:`prepare`, one model call, the colour smoothed over
        frames, :meth:`join`; the stages' times go to :attr:`stage_seconds`.

        Args:
            gray, lores: as for :meth:`prepare`.
        Returns:
            The colour picture, (H, W), as from :meth:`join`.
        """
        clock = time.perf_counter
        self.warm_up()  # never part of a frame's time
        start = clock()
        prepared = self.prepare(gray, lores)
        after_prepare = clock()
        ab_scaled = self.colorizer.predict_ab(prepared.L_scaled)
        after_invoke = clock()
        picture = self.join(prepared, self.smoother.update(prepared.L_scaled, ab_scaled))
        end = clock()
        self.stage_seconds = {
            "prepare": after_prepare - start,
            "invoke": after_invoke - after_prepare,
            "join": end - after_invoke,
        }
        return picture

    def _join_planes(
        self, gray: np.ndarray, model_gray: np.ndarray, ab_small: np.ndarray
    ) -> Yuv420Picture:
        """The model's colour added to an 8-bit gray frame as 4:2:0 planes.

        The frame's own gray is the luma, as it is (a gray's luma is its gray level); the
        chroma is that of the exact Lab join of the frame at the model's resolution (the
        chroma table: gamut-mapped, luminance-keeping), upsampled to half size. One small
        table look-up and one half-size resize: about 0.15 ms for a 640x480 frame here,
        against 1.4 ms for the exact table join to RGB, and no RGB at all until a sink
        asks for it.

        What it gives up: a coloured pixel keeps the gray's luma Y' rather than its Lab L,
        and a colour has more luminance than a gray of the same luma, so colours come out a
        little lighter: on video frames and photos |L out - L in| is about 0.3 on average
        (about 1.3 at the 99th percentile; 0.07 for the exact join) and CIEDE2000 from the
        exact join about 1.1 (bench/bench_device.py, section 1b). Photos always get the
        exact join (:class:`~edgecolor.device.runtime.colorizer.Colorizer`).

        Args:
            gray: uint8 (H, W), H and W even: the frame at full resolution.
            model_gray: uint8 (h, w): the frame at the model's input size.
            ab_small: float32 (h2, w2, 2): Lab a and b, clipped to +-AB_LIMIT (the model's
                ab may be at half its input size: ``model_gray`` is shrunk to match).
        """
        cv2 = require_cv2(FRAMES_NEED)
        height, width = gray.shape
        if model_gray.shape != ab_small.shape[:2]:
            model_gray = frame_model_gray(model_gray, *ab_small.shape[:2])
        # (ab + 110) / 2 rounded to nearest: the grid point, bytes (ia, ib), read as the
        # little-endian uint16 ib * 256 + ia
        grid = cv2.convertScaleAbs(
            ab_small, alpha=1.0 / AB_TABLE_STEP, beta=AB_LIMIT / AB_TABLE_STEP
        )
        index = np.left_shift(grid.view("<u2")[..., 0], 8, dtype=np.int32)
        index |= model_gray
        chroma_table = self.colorizer.join_tables.chroma()
        chroma = np.take(chroma_table, index).view(np.uint8).reshape(*index.shape, 2)
        chroma = cv2.resize(chroma, (width // 2, height // 2), interpolation=cv2.INTER_LINEAR)
        cb, cr = cv2.split(chroma)
        return Yuv420Picture(gray, cb, cr, owns_luma=False)

    def __repr__(self) -> str:
        return f"FrameColorizer({self.colorizer!r}, smoothing {self.smoother.previous_weight})"


def _check_frame(name: str, image: np.ndarray) -> np.ndarray:
    """``image`` if it is uint8 (H, W) and not empty, else UsageError naming what it is."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 2 or 0 in image.shape:
        raise UsageError(
            f"{name} {image.dtype} {image.shape}: the frame path takes 8-bit gray (H, W) "
            "frames; colorize other images with Colorizer"
        )
    return image
