"""The gallery's HTTP server: one page, a JSON API, server-sent events and the scans' files.

Read-only by construction: GET and HEAD only (other methods 405), and files are found by
their catalogue key, never by a path taken from the URL, then checked to lie under OUT or
an allowed originals folder after following symlinks, and opened without following one
(a link in the thumbnail cache is made again, never served). Anything else is 404;
malformed requests 400; URLs over ``MAX_URL`` bytes 414.

Addresses (``KEY`` = a colorized file's path under OUT, URL-encoded):

* ``/`` the page (``page.html``);
* ``/api/status`` counts, the file being colorized, the queue, failures (JSON);
* ``/api/scans?before=N&limit=N`` / ``?after=N`` a page of scans, newest first (JSON);
* ``/events`` the status as server-sent events, whenever it changes;
* ``/after/KEY``, ``/before/KEY`` the colorized file and its original (downloads; one
  ``Range: bytes=A-B`` is honoured, 206 / 416, so an interrupted download resumes);
* ``/thumb/after/KEY``, ``/thumb/before/KEY``, ``/view/after/KEY``, ``/view/before/KEY``
  the cached JPEG renditions (thumbnail, full view of a file a browser cannot show).

Each connection has its own thread with a socket timeout; a browser that stops reading only
blocks its own thread, never the colorizing.
"""

from __future__ import annotations

import email.utils
import json
import logging
import mimetypes
import os
import select
import socket
import stat
import threading
import time
import urllib.parse
from http import HTTPStatus
from importlib import resources
from pathlib import Path

from edgecolor.device.files.manifest import BOOKKEEPING_DIR
from edgecolor.device.gallery import renditions
from edgecolor.device.gallery.catalogue import Catalogue, Entry, is_viewable
from edgecolor.device.web import DEFAULT_HOST, BackgroundServer, QuietHandler
from edgecolor.photos import ImageReadError

logger = logging.getLogger(__name__)

MAX_URL = 4096  # bytes; a longer request target gets 414
PAGE_LIMIT = 200  # scans per API page, at most
DEFAULT_LIMIT = 60
MAX_EVENT_STREAMS = 16  # browsers watching at once; more get 503 and fall back to polling
KEEPALIVE_SECONDS = 15.0
HANGUP_CHECK_SECONDS = 1.0  # how soon an event stream's slot is freed after its page closed
SOCKET_TIMEOUT = 60.0  # a client that sends or reads nothing for this long is dropped
SIDES = ("before", "after")


class GalleryServer(BackgroundServer):
    """Serve the gallery of ``catalogue`` on (host, port) until :meth:`close`.

    Args:
        catalogue: what to show (kept up to date by the scan watcher or a manifest poll).
        host, port: where to listen (port 0 = any free port; see :attr:`url`).
    """

    def __init__(self, catalogue: Catalogue, host: str = DEFAULT_HOST, port: int = 8080):
        self.catalogue = catalogue
        self.page = resources.files("edgecolor.device.gallery").joinpath("page.html").read_bytes()
        self._streams = threading.BoundedSemaphore(MAX_EVENT_STREAMS)
        self._closing = threading.Event()
        super().__init__(host, port, self._handler_class())

    def close(self) -> None:
        """Stop serving: event streams end, the listening socket closes."""
        self._closing.set()
        with self.catalogue.changed:
            self.catalogue.changed.notify_all()
        self.stop_serving()

    # ------------------------------------------------------------------ answers

    def scans_json(self, query: dict[str, list[str]]) -> bytes:
        """The JSON for ``/api/scans``; ValueError for a bad query."""
        before = _integer(query, "before")
        after = _integer(query, "after")
        limit = _integer(query, "limit") or DEFAULT_LIMIT
        if not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit must be 1 to {PAGE_LIMIT}")
        entries, more = self.catalogue.page(before, after, limit)
        return _json({"scans": [self._describe(entry) for entry in entries], "more": more})

    def _describe(self, entry: Entry) -> dict:
        key = urllib.parse.quote(entry.key, safe="/")
        version = f"?v={entry.sequence}"
        original = self.catalogue.original_path(entry)
        after_view = f"/after/{key}" if is_viewable(Path(entry.key)) else f"/view/after/{key}"
        described = {
            "sequence": entry.sequence,
            "name": entry.key,
            "kind": entry.kind,
            "time": entry.time,
            "after": f"/after/{key}",
            "before": f"/before/{key}" if original else None,
            "original_name": original.name if original else None,
            "thumb_after": None,
            "thumb_before": None,
            "view_after": after_view + version,
            "view_before": None,
        }
        if entry.kind == "image":
            described["thumb_after"] = f"/thumb/after/{key}{version}"
            if original:
                described["thumb_before"] = f"/thumb/before/{key}{version}"
                viewable = is_viewable(original)
                described["view_before"] = (
                    f"/before/{key}" if viewable else f"/view/before/{key}{version}"
                )
        return described

    def file_for(self, route: str, side: str, key: str) -> tuple[Path, str] | None:
        """(file, content type) for a file address, or None (-> 404)."""
        entry = self.catalogue.get(key)
        if entry is None or side not in SIDES:
            return None
        find = self.catalogue.output_path if side == "after" else self.catalogue.original_path
        source = find(entry)
        if source is None:
            return None
        if route == "file":
            content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
            return source, content_type
        if entry.kind != "image":
            return None
        target = renditions.cache_path(self.catalogue.out_dir, route, side, entry.key)
        if not self._in_cache(target):
            logger.warning("gallery: %s leads out of the thumbnail cache: not served", target)
            return None
        try:
            return renditions.rendition(source, target, renditions.SIZES[route]), "image/jpeg"
        except ImageReadError as error:
            logger.info("gallery: %s: %s", source.name, error)
            return None
        except OSError as error:  # the cache cannot be written (read-only OUT, full card)
            logger.warning(
                "gallery: cannot keep a thumbnail of %s in %s: %s",
                source.name,
                target.parent,
                error.strerror or error,
            )
            return None

    def _in_cache(self, target: Path) -> bool:
        """Whether ``target``'s folder really lies in OUT/.edgecolor/ (no folder of the cache
        replaced by a link out of it; the file itself is never followed, see _open_file)."""
        cache = os.path.realpath(self.catalogue.out_dir / BOOKKEEPING_DIR)
        return Path(os.path.realpath(target.parent)).is_relative_to(cache)

    # ------------------------------------------------------------------ HTTP

    def _handler_class(self):
        gallery = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a page of thumbnails on one connection
            timeout = SOCKET_TIMEOUT
            # Headers and body go out in two writes; without TCP_NODELAY a kept-alive
            # connection waits for the client's delayed ACK (~40 ms) on every response.
            disable_nagle_algorithm = True
            send_body = True  # False while answering HEAD

            def _refuse_method(self):
                self.close_connection = True  # any request body is left unread
                self._send_text(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    "read-only: GET and HEAD only\n",
                    extra={"Allow": "GET, HEAD"},
                )

            do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815

            def answer(self, send_body: bool):
                self.send_body = send_body
                if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in (
                    self.headers
                ):
                    self.close_connection = True  # a body nobody reads: no next request here
                if len(self.path) > MAX_URL:
                    self.close_connection = True
                    return self._send_text(HTTPStatus.REQUEST_URI_TOO_LONG, "URL too long\n")
                try:
                    route, query = _parse_target(self.path)
                except ValueError as error:
                    return self._send_text(HTTPStatus.BAD_REQUEST, f"bad request: {error}\n")
                if route == "/":
                    return self._send(HTTPStatus.OK, "text/html; charset=utf-8", gallery.page)
                if route == "/api/status":
                    body = _json(gallery.catalogue.status())
                    return self._send(HTTPStatus.OK, "application/json", body)
                if route == "/api/scans":
                    try:
                        body = gallery.scans_json(query)
                    except ValueError as error:
                        return self._send_text(HTTPStatus.BAD_REQUEST, f"bad request: {error}\n")
                    return self._send(HTTPStatus.OK, "application/json", body)
                if route == "/events":
                    return self._events()
                found = None
                parts = route.split("/", 3)  # "", ROUTE, SIDE, KEY / "", SIDE, KEY
                if len(parts) == 4 and parts[1] in ("thumb", "view"):
                    found = gallery.file_for(parts[1], parts[2], parts[3])
                elif len(parts) >= 3 and parts[1] in SIDES:
                    found = gallery.file_for("file", parts[1], route.split("/", 2)[2])
                if found is None:
                    return self._send_text(HTTPStatus.NOT_FOUND, "not found\n")
                self._send_file(*found, download=parts[1] in SIDES)

            # -------------------------------------------------------------- answers

            def _headers(self, status, content_type, length, extra=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()

            def _send(self, status, content_type, body, extra=None):
                headers = {"Cache-Control": "no-store", **(extra or {})}
                if content_type.startswith("text/html"):
                    headers["Content-Security-Policy"] = (
                        "default-src 'self'; img-src 'self'; style-src 'unsafe-inline'; "
                        "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
                    )
                self._headers(status, content_type, len(body), headers)
                if self.send_body:
                    self.wfile.write(body)

            def _send_text(self, status, text, extra=None):
                self._send(status, "text/plain; charset=utf-8", text.encode(), extra)

            def _send_file(self, path: Path, content_type: str, download: bool):
                try:
                    handle = _open_file(path)
                except OSError:
                    return self._send_text(HTTPStatus.NOT_FOUND, "not found\n")
                with handle:
                    status = os.fstat(handle.fileno())
                    size = status.st_size
                    validators = {
                        "ETag": f'"{size:x}-{status.st_mtime_ns:x}"',
                        "Last-Modified": email.utils.formatdate(status.st_mtime, usegmt=True),
                    }
                    extra = {
                        "Cache-Control": "private, max-age=3600",
                        "Accept-Ranges": "bytes",
                        **validators,
                    }
                    if download:
                        quoted = urllib.parse.quote(path.name)
                        extra["Content-Disposition"] = f"inline; filename*=UTF-8''{quoted}"
                    wanted = self.headers.get("Range")
                    if_range = self.headers.get("If-Range")
                    if if_range is not None and if_range not in validators.values():
                        wanted = None  # the file changed since the first part: all of it
                    try:
                        part = _byte_range(wanted, size)
                    except _Unsatisfiable:
                        return self._send_text(
                            HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                            "range not satisfiable\n",
                            {"Content-Range": f"bytes */{size}", **validators},
                        )
                    if part is None:
                        first, length = 0, size
                        self._headers(HTTPStatus.OK, content_type, size, extra)
                    else:
                        first, length = part[0], part[1] - part[0] + 1
                        extra["Content-Range"] = f"bytes {part[0]}-{part[1]}/{size}"
                        self._headers(HTTPStatus.PARTIAL_CONTENT, content_type, length, extra)
                    if self.send_body:
                        try:
                            _copy(handle, first, length, self.wfile)
                        except OSError:  # the browser went away or stopped reading
                            self.close_connection = True

            def _events(self):
                if not gallery._streams.acquire(blocking=False):
                    self.close_connection = True
                    return self._send_text(HTTPStatus.SERVICE_UNAVAILABLE, "too many pages open\n")
                try:
                    self.close_connection = True  # the stream ends with the connection
                    self._headers(
                        HTTPStatus.OK,
                        "text/event-stream",
                        None,
                        {"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
                    )
                    if self.send_body:
                        self._stream_status()
                finally:
                    gallery._streams.release()

            def _stream_status(self):
                catalogue = gallery.catalogue
                sent = -1
                written = time.monotonic()
                try:
                    while not gallery._closing.is_set():
                        # Woken by a change or every HANGUP_CHECK_SECONDS, to notice a
                        # browser that left: its slot is free at once, not after the two
                        # keep-alives it took a write to find out (about 30 s).
                        with catalogue.changed:
                            if catalogue.version == sent:
                                catalogue.changed.wait(HANGUP_CHECK_SECONDS)
                            version = catalogue.version
                        if gallery._closing.is_set() or _hung_up(self.connection):
                            return
                        if version != sent:
                            status = catalogue.status()
                            sent = status["version"]
                            self.wfile.write(b"event: status\ndata: " + _json(status) + b"\n\n")
                        elif time.monotonic() - written >= KEEPALIVE_SECONDS:
                            self.wfile.write(b": keep-alive\n\n")
                        else:
                            continue
                        self.wfile.flush()
                        written = time.monotonic()
                except OSError:
                    pass  # the browser went away or stopped reading

        return Handler


def _hung_up(connection: socket.socket) -> bool:
    """Whether the client of an event stream closed its side; never blocks. (A browser
    sends nothing after its request, so anything readable is the end of the connection.)"""
    poller = select.poll()
    poller.register(connection, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # reset
        return True


def _open_file(path: Path):
    """``path`` opened for reading, never through a symlink: the catalogue checked where the
    file lies, but a link put there since (or in the thumbnail cache) could lead anywhere.
    OSError (ELOOP for a link) when it is not a plain file that can be read."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # (O_NONBLOCK: a FIFO never hangs)
            raise IsADirectoryError(f"{path}: not a plain file")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


class _Unsatisfiable(Exception):
    """A Range that lies wholly past the end of the file (416)."""


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte to send for a ``Range`` header: one range, so that an interrupted
    download resumes. None (send all of the file, 200) when there is no header, when it is
    malformed or asks for several ranges (a server may ignore Range); _Unsatisfiable when
    it starts past the end."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    start, dash, end = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash or "," in spec:
        return None
    if not all(text.isdigit() for text in (start, end) if text) or not (start or end):
        return None
    if not start:  # "-N": the last N bytes
        if int(end) == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - int(end)), size - 1
    first = int(start)
    if end and int(end) < first:
        return None  # malformed
    if first >= size:
        raise _Unsatisfiable
    return first, min(int(end), size - 1) if end else size - 1


def _copy(handle, first: int, length: int, out) -> None:
    """``length`` bytes of ``handle`` from ``first`` to ``out``, a quarter megabyte at a time."""
    handle.seek(first)
    while length > 0:
        chunk = handle.read(min(length, 256 * 1024))
        if not chunk:
            raise OSError("the file became shorter while it was sent")
        out.write(chunk)
        length -= len(chunk)


def _parse_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """Request target -> (decoded path, query); ValueError for anything malformed."""
    if not target.startswith("/"):
        raise ValueError("the request target must be a path starting with /")
    raw_path, _, raw_query = target.partition("?")
    raw_path = raw_path.split("#", 1)[0]
    try:
        path = urllib.parse.unquote(raw_path, errors="strict")
        query = urllib.parse.parse_qs(raw_query, errors="strict", max_num_fields=20)
    except UnicodeDecodeError:
        raise ValueError("the URL is not UTF-8") from None
    if "\x00" in path or "\\" in path:
        raise ValueError("the URL holds a NUL byte or a backslash")
    return path, query


def _integer(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values:
        return None
    try:
        value = int(values[0])
    except ValueError:
        raise ValueError(f"{name}={values[0]!r}: not a whole number") from None
    if value < 0:
        raise ValueError(f"{name}={value}: must not be negative")
    return value


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
