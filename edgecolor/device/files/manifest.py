"""The manifest, ``OUT_DIR/.edgecolor/manifest.jsonl``: one writer (:class:`Manifest`, used by
``colorize`` and ``scan``) and one reader (:class:`ManifestReader`, used by it and by the
gallery, possibly in another process while lines are being appended).

Each line is one JSON object for a finished (or kept) output: ``output`` and ``source``
(resolved paths), the source's fingerprint (``size``, ``mtime_ns``), ``kind`` (image or
video), ``time`` (UTC, ISO 8601), then what the job adds (``frames``, ``fps``, ``audio``,
``model``, or ``kept``). Later lines win.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

BOOKKEEPING_DIR = ".edgecolor"
MANIFEST_NAME = "manifest.jsonl"


class ManifestReader:
    """Reads the manifest's complete lines, the new ones at each call.

    A line cut short by a crash, or still being written, is skipped now and read next time
    (when complete); a manifest replaced by a shorter one is read again from the start.
    """

    def __init__(self, out_dir: Path, path: Path | None = None):
        """``path``: another file of such records (a Ray actor's journal) instead."""
        self.path = Path(path) if path else Path(out_dir) / BOOKKEEPING_DIR / MANIFEST_NAME
        self._position = 0

    def read_new(self) -> list[dict[str, Any]]:
        """The records (dicts with at least ``output``) added since the last call."""
        try:
            with open(self.path, "rb") as manifest:
                if os.fstat(manifest.fileno()).st_size < self._position:
                    self._position = 0
                manifest.seek(self._position)
                data = manifest.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._position += len(complete)
        records = []
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a line garbled by a crash
            if isinstance(record, dict) and isinstance(record.get("output"), str):
                records.append(record)
        return records


class Manifest:
    """``OUT_DIR/.edgecolor/manifest.jsonl``: one JSON line per finished output, append-only.

    Appending a line (flushed and fsync'ed) is atomic enough for a crash: at worst the last,
    unterminated line is lost. Its output was complete (renamed into place before the line
    is written), and a re-run counts it as done without a record (``batch.is_done``: an
    output with no record is never clobbered), so a later change of that source is not
    noticed. Later lines win.
    """

    def __init__(self, out_dir: Path, path: Path | None = None):
        """``path``: another file of such records (a Ray actor's journal) instead."""
        self.directory = Path(out_dir) / BOOKKEEPING_DIR
        self.path = Path(path) if path else self.directory / MANIFEST_NAME
        self.log_path = self.directory / "log.txt"
        reader = ManifestReader(out_dir, self.path)
        self.records = {record["output"]: record for record in reader.read_new()}

    def _key(self, output: Path) -> str:
        return str(output.resolve())

    def record_for(self, output: Path) -> dict[str, Any] | None:
        return self.records.get(self._key(output))

    def add(self, job: Any, source_fingerprint: dict[str, int], extra: dict[str, Any]) -> None:
        """The one writer: a line for ``job`` (a :class:`~edgecolor.device.files.batch.Job`)."""
        record = {
            "output": self._key(job.output),
            "source": str(job.source.resolve()),
            **source_fingerprint,
            "kind": job.kind,
            "time": now(),
            **extra,
        }
        self.add_records([record])

    def add_records(self, records: list[dict[str, Any]]) -> None:
        """Append records as they are (made by :meth:`add` elsewhere: a Ray actor), in one
        write (one flush to disk)."""
        for record in records:
            self.records[record["output"]] = record
        self._append(self.path, "".join(json.dumps(record) + "\n" for record in records))

    def log(self, message: str) -> None:
        self._append(self.log_path, f"{now()} {message}\n")

    def _append(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def now() -> str:
    """The manifest's time stamps: UTC, to the second, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
