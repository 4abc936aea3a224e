"""The HTTP servers' common ground: the live preview's (``live --serve``) and the scan
gallery's (``scan --serve``, ``gallery``) follow the same binding rules.

A server binds 127.0.0.1 unless told otherwise; a non-loopback address prints a warning,
because anyone on that network can then see the page, and the banner shows this
machine's address on its network rather than ``0.0.0.0``. Connections wait in a deep
listen queue; beyond a cap a new one is answered 503 without a thread.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edgecolor.errors import UsageError

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
REFUSED_LINGER_SECONDS = 2.0  # a refused connection is closed at the latest after this
MAX_REFUSED_LINGERING = 256
TOO_MANY_CLIENTS = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 17\r\nRetry-After: 5\r\nConnection: close\r\n\r\ntoo many clients\n"
)


def parse_bind(value: str) -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); HOST defaults to 127.0.0.1."""
    host, separator, port_text = value.rpartition(":")
    if not separator:
        host, port_text = DEFAULT_HOST, value
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(
            f"--serve {value}: expected PORT or HOST:PORT, e.g. 8080 or 0.0.0.0:8080"
        ) from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--serve {value}: port {port} is out of range")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a browser hangs up."""

    # socketserver's backlog is 5: a page of 50 thumbnails asked for at once (or a few
    # phones) overflowed it, and the kernel dropped SYNs that clients resent only after a
    # second. Connections wait in the kernel's queue, not in a thread, so a long one is cheap.
    request_queue_size = 128
    max_clients: int | None = None  # connections served at once (a thread each); None: any

    def __init__(self, *args, **kwargs):
        self._active = 0
        self._active_lock = threading.Lock()
        self._refused: list[tuple[socket.socket, float]] = []  # (connection, close by)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        """A thread for the connection, or 503 at once when ``max_clients`` are served."""
        with self._active_lock:
            full = self.max_clients is not None and self._active >= self.max_clients
            if not full:
                self._active += 1
        if full:
            return self._refuse(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1

    def _refuse(self, connection: socket.socket) -> None:
        """Answer 503 on the accepting thread, without a thread and without ever blocking (a
        new connection's send buffer is empty). The connection is closed a little later, in
        :meth:`service_actions`: closing it with the request still unread would send a reset
        that can destroy the 503 before the client reads it."""
        try:
            connection.setblocking(False)
            connection.send(TOO_MANY_CLIENTS)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            connection.close()
            return
        self._refused.append((connection, time.monotonic() + REFUSED_LINGER_SECONDS))
        while len(self._refused) > MAX_REFUSED_LINGERING:
            self._refused.pop(0)[0].close()

    def service_actions(self):
        """Between requests (at least every half second): close refused connections whose
        client has read the 503 and hung up, or that lingered long enough."""
        super().service_actions()
        now = time.monotonic()
        lingering = []
        for connection, close_by in self._refused:
            if now < close_by and not _hung_up(connection):
                lingering.append((connection, close_by))
            else:
                connection.close()
        self._refused = lingering

    def server_close(self):
        super().server_close()
        for connection, _ in self._refused:
            connection.close()
        self._refused = []

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            logger.debug("web: %s from %s", error, client_address)
        else:
            logger.exception("web: request from %s failed", client_address)


def _hung_up(connection: socket.socket) -> bool:
    """Whether the client closed its side (what it sent is read and dropped); never blocks."""
    try:
        while data := connection.recv(65536):
            del data
        return True  # b"": the end of the stream
    except BlockingIOError:
        return False
    except OSError:
        return True


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6


def lan_address() -> str:
    """This machine's IPv4 address on its network (of the default route); its host name
    when it has none. Connecting a UDP socket sends nothing: it only picks the route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never a real host
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


class BackgroundServer:
    """An HTTP server answering on its own (daemon) threads, shared by the live preview and
    the scan gallery so both follow the same binding rules; :meth:`stop_serving` ends it.

    Subclasses pass their request handler class. Listening on an address other than
    loopback warns; beyond ``max_clients`` connections at once, a new one is answered 503
    (no thread).

    Raises:
        UsageError: the address cannot be listened on (in use, not this machine's, ...).
    """

    def __init__(self, host: str, port: int, handler_class: type, max_clients: int | None = None):
        if not is_loopback(host):
            logger.warning(
                "serving on %s: anyone who can reach this machine on that network can see the page",
                host,
            )
        server_class = _QuietServer6 if ":" in host else _QuietServer  # ":": IPv6, e.g. ::1
        try:
            self._server = server_class((host, port), handler_class)
        except OSError as error:
            raise UsageError(
                f"--serve {host}:{port}: cannot listen there ({error.strerror or error})"
            ) from None
        self._server.max_clients = max_clients
        threading.Thread(
            target=self._server.serve_forever, name="edgecolor-web", daemon=True
        ).start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) listened on; the real port when 0 was asked for."""
        host, port = self._server.server_address[:2]
        return host, port

    @property
    def url(self) -> str:
        """``http://HOST:PORT/``, the real port when 0 was asked for. For a server on every
        address (``0.0.0.0``, ``::``) HOST is this machine's address on its network, the one
        a phone on the same network opens."""
        host, port = self.address
        if host in ("0.0.0.0", "::"):
            host = lan_address()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def stop_serving(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """What both servers' request handlers share: GET and HEAD go to ``answer(send_body)``
    (HEAD gets GET's headers), a malformed request gets a plain-text 400 with a status
    line (not HTTP/0.9's bare body), and requests are logged at debug level only."""

    server_version = "edgecolor"
    default_request_version = "HTTP/1.0"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler API
        logger.debug("%s %s - %s", type(self).__module__, self.address_string(), format % args)

    def do_GET(self):  # noqa: N802 - BaseHTTPRequestHandler API
        self.answer(send_body=True)

    def do_HEAD(self):  # noqa: N802 - BaseHTTPRequestHandler API
        self.answer(send_body=False)

    def answer(self, send_body: bool) -> None:
        raise NotImplementedError
