"""`colorize --ray`'s actor without Ray: what a lost actor leaves for the one that takes its
rows over (Ray Data hands the rows of a lost actor's batch to another one).

:class:`ColorizeActor` is a plain class that Ray Data instantiates and calls with batches of
rows (dicts of numpy arrays); here it is called as Ray Data would, and "lost" is an
exception thrown out of it at the chosen moment, as a SIGKILL stops it there.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from edgecolor.device.files import batch, ray_colorize
from edgecolor.device.files.manifest import Manifest
from edgecolor.device.runtime.options import RuntimeOptions


class ActorLost(BaseException):
    """The actor's process ends here (a SIGKILL, a node lost): nothing after it runs."""


@pytest.fixture
def block(tmp_path):
    """One block of four gray photos to colorize into OUT: (OUT, the driver's manifest, the
    jobs, the batch as Ray Data hands it to an actor)."""
    archive, out = tmp_path / "archive", tmp_path / "out"
    archive.mkdir()
    for index in range(ray_colorize.ROWS_PER_BLOCK):
        photo = Image.fromarray(data.camera()[:: 8 + index, ::8])
        photo.save(archive / f"photo{index}.jpg", quality=90)
    jobs, _ = batch.collect_jobs([archive], out)
    (out / ".edgecolor").mkdir(parents=True)  # as the driver's Manifest makes it
    manifest = Manifest(out)
    rows = [ray_colorize._row(index, job, manifest) for index, job in enumerate(jobs)]
    rows_batch = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    return out, manifest, jobs, rows_batch


def _actor(out, name, monkeypatch) -> ray_colorize.ColorizeActor:
    """An actor as Ray Data makes one, under its own journal name (one per process)."""
    monkeypatch.setattr(ray_colorize, "_actor_name", lambda: name)
    return ray_colorize.ColorizeActor(str(out), RuntimeOptions(None, "cpu", 1), False, False)


def test_an_output_a_lost_actor_renamed_but_never_journaled_is_made_again_and_recorded(
    block, monkeypatch
):
    """The race behind a flaky test_device_ray: the actor renamed its second output into
    place and was lost before that output's journal line. The actor taking the block over
    found the output there, unrecorded, and skipped it as "already done": the job ended
    with it on disk and in no manifest."""
    out, manifest, jobs, rows = block
    lost = _actor(out, "node-a-101", monkeypatch)
    journal_add = lost._journal.add
    journaled = []

    def add_then_lost(job, source_fingerprint, extra):
        if journaled:  # the second output is in place; its journal line is never written
            raise ActorLost
        journal_add(job, source_fingerprint, extra)
        journaled.append(job.output)

    monkeypatch.setattr(lost._journal, "add", add_then_lost)
    with pytest.raises(ActorLost):
        lost(rows)
    assert [job.output.exists() for job in jobs] == [True, True, False, False]
    assert journaled == [jobs[0].output]

    taking_over = _actor(out, "node-b-202", monkeypatch)
    results = taking_over(rows)

    statuses = dict(zip(results["index"], results["status"], strict=True))
    # the journaled output is not made twice; the unjournaled one is made again
    assert statuses == {0: "skipped", 1: "done", 2: "done", 3: "done"}
    for index, job in enumerate(jobs):  # the driver records what it hears of ...
        result = {key: results[key][index] for key in results}
        ray_colorize._record(job, result, manifest)
    ray_colorize.fold_journals(manifest)  # ... and, at the end, what the journals hold
    recorded = {record["output"] for record in Manifest(out).records.values()}
    assert recorded == {str(job.output.resolve()) for job in jobs}
    assert all(job.output.exists() for job in jobs)
    assert not (out / ".edgecolor" / "ray").exists()


def test_an_output_nobody_set_out_to_make_is_not_clobbered(block, monkeypatch):
    """A file that is in OUT under an output's name although the driver listed it absent,
    and that no actor of this job noted as started, is not this job's: skipped, as a local
    run skips it, never overwritten."""
    out, _, jobs, rows = block
    jobs[1].output.parent.mkdir(parents=True, exist_ok=True)
    jobs[1].output.write_bytes(b"somebody else's")

    results = _actor(out, "node-a-101", monkeypatch)(rows)

    assert list(results["status"]) == ["done", "skipped", "done", "done"]
    assert jobs[1].output.read_bytes() == b"somebody else's"
    started = (out / ".edgecolor" / "ray" / "node-a-101.started").read_text().splitlines()
    assert [json.loads(line)["output"] for line in started] == [
        str(job.output.resolve()) for job in jobs
    ]
