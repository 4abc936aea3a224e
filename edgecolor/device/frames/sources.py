"""Frame sources for the live loop: cameras, video files, network streams.

A source is a small protocol (:class:`FrameSource`) so the loop runs the same on a Pi
camera, a USB webcam, a file or a test fake. Hardware libraries are imported in ``open``,
never at module load:

* :class:`Picamera2Source`: the Raspberry Pi camera through picamera2. Two YUV420 streams:
  the small ``lores`` stream's Y plane is the model's input and the ``main`` stream's Y
  plane is the luminance the colour is joined with. A Y plane *is* the gray image, so there
  is no colour conversion at all.
* :class:`OpenCVSource`: ``cv2.VideoCapture`` for USB webcams (``usb:N``, ``/dev/videoN``,
  ``/dev/v4l/by-id/...``) and network streams (``rtsp://``, ``http://``).
* :class:`~edgecolor.device.frames.video_io.VideoFileSource`: video files, decoded by PyAV (every
  frame, its own timestamp, the audio for a recording).

``usb:N`` is the N-th USB (UVC) webcam found in ``/sys/class/video4linux``, not
``/dev/videoN``: on a Pi with a camera module, Bookworm's libcamera stack registers the
CSI receiver and the ISP as /dev/video0 ... /dev/video35, and the first webcam comes after
them. Cameras are opened with OpenCV's V4L2 back-end by device number (OpenCV otherwise
tries GStreamer first for a number).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from concurrent.futures import TimeoutError as FuturesTimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecolor.errors import MissingDependencyError, UsageError, one_line
from edgecolor.optional import require_cv2

logger = logging.getLogger(__name__)

INSTALL_PICAMERA2 = "sudo apt install python3-picamera2  (and a venv with --system-site-packages)"


@dataclass
class Frame:
    """One captured frame.

    Attributes:
        gray: uint8 (H, W): the picture's luminance; the colorized output has this size.
        index: the frame's number from the source, counting from 0.
        timestamp: seconds; the presentation time for files, ``time.monotonic()`` for cameras.
        model_gray: optional smaller uint8 (h, w) gray for the model input (picamera2's lores
            stream); None = ``gray`` is resized instead.
    """

    gray: np.ndarray
    index: int
    timestamp: float
    model_gray: np.ndarray | None = None


class FrameSource(Protocol):
    """Where frames come from.

    Attributes:
        name: shown in messages ("usb:0", "clip.mp4", "picamera2").
        live: True for cameras and streams (the newest frame wins, stale frames are dropped);
            False for files (every frame, in order).
        fps: the nominal frame rate, or None when unknown.
    """

    name: str
    live: bool
    fps: float | None

    def open(self) -> None:
        """Start capturing; raise (OSError, MissingDependencyError) when the device is not there."""

    def read(self) -> Frame | None:
        """The next frame; None at the end of a file or when a camera stops delivering."""

    def close(self) -> None:
        """Release the device; safe to call twice."""


# Where the kernel lists video devices (a constant so tests can point it elsewhere).
VIDEO4LINUX = Path("/sys/class/video4linux")
UVC_DRIVER = "uvcvideo"


def _node_number(name: str) -> int:
    match = re.fullmatch(r"video(\d+)", name)
    return int(match.group(1)) if match else -1


def uvc_cameras(video4linux: Path | None = None) -> list[tuple[Path, str]]:
    """The USB (UVC) webcams, in device-node order: ``[(Path("/dev/videoN"), name), ...]``.

    A node belongs to a webcam when its driver is ``uvcvideo``; of a webcam's nodes only
    the first (sysfs ``index`` 0) captures pictures, the next one carries metadata. CSI
    cameras (unicam, rp1-cfe) and the ISP (bcm2835-isp, pispbe) are left out.
    """
    folder = video4linux or VIDEO4LINUX
    found = []
    try:
        nodes = sorted(folder.iterdir(), key=lambda node: _node_number(node.name))
    except OSError:
        return []
    for node in nodes:
        if _node_number(node.name) < 0:
            continue
        try:
            driver = os.path.basename(os.readlink(node / "device" / "driver"))
            index = (node / "index").read_text().strip()
        except OSError:
            continue
        if driver != UVC_DRIVER or index != "0":
            continue
        try:
            name = (node / "name").read_text().strip()
        except OSError:
            name = node.name
        found.append((Path("/dev") / node.name, name))
    return found


def _is_character_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def parse_source(spec: str) -> FrameSource:
    """``picamera2``, ``usb:N``, ``/dev/video*``, a URL or a video file -> a source (not opened yet).

    Raises:
        UsageError: a malformed ``usb:`` index, or a path that is neither a file nor a
            video device.
    """
    if spec == "picamera2":
        return Picamera2Source()
    if spec.startswith("usb:"):
        try:
            number = int(spec[4:])
            if number < 0:
                raise ValueError
        except ValueError:
            raise UsageError(
                f"--source {spec}: expected usb:N with a camera number, e.g. usb:0"
            ) from None
        return UsbCameraSource(number)
    if "://" in spec:
        return OpenCVSource(spec, name=spec, live=True)
    path = Path(spec).expanduser()
    if _is_character_device(path):  # /dev/video2, /dev/v4l/by-id/usb-...-video-index0
        return OpenCVSource(str(path), name=spec, live=True, v4l2=True)
    if not path.is_file():
        raise UsageError(
            f"--source {spec}: no such file or video device "
            "(use picamera2, usb:N, /dev/videoN, a URL or a video file)"
        )
    from edgecolor import optional
    from edgecolor.device.frames.video_io import VideoFileSource

    optional.preload("av")  # while the caller loads the model
    return VideoFileSource(path)


class OpenCVSource:
    """``cv2.VideoCapture``: cameras (V4L2) and network streams, always their newest frame.

    Args:
        target: a URL or device path.
        name: shown in messages.
        live: True (a camera or a stream: frames are stamped with ``time.monotonic()``).
        v4l2: ``target`` is a video device: opened with OpenCV's V4L2 back-end, by its
            device number when it is (a link to) ``/dev/videoN``.
    """

    def __init__(self, target: int | str, name: str, live: bool = True, v4l2: bool = False):
        self.target = target
        self.name = name
        self.live = live
        self.v4l2 = v4l2
        self.fps: float | None = None
        self._capture = None
        self._index = 0

    def _device(self) -> str:
        """The device path to open (a USB camera looks its node up again on every open)."""
        return str(self.target)

    def open(self) -> None:
        cv2 = require_cv2()
        if self.v4l2:
            device = self._device()
            match = re.fullmatch(r"/dev/video(\d+)", os.path.realpath(device))
            # By number: every OpenCV build's V4L2 back-end opens /dev/videoN by its index.
            capture = cv2.VideoCapture(int(match.group(1)) if match else device, cv2.CAP_V4L2)
        else:
            device = None
            capture = cv2.VideoCapture(self.target)
        if not capture.isOpened():
            capture.release()
            how = f" (V4L2, {device})" if device else ""
            raise OSError(f"cannot open {self.name}{how}")
        if self.live and self.v4l2:
            # Keep the driver's own queue short so that "newest frame" really is new.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        self._capture = capture
        self._index = 0

    def read(self) -> Frame | None:
        cv2 = require_cv2()
        if self._capture is None:
            return None
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        if image.ndim == 3:
            gray = cv2.cvtColor(
                image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
            )
        else:
            gray = image
        frame = Frame(gray, self._index, time.monotonic())
        self._index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class UsbCameraSource(OpenCVSource):
    """``usb:N``: the N-th USB (UVC) webcam (:func:`uvc_cameras`), through V4L2.

    The device node is looked up at every ``open``, so a webcam that is unplugged and
    plugged in again (and gets another /dev/videoN) is found by the live loop's reconnect.
    """

    def __init__(self, number: int, video4linux: Path | None = None):
        super().__init__(f"usb:{number}", name=f"usb:{number}", live=True, v4l2=True)
        self.number = number
        self.video4linux = video4linux

    def _device(self) -> str:
        cameras = uvc_cameras(self.video4linux)
        if self.number >= len(cameras):
            listing = ", ".join(f"{path} ({name})" for path, name in cameras) or "none"
            raise OSError(
                f"no USB webcam number {self.number} (UVC webcams found: {listing}; "
                f"usb:0 is the first)"
            )
        path, name = cameras[self.number]
        logger.info("usb:%d is %s (%s)", self.number, path, name)
        return str(path)


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
            raise OSError(f"no Raspberry Pi camera available ({one_line(error)})") from None
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
