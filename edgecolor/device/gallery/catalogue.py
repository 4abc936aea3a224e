"""What the gallery shows: every colorized scan, newest first, and what the scanner is doing.

The scan watcher runs on its own thread and tells the catalogue what happens
(:meth:`Catalogue.on_scan_event`); the web server's threads read pages of it. One lock
guards both, held only to copy a few fields: the colorizing thread never waits on a browser.

Entries are small (a few hundred bytes: names and paths, never pixels), so 10,000 scans
take a few megabytes; pages are cut from a list kept in arrival order with a binary search.
"""

from __future__ import annotations

import bisect
import collections
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecolor.device.files.manifest import ManifestReader, now

logger = logging.getLogger(__name__)

MAX_FAILURES_SHOWN = 100  # the newest; the total is counted
VIEWABLE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif"})  # every browser


@dataclass(frozen=True, slots=True)
class Entry:
    """One colorized file.

    Attributes:
        sequence: arrival number, higher = newer (a re-colorized file gets a new one).
        key: the output's path relative to OUT, with "/" (the id in every URL).
        kind: "image" or "video".
        time: when it was colorized, ISO 8601 UTC.
        source: where the original was when it was colorized (it may have moved since).
    """

    sequence: int
    key: str
    kind: str
    time: str
    source: str


class Catalogue:
    """The colorized scans under ``out_dir`` and the scanner's status, safe across threads.

    Args:
        out_dir: the output folder (its ``.edgecolor/manifest.jsonl`` lists the scans).
        original_roots: folders originals may be served from (the watched folder, the
            ``--move-originals`` folder, ``gallery --originals``); an original anywhere else,
            also through a symlink, is not served.
        scanning: True when a scan watcher feeds this catalogue (the page shows its status).
    """

    def __init__(self, out_dir: Path, original_roots: list[Path], scanning: bool = False):
        self.out_dir = Path(out_dir)
        self.out_root = self.out_dir.resolve()
        self.original_roots = [Path(root).resolve() for root in original_roots]
        self.scanning = scanning
        self.changed = threading.Condition()
        self.version = 0  # bumped on every change the page should see
        # Sequence numbers start again at 1 in each process (lower than before if outputs
        # were deleted): an open page compares this id to know its numbers are stale.
        self.generation = secrets.token_hex(8)
        self._entries: dict[str, Entry] = {}
        self._sequences: list[int] = []  # ascending; may hold sequences of replaced entries
        self._keys: list[str] = []  # the key for each of _sequences
        self._next_sequence = 1
        self._current: str | None = None
        self._queued = 0
        self._scanner: str | None = None  # what is wrong with the scanner, if anything
        self._colorizer: str | None = None  # e.g. the Edge TPU failed: on the CPU now
        self._output: str | None = None  # e.g. "output folder: disk full; scans wait"
        self._failures: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._failed_total = 0
        self._manifest = ManifestReader(self.out_dir)
        self.refresh_from_manifest()

    # ------------------------------------------------------------------ filling

    def refresh_from_manifest(self) -> None:
        """Read the manifest lines added since the last call (all of them the first time).

        Lines are appended by ``edgecolor colorize``/``scan`` (possibly another process);
        a line cut short by a crash or still being written is read next time.
        """
        records = self._manifest.read_new()
        outside = 0
        with self.changed:
            for record in records:
                output, source = record["output"], record.get("source", "")
                key = self._key_for(Path(output))
                if key is None:
                    outside += 1
                    continue
                if not os.path.exists(output):
                    continue  # deleted by the user since (this catalogue never deletes)
                self._add(key, record.get("kind", "image"), record.get("time", ""), source)
            if records:
                self._bump()
        if outside:
            logger.warning(
                "%d manifest entries name outputs outside %s (was the folder moved?): not shown",
                outside,
                self.out_dir,
            )

    def _key_for(self, output: Path) -> str | None:
        text = str(output)
        prefix = str(self.out_root) + os.sep
        if text.startswith(prefix) and f"{os.sep}..{os.sep}" not in text:
            # the manifest holds resolved paths: no resolve() (a syscall per folder) needed
            return Path(text[len(prefix) :]).as_posix()
        try:
            return output.resolve().relative_to(self.out_root).as_posix()
        except ValueError:
            return None

    def _add(self, key: str, kind: str, time: str, source: str) -> None:
        """Add or replace an entry (caller holds the lock)."""
        entry = Entry(self._next_sequence, key, kind, time, source)
        self._next_sequence += 1
        self._entries[key] = entry
        self._sequences.append(entry.sequence)
        self._keys.append(key)

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def on_scan_event(self, event: Any) -> None:
        """The scan watcher's listener (:class:`edgecolor.device.files.scan.ScanEvent`); returns at once."""
        with self.changed:
            if event.kind == "idle" and event.queued == self._queued:
                return  # nothing new for the page (a pass over an unchanged folder)
            self._queued = event.queued
            if event.kind == "scanner":
                self._scanner = event.message
            elif event.kind == "colorizer":
                self._colorizer = event.message
            elif event.kind == "output":
                self._output = event.message
            elif event.kind == "started":
                self._current = self._shown(event.job.source)
            elif event.kind == "finished":
                self._current = None
                outcome = event.outcome
                if outcome.status == "done":
                    key = self._key_for(event.job.output)
                    self._failures.pop(self._shown(event.job.source), None)
                    if key is not None:
                        source = str(Path(event.original or event.job.source).resolve())
                        self._add(key, event.job.kind, now(), source)
                elif outcome.status == "failed":
                    self._failed_total += 1
                    name = self._shown(event.job.source)
                    self._failures.pop(name, None)
                    self._failures[name] = self._scrubbed(outcome.reason, event.job.source, name)
                    while len(self._failures) > MAX_FAILURES_SHOWN:
                        self._failures.popitem(last=False)
            self._bump()

    def _shown(self, path: Path) -> str:
        """``path`` as the page may show it: relative to the watched, originals or output
        folder, else its bare name. The page is meant for the LAN, and an absolute path
        tells anyone there the server's layout (user names, mounts)."""
        candidates = [Path(os.path.abspath(path))]
        try:
            candidates.append(Path(path).resolve())
        except OSError:
            pass
        for candidate in candidates:
            for root in (*self.original_roots, self.out_root):
                if candidate.is_relative_to(root):
                    return candidate.relative_to(root).as_posix()
        return Path(path).name

    def _scrubbed(self, reason: str, source: Path, shown: str) -> str:
        """A failure's reason without absolute paths: decoders name the file they failed on
        ("cannot identify image file '/var/lib/...'"), and an OS error names its folder."""
        for text in sorted(
            {str(source), os.path.abspath(source), str(Path(source).resolve())},
            key=len,
            reverse=True,
        ):
            reason = reason.replace(text, shown)
        for root in sorted((*self.original_roots, self.out_root), key=lambda r: -len(str(r))):
            reason = reason.replace(str(root) + os.sep, "").replace(str(root), ".")
        return reason

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        return self._entries.get(key)

    def status(self) -> dict[str, Any]:
        """The header of the page: counts, the file being colorized, the queue, failures."""
        with self.changed:
            return {
                "generation": self.generation,
                "version": self.version,
                "scans": len(self._entries),
                "newest": self._sequences[-1] if self._sequences else 0,
                "scanning": self.scanning,
                "current": self._current,
                "queued": self._queued,
                "scanner": self._scanner,
                "colorizer": self._colorizer,
                "output": self._output,
                "failed_total": self._failed_total,
                "failures": [
                    {"name": name, "reason": reason}
                    for name, reason in reversed(self._failures.items())
                ],
            }

    def page(self, before: int | None, after: int | None, limit: int) -> tuple[list[Entry], bool]:
        """Up to ``limit`` entries, newest first: older than ``before``, or newer than ``after``
        (the newest ``limit`` of those). Returns (entries, whether there are older ones)."""
        with self.changed:
            end = len(self._sequences)
            if before is not None:
                end = bisect.bisect_left(self._sequences, before)
            start = 0
            if after is not None:
                start = bisect.bisect_right(self._sequences, after)
            found: list[Entry] = []
            index = end - 1
            while index >= start and len(found) < limit:
                entry = self._entries.get(self._keys[index])
                if entry is not None and entry.sequence == self._sequences[index]:
                    found.append(entry)  # else: replaced by a newer colorization
                index -= 1
            more = index >= start  # (older ones may all have been replaced: a last empty page)
            return found, more

    # ------------------------------------------------------------------ files

    def output_path(self, entry: Entry) -> Path | None:
        """The colorized file, if it is still there and really under OUT (no symlink out)."""
        return _inside(self.out_dir / entry.key, [self.out_root])

    def original_path(self, entry: Entry) -> Path | None:
        """The original, if it can be found under an allowed root (where it was colorized
        from, or the same relative path under a root, e.g. after ``--move-originals``)."""
        if not entry.source:
            return None
        source = Path(entry.source)
        candidates = [source]
        if source.suffix:
            relative = Path(entry.key).with_suffix(source.suffix)
            candidates += [root / relative for root in self.original_roots]
        for candidate in candidates:
            found = _inside(candidate, self.original_roots)
            if found is not None:
                return found
        return None


def _inside(path: Path, roots: list[Path]) -> Path | None:
    """``path`` resolved (symlinks followed) if it is an existing file under one of ``roots``."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file():
        return None
    if any(resolved.is_relative_to(root) for root in roots):
        return resolved
    return None


def is_viewable(path: Path) -> bool:
    """Whether every browser shows this file in an <img> as it is."""
    return path.suffix.lower() in VIEWABLE_SUFFIXES
