"""SIGTERM handled like Ctrl+C, for the commands that run as services (scan, live, gallery)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM (``systemctl stop``) like Ctrl+C, so the service closes what it opened."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (tests): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
