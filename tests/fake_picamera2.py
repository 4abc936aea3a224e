"""A stand-in for ``picamera2.Picamera2`` that behaves like the real one where it matters.

Read against picamera2's own source (picamera2/picamera2.py, job.py, request.py):

* ``capture_request(wait=None)`` queues a job and waits for it *without a time limit*; with
  a number it raises ``TimeoutError`` after that many seconds and the job stays queued.
  Here a camera that stops sending (``stall_after`` frames) makes an unlimited wait block;
  the stand-in gives up after ``forever`` seconds so a test cannot hang, and records it in
  ``blocked_forever``.
* ``stop()`` (and ``close()``, which calls ``stop()``) queue behind pending jobs: after a
  timed-out capture they block until ``cancel_all_and_flush()`` cancels the jobs (recorded
  in ``stop_blocked``).
* ``configure()`` rewrites the configuration it is given: libcamera may change a stream's
  format and size (``accept_formats``, ``size_alignment``) and adds ``stride``/``framesize``;
  ``camera_configuration()`` returns what was accepted.
* ``configure()`` and ``start()`` can raise ``RuntimeError`` (``fail_in``) and the camera
  stays acquired until ``close()`` (``acquired``).
* ``Picamera2()`` fails as the real constructor does: with no camera attached
  ``global_camera_info()`` is empty and ``global_camera_info()[camera_num]`` raises a bare
  ``IndexError: list index out of range`` (``attached=False``); a camera that another
  process (or another ``Picamera2`` here) holds makes libcamera's ``Camera.acquire()``
  fail with EBUSY, which the binding raises as ``RuntimeError("Failed to acquire camera:
  Device or resource busy")`` and ``__init__`` wraps in ``RuntimeError("Camera __init__
  sequence did not complete.")`` (``busy=True``; the cause is only in ``__cause__``).
* ``camera_properties`` has ``ColorFilterArrangement`` for a Raspberry Pi sensor only (a USB
  webcam seen through libcamera has none).
* ``make_array`` returns YUV420 as (H * 3 / 2, stride) uint8 with garbage in U and V, and
  packed YUYV as (H, stride / 2, 2), as picamera2's helpers do.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from concurrent.futures import CancelledError

import numpy as np

ACQUIRED: set[int] = set()  # ids of fake cameras that hold "the camera", like libcamera


class FakeJob:
    def __init__(self):
        self.done = threading.Event()
        self.cancelled = False


class FakePicamera2:
    def __init__(
        self,
        stall_after: int | None = None,
        forever: float = 3.0,
        accept_formats: tuple[str, ...] = ("YUV420", "XBGR8888", "RGB888"),
        size_alignment: int = 32,
        fail_in: str | None = None,
        raspberry_pi_sensor: bool = True,
        busy: bool = False,
        autofocus: bool = True,
        attached: bool = True,
        camera_num: int = 0,
    ):
        cameras = [{"Model": "imx708", "Num": 0}] if attached else []
        camera_num = cameras[camera_num]["Num"]  # IndexError: list index out of range
        if busy or ACQUIRED:
            try:  # self._open_camera() -> self.camera.acquire(), inside __init__'s try
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            except RuntimeError as error:
                logging.getLogger("picamera2.picamera2").error(
                    "Camera __init__ sequence did not complete."
                )
                raise RuntimeError("Camera __init__ sequence did not complete.") from error
        self.stall_after = stall_after
        self.forever = forever
        self.accept_formats = accept_formats
        self.size_alignment = size_alignment
        self.fail_in = fail_in
        self.camera_properties = {"Model": "imx708", "PixelArraySize": (4608, 2592)}
        if raspberry_pi_sensor:
            self.camera_properties["ColorFilterArrangement"] = 0
        # libcamera's controls as picamera2 lists them: name -> (min, max, default). Camera
        # Module 3 (imx708) has autofocus, starting in manual mode (AfMode 0); the older
        # modules (imx219, imx477) have no AfMode at all.
        self.camera_controls = {"FrameRate": (1.0, 120.0, 30.0), "ExposureTime": (1, 1000000, 0)}
        if autofocus:
            self.camera_controls["AfMode"] = (0, 2, 0)
        self.camera_config: dict | None = None
        self.requested: dict | None = None
        self.started = False
        self.stopped = False
        self.closed = False
        self.frames = 0
        self.capture_waits: list = []
        self.blocked_forever = False
        self.stop_blocked = False
        self.cancelled_jobs = 0
        self._jobs: list[FakeJob] = []
        self._lock = threading.Lock()
        ACQUIRED.add(id(self))

    @property
    def acquired(self) -> bool:
        return id(self) in ACQUIRED

    # ------------------------------------------------------------------ configuration
    def create_video_configuration(
        self, main=None, lores=None, raw=None, controls=None, colour_space=None, **others
    ):
        main = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True, **(main or {})}
        lores = None if lores is None else {"format": "YUV420", "preserve_ar": False, **lores}
        return {
            "use_case": "video",
            "colour_space": colour_space,
            "buffer_count": 6,
            "main": main,
            "lores": lores,
            "raw": raw,
            "controls": dict(controls or {}),
            "display": "main",
            "encode": "main",
        }

    def configure(self, camera_config):
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self.requested = copy.deepcopy(camera_config)
        config = camera_config.copy()  # shallow, as picamera2: the stream dicts are rewritten
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            if stream["format"] not in self.accept_formats:
                stream["format"] = self.accept_formats[0]
            width, height = stream["size"]
            width -= width % self.size_alignment
            stream["size"] = (width, height - height % 2)
            bytes_per_pixel = 1 if stream["format"] in ("YUV420", "YVU420") else 2
            stream["stride"] = (width * bytes_per_pixel + 63) // 64 * 64
            stream["framesize"] = stream["stride"] * height * 3 // 2
        if self.fail_in == "configure":
            raise RuntimeError(f"Configuration failed: {config}")
        self.camera_config = config

    def camera_configuration(self):
        return self.camera_config

    def start(self, config=None, show_preview=False):
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        if self.fail_in == "start":
            raise RuntimeError("Failed to start camera: Invalid argument")
        self.started = True

    # ------------------------------------------------------------------ capture
    def capture_request(self, wait=None, signal_function=None, flush=None):
        self.capture_waits.append(wait)
        if not self.started:
            raise RuntimeError("Camera is not running")
        if self.stall_after is None or self.frames < self.stall_after:
            self.frames += 1
            return FakeRequest(self)
        job = FakeJob()
        with self._lock:
            self._jobs.append(job)
        if wait is None or wait is True:
            limit = self.forever  # picamera2 would wait for ever
        else:
            limit = float(wait)
        job.done.wait(limit)
        if job.cancelled:
            raise CancelledError()
        if wait is None or wait is True:
            self.blocked_forever = True
            raise AssertionError("capture_request() without wait: picamera2 waits for ever")
        raise TimeoutError()

    def cancel_all_and_flush(self):
        with self._lock:
            for job in self._jobs:
                job.cancelled = True
                job.done.set()
                self.cancelled_jobs += 1
            self._jobs = []

    def stop(self):
        if not self.started:
            return
        with self._lock:
            pending = list(self._jobs)
        if pending:  # stop_ is queued behind the stuck capture job
            self.stop_blocked = True
            pending[0].done.wait(self.forever)
            raise AssertionError("stop() queued behind a stuck capture: picamera2 blocks")
        self.started = False
        self.stopped = True

    def close(self):
        if self.closed:
            return
        try:
            self.stop()
        finally:
            self.closed = True
            ACQUIRED.discard(id(self))


class FakeRequest:
    """A completed request: arrays in the accepted configuration's format and stride."""

    def __init__(self, camera: FakePicamera2):
        self.camera = camera
        self.config = camera.camera_config
        self.released = False

    def make_array(self, name):
        stream = self.config[name]
        width, height = stream["size"]
        stride = stream["stride"]
        ramp = np.linspace(10, 240, width).astype(np.uint8)
        if stream["format"] in ("YUV420", "YVU420"):
            array = np.full((height * 3 // 2, stride), 255, np.uint8)  # U, V: nonsense
            array[:height, :width] = ramp[None, :]
            return array
        # packed 4:2:2 (YUYV): Y U Y V ... as picamera2 shapes it, (H, stride / 2, 2)
        packed = np.full((height, stride), 255, np.uint8)
        packed[:, 0 : 2 * width : 2] = ramp[None, :]
        return packed.reshape(height, stride // 2, 2)

    def release(self):
        self.released = True


def wait_until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
