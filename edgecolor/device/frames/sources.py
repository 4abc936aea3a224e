"""Frame sources for the live loop: cameras, video files, network streams.

A source is a small protocol (:class:`FrameSource`) so the loop runs the same on a Pi
camera, a USB webcam, a file or a test fake. Hardware libraries are imported in ``open``,
never at module load:

* :class:`~edgecolor.device.frames.pi_camera.Picamera2Source`: the Raspberry Pi camera
  (two YUV420 streams: the lores Y plane feeds the model, the main Y plane is joined).
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
from pathlib import Path

from edgecolor.device.frames.frame import Frame, FrameSource
from edgecolor.errors import UsageError
from edgecolor.optional import require_cv2

logger = logging.getLogger(__name__)


# Where the kernel lists video devices (a constant so tests can point it elsewhere).
VIDEO4LINUX = Path("/sys/class/video4linux")
UVC_DRIVER = "uvcvideo"


def _node_number(name: str) -> int:
    match = re.fullmatch(r"video(\d+)", name)
    return int(match.group(1)) if match else -1


def uvc_cameras() -> list[tuple[Path, str]]:
    """The USB (UVC) webcams, in device-node order: ``[(Path("/dev/videoN"), name), ...]``.

    A node belongs to a webcam when its driver is ``uvcvideo``; of a webcam's nodes only
    the first (sysfs ``index`` 0) captures pictures, the next one carries metadata. CSI
    cameras (unicam, rp1-cfe) and the ISP (bcm2835-isp, pispbe) are left out.
    """
    found = []
    try:
        nodes = sorted(VIDEO4LINUX.iterdir(), key=lambda node: _node_number(node.name))
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
        from edgecolor.device.frames.pi_camera import Picamera2Source

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
        return OpenCVSource(spec, name=spec)
    path = Path(spec).expanduser()
    if _is_character_device(path):  # /dev/video2, /dev/v4l/by-id/usb-...-video-index0
        return OpenCVSource(str(path), name=spec, v4l2=True)
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
    """``cv2.VideoCapture``: cameras (V4L2) and network streams, always their newest frame
    (live: frames are stamped with ``time.monotonic()``).

    Args:
        target: a URL or device path.
        name: shown in messages.
        v4l2: ``target`` is a video device: opened with OpenCV's V4L2 back-end, by its
            device number when it is (a link to) ``/dev/videoN``.
    """

    live = True

    def __init__(self, target: str, name: str, v4l2: bool = False):
        self.target = target
        self.name = name
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
        if self.v4l2:
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

    def __init__(self, number: int):
        super().__init__(f"usb:{number}", name=f"usb:{number}", v4l2=True)
        self.number = number

    def _device(self) -> str:
        cameras = uvc_cameras()
        if self.number >= len(cameras):
            listing = ", ".join(f"{path} ({name})" for path, name in cameras) or "none"
            raise OSError(
                f"no USB webcam number {self.number} (UVC webcams found: {listing}; "
                f"usb:0 is the first)"
            )
        path, name = cameras[self.number]
        logger.info("usb:%d is %s (%s)", self.number, path, name)
        return str(path)
