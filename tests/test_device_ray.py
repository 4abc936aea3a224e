"""`edgecolor colorize --ray`: a real local Ray, the bundled int8 model, the same outputs.

Ray starts slowly (seconds), so the module shares one local cluster (the ``ray_address``
fixture) that the commands join with ``--ray ADDRESS``; one command starts its own local
Ray, as ``--ray`` without an address does. Each command runs as its own process, as a user
would run it, so that one can be killed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from edgecolor.cli import main

try:
    import ray
    import ray.data  # noqa: F401 - ray[data]: pandas, pyarrow
except ImportError:
    ray = None

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]
needs_ray = pytest.mark.skipif(ray is None, reason="needs the ray extra: pip install '.[ray]'")

CHECKOUT = Path(__file__).resolve().parents[1]
PHOTOS = 24


def _environment() -> dict[str, str]:
    """This checkout first on the path: the command, and the Ray workers it starts, run it."""
    path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _colorize(*arguments: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecolor.cli", "colorize", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
        cwd=CHECKOUT,
    )


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray (2 CPUs, no dashboard) for the module; its raylet starts every worker,
    so the workers import this checkout through the PYTHONPATH it is started with."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _environment()["PYTHONPATH"]
    try:
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=128 * 2**20,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Black-and-white photos of different sizes in a folder and a subfolder."""
    folder = tmp_path_factory.mktemp("ray") / "archive"
    (folder / "1950s").mkdir(parents=True)
    sources = [data.camera(), data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for index in range(PHOTOS):
        image = Image.fromarray(sources[index % len(sources)]).convert("L")
        side = 96 + 6 * index
        image = image.crop((index * 7, index * 5, image.width - index * 3, image.height))
        image.thumbnail((side, side))
        where = folder if index % 2 else folder / "1950s"
        image.save(where / f"photo{index:02d}.jpg", quality=92)
    return folder


@pytest.fixture(scope="module")
def local_outputs(archive, tmp_path_factory) -> Path:
    """The same archive colorized by a local run (no Ray): the outputs to match."""
    out = tmp_path_factory.mktemp("ray") / "local"
    assert main(["colorize", str(archive), "-o", str(out)]) == 0
    return out


def _outputs(folder: Path) -> dict[str, Path]:
    """The outputs under their real names (a temporary file left by a kill is hidden)."""
    return {
        str(path.relative_to(folder)): path
        for path in folder.rglob("*")
        if path.is_file() and ".edgecolor" not in path.parts and not path.name.startswith(".")
    }


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        name: (path.stat().st_ino, path.stat().st_mtime_ns)
        for name, path in _outputs(folder).items()
    }


def _records(folder: Path) -> list[dict]:
    manifest = folder / ".edgecolor" / "manifest.jsonl"
    if not manifest.exists():  # nothing recorded yet
        return []
    return [json.loads(line) for line in manifest.read_text().splitlines()]


def _assert_same_pixels(out: Path, expected: Path, names) -> None:
    for name in names:
        with Image.open(out / name) as got, Image.open(expected / name) as want:
            assert np.array_equal(np.asarray(got), np.asarray(want)), name


@needs_ray
def test_a_local_ray_gives_the_outputs_of_a_local_run_and_names_a_corrupt_file(
    archive, local_outputs, tmp_path
):
    """`--ray` without an address starts its own local Ray (and stops it)."""
    broken = tmp_path / "broken"
    broken.mkdir()
    good = (archive / "photo01.jpg").read_bytes()
    (broken / "torn.jpg").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"

    finished = _colorize(str(archive), str(broken), "-o", str(out), "--ray")

    assert finished.returncode == 1, finished.stderr
    (failure,) = [line for line in finished.stderr.splitlines() if "torn.jpg" in line]
    assert failure.startswith(f"failed {broken / 'torn.jpg'}: ") and "truncated" in failure
    assert f"{PHOTOS} colorized, 0 already done, 1 failed" in finished.stderr
    expected = _outputs(local_outputs)
    assert sorted(_outputs(out)) == sorted(expected)
    _assert_same_pixels(out, local_outputs, expected)
    # the same manifest as a local run: every output, its source and how it was made
    fields = ("size", "mtime_ns", "kind", "frames", "model")
    assert len(_records(out)) == len(_records(local_outputs)) == PHOTOS
    ray_records = {Path(r["output"]).relative_to(out): r for r in _records(out)}
    local_records = {
        Path(r["output"]).relative_to(local_outputs): r for r in _records(local_outputs)
    }
    assert ray_records.keys() == local_records.keys()
    for name, record in ray_records.items():
        assert record["source"] == local_records[name]["source"]
        assert {f: record[f] for f in fields} == {f: local_records[name][f] for f in fields}
    assert (
        f"FAILED {broken / 'torn.jpg'}: truncated" in (out / ".edgecolor" / "log.txt").read_text()
    )
    assert not list(out.rglob(".*.partial*"))
    assert sorted(p.name for p in (out / ".edgecolor").iterdir()) == ["log.txt", "manifest.jsonl"]

    # A finished job again is a no-op: nothing rewritten, and no Ray needed (nothing
    # listens at that address; joining it would be exit 2).
    before, manifest = _stats(out), (out / ".edgecolor" / "manifest.jsonl").read_bytes()
    again = _colorize(str(archive), "-o", str(out), "--ray", "127.0.0.1:9")
    assert again.returncode == 0, again.stderr
    assert f"0 colorized, {PHOTOS} already done, 0 failed" in again.stderr
    assert _stats(out) == before
    assert (out / ".edgecolor" / "manifest.jsonl").read_bytes() == manifest


@needs_ray
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's workers in /proc (Linux)")
def test_a_killed_job_resumes_losing_nothing_and_redoing_nothing(
    ray_address, archive, local_outputs, tmp_path
):
    """The job joins the module's cluster and is killed, driver and actors at once (a power
    cut), as soon as its first outputs are recorded: some photos done, most not. A re-run does the
    rest only, and the outputs are a local run's."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "edgecolor.cli", "colorize", str(archive)]
    command += ["-o", str(out), "--ray", ray_address]
    job = subprocess.Popen(
        command,
        env=_environment(),
        cwd=CHECKOUT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not _records(out):  # the driver has recorded a first block of outputs
            assert time.monotonic() < deadline and job.poll() is None, "no output within 120 s"
            time.sleep(0.01)
        job.send_signal(signal.SIGKILL)
        actors = _actor_processes()
        for pid in actors:
            os.kill(pid, signal.SIGKILL)
        job.wait(30)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(30)
    assert actors  # the job ran on this cluster's actors
    time.sleep(0.5)
    done_at_kill = _stats(out)
    records_at_kill = _records(out)
    assert 0 < len(done_at_kill) < PHOTOS
    # what the driver heard of is in the manifest, each once; the rest is in the actors'
    # journals (see edgecolor/device/files/ray_colorize.py)
    recorded = [str(Path(r["output"]).relative_to(out)) for r in records_at_kill]
    assert len(set(recorded)) == len(recorded) and set(recorded) <= done_at_kill.keys()
    assert list((out / ".edgecolor" / "ray").glob("*.jsonl"))

    resumed = _colorize(str(archive), "-o", str(out), "--ray", ray_address)

    assert resumed.returncode == 0, resumed.stderr
    missing = PHOTOS - len(done_at_kill)
    assert f"{missing} colorized, {len(done_at_kill)} already done, 0 failed" in resumed.stderr
    after = _stats(out)
    assert {name: after[name] for name in done_at_kill} == done_at_kill  # not redone
    assert sorted(after) == sorted(_outputs(local_outputs))  # nothing lost
    _assert_same_pixels(out, local_outputs, after)
    records = _records(out)
    assert records[: len(records_at_kill)] == records_at_kill  # kept as they were
    # every output recorded once, those done before the kill from the journals; except, as
    # in a local run, one an actor had renamed into place but not yet journaled at the kill
    new = [str(Path(r["output"]).relative_to(out)) for r in records[len(records_at_kill) :]]
    assert len(set(new)) == len(new) and not set(new) & set(recorded)
    unrecorded = set(after) - set(new) - set(recorded)
    assert unrecorded <= done_at_kill.keys() and len(unrecorded) <= len(actors)
    assert not (out / ".edgecolor" / "ray").exists()  # folded in, gone


@needs_ray
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's workers in /proc (Linux)")
def test_a_lost_actor_is_replaced_and_the_job_finishes_with_every_output_recorded(
    ray_address, archive, local_outputs, tmp_path
):
    """One actor killed mid-job (a node lost): Ray Data retries its files on a new actor;
    the files it had finished are "already done", and recorded from its journal."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "edgecolor.cli", "colorize", str(archive)]
    command += ["-o", str(out), "--ray", ray_address]
    job = subprocess.Popen(
        command,
        env=_environment(),
        cwd=CHECKOUT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (journals := [j for j in out.glob(".edgecolor/ray/*.jsonl") if j.stat().st_size]):
            assert time.monotonic() < deadline and job.poll() is None, "no output within 120 s"
            time.sleep(0.01)
        # the actor that has just finished the first photo of a block (journals are named
        # after the host and process id)
        lost = int(journals[0].stem.rsplit("-", 1)[1])
        assert lost in _actor_processes()
        os.kill(lost, signal.SIGKILL)
        _, stderr = job.communicate(timeout=180)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(30)
    assert job.returncode == 0, stderr
    summary = re.search(r"(\d+) colorized, (\d+) already done, 0 failed", stderr)
    assert summary and int(summary[1]) + int(summary[2]) == PHOTOS, stderr
    assert int(summary[2]) >= 1  # the lost actor's finished photos, not done twice
    assert sorted(_outputs(out)) == sorted(_outputs(local_outputs))
    _assert_same_pixels(out, local_outputs, _outputs(out))
    recorded = [str(Path(r["output"]).relative_to(out)) for r in _records(out)]
    assert sorted(recorded) == sorted(_outputs(out))  # each once, the lost actor's too
    assert not (out / ".edgecolor" / "ray").exists()


def _actor_processes() -> list[int]:
    """Process ids of the colorizing actors of this module's cluster: processes titled
    after ColorizeActor that descend from this process (which started the cluster)."""
    parent, title = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for pid, name in title.items():
        if "ColorizeActor" not in name:
            continue
        ancestor = parent.get(pid)
        while ancestor and ancestor != os.getpid():
            ancestor = parent.get(ancestor)
        if ancestor == os.getpid():
            found.append(pid)
    return found


@needs_ray
def test_an_address_that_is_a_path_or_answers_nothing_is_one_line_and_exit_2(
    archive, tmp_path, capsys
):
    """`--ray SRC -o OUT` would take SRC as the address: refused before anything is made.
    An address where nothing listens is said at once (Ray would retry it for minutes)."""
    out = tmp_path / "out"
    assert main(["colorize", "--ray", str(archive), str(archive), "-o", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"--ray {archive}: that is a file or folder" in error
    assert not out.exists()

    assert main(["colorize", str(archive), "-o", str(out), "--ray", "127.0.0.1:9"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "edgecolor colorize: error: --ray 127.0.0.1:9: no Ray cluster answers there "
        "(Connection refused)"
    )
    assert not _outputs(out)


def test_without_ray_the_error_names_the_install_command(archive, tmp_path):
    """Ray is an extra: without it, one line naming the install command, nothing made."""
    shadow = tmp_path / "no-ray" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    out = tmp_path / "out"
    environment = _environment()
    environment["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), environment["PYTHONPATH"]])
    finished = subprocess.run(
        [sys.executable, "-m", "edgecolor.cli", "colorize", str(archive), "-o", str(out), "--ray"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=CHECKOUT,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip() == (
        "edgecolor colorize: error: Ray is not installed: pip install 'ray[data]'  "
        "(in the edgecolor checkout: pip install '.[ray]')"
    )
    assert not out.exists()
