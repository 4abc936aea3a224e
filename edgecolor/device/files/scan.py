"""The photo-scanner workflow: watch the folder a scanner writes into, colorize each new file once.

A file is taken only when it is completely written: its size and modification time have
not changed for ``settle`` seconds, it is not empty, not hidden and not a temporary name
(``*.part``, ``*.tmp``, ``*.crdownload``, ``*~``), and it can be opened for reading. Each
file is colorized once: the batch manifest in ``OUT_DIR/.edgecolor/`` survives restarts,
so nothing is redone and nothing is missed after a reboot. A file that fails is reported
once and tried again only when it changes. With ``move_originals`` a finished original is
moved there (never over another file); otherwise it stays where the scanner put it.

``--scanimage`` drives a SANE scanner: each scan goes to a temporary name in the watched
folder and is renamed when ``scanimage`` has finished, so the watcher sees complete files.
Interactively it asks before each page (that needs a terminal); ``--scan-batch`` runs
``scanimage --batch`` on a document feeder instead, again and again, so a service keeps
scanning whatever is put into the feeder (scanimage itself writes each page as
``NAME.part`` and renames it when the page is complete). A scanner that is off, unplugged
or busy, and a ``scanimage`` that hangs, are waited out with growing pauses, so the
watcher (and the gallery) keep running; only an option the scanner refuses stops it.

Polling (not inotify) keeps this portable, also on network shares and FAT SD cards.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecolor import photos
from edgecolor.device.files import batch
from edgecolor.errors import UsageError

logger = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp")
INSTALL_SANE = "sudo apt-get install sane-utils"


@dataclass(frozen=True)
class ScanEvent:
    """What the watcher is doing, for a status display such as the gallery page.

    ``kind`` is "started" (``job`` is being colorized now), "finished" (``outcome`` says how
    it went; ``original`` is where the original is now, after ``move_originals``) or "idle"
    (a pass over the folder is over) or "scanner" (``message`` says what is wrong with the
    scanner, e.g. "scanner not found, retrying in 10 s", or is None when it works again: the
    page shows why no scans come while the folder is still watched). ``queued``: files seen
    and not colorized yet, besides the current one (still being written, settling, or next
    in this pass).
    """

    kind: str
    queued: int
    job: batch.Job | None = None
    outcome: batch.Outcome | None = None
    original: Path | None = None
    message: str | None = None


@dataclass
class _Observation:
    size: int
    mtime_ns: int
    stable_since: float


class Watcher:
    """Poll a folder and colorize each completely written image or video once.

    Args:
        watch_dir: the folder the scanner writes into (searched recursively).
        out_dir: where outputs go (same relative path and stem), bookkeeping in ``.edgecolor/``.
        colorizer_factory: returns the Colorizer (called on the first file).
        move_originals: move each finished original here, or None to leave it.
        settle: seconds a file's size and time must stay unchanged before it is read.
        clock: monotonic seconds (tests pass a fake).
        on_event: told what happens (:class:`ScanEvent`); called on the colorizing thread, so
            it must return at once (the gallery only updates its state and wakes its pages).
        recolor: colorize photos already in colour too (otherwise they are kept as they are).
    """

    def __init__(
        self,
        watch_dir: Path,
        out_dir: Path,
        colorizer_factory: Callable[[], Any],
        move_originals: Path | None = None,
        settle: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[str], None] | None = None,
        on_event: Callable[[ScanEvent], None] | None = None,
        recolor: bool = False,
    ):
        self.watch_dir = Path(watch_dir)
        self.out_dir = Path(out_dir)
        self.move_originals = Path(move_originals) if move_originals else None
        if not self.watch_dir.is_dir():
            raise UsageError(f"--watch {self.watch_dir}: not a folder")
        for name, folder in (("-o", self.out_dir), ("--move-originals", self.move_originals)):
            if folder is not None and folder.resolve() == self.watch_dir.resolve():
                raise UsageError(f"{name} {folder} is the watched folder itself: choose another")
        batch.prepare_output_dir(self.out_dir)
        if self.move_originals is not None:
            batch.prepare_output_dir(self.move_originals, "--move-originals", bookkeeping=False)
        self.colorizer_factory = colorizer_factory
        self.settle = settle
        self.clock = clock
        self.report = report or (lambda text: print(text, file=sys.stderr, flush=True))
        self.on_event = on_event
        self.recolor = recolor
        self.manifest = batch.Manifest(self.out_dir)
        self.summary = batch.Summary()
        self._observations: dict[Path, _Observation] = {}
        self._failed: dict[Path, tuple[int, int]] = {}  # path -> fingerprint it failed with
        self._skip = {self.out_dir.resolve()}
        if self.move_originals:
            self._skip.add(self.move_originals.resolve())

    # ------------------------------------------------------------------ one pass

    def _candidates(self) -> list[Path]:
        found = []
        for path in photos.walk_files(self.watch_dir, skip=self._skip):
            name = path.name
            if name.endswith("~") or name.lower().endswith(TEMPORARY_SUFFIXES):
                continue
            if batch.kind_of(path) is not None:
                found.append(path)
        return found

    def _job(self, path: Path) -> batch.Job:
        kind = batch.kind_of(path)
        relative = path.relative_to(self.watch_dir)
        return batch.Job(path, batch.output_for(path, relative, self.out_dir, kind), kind)

    def _is_complete(self, path: Path, status: os.stat_result, now: float) -> bool:
        """Record what the file looks like now; True once it has stayed the same long enough.

        A file last modified at least ``settle`` seconds ago (by the wall clock) counts as
        settled at once, so files already there at start-up go without waiting.
        """
        fingerprint = (status.st_size, status.st_mtime_ns)
        observed = self._observations.get(path)
        if observed is None or (observed.size, observed.mtime_ns) != fingerprint:
            observed = _Observation(status.st_size, status.st_mtime_ns, now)
            self._observations[path] = observed
            if time.time() - status.st_mtime_ns / 1e9 < self.settle:
                return False
        elif now - observed.stable_since < self.settle:
            return False
        if status.st_size == 0:
            return False
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError:
            return False  # still locked or not yet readable by us
        return True

    def poll(self) -> list[batch.Outcome]:
        """Look at the folder once; colorize the files that are complete; return their outcomes."""
        now = self.clock()
        outcomes = []
        pending = []  # files not colorized yet, found in this pass (for the queue length)
        for path in self._candidates():
            try:
                status = path.stat()
            except FileNotFoundError:
                continue
            if self._failed.get(path) == (status.st_size, status.st_mtime_ns):
                continue  # reported already; tried again only when the file changes
            job = self._job(path)
            if batch.is_done(job, self.manifest) or (
                not self.recolor and batch.is_kept(job, self.manifest)
            ):
                self._move_original(job)  # a restart after colorizing but before the move
                continue
            pending.append(job)
        for index, job in enumerate(pending):
            path = job.source
            try:
                status = path.stat()  # again: an earlier file may have taken a while
            except FileNotFoundError:
                continue
            now = self.clock()  # ... so compare with the time now, not the pass's start
            if not self._is_complete(path, status, now):
                continue
            del self._observations[path]
            queued = len(pending) - index - 1
            self._tell(ScanEvent("started", queued, job))
            outcome = batch.process(
                job, self.colorizer_factory, self.manifest, recolor=self.recolor
            )
            self.summary.add(outcome)
            outcomes.append(outcome)
            original = job.source
            if outcome.status == "failed":
                self._failed[path] = (status.st_size, status.st_mtime_ns)
                self.report(f"failed {job.name}: {outcome.reason}")
            elif outcome.status == "done":
                self.report(f"colorized {job.name} -> {job.output}")
                original = self._move_original(job) or original
            elif outcome.status == "kept":
                self.report(f"kept {job.name}: {outcome.reason} (--recolor colorizes it)")
                original = self._move_original(job) or original
            self._tell(ScanEvent("finished", queued, job, outcome, original))
        for path in set(self._observations) - {job.source for job in pending}:
            del self._observations[path]
        self._tell(ScanEvent("idle", self.waiting))
        return outcomes

    def _tell_scanner(self, problem: str | None, told: str | None) -> str | None:
        """Tell the listener when the scanner's problem changes; returns what it knows now."""
        if problem != told:
            self._tell(ScanEvent("scanner", self.waiting, message=problem))
        return problem

    def _tell(self, event: ScanEvent) -> None:
        """Pass an event on; a failing listener is logged, never stops the colorizing."""
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            logger.exception("the scan event listener failed on %s", event.kind)

    @property
    def waiting(self) -> int:
        """Files seen but not complete yet (still being written or settling)."""
        return len(self._observations)

    def _move_original(self, job: batch.Job) -> Path | None:
        """Move the finished original (with ``move_originals``); returns where it went, or None."""
        if self.move_originals is None or not job.source.exists():
            return None
        target = self.move_originals / job.source.relative_to(self.watch_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        stem, suffix, number = target.stem, target.suffix, 1
        while target.exists():  # never over another original
            target = target.with_name(f"{stem}-{number}{suffix}")
            number += 1
        shutil.move(str(job.source), str(target))
        return target

    # ------------------------------------------------------------------ the loop

    def run(
        self, once: bool = False, interval: float = 1.0, scanner: Scanner | None = None
    ) -> None:
        """Poll until interrupted; ``once``: until every file present at the start is settled.

        With a ``scanner``, each round first asks it for a new scan (it returns False to stop).
        """
        told: str | None = None  # the scanner problem the listener knows of
        while True:
            if scanner is not None:
                if not scanner.scan_into(self.watch_dir):
                    scanner = None
                    once = True  # no more scans: finish what is there
                told = self._tell_scanner(scanner.problem if scanner else None, told)
            self.poll()
            if once and not self.waiting and scanner is None:
                return
            time.sleep(interval)


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


class Backoff:
    """Pauses that double from ``first`` up to ``longest`` seconds, until :meth:`reset`.

    A scanner that stays off is asked less and less often (each ``scanimage`` without a
    device name searches the network), and is found again within ``longest`` seconds.
    """

    def __init__(self, first: float, longest: float):
        self.first = first
        self.longest = max(longest, first)
        self._next = first

    def pause(self) -> float:
        """The pause to make now; the next one is twice as long (at most ``longest``)."""
        pause = self._next
        self._next = min(self._next * 2, self.longest)
        return pause

    def reset(self) -> None:
        self._next = self.first


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
        self.feeder_backoff = Backoff(retry_seconds, feeder_longest_seconds)
        self.device_backoff = Backoff(device_retry_seconds, device_longest_seconds)
        self.problem: str | None = None  # e.g. "scanner not found, retrying in 10 s"
        self.scans = 0
        self.rounds = 0
        self._next_round = 0.0

    def arguments(self) -> list[str]:
        arguments = [self.executable, "--format=tiff", f"--resolution={self.resolution}"]
        arguments.append(f"--mode={self.mode}")
        if self.source:
            arguments.append(f"--source={self.source}")
        if self.device:
            arguments.append(f"--device-name={self.device}")
        return arguments

    def _refused(self, returncode: int, stderr: str) -> UsageError:
        last = _last_line(stderr)
        hint = ""
        if (
            "--mode" in last
            or "--source" in last
            or returncode
            in (
                SCANIMAGE_OPTION_ERROR,
                SANE_STATUS_INVAL,
            )
        ):
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
