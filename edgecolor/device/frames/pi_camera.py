"""The Raspberry Pi camera through picamera2: two YUV420 streams, no colour conversion.

The small ``lores`` stream's Y plane is the model's input and the ``main`` stream's Y plane
is the luminance the colour is joined with. A Y plane *is* the gray image. picamera2 and
libcamera are imported in ``open``, never at module load.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any

import numpy as np

from edgecolor.device.frames.frame import (
    CAMERA_BUSY,
    CAMERA_NOT_FOUND,
    CameraUnavailable,
    Frame,
)
from edgecolor.errors import MissingDependencyError, one_line

logger = logging.getLogger(__name__)

INSTALL_PICAMERA2 = "sudo apt install python3-picamera2  (and a venv with --system-site-packages)"


def full_range_colour_space() -> Any:
    """libcamera's sYCC: full-range BT.601 Y'CbCr of sRGB, so a Y plane is the sRGB gray.

    picamera2's video configurations default to SMPTE 170M or Rec.709, whose Y' is video
    range (16..235): taken as gray, blacks would come out lifted and whites dimmed, and
    the model would see less contrast than it was trained on.
    """
    from libcamera import ColorSpace  # installed with python3-picamera2

    return ColorSpace.Sycc()


# Seconds picamera2 may take to hand over a frame before the camera counts as stalled (a
# loose ribbon cable, a crashed ISP). Without a limit picamera2 waits for ever, and the live
# loop's reconnection and a clean stop never happen. Generous: the first frame after
# start() and long exposures take well under a second.
PICAMERA2_CAPTURE_TIMEOUT = 5.0
# Formats whose first H rows of W bytes are the Y plane (picamera2 arrays (H * 3 / 2, stride)).
PLANAR_YUV420 = ("YUV420", "YVU420")


# libcamera's controls::AfModeContinuous (AfModeManual 0, AfModeAuto 1).
AF_MODE_CONTINUOUS = 2


def picamera2_open_error(error: BaseException) -> OSError:
    """What ``Picamera2()`` raised -> one clear line: busy, not connected, or its own words.

    picamera2 (picamera2/picamera2.py) reports a missing camera as a bare ``IndexError:
    list index out of range`` (``global_camera_info()[camera_num]`` on an empty list) or,
    in older releases, ``RuntimeError("Camera(s) not found ...")``; a camera another
    process holds as ``RuntimeError("Camera __init__ sequence did not complete.")``, whose
    ``__cause__`` is libcamera's ``RuntimeError("Failed to acquire camera: Device or
    resource busy")``. The chain is searched for those words.

    Returns:
        A :class:`~edgecolor.device.frames.frame.CameraUnavailable` for busy and missing
        cameras, else an OSError.
    """
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    words = " | ".join(str(link) for link in chain)
    if any(isinstance(link, IndexError) for link in chain) or "Camera(s) not found" in words:
        return CameraUnavailable(
            CAMERA_NOT_FOUND,
            "no Raspberry Pi camera found: check the ribbon cable (contacts facing the right "
            "way, both ends latched; power off first) and that `rpicam-hello --list-cameras` "
            "lists it",
        )
    if "Device or resource busy" in words or "Failed to acquire camera" in words:
        return CameraUnavailable(
            CAMERA_BUSY,
            "the Raspberry Pi camera is busy: another process holds it (`sudo fuser -v "
            "/dev/media*` names it); stop that program or service (e.g. `sudo systemctl "
            "stop edgecolor-live` when you run edgecolor live yourself, or an rpicam-* "
            "preview)",
        )
    detail = "; ".join(one_line(link) for link in chain)
    return OSError(f"the Raspberry Pi camera could not be opened: {detail}")


class Picamera2Source:
    """The Raspberry Pi camera: lores Y plane -> model input, main Y plane -> joined luminance.

    Both streams are YUV420 in full-range sYCC (:func:`full_range_colour_space`), so their
    Y planes are the 8-bit gray the Colorizer takes, without any colour conversion.

    picamera2 (libcamera) may change a requested configuration in ``configure``; the
    sizes, strides and formats used are the ones read back from
    ``camera_configuration()``, and a camera that does not give two planar YUV420 streams
    (a USB webcam seen through libcamera, a packed YUYV stream) is refused with one line.
    Every capture has a time limit; a camera that stalls is reported as lost (the live
    loop reconnects), and its pending capture is cancelled before ``stop()``, which would
    otherwise wait behind it for ever. A camera is closed on every failure after it was
    acquired, so a failed start never leaves it busy.

    Args:
        main_size: (width, height) of the main stream, the output's size.
        lores_size: (width, height) of the lores stream, near the model's input size.
        fps: requested frame rate.
        capture_timeout: seconds a frame may take before the camera counts as stalled.
        camera_factory: builds the camera object (default ``picamera2.Picamera2``); tests
            pass a fake with the same methods.
        colour_space_factory: gives the configuration's colour space (default
            :func:`full_range_colour_space`); tests pass a stand-in.
    """

    def __init__(
        self,
        main_size: tuple[int, int] = (1280, 960),
        lores_size: tuple[int, int] = (320, 240),
        fps: float = 30.0,
        capture_timeout: float = PICAMERA2_CAPTURE_TIMEOUT,
        camera_factory: Any = None,
        colour_space_factory: Any = full_range_colour_space,
    ):
        self.name = "picamera2"
        self.live = True
        self.fps: float | None = fps
        self.main_size = main_size
        self.lores_size = lores_size
        self.capture_timeout = capture_timeout
        # The streams as the camera accepted them: {"main": {...}, "lores": {...}}.
        self.streams: dict[str, dict[str, Any]] = {}
        self._factory = camera_factory
        self._colour_space_factory = colour_space_factory
        self._camera = None
        self._index = 0

    def open(self) -> None:
        factory = self._factory
        if factory is None:
            try:
                from picamera2 import Picamera2
            except ImportError:
                raise MissingDependencyError("picamera2", INSTALL_PICAMERA2) from None
            factory = Picamera2
        try:
            camera = factory()
        except (IndexError, RuntimeError) as error:  # none attached, or held by another program
            raise picamera2_open_error(error) from None
        try:
            self.streams = self._configure(camera)
            camera.start()
        except Exception as error:  # RuntimeError from libcamera, or our own check
            self._release(camera)
            if isinstance(error, OSError):
                raise
            raise OSError(
                f"the Raspberry Pi camera could not be started: {one_line(error)}"
            ) from None
        self._camera = camera
        self._index = 0

    def _configure(self, camera: Any) -> dict[str, dict[str, Any]]:
        """Configure two YUV420 streams; return them as the camera accepted them."""
        if "ColorFilterArrangement" not in getattr(camera, "camera_properties", {}):
            # libcamera's USB (UVC) cameras give one stream and no lores: use OpenCV.
            raise OSError(
                "picamera2 found a USB camera, not a Raspberry Pi camera module: "
                "use --source usb:0 for USB webcams"
            )
        controls: dict[str, Any] = {"FrameRate": self.fps}
        if "AfMode" in getattr(camera, "camera_controls", {}):
            # Camera Module 3 starts in manual focus at a fixed lens position: keep it
            # focusing (libcamera's AfModeContinuous, 2; the int avoids importing libcamera).
            controls["AfMode"] = AF_MODE_CONTINUOUS
        configuration = camera.create_video_configuration(
            main={"size": self.main_size, "format": "YUV420"},
            lores={"size": self.lores_size, "format": "YUV420"},
            controls=controls,
            colour_space=self._colour_space_factory(),
        )
        camera.configure(configuration)
        accepted = camera.camera_configuration() or {}
        streams = {}
        for name in ("main", "lores"):
            stream = accepted.get(name)
            if not stream or stream.get("format") not in PLANAR_YUV420:
                found = f"{stream.get('format')} {stream.get('size')}" if stream else "no stream"
                raise OSError(
                    f"the camera gave {found} for the {name} stream; edgecolor needs a "
                    "planar YUV420 main and lores stream (its Y plane is the gray picture)"
                )
            width, height = stream["size"]
            stride = int(stream.get("stride") or width)
            streams[name] = {"size": (int(width), int(height)), "stride": stride}
        if streams["main"]["size"] != tuple(self.main_size):
            logger.info(
                "picamera2 adjusted the main stream from %s to %s",
                self.main_size,
                streams["main"]["size"],
            )
        return streams

    @staticmethod
    def _release(camera: Any) -> None:
        """Stop and close ``camera`` whatever state it is in; never raises."""
        for step in ("cancel_all_and_flush", "stop", "close"):
            method = getattr(camera, step, None)
            if method is None:
                continue
            try:
                method()
            except Exception as error:  # the next step must still run: close frees the camera
                logger.debug("picamera2 %s failed: %s", step, error)

    @staticmethod
    def y_plane(yuv420: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The Y plane of a picamera2 YUV420 array: uint8 (H * 3 / 2, stride) -> (H, W) view."""
        width, height = size
        return yuv420[:height, :width]

    def read(self) -> Frame | None:
        camera = self._camera
        if camera is None:
            return None
        try:
            request = camera.capture_request(wait=self.capture_timeout)
        except (TimeoutError, FuturesTimeoutError):
            logger.warning(
                "picamera2: no frame within %.1f s (is the camera cable seated?)",
                self.capture_timeout,
            )
            return None
        except Exception as error:  # cancelled by close(), or the camera went away
            logger.debug("picamera2 capture failed: %s", error)
            return None
        try:
            # Copies: the request's buffers go back to the camera on release.
            gray = self.y_plane(request.make_array("main"), self.streams["main"]["size"]).copy()
            model_gray = self.y_plane(
                request.make_array("lores"), self.streams["lores"]["size"]
            ).copy()
        finally:
            request.release()
        frame = Frame(gray, self._index, time.monotonic(), model_gray=model_gray)
        self._index += 1
        return frame

    def close(self) -> None:
        """Cancel a pending capture, stop and close the camera (safe to call twice)."""
        camera, self._camera = self._camera, None
        if camera is not None:
            self._release(camera)
