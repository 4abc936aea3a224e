"""Batches of files: ``edgecolor colorize`` and the scan watcher share this.

A batch never loses anything:

* originals are only read; an output path that would be an input is refused;
* every output goes to a temporary file first and is moved into place when complete;
* a file that cannot be read is reported with its name and the reason, nothing is written
  under its name, and the batch goes on;
* a photo already in colour is kept as it is (unless ``recolor``): colorizing would replace
  its real colours with the model's guess. Nothing is written for it; the summary counts it;
* finished outputs are left alone on a re-run (unless ``overwrite``), so an interrupted
  batch resumes where it stopped. ``OUT_DIR/.edgecolor/manifest.jsonl`` records each
  finished output with its source's size and modification time (a changed source is done
  again); ``OUT_DIR/.edgecolor/log.txt`` keeps the failures with their reasons.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor import photos
from edgecolor.color import colorfulness
from edgecolor.device.files import images, output_folder, video
from edgecolor.device.files.manifest import BOOKKEEPING_DIR, Manifest
from edgecolor.errors import EdgecolorError, UsageError

logger = logging.getLogger(__name__)

KEPT_REASON = "already in colour"

# A toned black-and-white print (sepia, selenium, cyanotype), or one scanned in colour mode,
# has colour too, but one hue per lightness. Taken that away (``_without_tone``), toned
# prints measure under 6 on Hasler-Suesstrunk colourfulness and colour photos 14 and up.
TONE_BANDS = 32
COLOUR_PHOTO_THRESHOLD = 10.0
COLOUR_CHECK_SIDE = 256  # judged on a thumbnail: fast for a 12-megapixel scan, noise averaged


@dataclass(frozen=True)
class Job:
    """One input file and where its colorized version goes."""

    source: Path
    output: Path
    kind: str  # "image" or "video"
    conflict: str = ""  # why this job cannot run (another input has the same output)

    @property
    def name(self) -> str:
        """The input as the user knows it (the path they gave, or under the folder they gave)."""
        return str(self.source)


@dataclass
class Outcome:
    """What happened to one job: "done", "skipped" (already done), "kept" (already in colour,
    left as it is) or "failed" (with a reason)."""

    job: Job
    status: str
    reason: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    ignored: int = 0
    kept: int = 0
    unmoved: int = 0  # originals done but not moved (scan --move-originals took nothing)
    failures: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        if outcome.status == "failed":
            self.failures.append(outcome)

    def line(self, out_dir: Path) -> str:
        parts = [f"{self.done} colorized", f"{self.skipped} already done", f"{self.failed} failed"]
        if self.ignored:
            parts.append(f"{self.ignored} other file{'s' if self.ignored > 1 else ''} ignored")
        if self.kept:
            parts.append(f"{self.kept} kept: {KEPT_REASON} (--recolor colorizes those too)")
        if self.unmoved:
            parts.append(
                f"{self.unmoved} original{'s' if self.unmoved > 1 else ''} not moved "
                "(still where they were; named above)"
            )
        text = ", ".join(parts) + f" -> {out_dir}"
        if self.failed:
            text += f" (reasons in {out_dir / BOOKKEEPING_DIR / 'log.txt'})"
        return text


def kind_of(path: Path) -> str | None:
    """ "video", "image" or None (not a file edgecolor colorizes), by suffix."""
    if video.is_video(path):
        return "video"
    if path.suffix.lower() in photos.image_suffixes():
        return "image"
    return None


def output_for(source: Path, relative: Path, out_dir: Path, kind: str) -> Path:
    suffix = video.output_suffix(source) if kind == "video" else images.output_suffix(source)
    return out_dir / relative.with_suffix(suffix)


def collect_jobs(paths: Iterable[str | Path], out_dir: Path) -> tuple[list[Job], int]:
    """Expand files and folders (recursively) into jobs; return (jobs, ignored file count).

    A file named on the command line is always tried (and fails with a reason when it is not
    an image); inside folders only files with an image or video suffix are taken, hidden
    files and folders and the output folder itself are skipped.

    Raises:
        UsageError: a path that does not exist, or an output folder that is an input folder.
    """
    out_dir = Path(out_dir)
    out_resolved = out_dir.resolve()
    jobs: list[Job] = []
    ignored = 0
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise UsageError(f"input not found: {path}")
        if path.is_dir():
            if path.resolve() == out_resolved:
                raise UsageError(f"-o {out_dir} is the input folder itself: choose another folder")
            for source in photos.walk_files(path, skip=[out_resolved]):
                kind = kind_of(source)
                if kind is None:
                    ignored += 1
                    continue
                relative = source.relative_to(path)
                jobs.append(Job(source, output_for(source, relative, out_dir, kind), kind))
        else:
            kind = kind_of(path) or "image"
            output = output_for(path, Path(path.name), out_dir, kind)
            if output.resolve() == path.resolve():
                raise UsageError(
                    f"-o {out_dir} is the folder of {path}: its output would be the original "
                    "itself; choose another folder"
                )
            jobs.append(Job(path, output, kind))
    return _mark_conflicts(jobs), ignored


def _mark_conflicts(jobs: list[Job]) -> list[Job]:
    """A second input that would write the same output (a.pgm and a.ppm, two folders with
    the same names) fails with a reason instead of being silently skipped or overwriting."""
    first: dict[Path, Job] = {}
    marked = []
    for job in jobs:
        key = job.output.resolve()
        if key in first:
            job = dataclasses.replace(
                job, conflict=f"its output {job.output} is already that of {first[key].source}"
            )
        else:
            first[key] = job
        marked.append(job)
    return marked


# --------------------------------------------------------------------------- bookkeeping


def fingerprint(path: Path) -> dict[str, int]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


# --------------------------------------------------------------------------- processing


def is_done(job: Job, manifest: Manifest) -> bool:
    """True when ``job.output`` exists and was not made from an older version of its source."""
    if not job.output.exists():
        return False
    record = manifest.record_for(job.output)
    if record is None:
        return True  # an output we did not make is never clobbered without --overwrite
    return _made_from_current_source(job, record, unreadable=True)


def is_kept(job: Job, manifest: Manifest) -> bool:
    """True when this version of ``job.source`` was found in colour and kept as it is, so a
    re-run (or the scan service's next pass) neither decodes it again nor reports it anew."""
    record = manifest.record_for(job.output)
    if record is None or not record.get("kept") or job.output.exists():
        return False
    return _made_from_current_source(job, record, unreadable=False)


def _made_from_current_source(job: Job, record: dict[str, Any], unreadable: bool) -> bool:
    """True when ``record`` was written for the source as it is now (same size and
    modification time); ``unreadable`` when the source cannot be looked at."""
    try:
        current = fingerprint(job.source)
    except OSError:
        return unreadable
    return record.get("size") == current["size"] and record.get("mtime_ns") == current["mtime_ns"]


def is_colour_photo(frame: np.ndarray) -> bool:
    """True for a photo with colours of its own, which colorizing would replace by a guess.

    Gray is not, and neither is toned black-and-white (sepia, cyanotype, a print scanned in
    colour): those are what edgecolor is for. Colourfulness decides, on the colour left
    once each lightness band's own tint is taken away.

    Args:
        frame: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA; uint8 or uint16.
    """
    from PIL import Image

    if frame.ndim == 2:
        return False
    rgb = frame[..., :3]
    if rgb.dtype != np.uint8:
        rgb = (rgb >> 8).astype(np.uint8)
    thumbnail = Image.fromarray(np.ascontiguousarray(rgb))
    thumbnail.thumbnail((COLOUR_CHECK_SIDE, COLOUR_CHECK_SIDE))
    untoned = _without_tone(np.asarray(thumbnail))
    return colorfulness(untoned) >= COLOUR_PHOTO_THRESHOLD


def _without_tone(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with each lightness band's mean colour made neutral: a toned print turns gray,
    a colour photo keeps the colours that differ within a band (a red and a green apple)."""
    values = rgb.reshape(-1, 3).astype(np.float64)
    band = np.minimum(values.mean(axis=1) * (TONE_BANDS / 256.0), TONE_BANDS - 1).astype(np.intp)
    counts = np.maximum(np.bincount(band, minlength=TONE_BANDS), 1)
    tone = (
        np.stack(
            [np.bincount(band, values[:, channel], TONE_BANDS) for channel in range(3)], axis=1
        )
        / counts[:, None]
    )
    neutral = values - tone[band] + tone[band].mean(axis=1, keepdims=True)
    return np.clip(np.round(neutral), 0, 255).astype(np.uint8).reshape(rgb.shape)


def settled(
    job: Job, manifest: Manifest, overwrite: bool = False, recolor: bool = False
) -> Outcome | None:
    """The outcome of a job that needs no decoding (it cannot run, is done, or was kept as it
    is before), or None when it has to be colorized. A failure is logged in ``manifest``."""
    if job.conflict:
        return record_failed(job, job.conflict, manifest)
    if job.source.resolve() == job.output.resolve():  # before is_done: never a silent skip
        return record_failed(job, "the output would overwrite the original", manifest)
    if not overwrite and is_done(job, manifest):
        return Outcome(job, "skipped")
    if not (overwrite or recolor) and is_kept(job, manifest):
        return Outcome(job, "kept", KEPT_REASON)
    return None


def process(
    job: Job,
    colorizer_factory: Callable[[], Any],
    manifest: Manifest,
    overwrite: bool = False,
    recolor: bool = False,
) -> Outcome:
    """Colorize one job unless it is done; never raises for a bad input (returns "failed").

    A photo already in colour is kept as it is ("kept"), unless ``recolor``.
    """
    outcome = settled(job, manifest, overwrite, recolor)
    if outcome is not None:
        return outcome
    still = None
    try:
        source_fingerprint = fingerprint(job.source)
        if job.kind == "image":
            still = photos.read_image(job.source)
    except (photos.UnreadableFile, UsageError) as error:
        return record_failed(job, str(error), manifest)
    except OSError as error:
        return record_failed(job, f"cannot read: {error.strerror or error}", manifest)
    if still is not None and not recolor and is_colour_photo(still.frames[0]):
        return record_kept(job, source_fingerprint, manifest)
    # Outside the per-file handling: a missing model or runtime stops the batch (exit 2).
    colorizer = colorizer_factory()
    from edgecolor.device.frames.loop import SourceLost  # loaded once a file needs it

    try:
        if still is None:
            from edgecolor.device.frames.frame_colorizer import FrameColorizer

            result = video.colorize_video(job.source, job.output, FrameColorizer(colorizer))
            extra = {"frames": result.frames, "fps": result.fps, "audio": result.audio}
            notes = result.notes
        else:
            frames = [colorizer.colorize(frame) for frame in still.frames]
            images.write_image(job.output, frames, still)
            extra = {"frames": len(frames)}
            notes = still.notes
    except (photos.UnreadableFile, UsageError, SourceLost) as error:
        return record_failed(job, str(error), manifest)
    except EdgecolorError:
        raise  # a missing dependency stops the batch: no other file would work either
    except MemoryError:
        return record_failed(job, "out of memory", manifest)
    except OSError as error:
        _raise_if_unwritable(manifest, error)
        return record_failed(job, f"cannot read or write: {error.strerror or error}", manifest)
    except Exception as error:  # an unexpected failure on one file must not end the batch
        logger.debug("failure on %s", job.source, exc_info=True)
        return record_failed(job, f"{type(error).__name__}: {error}", manifest)
    extra["model"] = colorizer.model_path.name
    _bookkeeping(manifest, manifest.add, job, source_fingerprint, extra)
    return Outcome(job, "done", notes=notes)


def _out_dir(manifest: Manifest) -> Path:
    return manifest.directory.parent


def _raise_if_unwritable(manifest: Manifest, error: OSError) -> None:
    """Raise :class:`output_folder.OutputUnwritable` when a job's OSError came from its output folder
    (full, read-only) rather than from its input: told apart by trying that folder now."""
    if error.errno not in output_folder.FULL_OR_READ_ONLY:
        problem = output_folder.output_problem(_out_dir(manifest))
        if problem is None:
            return  # the input's fault (permission denied on it...): the output folder is fine
        if error.errno not in (errno.EACCES, errno.EPERM):
            error = problem
    raise output_folder.OutputUnwritable(
        _out_dir(manifest), output_folder.unwritable_cause(error)
    ) from None


def _bookkeeping(manifest: Manifest, write: Callable[..., None], *arguments: Any) -> None:
    """Write the manifest or the log; a folder that cannot take it is :class:`output_folder.OutputUnwritable`
    (before, the failure log's own OSError ended the process with a traceback)."""
    try:
        write(*arguments)
    except OSError as error:
        raise output_folder.OutputUnwritable(
            _out_dir(manifest), output_folder.unwritable_cause(error)
        ) from None


def record_failed(job: Job, reason: str, manifest: Manifest) -> Outcome:
    """Log a file that failed (named, with why) in OUT's log; the batch goes on."""
    _bookkeeping(manifest, manifest.log, f"FAILED {job.name}: {reason}")
    return Outcome(job, "failed", reason)


def record_kept(job: Job, source_fingerprint: dict[str, int], manifest: Manifest) -> Outcome:
    """Record a colour photo left as it is: the next run knows it without decoding it."""
    _bookkeeping(manifest, manifest.log, f"KEPT {job.name}: {KEPT_REASON}")
    _bookkeeping(manifest, manifest.add, job, source_fingerprint, {"kept": KEPT_REASON})
    return Outcome(job, "kept", KEPT_REASON)


def run_batch(
    jobs: list[Job],
    colorizer_factory: Callable[[], Any],
    out_dir: Path,
    overwrite: bool = False,
    show_progress: bool | None = None,
    recolor: bool = False,
) -> Summary:
    """Process every job with a progress bar; print each failure as ``name: reason``, and each
    photo kept because it is already in colour (unless ``recolor``).

    Args:
        show_progress: True/False, or None = only when stderr is a terminal.
    """
    from tqdm import tqdm

    manifest = Manifest(out_dir)
    summary = Summary()
    disable = None if show_progress is None else not show_progress  # None: tqdm decides
    with tqdm(total=len(jobs), unit="file", disable=disable) as bar:
        say = functools.partial(bar.write, file=sys.stderr)
        for job in jobs:
            bar.set_postfix_str(job.source.name[-30:], refresh=False)
            outcome = process(job, colorizer_factory, manifest, overwrite, recolor=recolor)
            report_outcome(outcome, summary, say)
            bar.update(1)
    return summary


def report_outcome(outcome: Outcome, summary: Summary, say: Callable[[str], None]) -> None:
    """Count ``outcome`` and say each failure and kept photo as ``status name: reason``."""
    summary.add(outcome)
    if outcome.status in ("failed", "kept"):
        say(f"{outcome.status} {outcome.job.name}: {outcome.reason}")
    for note in outcome.notes:
        say(f"note {outcome.job.name}: {note}")
