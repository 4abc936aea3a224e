"""Helpers for tests that run edgecolor in a child process and stop it with a signal."""

from __future__ import annotations

import signal


def sigint_at_its_default() -> None:
    """``Popen(preexec_fn=...)``: the child starts with SIGINT at its default disposition.

    A shell runs a background job without job control (``cmd &`` in a script, ``nohup``)
    with SIGINT ignored; children inherit that, and Python then leaves SIGINT ignored
    instead of raising KeyboardInterrupt, as it should for a job the user cannot Ctrl-C.
    A test that stops a child with SIGINT stands for Ctrl-C at a terminal, so it must not
    depend on how the test runner itself was started.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
