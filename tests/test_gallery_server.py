"""The scan gallery's server: a real scan service and a real HTTP client, hostile requests too."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from importlib import resources
from pathlib import Path

import pytest
from gallery_support import (  # tests/ is on sys.path (pytest rootdir import)
    drop_scan,
    get_json,
    start_scan_service,
    wait_until,
)
from PIL import Image
from processes import sigint_at_its_default

from edgecolor.device.files.scan import ScanEvent
from edgecolor.device.gallery import renditions
from edgecolor.device.gallery.catalogue import Catalogue
from edgecolor.device.gallery.server import GalleryServer
from edgecolor.device.web import lan_address


@pytest.fixture
def service(tmp_path, tiny_model):
    watch, out = tmp_path / "inbox", tmp_path / "colorized"
    watch.mkdir()
    drop_scan(watch, "first.jpg", seed=1)
    drop_scan(watch, "box 2/second.tif", seed=2)
    running = start_scan_service(watch, out, tiny_model)
    wait_until(lambda: len(running.scan_names()) == 2, what="the first two scans")
    yield running
    running.close()


def _request(service, method: str, target: str, headers: dict | None = None, body=None):
    host, port = service.server.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    content = response.read()
    connection.close()
    return response, content


def _tree_digest(*folders: Path) -> dict[str, str]:
    """Every file under the folders (the gallery's own cache excepted) -> its SHA-256."""
    digests = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".edgecolor" not in path.parts:
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_scans_newest_first_as_pairs_with_thumbnails_views_and_downloads(service):
    drop_scan(service.watch, "third.png", seed=3)
    wait_until(lambda: service.scan_names()[0] == "third.png", what="third.png on top")
    listing = get_json(service.base + "/api/scans")
    assert [scan["name"] for scan in listing["scans"]] == [
        "third.png",
        "box 2/second.tif",
        "first.jpg",
    ]
    assert listing["more"] is False
    by_name = {scan["name"]: scan for scan in listing["scans"]}

    tiff = by_name["box 2/second.tif"]
    assert tiff["before"] == "/before/box%202/second.tif"
    assert tiff["view_before"].startswith("/view/before/")  # a browser cannot show TIFF
    for side in ("before", "after"):
        with urllib.request.urlopen(service.base + tiff[f"thumb_{side}"], timeout=30) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            thumbnail = Image.open(io.BytesIO(response.read()))
        assert thumbnail.format == "JPEG" and thumbnail.size == (160, 120)  # never enlarged
        with urllib.request.urlopen(service.base + tiff[f"view_{side}"], timeout=30) as response:
            assert Image.open(io.BytesIO(response.read())).format == "JPEG"
    # downloads are the files themselves, byte for byte
    with urllib.request.urlopen(service.base + tiff["before"], timeout=30) as response:
        assert response.read() == (service.watch / "box 2" / "second.tif").read_bytes()
        assert "second.tif" in response.headers["Content-Disposition"]
    with urllib.request.urlopen(service.base + tiff["after"], timeout=30) as response:
        assert response.read() == (service.out / "box 2" / "second.tif").read_bytes()
    jpeg = by_name["first.jpg"]
    assert jpeg["view_after"].startswith("/after/first.jpg")  # shown as it is

    status = get_json(service.base + "/api/status")
    assert status["scans"] == 3 and status["scanning"] is True and status["queued"] == 0
    assert status["current"] is None and status["failed_total"] == 0
    page = urllib.request.urlopen(service.base + "/", timeout=30)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    text = page.read().decode()
    assert "/api/scans" in text and "EventSource" in text and 'name="viewport"' in text
    assert "http://" not in text and "https://" not in text  # nothing from a CDN: works offline


def test_thumbnails_are_cached_atomically_and_rebuilt_when_stale(service):
    thumbnail = renditions.cache_path(service.out, "thumb", "before", "first.jpg")
    url = service.base + "/thumb/before/first.jpg"
    urllib.request.urlopen(url, timeout=30).read()
    made = thumbnail.stat()
    urllib.request.urlopen(url, timeout=30).read()
    assert thumbnail.stat().st_ino == made.st_ino  # served from the cache, not made again
    assert made.st_mtime_ns == (service.watch / "first.jpg").stat().st_mtime_ns
    leftovers = [p.name for p in thumbnail.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary files left behind

    thumbnail.unlink()  # missing: made again
    urllib.request.urlopen(url, timeout=30).read()
    assert thumbnail.exists()
    first_pixels = Image.open(thumbnail).convert("L").getpixel((10, 10))
    # stale: the original was replaced (by a file with an older time, even)
    Image.new("L", (160, 120), 255 - first_pixels).save(service.watch / "first.jpg.tmp.jpg")
    os.utime(service.watch / "first.jpg.tmp.jpg", ns=(1, made.st_mtime_ns - 10**9))
    (service.watch / "first.jpg.tmp.jpg").replace(service.watch / "first.jpg")
    renditions.rendition(service.watch / "first.jpg", thumbnail, renditions.THUMBNAIL)
    assert abs(Image.open(thumbnail).convert("L").getpixel((10, 10)) - (255 - first_pixels)) < 8


def test_pages_cover_every_scan_once_newest_first(tmp_path):
    """10,000 scans are never sent at once: pages of at most 200, found by binary search."""
    out = tmp_path / "out"
    (out / ".edgecolor").mkdir(parents=True)
    lines = []
    for number in range(450):
        output = out / f"roll {number // 100}" / f"scan-{number:04d}.jpg"
        output.parent.mkdir(exist_ok=True)
        output.write_bytes(b"a colorized file")
        lines.append(
            json.dumps(
                {
                    "output": str(output.resolve()),
                    "source": f"/in/{number}.jpg",
                    "kind": "image",
                    "time": "2026-01-01T00:00:00Z",
                }
            )
        )
    lines[7] = lines[7][:-5]  # a line cut short by a crash is skipped
    (out / ".edgecolor" / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    catalogue = Catalogue(out, [])
    assert len(catalogue) == 449
    server = GalleryServer(catalogue, "127.0.0.1", 0)
    try:
        base = server.url.rstrip("/")
        seen, before = [], ""
        while True:
            page = get_json(f"{base}/api/scans?limit=200{before}")
            assert len(page["scans"]) <= 200
            seen += [scan["sequence"] for scan in page["scans"]]
            if not page["more"]:
                break
            before = f"&before={page['scans'][-1]['sequence']}"
        assert seen == sorted(seen, reverse=True) and len(set(seen)) == 449
        # a re-colorized file moves to the top, once
        catalogue.on_scan_event(_finished(out / "roll 0" / "scan-0003.jpg", tmp_path))
        newer = get_json(f"{base}/api/scans?after={max(seen)}")["scans"]
        assert [scan["name"] for scan in newer] == ["roll 0/scan-0003.jpg"]
        everything = get_json(f"{base}/api/scans?limit=200")["scans"]
        assert [scan["name"] for scan in everything].count("roll 0/scan-0003.jpg") == 1
    finally:
        server.close()


def _finished(output: Path, tmp_path: Path, status: str = "done", reason: str = "") -> ScanEvent:
    from edgecolor.device.files import batch

    job = batch.Job(tmp_path / "in" / output.name, output, "image")
    return ScanEvent("finished", 0, job, batch.Outcome(job, status, reason))


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/after/../../../../etc/passwd", 404),
        ("GET", "/after/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404),
        ("GET", "/after/..%2f..%2f..%2fetc%2fpasswd", 404),
        ("GET", "/after/%252e%252e%252fetc%252fpasswd", 404),
        ("GET", "/before//etc/passwd", 404),
        ("GET", "/thumb/before/../first.jpg", 404),
        ("GET", "/.edgecolor/manifest.jsonl", 404),
        ("GET", "/after/.edgecolor/manifest.jsonl", 404),
        ("GET", "/index.html", 404),
        ("GET", "/after/first.jpg%00.png", 400),
        ("GET", "/after/%ff%fe", 400),
        ("GET", "/after\\..\\first.jpg", 400),
        ("GET", "http://127.0.0.1/", 400),
        ("GET", "/api/scans?limit=abc", 400),
        ("GET", "/api/scans?limit=100000", 400),
        ("GET", "/api/scans?before=-1", 400),
        ("GET", "/" + "a" * 20_000, 414),
        ("GET", "/after/first.jpg?" + "x=1&" * 5_000, 414),
        ("POST", "/", 405),
        ("POST", "/after/first.jpg", 405),
        ("PUT", "/after/first.jpg", 405),
        ("DELETE", "/after/first.jpg", 405),
        ("PATCH", "/api/scans", 405),
    ],
)
def test_hostile_requests_are_refused_and_the_service_goes_on(service, method, target, expected):
    before = _tree_digest(service.watch, service.out)
    body = b"x" * 1000 if method in ("POST", "PUT", "PATCH") else None
    response, content = _request(service, method, target, body=body)
    assert response.status == expected, (target[:80], content[:200])
    assert b"root:" not in content
    if expected == 405:
        assert response.getheader("Allow") == "GET, HEAD"
    assert _tree_digest(service.watch, service.out) == before  # nothing changed, ever
    response, content = _request(service, "GET", "/api/status")
    assert response.status == 200 and json.loads(content)["scans"] == 2


def test_malformed_and_stalled_connections_do_not_stop_the_service(service):
    host, port = service.server.address
    garbage = socket.create_connection((host, port), timeout=30)
    garbage.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
    assert garbage.recv(100).startswith(b"HTTP/1.1 400")
    garbage.close()
    stalled = socket.create_connection((host, port), timeout=30)
    stalled.sendall(b"GET /api/sta")  # and nothing more
    streams = []
    for _ in range(3):  # pages open that never read their event stream
        stream = socket.socket()
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stream.connect((host, port))
        stream.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        streams.append(stream)
    for number in range(3):
        drop_scan(service.watch, f"later-{number}.jpg", seed=10 + number)
    wait_until(lambda: len(service.scan_names()) == 5, what="three more scans while stalled")
    response, _ = _request(service, "GET", "/")
    assert response.status == 200
    for connection in (stalled, *streams):
        connection.close()


def test_a_request_body_is_never_taken_for_the_next_request(service):
    host, port = service.server.address
    smuggled = b"GET /after/first.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
    for method in (b"GET", b"POST"):
        connection = socket.create_connection((host, port), timeout=30)
        connection.sendall(
            method
            + b" /api/status HTTP/1.1\r\nHost: x\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(smuggled)
            + smuggled
        )
        received = b""
        while chunk := connection.recv(65536):  # until the server closes the connection
            received += chunk
        connection.close()
        assert received.count(b"HTTP/1.1 ") == 1, received[:300]
        assert b"Connection: close" in received


def test_head_gives_headers_without_a_body(service):
    for target in ("/", "/api/status", "/after/first.jpg", "/thumb/after/first.jpg"):
        get, body = _request(service, "GET", target)
        head, empty = _request(service, "HEAD", target)
        assert head.status == get.status == 200 and empty == b""
        assert head.getheader("Content-Type") == get.getheader("Content-Type")
        if target != "/api/status":  # (the status may change between the two requests)
            assert int(head.getheader("Content-Length")) == len(body)
    head, empty = _request(service, "HEAD", "/after/nothing.jpg")
    assert head.status == 404 and empty == b""


def test_symlinks_out_of_the_folders_are_not_followed(service, tmp_path):
    secret = tmp_path / "secret.jpg"
    drop_scan(tmp_path, "secret.jpg", seed=5)
    os.symlink(secret, service.watch / "linked.jpg")  # a scan that is a link out of IN
    wait_until(lambda: "linked.jpg" in service.scan_names(), what="linked.jpg colorized")
    scan = next(
        s for s in get_json(service.base + "/api/scans")["scans"] if s["name"] == "linked.jpg"
    )
    assert scan["before"] is None and scan["thumb_before"] is None  # not offered ...
    for target in ("/before/linked.jpg", "/thumb/before/linked.jpg", "/view/before/linked.jpg"):
        assert _request(service, "GET", target)[0].status == 404  # ... and not served
    # an output replaced by a link out of OUT
    (service.out / "first.jpg").unlink()
    os.symlink(secret, service.out / "first.jpg")
    for target in ("/after/first.jpg", "/thumb/after/first.jpg"):
        response, content = _request(service, "GET", target)
        assert response.status == 404 and content == b"not found\n"
    assert _request(service, "GET", "/after/box%202/second.tif")[0].status == 200


def _colorized_folder(folder: Path) -> tuple[Path, Path]:
    """(IN, OUT) as ``edgecolor scan`` leaves them after one scan, first.jpg (no model run)."""
    watch, out = folder / "inbox", folder / "colorized"
    (out / ".edgecolor").mkdir(parents=True)
    drop_scan(watch, "first.jpg", seed=1)
    drop_scan(out, "first.jpg", seed=2)
    record = {
        "output": str((out / "first.jpg").resolve()),
        "source": str((watch / "first.jpg").resolve()),
        "kind": "image",
    }
    (out / ".edgecolor" / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    return watch, out


def _get(server: GalleryServer, target: str, headers: dict | None = None):
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", target, headers=headers or {})
    response = connection.getresponse()
    content = response.read()
    connection.close()
    return response, content


def _same_time(path: Path, like: Path) -> None:
    status = like.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_a_link_in_the_thumbnail_cache_is_made_again_never_served(tmp_path):
    """Issue 17 item 9: a link planted in the cache, with the scan's time copied onto the
    scan, was taken for a fresh rendition and whatever it pointed to was served."""
    watch, out = _colorized_folder(tmp_path)
    secret = tmp_path / "hostname"
    secret.write_text("root: a secret of the Pi\n")
    server = GalleryServer(Catalogue(out, [watch]), "127.0.0.1", 0)
    try:
        for route, side, scan in (
            ("view", "after", out / "first.jpg"),
            ("thumb", "after", out / "first.jpg"),
            ("thumb", "before", watch / "first.jpg"),
        ):
            cached = renditions.cache_path(out, route, side, "first.jpg")
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(secret, cached)  # ln -sf /etc/hostname OUT/.edgecolor/...
            _same_time(scan, secret)  # touch -r /etc/hostname OUT/first.jpg
            response, content = _get(server, f"/{route}/{side}/first.jpg")
            assert response.status == 200 and b"secret" not in content
            assert Image.open(io.BytesIO(content)).format == "JPEG"
            assert not cached.is_symlink() and cached.is_file()  # the link was replaced
            assert secret.read_text() == "root: a secret of the Pi\n"  # and left alone

        # a folder of the cache replaced by a link out of OUT: refused
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "first.jpg.jpg").write_text("root: a secret of the Pi\n")
        _same_time(elsewhere / "first.jpg.jpg", watch / "first.jpg")
        views = renditions.cache_path(out, "view", "before", "first.jpg").parent
        views.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(elsewhere, views)
        response, content = _get(server, "/view/before/first.jpg")
        assert response.status == 404 and b"secret" not in content
    finally:
        server.close()


def test_downloads_resume_with_a_single_byte_range(tmp_path):
    """Issue 17 item 12: Range was ignored, so an interrupted download began again."""
    watch, out = _colorized_folder(tmp_path)
    server = GalleryServer(Catalogue(out, [watch]), "127.0.0.1", 0)
    try:
        for target, path in (
            ("/after/first.jpg", out / "first.jpg"),
            ("/before/first.jpg", watch / "first.jpg"),
        ):
            data = path.read_bytes()
            size = len(data)
            whole, content = _get(server, target)
            assert whole.status == 200 and content == data
            assert whole.getheader("Accept-Ranges") == "bytes"
            for wanted, first, last in (
                ("bytes=10-19", 10, 19),
                ("bytes=100-", 100, size - 1),
                ("bytes=-5", size - 5, size - 1),
                ("bytes=0-99999999", 0, size - 1),
            ):
                response, content = _get(server, target, {"Range": wanted})
                assert response.status == 206, wanted
                assert response.getheader("Content-Range") == f"bytes {first}-{last}/{size}"
                assert content == data[first : last + 1]
            for wanted in (f"bytes={size}-", "bytes=-0"):
                response, content = _get(server, target, {"Range": wanted})
                assert response.status == 416 and b"first" not in content
                assert response.getheader("Content-Range") == f"bytes */{size}"
            for ignored in ("bytes=0-1,5-6", "bytes=abc", "bytes=9-3", "lines=1-2"):
                response, content = _get(server, target, {"Range": ignored})
                assert response.status == 200 and content == data, ignored
            # resuming is safe only while the file is the same one (If-Range)
            same = {"Range": "bytes=10-", "If-Range": whole.getheader("ETag")}
            response, content = _get(server, target, same)
            assert response.status == 206 and content == data[10:]
            changed = {"Range": "bytes=10-", "If-Range": '"another-file"'}
            response, content = _get(server, target, changed)
            assert response.status == 200 and content == data
        host, port = server.address
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request("HEAD", "/after/first.jpg", headers={"Range": "bytes=10-19"})
        head = connection.getresponse()
        assert head.status == 206 and head.getheader("Content-Length") == "10"
        assert head.read() == b""
        connection.close()
    finally:
        server.close()


def test_failures_and_the_current_file_reach_an_open_event_stream(service):
    """The file being colorized is on the stream while it is colorized. The colorizer waits
    until the stream has shown it (or 60 s, then the assertion below fails): a tiny model
    colorizes in milliseconds, and a busy machine may wake the stream only after that."""
    factory = service.watcher.colorizer_factory
    colorize, shown = factory.colorize, threading.Event()

    def colorize_once_shown(image):
        shown.wait(60)
        return colorize(image)

    factory.colorize = colorize_once_shown  # only fourth.jpg is colorized from here on
    host, port = service.server.address
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.request("GET", "/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        (service.watch / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
        drop_scan(service.watch, "fourth.jpg", seed=4)
        seen_current, seen = set(), None
        while seen is None or seen["failed_total"] == 0 or seen["scans"] < 3:
            line = response.readline()
            assert line, "the stream ended"
            if line.startswith(b"data: "):
                seen = json.loads(line[6:])
                if seen["current"]:
                    seen_current.add(Path(seen["current"]).name)
                    if "fourth.jpg" in seen_current:
                        shown.set()
    finally:
        shown.set()  # never leave the watcher waiting
        connection.close()
    # relative to the watched folder: the page is for the LAN, not the server's layout
    assert seen["failures"] == [{"name": "torn.jpg", "reason": seen["failures"][0]["reason"]}]
    assert (
        "not an image" in seen["failures"][0]["reason"]
        or "corrupt" in seen["failures"][0]["reason"]
    )
    assert "fourth.jpg" in seen_current  # the file being colorized was shown


def test_api_status_never_shows_absolute_server_paths(tmp_path):
    """Failures and the current file, as a LAN client reads /api/status: relative names only,
    also inside the reason a decoder or the OS gave (they name the file and its folder)."""
    from edgecolor.device.files import batch

    watch, out = tmp_path / "inbox", tmp_path / "colorized"
    (watch / "box 3").mkdir(parents=True)
    out.mkdir()
    catalogue = Catalogue(out, [watch], scanning=True)
    server = GalleryServer(catalogue, "127.0.0.1", 0)
    try:
        bad = watch / "box 3" / "torn.jpg"
        job = batch.Job(bad, out / "box 3" / "torn.jpg", "image")
        reason = f"cannot identify image file '{bad}'; cannot write {out}/box 3"
        catalogue.on_scan_event(ScanEvent("finished", 0, job, batch.Outcome(job, "failed", reason)))
        elsewhere = batch.Job(tmp_path / "odd" / "lost.png", out / "lost.png", "image")
        catalogue.on_scan_event(ScanEvent("started", 1, elsewhere))
        host, port = server.address
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request("GET", "/api/status")
        response = connection.getresponse()
        body = response.read().decode()
        connection.close()
    finally:
        server.close()
    assert response.status == 200
    assert str(tmp_path) not in body, body
    status = json.loads(body)
    assert status["failures"] == [
        {
            "name": "box 3/torn.jpg",
            "reason": "cannot identify image file 'box 3/torn.jpg'; cannot write box 3",
        }
    ]
    assert status["current"] == "lost.png"  # outside every folder: the bare name


def test_a_listener_that_nobody_reads_never_blocks_the_watcher(tmp_path):
    """Events are recorded and returned from at once, whatever the browsers do."""
    catalogue = Catalogue(tmp_path, [], scanning=True)
    server = GalleryServer(catalogue, "127.0.0.1", 0)
    host, port = server.address
    stream = socket.socket()
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stream.connect((host, port))
    stream.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
    events = threading.Thread(
        target=lambda: [
            catalogue.on_scan_event(
                _finished(tmp_path / f"f{n}.jpg", tmp_path, "failed", "x" * 500)
            )
            for n in range(5000)
        ]
    )
    events.start()
    events.join(timeout=60)
    assert not events.is_alive()
    assert catalogue.status()["failed_total"] == 5000 and len(catalogue.status()["failures"]) == 100
    server.close()
    stream.close()


def test_too_many_event_streams_get_503(tmp_path, monkeypatch):
    from edgecolor.device.gallery import server as server_module

    monkeypatch.setattr(server_module, "MAX_EVENT_STREAMS", 1)
    server = GalleryServer(Catalogue(tmp_path, []), "127.0.0.1", 0)
    host, port = server.address
    first = http.client.HTTPConnection(host, port, timeout=30)
    first.request("GET", "/events")
    streaming = first.getresponse()  # kept: the stream's socket closes with it
    assert streaming.status == 200
    second = http.client.HTTPConnection(host, port, timeout=30)
    second.request("GET", "/events")
    assert second.getresponse().status == 503  # the page then polls /api/status
    streaming.close()
    first.close()
    second.close()
    server.close()


def test_an_event_stream_slot_is_free_as_soon_as_its_page_closes(tmp_path, monkeypatch):
    """Issue 17 item 12: a slot was held about 30 s after its browser left (two keep-alive
    writes to find out), so a page opened meanwhile got 503."""
    from edgecolor.device.gallery import server as server_module

    monkeypatch.setattr(server_module, "MAX_EVENT_STREAMS", 1)
    server = GalleryServer(Catalogue(tmp_path, []), "127.0.0.1", 0)
    host, port = server.address
    try:
        first = http.client.HTTPConnection(host, port, timeout=30)
        first.request("GET", "/events")
        response = first.getresponse()
        assert response.status == 200 and response.readline().startswith(b"event: status")
        response.close()  # the page is closed
        first.close()
        statuses = []

        def second_page_streams() -> bool:
            second = http.client.HTTPConnection(host, port, timeout=30)
            second.request("GET", "/events")
            statuses.append(second.getresponse().status)
            second.close()
            return statuses[-1] == 200

        wait_until(second_page_streams, timeout=5, what="the slot freed")
    finally:
        server.close()


def test_a_restarted_service_has_a_new_generation_for_open_pages(tmp_path):
    """Issue 17 item 12: numbers start again at 1 after a restart (lower than an open page's
    newest when outputs were deleted), so the page asked for scans after a number the server
    would not reach for a while. The status now names the process's generation."""
    watch, out = _colorized_folder(tmp_path)
    generations = []
    for _ in range(2):  # the service, then the service restarted
        server = GalleryServer(Catalogue(out, [watch]), "127.0.0.1", 0)
        try:
            status = get_json(server.url + "api/status")
            assert status["newest"] == 1
            generations.append(status["generation"])
        finally:
            server.close()
    assert generations[0] != generations[1] and all(generations)


NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's script")
def test_the_page_loads_its_list_again_when_the_server_restarted():
    """The page's own rule (page.html, serverRestarted), run in Node; the whole page runs in
    Chromium in test_gallery_browser.py."""
    page = resources.files("edgecolor.device.gallery").joinpath("page.html").read_text()
    function = re.search(r"^function serverRestarted\(.*?^}$", page, re.S | re.M).group(0)
    cases = [
        ({"generation": "a", "newest": 5}, None, False),  # the first status the page sees
        ({"generation": "a", "newest": 5}, "a", False),
        ({"generation": "a", "newest": 1}, "a", False),  # an old answer, same process
        ({"generation": "b", "newest": 1}, "a", True),  # restarted, outputs deleted
        ({"generation": "b", "newest": 90}, "a", True),  # restarted, more scans since
    ]
    script = function + "\nconsole.log(JSON.stringify(%s.map(([s, g]) => serverRestarted(s, g))));"
    arguments = json.dumps([[status, known] for status, known, _ in cases])
    result = subprocess.run(
        [NODE, "-e", script % arguments], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [expected for _, _, expected in cases]
    assert "if (restarted) loadListAgain();" in page  # what showStatus does about it


# --------------------------------------------------------------------------- the commands


def _start(arguments: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """Run ``edgecolor ARGUMENTS``; return it and the page's URL from its stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "edgecolor.cli", *arguments],
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        preexec_fn=sigint_at_its_default,
    )
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("gallery: http://"):
            url = line.split()[1].rstrip("/")
            threading.Thread(
                target=lambda: [lines.append(x) for x in process.stderr], daemon=True
            ).start()
            process.lines = lines
            return process, url
    raise AssertionError(f"no gallery line; stderr: {''.join(lines)}")


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_scan_serve_command_colorizes_serves_and_stops_both(tmp_path, tiny_model, stop_signal):
    watch, out = tmp_path / "inbox", tmp_path / "out"
    watch.mkdir()
    drop_scan(watch, "a.jpg", seed=1)
    process, url = _start(
        [
            "scan",
            "--watch",
            str(watch),
            "-o",
            str(out),
            "--serve",
            "127.0.0.1:0",
            "--settle",
            "0.2",
            "--interval",
            "0.2",
            "--model",
            str(tiny_model),
            "--device",
            "cpu",
        ],
        tmp_path,
    )
    try:
        wait_until(lambda: get_json(url + "/api/status")["scans"] == 1, what="a.jpg")
        drop_scan(watch, "b.jpg", seed=2)
        wait_until(lambda: get_json(url + "/api/status")["scans"] == 2, what="b.jpg")
        process.send_signal(stop_signal)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert _refused(url)  # the page stopped with the scanner
    assert "2 colorized" in "".join(process.lines)


def test_gallery_command_follows_a_colorized_folder_and_warns_when_exposed(tmp_path, tiny_model):
    photos, out = tmp_path / "photos", tmp_path / "out"
    drop_scan(photos, "old.jpg", seed=1)
    colorize = [
        sys.executable,
        "-m",
        "edgecolor.cli",
        "colorize",
        "-o",
        str(out),
        "--model",
        str(tiny_model),
        "--device",
        "cpu",
    ]
    subprocess.run([*colorize, str(photos)], check=True, capture_output=True)
    process, url = _start(
        ["gallery", "-o", str(out), "--serve", "0.0.0.0:0", "--originals", str(photos)], tmp_path
    )
    local = "http://127.0.0.1:" + url.rsplit(":", 1)[1]
    try:
        assert any("anyone who can reach this machine" in line for line in process.lines)
        # issue 18: the banner once, with the address a phone opens and "1 file"
        assert url.removeprefix("http://").rsplit(":", 1)[0] == lan_address() != "0.0.0.0"
        (banner,) = [line for line in process.lines if "http://" in line]
        assert "(1 file;" in banner
        (scan,) = get_json(local + "/api/scans")["scans"]
        assert scan["name"] == "old.jpg" and scan["before"] == "/before/old.jpg"
        assert get_json(local + "/api/status")["scanning"] is False
        drop_scan(photos, "new.jpg", seed=2)  # another process colorizes more
        subprocess.run([*colorize, str(photos / "new.jpg")], check=True, capture_output=True)
        wait_until(lambda: get_json(local + "/api/status")["scans"] == 2, what="new.jpg")
        assert get_json(local + "/api/scans")["scans"][0]["name"] == "new.jpg"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["gallery", "missing", "--serve", "8080"], "OUT_DIR missing: not a folder"),
        (["gallery", ".", "--serve", "http"], "--serve http"),
        (["gallery", ".", "--serve", "8080", "--originals", "nope"], "--originals nope"),
        (["scan", "--watch", ".", "-o", "out", "--once", "--serve", "8080"], "--serve with --once"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "edgecolor.cli", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
