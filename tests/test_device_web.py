"""The web preview: a real server on 127.0.0.1, fetched by real HTTP clients (and a browser)."""

from __future__ import annotations

import http.client
import io
import logging
import select
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from gallery_support import get_json, wait_until  # tests/ is on sys.path (pytest rootdir import)
from PIL import Image
from test_device_live import make_video  # tests/ is on sys.path (pytest rootdir import)

from edgecolor.device.frames.frame_colorizer import FrameColorizer
from edgecolor.device.frames.loop import LiveLoop
from edgecolor.device.frames.preview import BOUNDARY, PreviewServer
from edgecolor.device.frames.sources import parse_source
from edgecolor.device.runtime.colorizer import Colorizer
from edgecolor.device.web import is_loopback, lan_address, parse_bind
from edgecolor.errors import UsageError


def test_parse_bind_defaults_to_loopback():
    assert parse_bind("8080") == ("127.0.0.1", 8080)
    assert parse_bind("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_bind("[::1]:81") == ("::1", 81)
    for bad in ("http", "host:", "1.2.3.4:70000"):
        with pytest.raises(UsageError, match="--serve"):
            parse_bind(bad)
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.7")


def test_non_loopback_bind_warns_and_shows_the_address_to_open(caplog):
    with caplog.at_level(logging.WARNING, logger="edgecolor.device.web"):
        server = PreviewServer("0.0.0.0", 0)
    try:
        assert "anyone who can reach this machine" in caplog.text
        # issue 18: not http://0.0.0.0:PORT/ but this machine's address, which answers
        assert "0.0.0.0" not in server.url and lan_address() in server.url
        with urllib.request.urlopen(server.url + "status", timeout=10) as answer:
            assert answer.status == 200
    finally:
        server.stop()


def _connected_while_not_accepting(server, count: int) -> int:
    """How many of ``count`` simultaneous connections the kernel completes while the server
    accepts none (they wait in the listen queue)."""
    server._server.shutdown()  # the accept loop stops; the socket still listens
    clients = []
    try:
        for _ in range(count):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(server.address)
            clients.append(client)
        # the SYN of a connection beyond the backlog is dropped and resent after 1 s
        deadline = time.monotonic() + 0.5
        connected = set()
        while len(connected) < count and time.monotonic() < deadline:
            _, writable, _ = select.select([], clients, [], 0.05)
            connected |= {
                c for c in writable if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            }
        return len(connected)
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("kind", ["preview", "gallery"])
def test_fifty_simultaneous_connections_all_wait_in_the_listen_queue(tmp_path, kind):
    """Issue 17 item 10: a backlog of 5 made 50 simultaneous requests take a second each."""
    from edgecolor.device.gallery.catalogue import Catalogue
    from edgecolor.device.gallery.server import GalleryServer

    if kind == "preview":
        server = PreviewServer("127.0.0.1", 0)
        close = server.stop
    else:
        server = GalleryServer(Catalogue(tmp_path, []), "127.0.0.1", 0)
        close = server.close
    try:
        assert _connected_while_not_accepting(server, 50) == 50
    finally:
        close()


def _raw(server, request: bytes) -> bytes:
    """Everything the server answers to ``request`` before it closes the connection."""
    connection = socket.create_connection(server.address, timeout=10)
    connection.sendall(request)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    connection.close()
    return received


def test_head_and_malformed_requests_get_proper_answers():
    """Issue 17 item 11: HEAD got 501, a malformed request a bare HTML body (HTTP/0.9)."""
    server = PreviewServer("127.0.0.1", 0, source_name="cam")
    try:
        for garbage in (b"\x16\x03\x01 this is not HTTP\r\n\r\n", b"GET\r\n\r\n"):
            answer = _raw(server, garbage)
            assert answer.startswith(b"HTTP/1.0 400 "), answer[:100]
            assert b"Content-Type: text/plain" in answer and b"<html" not in answer
        host, port = server.address
        for target, status in (("/", 200), ("/stream", 200), ("/nothing", 404)):
            connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("HEAD", target)
            head = connection.getresponse()
            assert head.status == status and head.read() == b""
            connection.close()
            if target == "/":
                with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as page:
                    assert int(head.getheader("Content-Length")) == len(page.read())
                    assert head.getheader("Content-Type") == page.headers["Content-Type"]
            if target == "/stream":
                assert head.getheader("Content-Type").startswith("multipart/x-mixed-replace")
        assert server.clients == 0  # a HEAD of /stream is nobody watching
    finally:
        server.stop()


def test_connections_are_capped_and_half_sent_requests_time_out(monkeypatch):
    """Issue 17 item 11: 300 half-sent requests held 300 threads, for ever."""
    from edgecolor.device.frames import preview as web

    monkeypatch.setattr(web, "SOCKET_TIMEOUT", 1.5, raising=False)
    server = PreviewServer("127.0.0.1", 0)
    host, port = server.address
    threads = threading.active_count()
    stalled = []
    try:
        for _ in range(40):
            connection = socket.create_connection((host, port), timeout=10)
            connection.sendall(b"GET /str")  # and nothing more
            stalled.append(connection)
        answer = _raw(server, b"GET / HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 503 "), answer[:100]  # over the cap, at once
        assert threading.active_count() - threads <= web.MAX_CLIENTS
        # the ones that got a thread are dropped after the timeout; the rest had their 503
        for connection in stalled:
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
            assert received == b"" or received.startswith(b"HTTP/1.0 503 ")
        wait_until(lambda: threading.active_count() == threads, timeout=10, what="threads end")
        assert _raw(server, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 ")
    finally:
        for connection in stalled:
            connection.close()
        server.stop()


def test_a_watcher_that_stops_reading_is_dropped_and_frames_are_no_longer_encoded(monkeypatch):
    """Issue 17 item 11: a browser that stopped reading stayed counted, so every frame was
    still encoded for nobody."""
    from edgecolor.device.frames import preview as web
    from edgecolor.device.frames.sinks import FramePictures
    from edgecolor.device.frames.yuv import Yuv420Picture

    monkeypatch.setattr(web, "STREAM_SEND_TIMEOUT", 1.0, raising=False)
    monkeypatch.setattr(web, "STREAM_SEND_BUFFER", 16 * 1024, raising=False)
    server = PreviewServer("127.0.0.1", 0)
    stop = threading.Event()

    def feed():  # frames of noise: JPEGs of tens of kilobytes fill the buffers fast
        generator = np.random.default_rng(0)
        while not stop.is_set():
            gray = generator.integers(0, 256, (120, 160), dtype=np.uint8)
            server.output(FramePictures(gray, Yuv420Picture.from_gray(gray), 0.0))
            stop.wait(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    watcher = socket.socket()
    watcher.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        watcher.connect(server.address)
        watcher.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        wait_until(lambda: server.clients == 1, timeout=10, what="the watcher counted")
        wait_until(lambda: server.clients == 0, timeout=30, what="the stalled watcher dropped")
        assert not server.frames.wanted()  # no frame is encoded for nobody
    finally:
        stop.set()
        feeder.join(timeout=10)
        watcher.close()
        server.stop()


@pytest.fixture
def running_preview(tmp_path, tiny_model):
    """A live loop on a looping clip feeding a preview server on 127.0.0.1 (a free port)."""
    clip = make_video(tmp_path / "clip.avi", frames=10, size=(64, 48))
    # The tiny random model's colours are faint: strengthen them so the test can see them.
    colorizer = Colorizer(tiny_model, device="cpu", threads=1, saturation=5.0)
    server = PreviewServer("127.0.0.1", 0, source_name="clip.avi", model_name="tiny")
    loop = LiveLoop(
        parse_source(str(clip)), FrameColorizer(colorizer), [server], loop=True, pace=True
    )
    stop = threading.Event()
    loop.frame_limit = None
    worker = threading.Thread(target=_run_until, args=(loop, stop), daemon=True)
    worker.start()
    yield server
    stop.set()
    worker.join(timeout=30)
    server.stop()  # the loop stopped it already: safe twice
    assert not worker.is_alive()


def _run_until(loop: LiveLoop, stop: threading.Event) -> None:
    original = loop._process

    def process(*args):
        if stop.is_set():
            from edgecolor.device.frames.sinks import StopRequested

            raise StopRequested("test finished")
        original(*args)

    loop._process = process
    loop.run()


def _read_part(response) -> bytes:
    """One multipart part of an MJPEG response: the JPEG bytes."""
    line = response.readline()
    while line in (b"\r\n", b"\n"):
        line = response.readline()
    assert line.strip() == f"--{BOUNDARY}".encode()
    headers = {}
    while line := response.readline().strip():
        key, _, value = line.decode().partition(":")
        headers[key.lower()] = value.strip()
    assert headers["content-type"] == "image/jpeg"
    return response.read(int(headers["content-length"]))


def test_page_stream_and_nothing_else(running_preview):
    host, port = running_preview.address
    base = f"http://{host}:{port}"
    with urllib.request.urlopen(base + "/", timeout=10) as page:
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        text = page.read().decode()
    assert '<img id="stream" src="/stream"' in text and "fps" in text and "clip.avi" in text
    # issue 18: the fps figure follows the loop (the page's script polls /status) and the
    # header wraps on a narrow screen
    assert 'fetch("/status"' in text and "flex-wrap: wrap" in text
    wait_until(lambda: get_json(base + "/status")["fps"] > 0, timeout=30, what="an fps figure")

    for path in ("/favicon.ico", "/stream/x", "/../etc/passwd", "/index.html"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(base + path, timeout=10)
        assert error.value.code == 404

    connection = http.client.HTTPConnection(host, port, timeout=20)
    connection.request("GET", "/stream")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    first = Image.open(io.BytesIO(_read_part(response)))
    second = Image.open(io.BytesIO(_read_part(response)))
    assert running_preview.clients == 1
    connection.close()
    for picture in (first, second):
        assert picture.size == (128, 48)  # gray | colour, side by side
    pixels = np.asarray(second.convert("RGB")).astype(int)
    # (a JPEG decoder interpolates 4:2:0 chroma across the seam into the last gray column)
    gray_half, colour_half = pixels[20:, :63], pixels[20:, 64:]
    assert np.abs(gray_half[..., 0] - gray_half[..., 2]).max() <= 12
    assert np.abs(colour_half[..., 0] - colour_half[..., 2]).max() > 12


CHROMIUM = next(
    (path for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if shutil.which(path)),
    None,
)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless browser test needs /usr/bin/chromium (apt-get install chromium)",
)
def test_page_renders_in_a_headless_browser(running_preview, tmp_path):
    host, port = running_preview.address
    screenshot = tmp_path / "page.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=3000",
            "--window-size=800,600",
            f"--screenshot={screenshot}",
            f"http://{host}:{port}/",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    picture = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    assert picture.shape[:2] == (600, 800)
    # The stream is drawn: somewhere on the page there is colour (not the gray page alone).
    assert (np.abs(picture[..., 0] - picture[..., 2]) > 12).sum() > 1000


def test_live_command_serves_the_preview(tmp_path, tiny_model, capsys, caplog):
    from edgecolor.cli import main

    caplog.set_level(logging.INFO)

    clip = make_video(tmp_path / "clip.avi", frames=20, fps=50.0)
    arguments = [
        "live",
        "--source",
        str(clip),
        "--serve",
        "127.0.0.1:0",
        "--loop",
        "--frames",
        "150",
    ]
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.setdefault("code", main([*arguments, "--model", str(tiny_model)])),
        daemon=True,
    )
    worker.start()
    url, seen = None, ""
    for _ in range(300):
        seen += capsys.readouterr().err
        found = [
            line for line in seen.splitlines() if line.startswith("web preview: http://127.0.0.1:")
        ]
        if found:
            url = found[0].split(": ", 1)[1]
            break
        worker.join(timeout=0.05)
    assert url, seen
    assert "web preview at" not in caplog.text  # issue 18: the banner once
    with urllib.request.urlopen(url, timeout=10) as page:
        assert b'src="/stream"' in page.read()
    host, port = url[len("http://") :].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=20)
    connection.request("GET", "/stream")
    picture = Image.open(io.BytesIO(_read_part(connection.getresponse())))
    assert picture.size == (128, 48)
    connection.close()
    worker.join(timeout=60)
    assert outcome.get("code") == 0
