"""The scanner workflow: files taken only when completely written, once, across restarts."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from processes import sigint_at_its_default
from skimage import data

from edgecolor.cli import main
from edgecolor.device.files.scan import Watcher
from edgecolor.device.files.scanimage import Scanner
from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
from edgecolor.device.runtime.options import RuntimeOptions
from edgecolor.errors import UsageError


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _jpeg_bytes(seed: int = 0) -> bytes:
    gray = Image.fromarray(data.camera()[::8, ::8]).rotate(seed * 10)
    buffer = io.BytesIO()
    gray.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _watcher(watch, out, tiny_model, clock, messages, **options):
    factory = LazyColorizer(RuntimeOptions(tiny_model, "cpu", 1))
    return Watcher(watch, out, factory, settle=30.0, clock=clock, report=messages.append, **options)


def test_a_file_still_being_written_is_taken_only_once_complete(tmp_path, tiny_model):
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    clock, messages = FakeClock(), []
    watcher = _watcher(watch, out, tiny_model, clock, messages)
    content = _jpeg_bytes()
    target = watch / "page-001.jpg"

    with open(target, "wb") as scanner:  # the scanner has written half of the file
        scanner.write(content[: len(content) // 2])
        scanner.flush()
        assert watcher.poll() == [] and watcher.waiting == 1
        clock.now += 10
        scanner.write(content[len(content) // 2 :])  # ... and goes on writing
    clock.now += 10
    assert watcher.poll() == []  # it changed since the last look: not settled yet
    assert not (out / "page-001.jpg").exists()
    clock.now += 31
    (outcome,) = watcher.poll()
    assert outcome.status == "done"
    assert Image.open(out / "page-001.jpg").size == (64, 64)
    assert watcher.summary.failed == 0 and messages == [
        f"colorized {target} -> {out / 'page-001.jpg'}"
    ]
    assert watcher.poll() == []  # once only


def test_restart_redoes_nothing_and_misses_nothing(tmp_path, tiny_model):
    watch, out = tmp_path / "scanner", tmp_path / "out"
    (watch / "box 2").mkdir(parents=True)
    (watch / "first.jpg").write_bytes(_jpeg_bytes(1))
    clock, messages = FakeClock(), []
    first = _watcher(watch, out, tiny_model, clock, messages)
    first.poll()
    clock.now += 31
    assert [o.status for o in first.poll()] == ["done"]
    before = (out / "first.jpg").stat()

    # the service restarts (a reboot): a new file arrived meanwhile, one is broken
    (watch / "box 2" / "second.jpg").write_bytes(_jpeg_bytes(2))
    (watch / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (watch / "half.jpg.part").write_bytes(b"a download in progress")
    second = _watcher(watch, out, tiny_model, clock, messages)
    second.poll()
    clock.now += 31
    outcomes = {o.job.source.name: o.status for o in second.poll()}
    assert outcomes == {"second.jpg": "done", "broken.jpg": "failed"}
    after = (out / "first.jpg").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (out / "box 2" / "second.jpg").exists()
    assert not (out / "broken.jpg").exists()
    assert sum("broken.jpg" in message for message in messages) == 1

    clock.now += 100
    assert second.poll() == []  # the broken file is not retried while unchanged...
    (watch / "broken.jpg").write_bytes(_jpeg_bytes(3))  # ... but is once it is replaced
    second.poll()
    clock.now += 31
    assert [o.status for o in second.poll()] == ["done"]


def test_move_originals_never_overwrites(tmp_path, tiny_model):
    watch, out, done = tmp_path / "scanner", tmp_path / "out", tmp_path / "done"
    watch.mkdir()
    done.mkdir()
    (done / "photo.jpg").write_bytes(b"an earlier original with the same name")
    content = _jpeg_bytes(4)
    (watch / "photo.jpg").write_bytes(content)
    clock, messages = FakeClock(), []
    watcher = _watcher(watch, out, tiny_model, clock, messages, move_originals=done)
    watcher.poll()
    clock.now += 31
    watcher.poll()
    assert not (watch / "photo.jpg").exists()
    assert (done / "photo.jpg").read_bytes() == b"an earlier original with the same name"
    assert (done / "photo-1.jpg").read_bytes() == content
    assert (out / "photo.jpg").exists()


def test_scan_once_from_the_command_line(tmp_path, tiny_model, capsys):
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    (watch / "old.jpg").write_bytes(_jpeg_bytes(5))
    os.utime(watch / "old.jpg", (0, 1_000_000_000))  # written long ago: no settling wait
    args = ["scan", "--watch", str(watch), "-o", str(out), "--once", "--model", str(tiny_model)]
    assert main([*args, "--interval", "0.05"]) == 0
    assert (out / "old.jpg").exists()
    assert "1 colorized" in capsys.readouterr().err
    assert (
        main(
            ["scan", "--watch", str(watch), "-o", str(watch), "--once", "--model", str(tiny_model)]
        )
        == 2
    )


FAKE_SCANIMAGE = r"""
import io, json, os, sys, time
from pathlib import Path

import numpy
from PIL import Image

state = Path(__file__).parent
with open(state / "runs.jsonl", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
options = dict(argument[2:].split("=", 1) for argument in sys.argv[1:] if "=" in argument)
known = {"format", "resolution", "mode", "source", "device-name", "batch", "batch-start"}
for argument in sys.argv[1:]:
    if argument.startswith("--") and argument[2:].split("=", 1)[0] not in known:
        sys.stderr.write(f"scanimage: unrecognized option '{argument}'\n")
        sys.stderr.write("Try `scanimage --help' for more information.\n")
        sys.exit(1)
device = (state / "device.txt").read_text() if (state / "device.txt").exists() else "ready"
name = options.get("device-name", "epson2:libusb:001:004")
if device == "missing" and "device-name" not in options:
    sys.stderr.write("scanimage: no SANE devices found\n")
    sys.exit(1)
if device in ("missing", "busy"):  # sane_open failed
    reason = "Device busy" if device == "busy" else "Invalid argument"
    sys.stderr.write(f"scanimage: open of device {name} failed: {reason}\n")
    sys.exit(1)
if device == "hang":  # a scanner that never answers, with a helper process of its own
    import subprocess
    helper = subprocess.Popen(["sleep", "3600"])
    (state / "hung.txt").write_text(f"{os.getpid()} {helper.pid}")
    time.sleep(3600)
modes = (state / "modes.txt").read_text().split(",") if (state / "modes.txt").exists() else [
    "Lineart", "Gray", "Color"]
if options.get("mode") not in modes:
    sys.stderr.write(f"scanimage: setting of option --mode failed (Invalid argument)\n")
    sys.exit(1)


def page():
    buffer = io.BytesIO()
    gradient = numpy.tile(numpy.arange(0, 256, 4, dtype=numpy.uint8), (40, 1))
    Image.fromarray(gradient).save(buffer, format="TIFF")
    return buffer.getvalue()


if "batch" not in options:
    sys.stdout.buffer.write(page())
    sys.exit(0)
feeder = state / "feeder.txt"
pages = int(feeder.read_text()) if feeder.exists() else 0
number = int(options.get("batch-start", 1))
scanned = 0
while pages > 0:
    path = options["batch"] % number
    with open(path + ".part", "wb") as part:  # scanimage writes NAME.part, then renames
        content = page()
        part.write(content[: len(content) // 2])
        part.flush()
        time.sleep(0.05)
        part.write(content[len(content) // 2 :])
    os.rename(path + ".part", path)
    pages -= 1
    scanned += 1
    number += 1
    feeder.write_text(str(pages))
if not scanned:
    sys.stderr.write("scanimage: sane_start: Document feeder out of documents\n")
sys.stderr.write(f"Batch terminated, {scanned} pages scanned\n")
sys.exit(0 if scanned else 7)  # SANE_STATUS_NO_DOCS when the feeder was empty
"""


def _fake_scanimage(folder: Path, feeder: int = 0, modes: str | None = None) -> Path:
    """A `scanimage` stand-in on PATH, behaving as SANE's (frontend/scanimage.c) where it matters.

    It logs each run's arguments (``runs.jsonl``); refuses a ``--mode`` the "backend" does
    not have (exit 1, like scanimage's "setting of option --mode failed"); without
    ``--batch`` prints one gray TIFF to stdout; with ``--batch=FORMAT`` writes every page in
    the feeder (``feeder.txt``) as ``FORMAT % n`` + ``.part`` and renames it when complete,
    and exits 7 (SANE_STATUS_NO_DOCS) when the feeder was empty. ``device.txt`` plays the
    scanner: "missing" (off or unplugged: "no SANE devices found", or "open of device NAME
    failed: Invalid argument" with a device name; exit 1), "busy" ("open of device NAME
    failed: Device busy", exit 1) or "hang" (never answers; ``hung.txt`` holds its process
    id and that of a helper it started). An option it does not know is refused as getopt
    does ("unrecognized option", exit 1).
    """
    script = folder / "scanimage"
    (folder / "scanimage.py").write_text(FAKE_SCANIMAGE)
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{folder / "scanimage.py"}" "$@"\n')
    script.chmod(0o755)
    (folder / "feeder.txt").write_text(str(feeder))
    if modes is not None:
        (folder / "modes.txt").write_text(modes)
    return script


def _runs(folder: Path) -> list[list[str]]:
    log = folder / "runs.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_scanimage_scans_into_the_folder_and_colorizes(tmp_path, tiny_model, monkeypatch, capsys):
    tools, watch, out = tmp_path / "bin", tmp_path / "scanner", tmp_path / "out"
    tools.mkdir()
    watch.mkdir()
    _fake_scanimage(tools)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    args = ["scan", "--watch", str(watch), "-o", str(out), "--once", "--scanimage", "--settle", "0"]
    assert (
        main([*args, "--interval", "0.05", "--scan-resolution", "300", "--model", str(tiny_model)])
        == 0
    )
    (scan,) = list(watch.glob("scan-*.tif"))
    assert (out / scan.name).exists() and Image.open(out / scan.name).size == (64, 40)
    (arguments,) = _runs(tools)
    assert {"--format=tiff", "--resolution=300", "--mode=Gray"} <= set(arguments)


def test_scan_mode_names_the_backends_own_grayscale_mode(tmp_path, tiny_model, monkeypatch, capsys):
    tools, watch, out = tmp_path / "bin", tmp_path / "scanner", tmp_path / "out"
    tools.mkdir()
    watch.mkdir()
    _fake_scanimage(tools, modes="Black & White,True Gray,24bit Color")  # a vendor backend
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    args = ["scan", "--watch", str(watch), "-o", str(out), "--once", "--scanimage", "--settle", "0"]
    args += ["--interval", "0.05", "--model", str(tiny_model)]
    assert main(args) == 2  # Gray is not one of its modes: one line that says what to do
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--scan-mode 'Gray'" in error
    assert main([*args, "--scan-mode", "True Gray"]) == 0
    assert "--mode=True Gray" in _runs(tools)[-1]
    assert len(list(out.glob("scan-*.tif"))) == 1


def _scan_command(watch, out, tiny_model, *options):
    return [
        sys.executable,
        "-m",
        "edgecolor.cli",
        "scan",
        "--watch",
        str(watch),
        "-o",
        str(out),
        "--settle",
        "0",
        "--interval",
        "0.05",
        "--model",
        str(tiny_model),
        *options,
    ]


def _environment(tools):
    package_root = str(Path(__file__).resolve().parents[1])
    return {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }


def test_scanimage_without_a_terminal_is_refused_not_one_page_and_exit_0(tmp_path, tiny_model):
    """The reported case: `scan --watch IN -o OUT --scanimage < /dev/null` (as under systemd)."""
    tools, watch, out = tmp_path / "bin", tmp_path / "scanner", tmp_path / "out"
    tools.mkdir()
    watch.mkdir()
    _fake_scanimage(tools)
    finished = subprocess.run(
        _scan_command(watch, out, tiny_model, "--scanimage"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment(tools),
    )
    assert finished.returncode == 2, finished.stderr
    assert "needs a terminal" in finished.stderr and "--scan-batch" in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1
    assert _runs(tools) == [] and list(watch.iterdir()) == []  # nothing scanned


def _start_scan_service(watch, out, model, tools, options) -> subprocess.Popen:
    """The scan service with the fake scanimage of ``tools`` on PATH, output captured."""
    return subprocess.Popen(
        _scan_command(watch, out, model, *options),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tools),
        preexec_fn=sigint_at_its_default,
    )


def test_scan_batch_keeps_scanning_the_feeder_as_a_service(tmp_path, tiny_model):
    tools, watch, out = tmp_path / "bin", tmp_path / "scanner", tmp_path / "out"
    tools.mkdir()
    watch.mkdir()
    _fake_scanimage(tools, feeder=2)
    options = ("--scanimage", "--scan-batch", "--scan-source", "ADF", "--scan-interval", "0.2")
    service = _start_scan_service(watch, out, tiny_model, tools, options)
    try:
        assert _wait_for(lambda: len(list(out.glob("scan-*.tif"))) == 2, 120)
        assert _wait_for(lambda: len(_runs(tools)) >= 3, 30)  # empty feeder: it keeps trying
        (tools / "feeder.txt").write_text("1")  # more paper, no restart needed
        assert _wait_for(lambda: len(list(out.glob("scan-*.tif"))) == 3, 60)
        assert service.poll() is None  # still running
    finally:
        service.send_signal(signal.SIGINT)
        _, error = service.communicate(timeout=60)
    assert service.returncode == 0, error
    assert all(
        {"--batch-start=1", "--source=ADF", "--mode=Gray"} <= set(run) for run in _runs(tools)
    )
    assert not list(watch.glob("*.part"))


def test_the_service_waits_for_a_scanner_that_is_off(tmp_path, tiny_model):
    """Issue 17: a switched-off scanner stopped the service (exit 2, systemd gave up)."""
    tools, watch, out = tmp_path / "bin", tmp_path / "scanner", tmp_path / "out"
    tools.mkdir()
    watch.mkdir()
    _fake_scanimage(tools, feeder=1)
    (tools / "device.txt").write_text("missing")
    options = ("--scanimage", "--scan-batch", "--scan-source", "ADF", "--scan-interval", "0.1")
    service = _start_scan_service(watch, out, tiny_model, tools, options)
    try:
        assert _wait_for(lambda: len(_runs(tools)) >= 2 or service.poll() is not None, 60)
        assert service.poll() is None  # still running: waiting for the scanner
        (watch / "dropped.jpg").write_bytes(_jpeg_bytes())  # the folder is still watched
        assert _wait_for(lambda: (out / "dropped.jpg").exists(), 60)
        (tools / "device.txt").write_text("ready")  # switched on
        assert _wait_for(lambda: len(list(out.glob("scan-*.tif"))) == 1, 60)
    finally:
        service.send_signal(signal.SIGINT)
        _, error = service.communicate(timeout=60)
    assert service.returncode == 0, error
    assert "scanner not found, retrying in 0.1 s" in error
    assert "scanner not found, retrying in 0.2 s" in error  # doubling


def test_scan_batch_needs_a_feeder(tmp_path, tiny_model, monkeypatch, capsys):
    tools = tmp_path / "bin"
    tools.mkdir()
    _fake_scanimage(tools)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "w").mkdir()
    args = ["scan", "--watch", str(tmp_path / "w"), "-o", str(tmp_path / "o"), "--scanimage"]
    assert main([*args, "--scan-batch", "--model", str(tiny_model)]) == 2
    assert "--scan-source" in capsys.readouterr().err
    assert (
        main([*args, "--scan-batch", "--scan-source", "Flatbed", "--model", str(tiny_model)]) == 2
    )
    assert _runs(tools) == []


def _feeder_scanner(tmp_path, state="ready", feeder=0, **options):
    """A --scan-batch Scanner on the fake scanimage, with a fake clock and short pauses."""
    tools, watch = tmp_path / "bin", tmp_path / "scanner"
    tools.mkdir()
    watch.mkdir()
    script = _fake_scanimage(tools, feeder=feeder)
    (tools / "device.txt").write_text(state)
    clock = FakeClock()
    options = {"device_retry_seconds": 10.0, "device_longest_seconds": 40.0, **options}
    scanner = Scanner(source="ADF", batch=True, clock=clock, command=str(script), **options)
    return scanner, clock, tools, watch


def test_a_missing_or_busy_scanner_is_waited_for_with_back_off(tmp_path, caplog):
    """Issue 17: scanimage exits 1 for "no SANE devices found" and "open of device ...
    failed" as for a refused option; the service must wait for the scanner, not exit 2."""
    scanner, clock, tools, watch = _feeder_scanner(tmp_path, state="missing")
    caplog.set_level("WARNING")
    assert scanner.scan_into(watch) is True
    assert "scanner not found, retrying in 10 s" in caplog.text
    assert "no SANE devices found" in caplog.text
    assert scanner.scan_into(watch) is True and len(_runs(tools)) == 1  # not yet
    clock.now += 10
    scanner.scan_into(watch)
    assert len(_runs(tools)) == 2 and scanner.problem == "scanner not found, retrying in 20 s"
    (tools / "device.txt").write_text("busy")  # another program holds it
    clock.now += 20
    scanner.scan_into(watch)
    assert scanner.problem == "scanner busy, retrying in 40 s"
    clock.now += 40
    scanner.scan_into(watch)
    assert scanner.problem == "scanner busy, retrying in 40 s"  # at most the longest pause
    (tools / "device.txt").write_text("ready")
    (tools / "feeder.txt").write_text("1")
    clock.now += 40
    scanner.scan_into(watch)
    assert scanner.problem is None and len(list(watch.glob("scan-*.tif"))) == 1
    (tools / "device.txt").write_text("missing")
    clock.now += 100
    scanner.scan_into(watch)
    assert scanner.problem == "scanner not found, retrying in 10 s"  # back to the first pause


def test_a_named_scanner_that_is_unplugged_is_waited_for(tmp_path, caplog):
    scanner, clock, tools, watch = _feeder_scanner(
        tmp_path, "missing", device="epson2:libusb:001:004"
    )
    assert scanner.scan_into(watch) is True
    assert scanner.problem == "scanner not found, retrying in 10 s"
    assert "open of device epson2:libusb:001:004 failed: Invalid argument" in caplog.text


def test_a_refused_option_in_batch_mode_stays_a_usage_error(tmp_path):
    scanner, clock, tools, watch = _feeder_scanner(tmp_path, mode="Grayscale")
    with pytest.raises(UsageError, match="--mode failed"):
        scanner.scan_into(watch)
    scanner.arguments = lambda: [scanner.executable, "--mode=Gray", "--no-such-option"]
    with pytest.raises(UsageError, match="unrecognized option"):
        scanner.scan_into(watch)


def test_a_scanimage_that_hangs_is_killed_with_its_children_and_retried(tmp_path, caplog):
    scanner, clock, tools, watch = _feeder_scanner(tmp_path, "hang", timeout=1.0)
    started = time.monotonic()
    assert scanner.scan_into(watch) is True
    assert time.monotonic() - started < 30
    assert scanner.problem == "scanner did not answer within 1 s, retrying in 10 s"
    for pid in map(int, (tools / "hung.txt").read_text().split()):
        assert not _alive(pid)  # scanimage and what it started: the whole process group
    assert scanner.scan_into(watch) is True and len(_runs(tools)) == 1  # backing off


def test_an_empty_feeder_is_asked_less_and_less_often(tmp_path):
    scanner, clock, tools, watch = _feeder_scanner(
        tmp_path, retry_seconds=1.0, feeder_longest_seconds=4.0
    )
    times = []
    for _ in range(12):
        before = len(_runs(tools))
        scanner.scan_into(watch)
        if len(_runs(tools)) > before:
            times.append(clock.now - 1000.0)
        clock.now += 1
    assert times == [0, 1, 3, 7, 11]  # pauses of 1, 2, 4, then at most 4 seconds
    (tools / "feeder.txt").write_text("1")
    clock.now += 4
    scanner.scan_into(watch)
    clock.now += 1
    scanner.scan_into(watch)  # paper again: the pauses start from the first one
    assert len(_runs(tools)) == 7


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is gone too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_missing_scanimage_is_a_clear_usage_error(tmp_path, tiny_model, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "w").mkdir()
    args = [
        "scan",
        "--watch",
        str(tmp_path / "w"),
        "-o",
        str(tmp_path / "o"),
        "--once",
        "--scanimage",
    ]
    assert main([*args, "--model", str(tiny_model)]) == 2
    assert "sane-utils" in capsys.readouterr().err


@pytest.mark.hardware
def test_scanimage_with_a_real_scanner(tmp_path, tiny_model):
    import shutil
    import subprocess

    if shutil.which("scanimage") is None:
        pytest.skip("needs SANE's scanimage (sudo apt-get install sane-utils) and a scanner")
    listing = subprocess.run(["scanimage", "-L"], capture_output=True, text=True, timeout=60)
    if "device `" not in listing.stdout:
        pytest.skip("no SANE scanner attached (scanimage -L lists none)")
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    args = ["scan", "--watch", str(watch), "-o", str(out), "--once", "--scanimage"]
    assert main([*args, "--scan-resolution", "75", "--model", str(tiny_model)]) == 0
    assert len(list(out.glob("scan-*.tif"))) == 1


def test_a_repeated_clock_second_never_reuses_an_earlier_scans_name(tmp_path):
    """A Pi without a clock chip restarts from its last saved time: the name moves on."""
    import datetime

    from edgecolor.device.files.scanimage import unused_scan_name

    when = datetime.datetime(2026, 11, 30, 12, 0, 5)
    assert unused_scan_name(tmp_path, when) == "scan-20261130-120005"
    earlier = tmp_path / "scan-20261130-120005-001.tif"
    earlier.write_bytes(b"the first scan")
    assert unused_scan_name(tmp_path, when) == "scan-20261130-120005_2"
    (tmp_path / ".scan-20261130-120005_2-001.tif.part").write_bytes(b"being written")
    assert unused_scan_name(tmp_path, when) == "scan-20261130-120005_3"
    assert earlier.read_bytes() == b"the first scan"


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_2(tmp_path, tiny_model):
    """Issue 17 item 14: `scan --once -o FILE/sub` (a path root cannot write either)."""
    watch = tmp_path / "scanner"
    watch.mkdir()
    (watch / "page.jpg").write_bytes(_jpeg_bytes())
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    out = blocker / "sub"
    finished = subprocess.run(
        _scan_command(watch, out, tiny_model, "--once"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment(tmp_path),
    )
    assert finished.returncode == 2, finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0], finished.stderr


def test_a_colour_photo_is_kept_once_and_not_reported_again(tmp_path, tiny_model):
    """Issue 17 item 16: the scan service keeps a colour photo as it is (--recolor: not)."""
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    Image.fromarray(data.chelsea()[::6, ::6]).save(watch / "holiday.jpg", quality=90)
    (watch / "page.jpg").write_bytes(_jpeg_bytes())
    clock, messages = FakeClock(), []
    watcher = _watcher(watch, out, tiny_model, clock, messages)
    watcher.poll()
    clock.now += 31
    statuses = {o.job.source.name: o.status for o in watcher.poll()}
    assert statuses == {"holiday.jpg": "kept", "page.jpg": "done"}
    assert f"kept {watch / 'holiday.jpg'}: already in colour (--recolor colorizes it)" in messages
    assert not (out / "holiday.jpg").exists() and (out / "page.jpg").exists()
    assert "1 kept: already in colour" in watcher.summary.line(out)
    clock.now += 31
    assert watcher.poll() == []  # once only, also after a restart
    restarted = _watcher(watch, out, tiny_model, clock, [])
    restarted.poll()
    clock.now += 31
    assert restarted.poll() == []

    recolor = _watcher(watch, out, tiny_model, clock, [], recolor=True)
    recolor.poll()
    clock.now += 31
    assert [o.status for o in recolor.poll()] == ["done"]
    assert (out / "holiday.jpg").exists()


class _FullDisk:
    """The output folder's disk, full while ``full``: every write there raises ENOSPC, as a
    real full file system does (root is not stopped by a read-only chmod, so it is injected)."""

    def __init__(self, monkeypatch, error=errno.ENOSPC):
        from edgecolor.device.files import images, output_folder
        from edgecolor.device.files.manifest import Manifest

        self.full = True
        self.error = error
        probe = output_folder.output_problem
        write_image, append = images.write_image, Manifest._append

        def failing(real):
            def call(*arguments, **options):
                if self.full:
                    raise OSError(self.error, os.strerror(self.error))
                return real(*arguments, **options)

            return call

        monkeypatch.setattr(
            output_folder,
            "output_problem",
            lambda *a, **k: (
                OSError(self.error, os.strerror(self.error)) if self.full else probe(*a, **k)
            ),
        )
        monkeypatch.setattr(images, "write_image", failing(write_image))
        monkeypatch.setattr(Manifest, "_append", failing(append))


def test_a_full_output_folder_keeps_scans_pending_until_it_takes_files(
    tmp_path, tiny_model, monkeypatch
):
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    clock, messages, events = FakeClock(), [], []
    watcher = _watcher(watch, out, tiny_model, clock, messages, on_event=events.append)
    (watch / "page-001.jpg").write_bytes(_jpeg_bytes(1))
    (watch / "page-002.jpg").write_bytes(_jpeg_bytes(2))
    clock.now += 60
    old = time.time() - 60
    for path in watch.iterdir():
        os.utime(path, (old, old))
    disk = _FullDisk(monkeypatch)

    assert watcher.poll() == []  # before: the failure log's own OSError, a traceback
    assert watcher.summary.failed == 0 and watcher.summary.done == 0
    assert len(messages) == 1 and str(out) in messages[0] and "disk full" in messages[0]
    told = [event.message for event in events if event.kind == "output"]
    assert told == ["output folder: disk full; scans wait"]
    for _ in range(3):  # still full: retried with back-off, said once, nothing marked failed
        clock.now += 400
        assert watcher.poll() == []
    assert len(messages) == 1 and watcher.summary.failed == 0
    assert not (out / "page-001.jpg").exists()

    disk.full = False
    clock.now += 1  # within the back-off: not tried yet
    assert watcher.poll() == []
    clock.now += 400
    outcomes = watcher.poll()
    assert sorted(outcome.status for outcome in outcomes) == ["done", "done"]
    assert (out / "page-001.jpg").exists() and (out / "page-002.jpg").exists()
    assert "written again" in messages[1]
    assert [event.message for event in events if event.kind == "output"][-1] is None


def test_a_read_only_output_folder_at_start_is_waited_for_by_the_service(
    tmp_path, tiny_model, monkeypatch
):
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    out.mkdir()
    disk = _FullDisk(monkeypatch, errno.EROFS)
    clock, messages = FakeClock(), []
    with pytest.raises(UsageError, match="Read-only"):  # --once: one line, exit 2
        _watcher(watch, out, tiny_model, clock, messages)
    watcher = _watcher(watch, out, tiny_model, clock, messages, wait_for_output=True)
    assert watcher.output_problem == f"output folder {out}: read-only"
    assert messages == [f"output folder {out}: read-only; scans wait and are retried"]
    events = []
    watcher.on_event = events.append  # as the gallery does, after start-up
    (watch / "page-001.jpg").write_bytes(_jpeg_bytes(3))
    old = time.time() - 60
    os.utime(watch / "page-001.jpg", (old, old))
    assert watcher.poll() == []
    assert [event.message for event in events if event.kind == "output"] == [
        "output folder: read-only; scans wait"
    ]
    disk.full = False
    clock.now += 10
    assert [outcome.status for outcome in watcher.poll()] == ["done"]


def test_scan_once_into_a_folder_that_fills_up_exits_2_and_loses_nothing(
    tmp_path, tiny_model, monkeypatch
):
    watch, out = tmp_path / "scanner", tmp_path / "out"
    watch.mkdir()
    clock, messages = FakeClock(), []
    watcher = _watcher(watch, out, tiny_model, clock, messages)
    (watch / "page-001.jpg").write_bytes(_jpeg_bytes(4))
    old = time.time() - 60
    os.utime(watch / "page-001.jpg", (old, old))
    disk = _FullDisk(monkeypatch)
    with pytest.raises(UsageError, match="disk full"):  # before: exit 0, nothing colorized
        watcher.run(once=True, interval=0.01)
    disk.full = False
    again = _watcher(watch, out, tiny_model, clock, messages)
    again.run(once=True, interval=0.01)
    assert again.summary.done == 1 and (out / "page-001.jpg").exists()


# --------------------------------------------------------------- --move-originals that fails


class _OtherDisk:
    """``--move-originals`` on another disk: a rename out of the inbox is EXDEV (as the
    kernel says across file systems), so the original is copied; while ``fault`` names an
    errno, the copy of the file named ``failing`` writes half its bytes and raises it, as
    a disk that fills up mid-copy does."""

    def __init__(self, monkeypatch, inbox: Path, failing: str):
        import shutil

        self.fault: int | None = errno.ENOSPC
        self.copies: list[str] = []
        real_rename, real_copy2 = os.rename, shutil.copy2

        def rename(source, target, *arguments, **keywords):
            if Path(source).parent == inbox:
                raise OSError(errno.EXDEV, "Invalid cross-device link", str(source))
            return real_rename(source, target, *arguments, **keywords)

        def copy2(source, target, **keywords):
            self.copies.append(Path(source).name)
            if self.fault is not None and Path(source).name == failing:
                data = Path(source).read_bytes()
                Path(target).write_bytes(data[: len(data) // 2])
                raise OSError(self.fault, os.strerror(self.fault), str(target))
            return real_copy2(source, target, **keywords)

        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(shutil, "copy2", copy2)


def test_an_original_that_cannot_be_moved_stays_untouched_and_the_scans_go_on(
    tmp_path, tiny_model, monkeypatch
):
    """Issue 17: shutil.move into a full --move-originals disk left half a copy there and
    raised out of the watcher. Now the original stays where it was, as it was; its output
    stays done and valid; the failure is reported by name once; the other scans go on;
    the move is tried again after a pause and succeeds once the disk takes it."""
    watch, out, done = tmp_path / "scanner", tmp_path / "out", tmp_path / "done"
    watch.mkdir()
    first, second = _jpeg_bytes(6), _jpeg_bytes(7)
    (watch / "a.jpg").write_bytes(first)
    (watch / "b.jpg").write_bytes(second)
    before = (watch / "a.jpg").stat()
    clock, messages = FakeClock(), []
    watcher = _watcher(watch, out, tiny_model, clock, messages, move_originals=done)
    disk = _OtherDisk(monkeypatch, watch, failing="a.jpg")
    watcher.poll()
    clock.now += 31
    assert [outcome.status for outcome in watcher.poll()] == ["done", "done"]
    after = (watch / "a.jpg").stat()
    assert (watch / "a.jpg").read_bytes() == first
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(path.name for path in done.iterdir()) == ["b.jpg"]  # no half copy, hidden or not
    assert (done / "b.jpg").read_bytes() == second and not (watch / "b.jpg").exists()
    with Image.open(out / "a.jpg") as output:  # the output written stays valid
        output.load()
        assert output.size == (64, 64)
    not_moved = [message for message in messages if message.startswith("not moved")]
    assert not_moved == [
        f"not moved {watch / 'a.jpg'}: cannot move it to {done}: disk full; it stays where it is"
    ]
    assert watcher.summary.unmoved == 1 and watcher.summary.failed == 0
    assert "1 original not moved" in watcher.summary.line(out)

    assert watcher.poll() == [] and disk.copies.count("a.jpg") == 1  # not again before its pause
    disk.fault = errno.EROFS
    clock.now += 5
    assert watcher.poll() == [] and disk.copies.count("a.jpg") == 2  # tried: read-only now
    assert len([message for message in messages if message.startswith("not moved")]) == 1
    disk.fault = None
    clock.now += 5
    assert watcher.poll() == [] and disk.copies.count("a.jpg") == 2  # the pause doubled
    clock.now += 5
    assert watcher.poll() == []  # not colorized again: moved
    assert (done / "a.jpg").read_bytes() == first and not (watch / "a.jpg").exists()
    assert (
        messages[-1]
        == f"moved {watch / 'a.jpg'} -> {done / 'a.jpg'} (the folder takes files again)"
    )
    assert watcher.summary.unmoved == 0 and watcher.summary.done == 2


def test_scan_once_names_an_original_it_could_not_move_and_exits_1(
    tmp_path, tiny_model, monkeypatch, capsys
):
    watch, out, done = tmp_path / "scanner", tmp_path / "out", tmp_path / "done"
    watch.mkdir()
    content = _jpeg_bytes(8)
    (watch / "old.jpg").write_bytes(content)
    os.utime(watch / "old.jpg", (0, 1_000_000_000))  # written long ago: no settling wait
    real_rename = os.rename

    def read_only(source, target, *arguments, **keywords):  # the same disk, mounted read-only
        if Path(target).parent == done:
            raise OSError(errno.EROFS, "Read-only file system", str(target))
        return real_rename(source, target, *arguments, **keywords)

    args = ["scan", "--watch", str(watch), "-o", str(out), "--once", "--model", str(tiny_model)]
    done.mkdir()  # (--move-originals is proved writable at start: it became read-only later)
    monkeypatch.setattr(os, "rename", read_only)
    assert main([*args, "--move-originals", str(done), "--interval", "0.05"]) == 1
    error = capsys.readouterr().err
    assert f"not moved {watch / 'old.jpg'}: cannot move it to {done}: read-only" in error
    assert "1 colorized" in error and "1 original not moved" in error
    assert (watch / "old.jpg").read_bytes() == content and list(done.iterdir()) == []
    assert (out / "old.jpg").exists()
