"""The photo-scanner workflow: watch the folder a scanner writes into, colorize each new file once.

A file is taken only when it is completely written: its size and modification time have
not changed for ``settle`` seconds, it is not empty, not hidden and not a temporary name
(``*.part``, ``*.tmp``, ``*.crdownload``, ``*~``), and it can be opened for reading. Each
file is colorized once: the batch manifest in ``OUT_DIR/.edgecolor/`` survives restarts,
so nothing is redone and nothing is missed after a reboot. A file that fails is reported
once and tried again only when it changes. With ``move_originals`` a finished original is
moved there (never over another file); otherwise it stays where the scanner put it. A move
that fails (the destination full, read-only, forbidden) loses nothing: the original stays
where it was, untouched, its output stays done, the failure is reported by name, and the
move is tried again after a growing pause (``--once``: the exit code is 1).

``--scanimage`` (:mod:`edgecolor.device.files.scanimage`) scans into the watched folder
between polls.

Polling (not inotify) keeps this portable, also on network shares and FAT SD cards.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecolor import photos
from edgecolor.device.backoff import Backoff
from edgecolor.device.files import batch, output_folder
from edgecolor.device.files.manifest import Manifest
from edgecolor.errors import UsageError
from edgecolor.files import move_file

logger = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp")


@dataclass(frozen=True)
class ScanEvent:
    """What the watcher is doing, for a status display such as the gallery page.

    ``kind`` is "started" (``job`` is being colorized now), "finished" (``outcome`` says how
    it went; ``original`` is where the original is now, after ``move_originals``) or "idle"
    (a pass over the folder is over) or "scanner" (``message`` says what is wrong with the
    scanner, e.g. "scanner not found, retrying in 10 s", or is None when it works again: the
    page shows why no scans come while the folder is still watched) or "colorizer"
    (``message``: the Edge TPU failed and the CPU colorizes meanwhile, None when the TPU is
    back) or "output" (``message``: the output folder is full or read-only, scans wait and
    are retried; None when it can be written again). ``queued``: files seen
    and not colorized yet, besides the current one (still being written, settling, or next
    in this pass).
    """

    kind: str
    queued: int
    job: batch.Job | None = None
    outcome: batch.Outcome | None = None
    original: Path | None = None
    message: str | None = None


OUTPUT_RETRY_FIRST = 5.0  # seconds before the first retry of a full or read-only output folder
OUTPUT_RETRY_MOST = 300.0  # ... doubling up to this


@dataclass
class _Unmoved:
    """An original whose move failed: when it is tried again, and the pauses (its own: an
    original that moves again is forgotten with them)."""

    retry_at: float
    retry: Backoff


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
        wait_for_output: an output folder that is full or read-only at start is waited for
            (the service) instead of refused (``UsageError``, exit 2: ``--once``).
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
        wait_for_output: bool = False,
    ):
        self.watch_dir = Path(watch_dir)
        self.out_dir = Path(out_dir)
        self.move_originals = Path(move_originals) if move_originals else None
        if not self.watch_dir.is_dir():
            raise UsageError(f"--watch {self.watch_dir}: not a folder")
        for name, folder in (("-o", self.out_dir), ("--move-originals", self.move_originals)):
            if folder is not None and folder.resolve() == self.watch_dir.resolve():
                raise UsageError(f"{name} {folder} is the watched folder itself: choose another")
        self.clock = clock
        self.report = report or (lambda text: print(text, file=sys.stderr, flush=True))
        self.output_problem: str | None = None  # why the output folder takes nothing now
        self._output_message: str | None = None  # ... as the page says it
        # kind of ScanEvent ("output", "scanner", "colorizer") -> the problem the listener knows
        self._told: dict[str, str | None] = {}
        self._output_retry_at = 0.0
        self._output_retry = Backoff(OUTPUT_RETRY_FIRST, OUTPUT_RETRY_MOST)
        self._observations: dict[Path, _Observation] = {}
        try:
            output_folder.prepare_output_dir(self.out_dir)
        except UsageError:
            error = output_folder.output_problem(self.out_dir)  # None: writable again already
            if error is not None:
                transient = error.errno in output_folder.FULL_OR_READ_ONLY
                if not (wait_for_output and self.out_dir.is_dir() and transient):
                    raise
                self._output_unwritable(output_folder.unwritable_cause(error))
        if self.move_originals is not None:
            output_folder.prepare_output_dir(
                self.move_originals, "--move-originals", bookkeeping=False
            )
        self.colorizer_factory = colorizer_factory
        self.settle = settle
        self.on_event = on_event
        self.recolor = recolor
        self.manifest = Manifest(self.out_dir)
        self.summary = batch.Summary()
        self._failed: dict[Path, tuple[int, int]] = {}  # path -> fingerprint it failed with
        # Originals done but not moved (the --move-originals folder took nothing): retried
        # after a pause that grows, each reported once.
        self.unmoved: dict[Path, _Unmoved] = {}
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
        if self.output_problem is not None and not self._output_writable_again(now):
            self._tell_change("output", self._output_message)
            self._tell(ScanEvent("idle", self.waiting))
            return outcomes
        self._tell_change("output", self._output_message)
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
            try:
                outcome = batch.process(
                    job, self.colorizer_factory, self.manifest, recolor=self.recolor
                )
            except output_folder.OutputUnwritable as error:
                # Neither done nor failed: it stays pending and is colorized once the folder
                # takes files again, like every scan after it (none is tried meanwhile).
                self._tell(ScanEvent("finished", queued, job, batch.Outcome(job, "pending")))
                self._output_unwritable(error.cause)
                self._tell_change("output", self._output_message)
                break
            self.summary.add(outcome)
            outcomes.append(outcome)
            # an Edge TPU that failed and left the work to the CPU (LazyColorizer.problem)
            self._tell_change("colorizer", getattr(self.colorizer_factory, "problem", None))
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

    def _output_unwritable(self, cause: str) -> None:
        """Stop colorizing until the output folder can be written again (``cause``: "disk
        full", "read-only"...); say so once."""
        now = self.clock()
        if self.output_problem is None:
            self.output_problem = f"output folder {self.out_dir}: {cause}"
            self.report(f"{self.output_problem}; scans wait and are retried")
            self._output_message = f"output folder: {cause}; scans wait"
        self._output_retry_at = now + self._output_retry.pause()

    def _output_writable_again(self, now: float) -> bool:
        """After the back-off: try the output folder; True (and tell) when it takes files."""
        if now < self._output_retry_at:
            return False
        error = output_folder.output_problem(self.out_dir)
        if error is not None:
            self._output_unwritable(output_folder.unwritable_cause(error))
            return False
        self.report(f"output folder {self.out_dir} can be written again; scans resume")
        self.output_problem = self._output_message = None
        self._output_retry.reset()
        return True

    def _tell_change(self, kind: str, message: str | None) -> None:
        """Tell the listener a ScanEvent of ``kind`` ("output", "scanner", "colorizer") when
        that problem's ``message`` changes (None: no problem). The gallery listens only after
        start-up, when an output folder full at start was found already."""
        if message != self._told.get(kind):
            self._told[kind] = message
            self._tell(ScanEvent(kind, self.waiting, message=message))

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
        """Move the finished original (with ``move_originals``); returns where it went, or
        None (not asked, gone, or the move failed: then it is where it was, untouched)."""
        source = job.source
        if self.move_originals is None:
            return None
        if not source.exists():  # taken away by somebody: nothing left to move
            if self.unmoved.pop(source, None) is not None:
                self.summary.unmoved = len(self.unmoved)
            return None
        unmoved = self.unmoved.get(source)
        if unmoved is not None and self.clock() < unmoved.retry_at:
            return None  # failed before: tried again after its pause
        target = self.move_originals / source.relative_to(self.watch_dir)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            stem, suffix, number = target.stem, target.suffix, 1
            while target.exists():  # never over another original
                target = target.with_name(f"{stem}-{number}{suffix}")
                number += 1
            move_file(source, target)
        except OSError as error:
            self._move_failed(job, error, unmoved)
            return None
        if self.unmoved.pop(source, None) is not None:
            self.summary.unmoved = len(self.unmoved)
            self.report(f"moved {job.name} -> {target} (the folder takes files again)")
        return target

    def _move_failed(self, job: batch.Job, error: OSError, before: _Unmoved | None) -> None:
        """Remember an original that could not be moved; report it by name the first time."""
        reason = f"cannot move it to {self.move_originals}: {output_folder.unwritable_cause(error)}"
        if before is None:
            retry = Backoff(OUTPUT_RETRY_FIRST, OUTPUT_RETRY_MOST)
            self.report(f"not moved {job.name}: {reason}; it stays where it is")
        else:
            retry = before.retry
        self.unmoved[job.source] = _Unmoved(self.clock() + retry.pause(), retry)
        self.summary.unmoved = len(self.unmoved)

    # ------------------------------------------------------------------ the loop

    def run(self, once: bool = False, interval: float = 1.0, scanner: Any = None) -> None:
        """Poll until interrupted; ``once``: until every file present at the start is settled.

        With a ``scanner``, each round first asks it for a new scan (it returns False to stop).

        Raises:
            UsageError: with ``once``, the output folder became full or read-only (exit 2).
        """
        while True:
            if scanner is not None:
                if not scanner.scan_into(self.watch_dir):
                    scanner = None
                    once = True  # no more scans: finish what is there
                self._tell_change("scanner", scanner.problem if scanner else None)
            self.poll()
            if once and self.output_problem is not None and scanner is None:
                # --once cannot wait: one line, exit 2; the scans stay for the next run
                raise UsageError(
                    f"{self.output_problem}; scans not colorized are left for the next run"
                )
            if once and not self.waiting and scanner is None:
                return
            time.sleep(interval)
