"""``--serve``: the live picture in a browser, for a headless Pi watched from a phone.

Three addresses and nothing else (any other path is 404):

* ``/`` a page with the picture (gray | colour, side by side) and the frame rate;
* ``/stream`` the picture as MJPEG (``multipart/x-mixed-replace``), which every browser
  shows in an ``<img>`` without JavaScript;
* ``/status`` the frame rate (and, while the Edge TPU is left for the CPU, why) as JSON,
  which the page's small script shows once a second.

HEAD gets GET's headers; a malformed request 400 (with a status line). At most
``MAX_CLIENTS`` connections at once (more get 503); a request not sent within
``SOCKET_TIMEOUT`` and a watcher that takes no frame within ``STREAM_SEND_TIMEOUT`` are
dropped, so nobody keeps a thread, or the Pi encoding frames, by stalling. Binding rules:
:mod:`edgecolor.device.web`. The preview is a live-loop sink: frames are JPEG-encoded
once each (by :class:`LatestJpeg`), and only while somebody is watching.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import socket
import threading
from http import HTTPStatus

import numpy as np

from edgecolor import optional
from edgecolor.device.frames.sinks import FramePictures, Sink
from edgecolor.device.frames.yuv import FRAMES_NEED, Yuv420Picture
from edgecolor.device.web import DEFAULT_HOST, BackgroundServer, QuietHandler

logger = logging.getLogger(__name__)

BOUNDARY = "edgecolorframe"
JPEG_QUALITY = 80
# A Pi serves a few phones, not the Internet; each connection is a thread and, for /stream,
# a JPEG encoded every frame. So: a cap on connections, and clients that stall are dropped.
MAX_CLIENTS = 16  # connections at once (a watching browser holds one, two while loading)
SOCKET_TIMEOUT = 20.0  # s: a request not sent whole by then is dropped (no thread kept)
STREAM_SEND_TIMEOUT = 10.0  # s: a frame a watcher does not take in this long ends its stream
STREAM_SEND_BUFFER = 256 * 1024  # bytes the kernel queues for a watcher: a few frames, so
# a browser that stops reading blocks the stream (and is dropped) within seconds, not minutes

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgecolor live</title>{refresh}
<style>
 body {{ margin: 0; background: #111; color: #eee; font: 16px system-ui, sans-serif; }}
 header {{ display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0.2em 1em;
          padding: 0.5em 1em; }}
 header span {{ overflow-wrap: anywhere; }}
 img {{ display: block; width: 100%; max-width: 1600px; margin: 0 auto; }}
 .labels {{ display: flex; max-width: 1600px; margin: 0 auto; }}
 .labels span {{ flex: 1; text-align: center; padding: 0.3em; color: #aaa; }}
 .problem {{ text-align: center; padding: 1em; color: #fc6; }}
 .note {{ text-align: center; margin: 0; padding: 0.3em 1em; color: #fc6; }}
</style>
</head>
<body>
<header><strong>edgecolor live</strong><span>source: {source} &middot; model: {model}
 &middot; <span id="fps">{fps:.1f}</span> fps</span></header>{problem}
<p class="note" id="colorizer"{colorizer_hidden}>{colorizer}</p>
<div class="labels"><span>gray (input)</span><span>colour (edgecolor)</span></div>
<img id="stream" src="/stream" alt="live picture: gray input and colorized output side by side">
<script>
// The frame rate and the colorizer's state, once a second (the picture itself needs no
// script: MJPEG in an <img>).
const fps = document.getElementById("fps");
const colorizer = document.getElementById("colorizer");
setInterval(() => fetch("/status", {{cache: "no-store"}})
  .then((answer) => answer.json())
  .then((status) => {{
    fps.textContent = status.fps.toFixed(1);
    colorizer.textContent = status.colorizer || "";
    colorizer.hidden = !status.colorizer;
  }})
  .catch(() => {{}}), 1000);
</script>
</body>
</html>
"""


class LatestJpeg(Sink):
    """The JPEG stage: each frame's picture (gray | colour side by side, the preview's
    layout) JPEG-encoded while anybody wants it, the newest kept for every watcher that
    waits for the next one.

    The web preview's watchers read it; ``edgecolor bench`` gives one that nobody reads
    (``always``), to time what the preview does to every frame while somebody watches.

    Args:
        always: want every frame even with no watcher (``edgecolor bench``).
    """

    def __init__(self, always: bool = False):
        self.always = always
        self.fps = 0.0
        self.frames = 0
        self.watchers = 0
        self._condition = threading.Condition()
        self._jpeg: bytes | None = None
        self._closing = False

    def wanted(self) -> bool:
        return self.always or self.watchers > 0

    def output(self, pictures: FramePictures) -> None:
        if not self.wanted():
            self.fps = pictures.fps
            return
        jpeg = encode_jpeg(pictures.picture(side_by_side=True))
        with self._condition:
            self.fps = pictures.fps
            self._jpeg = jpeg
            self.frames += 1
            self._condition.notify_all()

    def next_jpeg(self, last: int) -> tuple[bytes | None, int]:
        """Wait for a picture newer than number ``last``: (JPEG, its number), or (None, ...)
        once the stream stops."""
        with self._condition:
            while not self._closing and (self._jpeg is None or self.frames == last):
                self._condition.wait(timeout=0.5)
            if self._closing:
                return None, last
            return self._jpeg, self.frames

    @contextlib.contextmanager
    def watching(self):
        """Count a watcher while the block runs: frames are encoded only while somebody is."""
        with self._condition:
            self.watchers += 1
        try:
            yield self
        finally:
            with self._condition:
                self.watchers -= 1

    def stop(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify_all()


class PreviewServer(BackgroundServer, Sink):
    """The web preview: a live-loop sink whose pictures are served until :meth:`stop`.

    A :class:`LatestJpeg` that the HTTP handler serves. Listens from construction on (so
    the address can be printed before the loop starts: nothing to do at ``start``).

    Args:
        host, port: where to listen (port 0 = any free port; see :attr:`url`).
        source_name, model_name: shown on the page.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 8080,
        source_name: str = "",
        model_name: str = "",
    ):
        self.source_name = source_name
        self.model_name = model_name
        self.frames = LatestJpeg()
        self._stopped = False
        # Why there is no picture, shown on the page (e.g. "camera not found, retrying in
        # 10 s" while the loop waits for the camera); None: the picture flows.
        self.problem: str | None = None
        # Why the picture is colorized on the CPU although the Edge TPU was asked for (it
        # failed mid-run); None: as asked. The picture flows, so the page does not reload.
        self.colorizer_problem: str | None = None
        super().__init__(host, port, _handler_class(self), MAX_CLIENTS)

    @property
    def clients(self) -> int:
        """How many browsers are watching /stream right now."""
        return self.frames.watchers

    def output(self, pictures: FramePictures) -> None:
        self.frames.output(pictures)

    def show_problem(self, problem: str | None) -> None:
        """Sink API: the page says why there is no picture (and reloads itself meanwhile)."""
        self.problem = problem

    def show_colorizer_problem(self, problem: str | None) -> None:
        """Sink API: the page and /status say the Edge TPU was left for the CPU (and why)."""
        self.colorizer_problem = problem

    def stop(self) -> None:
        """End the streams and stop serving (safe to call twice)."""
        self.frames.stop()
        if not self._stopped:
            self._stopped = True
            self.stop_serving()

    def page(self) -> bytes:
        problem, colorizer = self.problem, self.colorizer_problem
        return PAGE.format(
            source=html.escape(self.source_name),
            model=html.escape(self.model_name),
            fps=self.frames.fps,
            # while there is a problem, the page reloads itself to see when it is over
            refresh='\n<meta http-equiv="refresh" content="10">' if problem else "",
            problem=f'\n<p class="problem">{html.escape(problem)}</p>' if problem else "",
            colorizer=html.escape(colorizer or ""),
            colorizer_hidden="" if colorizer else " hidden",
        ).encode()

    def status(self) -> bytes:
        """``/status``: what the page's script shows, as JSON."""
        return json.dumps(
            {
                "fps": round(self.frames.fps, 1),
                "watchers": self.clients,
                "colorizer": self.colorizer_problem,
            }
        ).encode()


def _handler_class(preview: PreviewServer) -> type:
    class Handler(QuietHandler):
        timeout = SOCKET_TIMEOUT  # for reading the request; the stream sets its own

        def answer(self, send_body: bool):
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", preview.page(), send_body)
            elif path == "/status":
                self._send(HTTPStatus.OK, "application/json", preview.status(), send_body)
            elif path == "/stream":
                self._stream(send_body)
            else:
                body = b"not found\n"
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", body, send_body)

        def _send(self, status, content_type, body, send_body=True):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _stream(self, send_body: bool):
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            if not send_body:
                return
            # A watcher that stops reading fills these few frames of buffer, then a frame is
            # not taken within the timeout: the stream ends, and with the last watcher gone
            # no frame is encoded any more.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
            self.connection.settimeout(STREAM_SEND_TIMEOUT)
            number = -1
            try:
                with preview.frames.watching() as frames:
                    while True:
                        jpeg, number = frames.next_jpeg(number)
                        if jpeg is None:
                            return
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                        )
                        self.wfile.write(jpeg)
                        self.wfile.write(b"\r\n")
                        self.wfile.flush()
            except OSError:  # (broken pipe, reset, timeout) the browser went away or stalled
                self.close_connection = True

    return Handler


def encode_jpeg(picture: np.ndarray | Yuv420Picture, quality: int = JPEG_QUALITY) -> bytes:
    """RGB uint8 (H, W, 3) or Y'CbCr 4:2:0 planes -> JPEG bytes.

    Planes go to JPEG as they are with simplejpeg when it is installed (no colour
    conversion: JPEG stores 4:2:0 planes itself); RGB through OpenCV, which every frame
    path has (:data:`~edgecolor.device.frames.yuv.FRAMES_NEED`).
    """
    simplejpeg = optional.simplejpeg()
    if isinstance(picture, Yuv420Picture):
        if simplejpeg is not None:
            return simplejpeg.encode_jpeg_yuv_planes(
                picture.y, picture.cb, picture.cr, quality=quality
            )
        picture = picture.to_rgb()
    cv2 = optional.require_cv2(FRAMES_NEED)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()
