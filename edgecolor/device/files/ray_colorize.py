"""``edgecolor colorize SRC -o OUT --ray [ADDRESS]``: the same batch on a Ray cluster.

The driver (the machine running the command) lists the files exactly as a local run does
(:func:`edgecolor.device.files.batch.collect_jobs`), settles whatever needs no decoding
(done, kept before, conflicting) against ``OUT/.edgecolor/manifest.jsonl``, and hands the rest to
Ray Data as a dataset of file paths. ``map_batches`` runs them on a pool of actors, one per
CPU of the cluster; each actor loads the int8 model once (the device runtime's
:class:`~edgecolor.device.runtime.colorizer.Colorizer`, no TensorFlow) and runs
:func:`edgecolor.device.files.batch.process` on its files, which writes every output
atomically (temporary file + rename) under the same name as a local run would.

The driver is the only writer of the manifest and the failure log: actors return what
happened to each file (done, kept, failed with a reason) and the driver records it, as the
results stream back, with the manifest's one writer (:mod:`edgecolor.device.files.manifest`).
Results come back a block of
``ROWS_PER_BLOCK`` files at a time, so each actor also appends the record of every output
it finishes, right after the rename, to a journal of its own
(``OUT/.edgecolor/ray/<host>-<pid>.jsonl``, one writer per file, safe on NFS too); the next
run folds what a killed run left there into the manifest before it looks at anything, and
a run that finishes folds and removes its own. An interrupted job therefore resumes like a local
one: finished outputs are recorded and skipped, the rest is done.

An actor lost mid-job (a node gone) may have renamed an output into place and died before
its journal line. Ray Data gives that actor's rows to another, which would find the output
there, unrecorded, and skip it as "already done": on disk, in no manifest. So each actor
first notes the outputs of a batch it sets out to make (``<host>-<pid>.started``, beside its
journal), and an output of the batch that is there, that no journal records and that an
earlier attempt noted, is made again (the same pixels, atomically) and journaled.

Only paths travel, never pixels: on a cluster, every input and OUT must be on a file system
that every node mounts at the same path (NFS, CephFS, Lustre: one where a rename is atomic),
and edgecolor with its ``device`` extra must be installed on every node. An actor that does
not see OUT stops the job with one line saying so; an input it cannot see fails by name.

Without ADDRESS the command starts a small Ray on this machine (no dashboard, one CPU per
core this process may use, a 128 MiB object store: only paths and short results go through
it) and stops it at the end. With ADDRESS (``host:port`` of the head node, or ``auto``) it
joins that cluster as a driver. ``ray`` is imported only here, when ``--ray`` is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgecolor.device.files import batch
from edgecolor.device.files.manifest import BOOKKEEPING_DIR, Manifest, ManifestReader
from edgecolor.device.runtime.backends import default_threads
from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
from edgecolor.device.runtime.options import RuntimeOptions
from edgecolor.errors import EdgecolorError, UsageError, require

INSTALL_RAY = "pip install 'ray[data]'  (in the edgecolor checkout: pip install '.[ray]')"

LOCAL_OBJECT_STORE_BYTES = 128 * 2**20  # Ray's floor is 75 MiB; only paths and results use it
# Files per dataset block. A block's results reach the driver (and the manifest) when its
# last file is done, so small blocks keep the manifest close behind the outputs; each block
# costs Ray Data a few milliseconds, against tens to hundreds per photo.
ROWS_PER_BLOCK = 4
JOURNAL_DIR = "ray"  # under OUT/.edgecolor: the actors' journals
STARTED_SUFFIX = ".started"  # beside each journal: the outputs its actor set out to make


def check_usable(address: str) -> None:
    """Refuse an ADDRESS that is an input path (``--ray SRC -o OUT``: argparse took SRC as
    the address), and a missing Ray Data (MissingDependencyError naming the install command).
    """
    if address and os.path.lexists(address):
        raise UsageError(
            f"--ray {address}: that is a file or folder, not a Ray address; put --ray after "
            "the paths, or give an address (host:port, auto)"
        )
    check_installed()


def check_installed() -> None:
    """Raise MissingDependencyError naming the install command when Ray Data is missing."""
    require("ray", INSTALL_RAY, "Ray")
    require("ray.data", INSTALL_RAY, "Ray Data")  # pandas and pyarrow come with ray[data]


def run_batch_on_ray(
    jobs: list[batch.Job],
    out_dir: Path,
    address: str | None,
    *,
    options: RuntimeOptions,
    overwrite: bool = False,
    recolor: bool = False,
) -> batch.Summary:
    """Colorize ``jobs`` on Ray actors; the same outputs, manifest and summary as
    :func:`edgecolor.device.files.batch.run_batch`.

    Args:
        address: a Ray cluster to join (``host:port`` or ``auto``), or None to
            start a local Ray for this command, or, when this process is already
            connected to Ray (a notebook), to use that connection and leave it open.
        options: what runs the model on each actor. ``options.model``: the .tflite model, at
            the same path on every node; None = the bundled model of each node's edgecolor
            installation. ``options.threads``: CPU threads (and Ray CPUs) per actor; None = 1,
            one actor per CPU.
    Raises:
        EdgecolorError: Ray is missing, or an actor cannot load the model or see OUT.
    """
    from tqdm import tqdm

    check_installed()
    out_dir = Path(out_dir)
    manifest = Manifest(out_dir)
    fold_journals(manifest)  # what a killed run finished but did not record
    summary = batch.Summary()
    by_index: dict[int, batch.Job] = {}
    rows = []
    with tqdm(total=len(jobs), unit="file", disable=None) as bar:  # None: on a terminal only
        say = functools.partial(bar.write, file=sys.stderr)
        for job in jobs:  # what needs no decoding is settled here, as a local run would
            outcome = batch.settled(job, manifest, overwrite, recolor)
            if outcome is None:
                by_index[len(rows)] = job
                rows.append(_row(len(rows), job, manifest))
            else:
                batch.report_outcome(outcome, summary, say)
                bar.update(1)
        if not rows:
            return summary  # a finished job starts no Ray at all
        actor_cpus = options.threads or 1
        with _ray_session(address) as ray:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if actor_cpus > cpus:  # no actor could ever be placed: the job would wait forever
                raise UsageError(f"--threads {actor_cpus}: the Ray cluster has {cpus} CPUs")
            actors = cpus // actor_cpus
            dataset = ray.data.from_items(
                rows, override_num_blocks=math.ceil(len(rows) / ROWS_PER_BLOCK)
            ).map_batches(
                ColorizeActor,
                fn_constructor_kwargs={
                    "out_dir": str(out_dir.absolute()),
                    "options": dataclasses.replace(
                        options,
                        model=None if options.model is None else Path(options.model).absolute(),
                        threads=actor_cpus,
                    ),
                    "overwrite": overwrite,
                    "recolor": recolor,
                },
                batch_size=ROWS_PER_BLOCK,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(actors, len(rows))),
                num_cpus=actor_cpus,
            )
            for result in dataset.iter_rows():
                if result["status"] == "error":  # no file would work: exit 2, as locally
                    raise EdgecolorError(result["reason"])
                job = by_index[int(result["index"])]
                outcome = _record(job, result, manifest)
                bar.set_postfix_str(job.source.name[-30:], refresh=False)
                batch.report_outcome(outcome, summary, say)
                bar.update(1)
        # Every result the driver heard of is in the manifest; an actor lost mid-block
        # (its block retried elsewhere, the outputs it had finished then "already done")
        # journaled what the driver never heard of.
        fold_journals(manifest)
    return summary


def fold_journals(manifest: Manifest) -> None:
    """Append to ``manifest`` the records the actors of an interrupted run journaled but
    the driver never heard of; remove the journals."""
    folder = manifest.directory / JOURNAL_DIR
    for journal in sorted(folder.glob("*.jsonl")):
        for record in Manifest(manifest.directory.parent, journal).records.values():
            known = manifest.records.get(record["output"])
            if known is None or any(known.get(k) != record.get(k) for k in ("size", "mtime_ns")):
                manifest.add_records([record])
    for journal in [*folder.glob("*.jsonl"), *folder.glob("*" + STARTED_SUFFIX)]:
        journal.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _outputs_in(folder: Path, suffix: str) -> set[str]:
    """The outputs named in the files ``*suffix`` in ``folder`` (the actors' journals, or
    what they noted as started)."""
    return {
        record["output"]
        for path in folder.glob("*" + suffix)
        for record in ManifestReader(folder, path).read_new()
    }


def _row(index: int, job: batch.Job, manifest: Manifest) -> dict[str, Any]:
    """One dataset row: absolute paths (an actor's working folder is not the driver's) and
    the manifest record of an existing output, so the actor decides "done" as the driver
    would (an output made from an older version of its source is redone)."""
    record = manifest.record_for(job.output)
    return {
        "index": index,
        "source": str(job.source.absolute()),
        "output": str(job.output.absolute()),
        "kind": job.kind,
        "record": json.dumps(record) if record else "",
    }


def _record(job: batch.Job, result: dict[str, Any], manifest: Manifest) -> batch.Outcome:
    """Write an actor's result into the manifest and log as a local run would; the outcome
    names the file as the user gave it."""
    status, reason = str(result["status"]), str(result["reason"])
    source_fingerprint = json.loads(result["fingerprint"]) if result["fingerprint"] else {}
    if status == "done":
        manifest.add(job, source_fingerprint, json.loads(result["extra"]))
    elif status == "kept":
        batch.record_kept(job, source_fingerprint, manifest)
    elif status == "failed":
        batch.record_failed(job, reason, manifest)
    return batch.Outcome(job, status, reason, notes=json.loads(result["notes"]))


class _ResultRecorder:
    """What :func:`batch.process` needs of a Manifest, in an actor: the driver's record for
    the one output (if any) to decide "done"; a finished output's record goes to the
    actor's journal and back to the driver, which writes the manifest."""

    def __init__(self, output: Path, record: dict[str, Any] | None, journal: Manifest):
        self._output = output
        self._record = record
        self._journal = journal
        self.fingerprint: dict[str, int] | None = None
        self.extra: dict[str, Any] = {}

    def record_for(self, output: Path) -> dict[str, Any] | None:
        return self._record if output == self._output else None

    def add(self, job: batch.Job, source_fingerprint: dict[str, int], extra: dict[str, Any]):
        self._journal.add(job, source_fingerprint, extra)
        self.fingerprint, self.extra = source_fingerprint, extra

    def log(self, message: str) -> None:
        pass  # the driver logs failures and kept photos under the name the user gave


class ColorizeActor:
    """A Ray Data actor: loads the model once (on its first photo to colorize), then runs
    :func:`batch.process` on each row of each batch it is given.

    A batch is a dict of numpy arrays (one entry per row) with ``index``, ``source``,
    ``output``, ``kind`` and ``record`` (the driver's manifest record as JSON, or "");
    the result has ``index``, ``status``, ``reason`` and JSON ``notes``, ``fingerprint``
    and ``extra`` (the manifest fields the driver writes).
    """

    def __init__(
        self,
        out_dir: str,
        options: RuntimeOptions,
        overwrite: bool,
        recolor: bool,
    ):
        # Raised in here, an error would reach the driver as Ray's traceback without the
        # original exception; kept, it is answered for each row and the driver says it.
        self._error = ""
        if not (Path(out_dir) / BOOKKEEPING_DIR).is_dir():
            self._error = (
                f"-o {out_dir}: not found on Ray node {socket.gethostname()}; on a cluster, "
                "OUT and every input must be on a file system each node mounts at the same path"
            )
        self._journals = Path(out_dir, BOOKKEEPING_DIR, JOURNAL_DIR)
        name = _actor_name()
        self._journal = Manifest(Path(out_dir), self._journals / f"{name}.jsonl")
        self._started = Manifest(Path(out_dir), self._journals / f"{name}{STARTED_SUFFIX}")
        self._colorizer_factory = LazyColorizer(options)
        self._overwrite = overwrite
        self._recolor = recolor

    def __call__(self, rows: dict[str, Any]) -> dict[str, list]:
        results: dict[str, list] = {
            key: [] for key in ("index", "status", "reason", "notes", "fingerprint", "extra")
        }
        columns = (rows[key] for key in ("index", "source", "output", "kind", "record"))
        batch_rows = [
            (int(index), batch.Job(Path(str(source)), Path(str(output)), str(kind)), str(record))
            for index, source, output, kind, record in zip(*columns, strict=True)
        ]
        redo = self._left_unjournaled([job for _, job, record in batch_rows if not record])
        if not self._error:  # before any output of the batch is renamed into place
            self._note_started([job for _, job, _ in batch_rows])
        for index, job, record in batch_rows:
            driver_record = json.loads(record) if record else None
            recorder = _ResultRecorder(job.output, driver_record, self._journal)
            outcome = self._process(job, recorder, overwrite=self._overwrite or job.output in redo)
            results["index"].append(index)
            results["status"].append(outcome.status)
            results["reason"].append(outcome.reason)
            results["notes"].append(json.dumps(outcome.notes))
            results["fingerprint"].append(json.dumps(recorder.fingerprint or {}))
            results["extra"].append(json.dumps(recorder.extra))
        return results

    def _left_unjournaled(self, jobs: list[batch.Job]) -> set[Path]:
        """The outputs of ``jobs`` (none recorded when the driver listed them: absent then)
        that are there now, that an earlier attempt of this job noted as started and that
        no journal records: an actor renamed them into place and was lost before its
        journal line. Skipped as "already done", they would be recorded nowhere."""
        present = [job.output for job in jobs if os.path.lexists(job.output)]
        if self._overwrite or self._error or not present:
            return set()  # (--overwrite makes every output again anyway)
        unjournaled = _outputs_in(self._journals, STARTED_SUFFIX) - _outputs_in(
            self._journals, ".jsonl"
        )
        return {output for output in present if str(output.resolve()) in unjournaled}

    def _note_started(self, jobs: list[batch.Job]) -> None:
        """Note (flushed to disk) the outputs this actor sets out to make, for
        :meth:`_left_unjournaled` should it be lost before it journals one of them."""
        self._started.add_records([{"output": str(job.output.resolve())} for job in jobs])

    def _process(self, job: batch.Job, recorder: _ResultRecorder, overwrite: bool) -> batch.Outcome:
        """batch.process, with status "error" for what stops the whole job (the model or
        its runtime cannot be loaded, OUT is not visible here)."""
        if self._error:
            return batch.Outcome(job, "error", self._error)
        if not os.path.lexists(job.source):
            return batch.Outcome(
                job,
                "failed",
                f"not found on Ray node {socket.gethostname()} (inputs must be on a file "
                "system each node mounts at the same path)",
            )
        try:
            return batch.process(
                job, self._colorizer_factory, recorder, overwrite, recolor=self._recolor
            )
        except EdgecolorError as error:
            self._error = str(error)
            return batch.Outcome(job, "error", self._error)


@contextmanager
def _ray_session(address: str | None) -> Iterator[Any]:
    """The ``ray`` module, connected to ``address`` or to a local Ray started for this
    command (and stopped after it); without ``address``, an existing connection is used as
    it is."""
    import ray
    import ray.data

    if ray.is_initialized() and not address:
        yield ray
        return
    # Ray's own notices (an auth token made...) are not the user's business; failures
    # reach the command as exceptions and are reported from there.
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise UsageError(f"--ray {address}: cannot join that Ray cluster ({error})") from None
    else:
        # "local": never join a cluster someone else started on this machine (ray.init()
        # without an address would, through RAY_ADDRESS or /tmp/ray).
        ray.init(
            address="local",
            num_cpus=default_threads(),
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            **quiet,
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command has its own bar, per file
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """UsageError unless something answers at ``host:port`` (Ray itself would retry a
    missing head node for minutes before saying anything)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: Ray finds the cluster and says what is wrong
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(f"--ray {address}: no Ray cluster answers there ({reason})") from None


def _actor_name() -> str:
    """Unique among the actors of a cluster, and a file name."""
    host = "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname())
    return f"{host}-{os.getpid()}"
