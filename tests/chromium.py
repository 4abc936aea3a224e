"""Drive Debian's headless Chromium through the DevTools protocol, for the gallery's browser tests.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands (JSON, each
ended by a NUL byte) from file descriptor 3 and writes answers and events to descriptor 4,
so no websocket and no port are needed. One page, commands sent one at a time.

    with Chromium(width=800, height=1000) as browser:
        browser.open("http://127.0.0.1:8080/")
        browser.wait_for("document.querySelectorAll('.card').length > 0")
        png = browser.screenshot()
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from typing import Any

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install -y chromium"


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    return None


class ChromiumError(RuntimeError):
    pass


def _move_above_nine(descriptor: int) -> int:
    moved = fcntl.fcntl(descriptor, fcntl.F_DUPFD, 10)
    os.close(descriptor)
    return moved


class Chromium:
    """A headless Chromium with one page of ``width`` x ``height`` CSS pixels.

    Args:
        scale: device pixels per CSS pixel (2 = a phone's sharp screen).
        mobile: emulate a phone (touch, mobile viewport rules).
    """

    def __init__(self, width: int = 1000, height: int = 800, scale: float = 1, mobile=False):
        executable = find_chromium()
        if executable is None:
            raise ChromiumError(f"Chromium is not installed ({INSTALL})")
        self._profile = tempfile.TemporaryDirectory(prefix="edgecolor-chromium-")
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        # Above 9, so that moving them to 3 and 4 in the child cannot close one of them.
        to_browser, from_browser = (_move_above_nine(fd) for fd in (to_browser, from_browser))
        arguments = [
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",  # tests run as root in CI, where the sandbox refuses to start
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            "--font-render-hinting=none",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # bash moves the pipe ends to descriptors 3 and 4, where Chromium looks for them.
        script = (
            f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        )
        self.process = subprocess.Popen(
            ["bash", "-c", script, executable, *arguments],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.console: list[str] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime"):
            self.send(f"{domain}.enable", session=True)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
            session=True,
        )

    # ------------------------------------------------------------------ protocol

    def send(
        self, method: str, params: dict | None = None, session: bool = False, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Send one command and wait for its answer (events meanwhile go to :attr:`events`)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if reply.get("method") == "Runtime.consoleAPICalled":
                arguments = reply["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", "")) for a in arguments))
            self.events.append(reply)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChromiumError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise ChromiumError(f"Chromium exited (code {self.process.poll()})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    # ------------------------------------------------------------------ the page

    def open(self, url: str) -> None:
        """Navigate the page to ``url`` and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise ChromiumError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value. ChromiumError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise ChromiumError(f"timed out waiting for {expression}; console: {self.console}")
            time.sleep(0.1)

    def screenshot(self) -> bytes:
        """PNG of the page's viewport."""
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (ChromiumError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for descriptor in (self._to_browser, self._from_browser):
            try:
                os.close(descriptor)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
