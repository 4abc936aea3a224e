"""``Colorizer``: a gray or colour image of any size in, a colorized image of the same size out.

The model sees a small copy of the image's luminance; its colour (ab) is upsampled to the
full size and joined with the *original* full-resolution luminance, so a scan's detail is
never lost to the model's small input::

    image (H, W[, C]) -> L (H, W) -> resize -> L/50-1 (h, w) -> quantize -> invoke
    -> dequantize -> ab/110 (h, w, 2) -> upsample -> ab (H, W, 2) + original L -> RGB (H, W, 3)

Example::

    from edgecolor.device import Colorizer
    colorizer = Colorizer("model.tflite")          # or Colorizer() for the bundled model
    colour = colorizer.colorize(gray_uint8_array)  # (H, W) uint8 -> (H, W, 3) uint8

This is the exact photo path (colorize, scan, eval, export verification). Video frames go
through :class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer`, which wraps a Colorizer: a
faster shrink and a join into Y'CbCr 4:2:0 planes; see docs/architecture.md for what it trades.

A Colorizer holds one interpreter and is not thread-safe: use one per thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor import color
from edgecolor.device.runtime import backends, pixels
from edgecolor.device.runtime.join_tables import AB_LIMIT, JoinTables
from edgecolor.device.runtime.model import (
    check_interpreter,
    edgetpu_model_path,
    load_metadata,
    resolve_model_path,
)
from edgecolor.device.runtime.options import RuntimeOptions, check_saturation
from edgecolor.errors import UsageError

logger = logging.getLogger(__name__)


@dataclass
class PreparedImage:
    """An input image checked and reduced to the model's input.

    Attributes:
        image: the caller's array, not copied: (H, W) or (H, W, C), C in 1, 3, 4.
        L_scaled: float32 (h, w), the model-size luminance as L / 50 - 1 in [-1, 1].
    """

    image: np.ndarray
    L_scaled: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the full-size image."""
        return self.image.shape[0], self.image.shape[1]


def check_image(image: Any) -> np.ndarray:
    """The image as an array the Colorizer takes, or UsageError naming what is wrong.

    Accepts (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float (in [0, 1]).
    An (H, W, 1) image is returned as (H, W); nothing else is copied.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise UsageError(
            f"image shape {image.shape}: expected (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise UsageError(f"image shape {image.shape} is empty")
    pixels.unit_scale(image.dtype)  # raises for unsupported dtypes
    return image


class Colorizer:
    """Colorize images with an exported edgecolor model (int8 or float TFLite + its .json).

    Args:
        model_path: the .tflite file (its metadata .json beside it); None = the bundled
            default model ``edgecolor/assets/edgecolor-default-int8.tflite``.
        device: ``"auto"`` (Edge TPU when present, else CPU), ``"cpu"`` or ``"edgetpu"``.
        threads: CPU threads for XNNPACK; None = every core.
        saturation: factor on the predicted colour (1 = as predicted, 0 = gray).

    The join is exact for every image: the output's Lab L equals the input's. 8-bit gray
    images join through a lookup table of that exact join (:mod:`~edgecolor.device.runtime.join_tables`,
    built on the first such image), with the ab rounded to its grid.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "auto",
        threads: int | None = None,
        saturation: float = 1.0,
    ):
        options = RuntimeOptions(model_path, device, threads, saturation)  # checked here
        model_path = resolve_model_path(options.model)
        metadata = load_metadata(model_path)
        loaded = backends.load_interpreter(
            model_path, options.device, options.threads, edgetpu_model_path(model_path, metadata)
        )
        self._setup(loaded, metadata, options.saturation)

    @classmethod
    def from_options(cls, options: RuntimeOptions) -> Colorizer:
        """The Colorizer a command's :class:`RuntimeOptions` ask for."""
        return cls(options.model, options.device, options.threads, options.saturation)

    @classmethod
    def from_interpreter(
        cls,
        loaded: backends.LoadedInterpreter,
        metadata: dict[str, Any],
        saturation: float = 1.0,
    ) -> Colorizer:
        """A Colorizer around an interpreter that is already loaded (tests use a fake)."""
        colorizer = cls.__new__(cls)
        colorizer._setup(loaded, metadata, saturation)
        return colorizer

    def _setup(self, loaded: backends.LoadedInterpreter, metadata: dict, saturation: float) -> None:
        self.saturation = check_saturation(saturation)
        self.join_tables = JoinTables()
        self._kept = pixels.KeptArrays()  # the 8-bit gray join's per-pixel work
        self.metadata = metadata
        self.model_path = loaded.model_path
        self._loaded = loaded
        self._interpreter = loaded.interpreter
        self._input = backends.input_detail(self._interpreter)
        self._output = backends.output_detail(self._interpreter)
        check_interpreter(
            self._input,
            self._output,
            metadata,
            loaded.model_path,
            check_quantization=loaded.device == "cpu",
        )
        scaling = metadata["scaling"]
        self._L_scale = float(scaling["L"]["scale"])
        self._L_offset = float(scaling["L"]["offset"])
        self._ab_scale = float(scaling["ab"]["scale"])
        _, height, width, _ = (int(size) for size in self._input["shape"])
        self._input_size = (height, width)

    # ------------------------------------------------------------------ properties

    @property
    def input_size(self) -> tuple[int, int]:
        """The model's input (height, width)."""
        return self._input_size

    @property
    def device(self) -> str:
        """What runs the model: ``"cpu"`` or ``"edgetpu"``."""
        return self._loaded.device

    @property
    def backend_name(self) -> str:
        """What runs the model, e.g. ``"litert cpu (xnnpack, 4 threads)"``."""
        return self._loaded.backend

    # ------------------------------------------------------------------ the model's scaling

    def scale_L(self, L: np.ndarray) -> np.ndarray:
        """Lab L in [0, 100] -> the model's input scaling (L / 50 - 1), float32, same shape."""
        L_scaled = L / np.float32(self._L_scale) - np.float32(self._L_offset)
        return L_scaled.astype(np.float32, copy=False)

    def ab_from_model(self, ab_scaled: np.ndarray) -> np.ndarray:
        """The model's ab/110 -> Lab a, b: float32 (h, w, 2), saturation applied, clipped."""
        ab_small = np.asarray(ab_scaled, np.float32) * np.float32(self._ab_scale * self.saturation)
        # sRGB has no colour beyond |a|, |b| = 110 (the model's own range at saturation 1).
        return np.clip(ab_small, -AB_LIMIT, AB_LIMIT, out=ab_small)

    # ------------------------------------------------------------------ the three stages

    def prepare(self, image: Any) -> PreparedImage:
        """Check ``image`` and compute the model-size input from its full-resolution L.

        Args:
            image: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA; uint8, uint16 or float in [0, 1].
        """
        image = check_image(image)
        height, width = self._input_size
        return PreparedImage(image, self.scale_L(pixels.model_luminance(image, height, width)))

    def predict_ab(self, L_scaled: np.ndarray) -> np.ndarray:
        """One model call: float32 (h, w) L/50-1 -> float32 (h, w, 2) ab/110.

        Quantizes the input with the model's own input scale and zero point and dequantizes
        its output; (h, w) must be :attr:`input_size`.
        """
        L_scaled = np.asarray(L_scaled, dtype=np.float32)
        if L_scaled.shape != self._input_size:
            raise UsageError(f"L_scaled shape {L_scaled.shape}: the model takes {self._input_size}")
        tensor = backends.quantize(L_scaled[None, :, :, None], self._input)
        self._interpreter.set_tensor(self._input["index"], tensor)
        self._interpreter.invoke()
        output = self._interpreter.get_tensor(self._output["index"])
        return backends.dequantize(output[0], self._output)

    def join(self, prepared: PreparedImage, ab_scaled: np.ndarray) -> np.ndarray:
        """Upsample the model's ab to full size and join it with the image's own L.

        Args:
            prepared: from :meth:`prepare`.
            ab_scaled: float32 (h, w, 2), ab / 110 (any h, w: it is resized).
        Returns:
            (H, W, 3), or (H, W, 4) with the input's alpha unchanged; uint8 for uint8 input,
            uint16 for uint16, float32 in [0, 1] for float. Its Lab L equals the input's.
        """
        image = prepared.image
        height, width = prepared.size
        channels = 4 if image.ndim == 3 and image.shape[2] == 4 else 3
        out_dtype = image.dtype if image.dtype in (np.uint8, np.uint16) else np.dtype(np.float32)
        output = np.empty((height, width, channels), dtype=out_dtype)
        ab_small = self.ab_from_model(ab_scaled)
        # 8-bit gray (most scans) joins through the lookup table of the exact join.
        gray_uint8 = image.ndim == 2 and image.dtype == np.uint8
        for start, stop, a, b in pixels.ab_bands(ab_small, height, width, self._kept):
            band = image[start:stop]
            if gray_uint8:
                self.join_tables.join_gray(band, a, b, output[start:stop], self._kept)
                continue
            planes = color.lab_to_rgb_keep_luminance(pixels.luminance(band), a, b)
            for channel, plane in enumerate(planes):
                output[start:stop, :, channel] = pixels.from_unit(plane, out_dtype)
            if channels == 4:
                output[start:stop, :, 3] = band[..., 3]  # alpha as it was, never composited
        return output

    def colorize(self, image: Any) -> np.ndarray:
        """Colorize one image: prepare, one model call, join. See :meth:`join` for the output."""
        prepared = self.prepare(image)
        return self.join(prepared, self.predict_ab(prepared.L_scaled))

    def __repr__(self) -> str:
        height, width = self._input_size
        return f"Colorizer({self.model_path.name}, {height}x{width}, {self.backend_name})"
