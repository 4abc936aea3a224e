"""Errors that the command line maps to exit codes.

Exit codes everywhere: 0 success; 1 some inputs failed (the rest done);
2 a usage, configuration or input error, printed as one stderr line naming the bad value.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2

# Install commands named in MissingDependencyError messages. edgecolor is installed from
# its checkout (or a wheel built from it), not from a package index: name the libraries
# themselves, and the extra for a checkout.
INSTALL_DEVICE = "pip install ai-edge-litert  (in the edgecolor checkout: pip install '.[device]')"
INSTALL_CAMERA = (
    "pip install opencv-python-headless av  (in the edgecolor checkout: pip install '.[camera]')"
)


class EdgecolorError(Exception):
    """Base class for errors edgecolor reports to the user."""


class UsageError(EdgecolorError, ValueError):
    """Bad usage, configuration or input: the message names the bad value and the fix.

    The CLI prints it as one line on stderr and exits with code 2.
    """


class MissingDependencyError(EdgecolorError, ImportError):
    """An optional library is not installed; the message names the install command."""

    def __init__(self, what: str, install: str):
        super().__init__(f"{what} is not installed: {install}")
        self.install = install


def require(module: str, install: str, what: str | None = None):
    """Import an optional module, or raise MissingDependencyError naming its install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(what or module, install) from error


def one_line(error: BaseException | str) -> str:
    """An error's message on one line (its lines joined by "; "), or its type's name."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__
