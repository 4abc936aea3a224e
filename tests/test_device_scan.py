"""The scanner workflow: files taken only when completely written, once, across restarts."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from edgecolor.cli import main
from edgecolor.device import batch
from edgecolor.device.scan import Watcher


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
    factory = batch.LazyColorizer(model_path=tiny_model, device="cpu", threads=1)
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


def _fake_scanimage(folder: Path) -> Path:
    """A `scanimage` stand-in that records its arguments and prints a gray TIFF to stdout."""
    script = folder / "scanimage"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > "{folder / "arguments.txt"}"\n'
        f'exec "{sys.executable}" -c "'
        "import io, sys, numpy; from PIL import Image; buffer = io.BytesIO(); "
        "Image.fromarray(numpy.tile(numpy.arange(0, 256, 4, dtype=numpy.uint8), (40, 1))).save(buffer, format='TIFF'); "
        'sys.stdout.buffer.write(buffer.getvalue())"\n'
    )
    script.chmod(0o755)
    return script


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
    arguments = (tools / "arguments.txt").read_text()
    assert (
        "--format=tiff" in arguments
        and "--resolution=300" in arguments
        and "--mode=Gray" in arguments
    )


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
