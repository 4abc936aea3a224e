"""The output folder of a batch or the scan service: proved writable before any file is read
(:func:`prepare_output_dir`), and told apart from a bad input when a write fails
(:func:`output_problem`, :class:`OutputUnwritable`): a folder that is full or read-only is
nobody's fault, so the job is neither done nor failed and the scan service waits for it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from edgecolor.device.files.manifest import BOOKKEEPING_DIR
from edgecolor.errors import UsageError

# An output folder that is full or read-only: no job can be finished there, and none is
# to blame. The scan service waits for the folder instead of failing every scan for good.
# (Permission denied, EACCES or EPERM, may be the input's: the folder is tried to tell.)
FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def unwritable_cause(error: OSError) -> str:
    """What an OSError says about the output folder, for people: "disk full", "read-only"."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if error.errno == errno.EROFS:
        return "read-only"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "not writable (permission denied)"
    return f"cannot write there ({error.strerror or type(error).__name__})"


class OutputUnwritable(UsageError):
    """The output folder cannot take a file now (full, read-only): ``cause`` says which.

    Not the job's fault: the job is neither done nor failed. ``edgecolor colorize`` stops
    with one line (exit 2); the scan service keeps the job pending and retries later.
    """

    def __init__(self, folder: Path, cause: str):
        super().__init__(f"-o {folder}: {cause}")
        self.cause = cause


def output_problem(folder: Path, bookkeeping: bool = True) -> OSError | None:
    """The OSError that writing a temporary file into ``folder`` (its bookkeeping folder with
    ``bookkeeping``) raises now, or None when it can be written to."""
    try:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / BOOKKEEPING_DIR if bookkeeping else folder
        probe.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=probe) as handle:
            handle.write(b"\0")  # a full disk may still create an empty file
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        return error
    return None


def prepare_output_dir(folder: Path, option: str = "-o", bookkeeping: bool = True) -> None:
    """Create the output folder and prove it writable, before any file is read.

    Found out later, every file fails and the failure log cannot be written there either
    (a traceback instead of one line naming the folder). Writing a temporary file into the
    bookkeeping folder (or ``folder`` itself, without ``bookkeeping``) is the only test that
    also holds for root and read-only mounts.

    Raises:
        UsageError: the folder cannot be created or written to (exit 2).
    """
    folder = Path(folder)
    error = output_problem(folder, bookkeeping)
    if isinstance(error, FileExistsError):
        raise UsageError(f"{option} {folder}: exists and is not a folder")
    if error is not None:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"{option} {folder}: cannot write there ({reason})")
