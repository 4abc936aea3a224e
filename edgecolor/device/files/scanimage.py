"""``scan --scanimage``: a SANE scanner feeding the watched folder.

Each scan goes to a temporary name in the watched folder and is renamed when
``scanimage`` has finished, so the watcher (:mod:`edgecolor.device.files.scan`) sees
complete files. Interactively it asks before each page (that needs a terminal);
``--scan-batch`` runs ``scanimage --batch`` on a document feeder instead, again and again,
so a service keeps scanning whatever is put into the feeder (scanimage itself writes each
page as ``NAME.part`` and renames it when the page is complete). A scanner that is off,
unplugged or busy, and a ``scanimage`` that hangs, are waited out with growing pauses, so
the watcher (and the gallery) keep running; only an option the scanner refuses stops it.
"""

from __future__ import annotations

import datetime
import glob
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgecolor.device.backoff import Backoff
from edgecolor.errors import UsageError

logger = logging.getLogger(__name__)

INSTALL_SANE = "sudo apt-get install sane-utils"

# --------------------------------------------------------------------------- SANE

# scanimage's exit status is a SANE_Status when a scan fails (include/sane/sane.h), and 1
# when an option is refused (an unknown --mode or --source value, an unknown option) but
# also when there is no scanner to talk to (frontend/scanimage.c: "no SANE devices found",
# "open of device NAME failed: Device busy / Invalid argument / Error during device I/O").
# Only stderr tells these apart: a missing or busy scanner is waited for, not a usage error.
SANE_STATUS_INVAL = 4
SANE_STATUS_NO_DOCS = 7  # the document feeder is empty
SCANIMAGE_OPTION_ERROR = 1
NO_DEVICES = "no SANE devices found"
OPEN_FAILED = "open of device "
DEVICE_BUSY = "Device busy"


def device_problem(returncode: int, stderr: str) -> str | None:
    """ "scanner not found" or "scanner busy" when scanimage could not reach the scanner.

    An unplugged or switched-off scanner (or a USB bus address that changed) and one that
    another program holds are passing states of a service: they must not stop it the way a
    refused option does.
    """
    if returncode != SCANIMAGE_OPTION_ERROR:
        return None
    if NO_DEVICES in stderr:
        return "scanner not found"
    if OPEN_FAILED in stderr:
        return "scanner busy" if DEVICE_BUSY in stderr else "scanner not found"
    return None


def unused_scan_name(folder: Path, when: datetime.datetime) -> str:
    """``scan-YYYYmmdd-HHMMSS`` for ``when``, or ``..._2``, ``_3`` ... when files of that
    name are already in ``folder``: a clock that repeats a second (a Pi without a clock chip
    after a power cut, two feeder rounds in one second) never overwrites an earlier scan."""
    stamp = when.strftime("%Y%m%d-%H%M%S")
    base, number = f"scan-{stamp}", 1
    while any(folder.glob(f"{glob.escape(base)}-*")) or any(folder.glob(f".{glob.escape(base)}-*")):
        number += 1
        base = f"scan-{stamp}_{number}"
    return base


class Scanner:
    """Runs SANE's ``scanimage`` to put each new scan into the watched folder.

    Args:
        device: ``scanimage -d`` device name, or None for the default scanner.
        resolution: dots per inch.
        mode: the scan mode, ``Gray`` by default (SANE's standard name for grayscale);
            backends name their modes themselves (``scanimage --help -d DEVICE`` lists
            them; e.g. ``True Gray`` or ``Grayscale`` in some vendor backends).
        source: ``--source`` value (e.g. ``ADF``, ``Automatic Document Feeder``), or None
            for the scanner's default.
        prompt: ask on the terminal before each page (False: scan one page and stop).
        batch: scan everything in the document feeder with ``scanimage --batch`` at every
            round, and keep doing so (``once``: one round); no terminal needed.
        once: with ``batch``, one feeder load and stop.
        retry_seconds: with ``batch``, the first pause after a round that found the feeder
            empty or the scanner jammed or with its cover open; it doubles while that lasts,
            up to ``feeder_longest_seconds``.
        device_retry_seconds: with ``batch``, the first pause after the scanner was not
            found, was busy or did not answer within ``timeout``; it doubles up to
            ``device_longest_seconds``.
        timeout: seconds one ``scanimage`` run may take before it is killed (a scanner
            that hangs must not stop the service for ever).
        clock: monotonic seconds (tests pass a fake).
        command: the executable (tests point it at a stand-in).
    """

    def __init__(
        self,
        device: str | None = None,
        resolution: int = 600,
        mode: str = "Gray",
        source: str | None = None,
        prompt: bool = True,
        batch: bool = False,
        once: bool = False,
        retry_seconds: float = 10.0,
        feeder_longest_seconds: float = 60.0,
        device_retry_seconds: float = 10.0,
        device_longest_seconds: float = 600.0,
        timeout: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        command: str = "scanimage",
    ):
        executable = shutil.which(command)
        if executable is None:
            raise UsageError(
                f"--scanimage: the SANE `{command}` command is not installed ({INSTALL_SANE})"
            )
        if not mode.strip():
            raise UsageError("--scan-mode: must not be empty (e.g. Gray)")
        self.executable = executable
        self.device = device
        self.resolution = resolution
        self.mode = mode
        self.source = source
        self.prompt = prompt
        self.batch = batch
        self.once = once
        self.timeout = timeout
        self.clock = clock
        # a scanner that stays off is asked less and less often (each scanimage without a
        # device name searches the network), and found again within the longest pause
        self.feeder_backoff = Backoff(retry_seconds, feeder_longest_seconds)
        self.device_backoff = Backoff(device_retry_seconds, device_longest_seconds)
        self.problem: str | None = None  # e.g. "scanner not found, retrying in 10 s"
        self.scans = 0
        self.rounds = 0
        self._next_round = 0.0

    def arguments(self) -> list[str]:
        arguments = [
            self.executable,
            "--format=tiff",
            f"--resolution={self.resolution}",
            f"--mode={self.mode}",
        ]
        if self.source:
            arguments.append(f"--source={self.source}")
        if self.device:
            arguments.append(f"--device-name={self.device}")
        return arguments

    def _refused(self, returncode: int, stderr: str) -> UsageError:
        last = _last_line(stderr)
        hint = ""
        refused = returncode in (SCANIMAGE_OPTION_ERROR, SANE_STATUS_INVAL)
        if refused or "--mode" in last or "--source" in last:
            hint = (
                f" (--scan-mode {self.mode!r}"
                + (f", --scan-source {self.source!r}" if self.source else "")
                + ": your scanner may name its modes and sources differently; "
                "`scanimage --help -d DEVICE` lists them)"
            )
        return UsageError(f"scanimage failed (exit {returncode}): {last}{hint}")

    def _run(self, arguments: list[str], stdout: Any) -> tuple[int | None, str]:
        """Run scanimage within ``timeout``; returns (exit status or None on timeout, stderr).

        It runs in its own process group, so a timeout (or Ctrl+C here) kills everything it
        started, not only the shell or wrapper in front of it.
        """
        process = subprocess.Popen(
            arguments,
            stdin=subprocess.DEVNULL if self.batch else None,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, error = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return None, ""
        except BaseException:
            _kill_group(process)
            raise
        return process.returncode, error.decode(errors="replace")

    def scan_into(self, folder: Path) -> bool:
        """Scan into ``folder``; False when there is nothing more to scan (the user is done,
        one page without a prompt, or one batch with ``once``)."""
        if self.batch:
            return self._scan_batch(folder)
        if self.prompt:
            try:
                input("Place a photo on the scanner and press Enter (Ctrl+D to finish): ")
            except EOFError:
                return False
        elif self.scans:
            return False
        base = unused_scan_name(folder, datetime.datetime.now())
        final = folder / f"{base}-{self.scans + 1:03d}.tif"
        partial = final.with_name(f".{final.name}.part")  # hidden from the watcher
        with open(partial, "wb") as output:
            returncode, error = self._run(self.arguments(), output)
        if returncode is None:
            partial.unlink(missing_ok=True)
            raise UsageError(f"scanimage gave no page within {self.timeout:g} s")
        if returncode != 0 or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            problem = device_problem(returncode, error)
            if problem is not None:
                raise UsageError(f"scanimage: {problem} ({_last_line(error)})")
            raise self._refused(returncode, error)
        os.replace(partial, final)
        self.scans += 1
        logger.info("scanned %s", final.name)
        return True

    def _scan_batch(self, folder: Path) -> bool:
        """One ``scanimage --batch`` run: every page in the feeder, each renamed when complete."""
        if self.once and self.rounds:
            return False
        if self.clock() < self._next_round:
            return True
        self.rounds += 1
        base = unused_scan_name(folder, datetime.datetime.now())
        pattern = f"{base}-%03d.tif"
        returncode, error = self._run(
            [*self.arguments(), f"--batch={folder / pattern}", "--batch-start=1"],
            subprocess.DEVNULL,
        )
        for leftover in folder.glob(f"{glob.escape(base)}-*.tif.part"):  # a page cut short
            leftover.unlink(missing_ok=True)
        pages = len(list(folder.glob(f"{glob.escape(base)}-*.tif")))
        self.scans += pages
        if pages:
            logger.info("scanned %d page%s from the feeder", pages, "s" if pages > 1 else "")
        self._after_batch(returncode, error, pages)
        return True

    def _after_batch(self, returncode: int | None, error: str, pages: int) -> None:
        """Decide when the next round runs (or raise on a refused option) from how it ended."""
        if returncode is None:
            self._wait_for_device(f"scanner did not answer within {self.timeout:g} s")
            return
        problem = device_problem(returncode, error)
        if problem is not None:
            self._wait_for_device(problem, _last_line(error))
            return
        if returncode in (SCANIMAGE_OPTION_ERROR, SANE_STATUS_INVAL):
            raise self._refused(returncode, error)
        self.device_backoff.reset()
        self.problem = None
        if pages:
            self.feeder_backoff.reset()
        pause = 0.0 if pages else self.feeder_backoff.pause()
        if returncode not in (0, SANE_STATUS_NO_DOCS):
            logger.warning(
                "scanimage --batch stopped (exit %d: %s); trying again in %.0f s",
                returncode,
                _last_line(error),
                pause,
            )
        self._next_round = self.clock() + pause

    def _wait_for_device(self, problem: str, detail: str = "") -> None:
        """Log the problem and put the next round off, longer each time it happens again."""
        pause = self.device_backoff.pause()
        self.problem = f"{problem}, retrying in {pause:g} s"
        logger.warning("%s%s", self.problem, f" ({detail})" if detail else "")
        self._next_round = self.clock() + pause


def _last_line(text: str) -> str:
    """scanimage's last word on what went wrong (not getopt's closing "Try `scanimage
    --help'" line, nor the advice after "open of device ... failed")."""
    lines = [line for line in text.strip().splitlines() if line.startswith("scanimage:")]
    lines = lines or text.strip().splitlines()
    return lines[-1] if lines else "no output"


def _kill_group(process: subprocess.Popen) -> None:
    """Kill scanimage and whatever it started, and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


def scanner_from_args(args: Any) -> Scanner | None:
    """``scan``'s scanner options (parsed) -> a :class:`Scanner`, None without ``--scanimage``.

    Raises:
        UsageError: an option that cannot work (one line naming it).
    """
    if args.scan_batch and not args.scanimage:
        raise UsageError("--scan-batch: only with --scanimage")
    if args.scan_timeout <= 0:
        raise UsageError(f"--scan-timeout {args.scan_timeout}: must be positive")
    if not args.scanimage:
        return None
    return Scanner(
        device=args.scan_device,
        resolution=args.scan_resolution,
        mode=args.scan_mode,
        source=args.scan_source,
        prompt=_scanimage_prompts(args),
        batch=args.scan_batch,
        once=args.once,
        retry_seconds=args.scan_interval,
        device_retry_seconds=args.scan_interval,
        timeout=args.scan_timeout,
    )


def _scanimage_prompts(args: Any) -> bool:
    """Whether --scanimage asks before each page; a usage error when it cannot ask.

    Under systemd (or with stdin from /dev/null) there is nobody to press Enter: scanning
    one page and exiting 0 would look like success, so refuse and name the batch mode.
    """
    if args.scan_batch:
        if not args.scan_source:
            raise UsageError(
                "--scan-batch needs --scan-source NAME, the document feeder (e.g. ADF; "
                "`scanimage --help -d DEVICE` lists your scanner's sources): a flatbed in "
                "batch mode would scan the same page for ever"
            )
        if "flatbed" in args.scan_source.lower():
            raise UsageError(
                f"--scan-source {args.scan_source}: --scan-batch needs a document feeder"
            )
        if args.scan_interval <= 0:
            raise UsageError(f"--scan-interval {args.scan_interval}: must be positive")
        return False
    if args.once:
        return False
    if not sys.stdin.isatty():
        raise UsageError(
            "--scanimage asks before each page and needs a terminal (stdin is not one, e.g. "
            "under systemd): use --scanimage --scan-batch --scan-source ADF to scan what is "
            "put into the document feeder, or --once for one page"
        )
    return True
