"""A wedged or failing Coral is contained (issue 17 item 5), with the stand-in libedgetpu.

* A stored probe success is trusted only in the same boot and with the accelerator attached
  as it was; otherwise the probe runs again in a child with its time limit, so a locked-up
  USB Accelerator cannot hang the service at start.
* A model call that fails on the Edge TPU mid-run rebuilds the interpreter; repeated
  failures leave the work to the CPU (log and scan page say so), and the TPU is tried again
  later with growing pauses.

The real LiteRT runs the stand-in delegate (tests/fake_edgetpu.py): ``hang`` never returns
from creating the delegate; ``flaky`` takes the whole graph and fails invokes as
``FAKE_EDGETPU_FAIL_FILE`` says, which LiteRT raises as RuntimeError.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pytest
from gallery_support import drop_scan
from test_device_backends import _creations, _model_with_edgetpu_copy

from edgecolor.device.files.scan import Watcher
from edgecolor.device.runtime import backends, coral, edgetpu
from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
from edgecolor.device.runtime.options import RuntimeOptions


@pytest.fixture
def fake_edgetpu_here(fake_libedgetpu, tmp_path, monkeypatch):
    """The stand-in libedgetpu for this process and its probe children, a fresh probe cache;
    returns the log of delegate creations and kernel invokes."""
    monkeypatch.setenv(
        "LD_LIBRARY_PATH",
        os.pathsep.join(
            filter(None, [str(fake_libedgetpu.parent), os.environ.get("LD_LIBRARY_PATH")])
        ),
    )
    monkeypatch.setitem(edgetpu.EDGETPU_SHARED_LIBRARY, "Linux", str(fake_libedgetpu))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(edgetpu, "_PROBE_RESULTS", {})
    monkeypatch.setenv(coral.EDGETPU_CHECK_ENV, "0")  # probe whatever sysfs says
    log = tmp_path / "edgetpu.log"
    monkeypatch.setenv("FAKE_EDGETPU_LOG", str(log))
    return log


def _usb_coral(root, devnum: int):
    """/dev and /sys/bus/usb/devices with a USB Accelerator (firmware loaded) as device
    ``devnum`` on bus 2; a new number is what a re-enumeration (replug, reset) gives."""
    dev, usb = root / "dev", root / "usb"
    dev.mkdir(parents=True, exist_ok=True)
    device = usb / "2-1"
    device.mkdir(parents=True, exist_ok=True)
    for name, value in (("idVendor", "18d1"), ("idProduct", "9302"), ("busnum", "2")):
        (device / name).write_text(value + "\n")
    (device / "devnum").write_text(f"{devnum}\n")
    return dev, usb


@pytest.fixture
def attached_coral(tmp_path, monkeypatch):
    """A USB Coral in a stand-in sysfs and a stand-in boot id; returns a function that
    re-enumerates it (new devnum) or reboots (new boot id)."""
    dev, usb = _usb_coral(tmp_path / "sys", devnum=5)
    boot = tmp_path / "boot_id"
    boot.write_text("boot-a\n")
    monkeypatch.setattr(coral, "DEV_DIR", dev)
    monkeypatch.setattr(coral, "USB_DEVICES_DIR", usb)
    monkeypatch.setattr(coral, "PCI_DEVICES_DIR", tmp_path / "no-pci")
    monkeypatch.setattr(coral, "BOOT_ID_FILE", boot)
    monkeypatch.setattr(edgetpu, "_REPROBE", False)

    def change(devnum: int | None = None, boot_id: str | None = None):
        if devnum is not None:
            (usb / "2-1" / "devnum").write_text(f"{devnum}\n")
        if boot_id is not None:
            boot.write_text(boot_id + "\n")
        edgetpu._PROBE_RESULTS.clear()  # a new process

    return change


def test_a_stored_success_counts_only_in_the_same_boot_and_attachment(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, attached_coral
):
    monkeypatch.setenv("FAKE_EDGETPU", "ok")
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).ok
    assert _creations(fake_edgetpu_here) == 1
    attached_coral()  # the next start, same boot, same device: the stored success is used
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).ok
    assert _creations(fake_edgetpu_here) == 1
    attached_coral(devnum=6)  # unplugged and plugged back (or reset): probed again
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).ok
    assert _creations(fake_edgetpu_here) == 2
    attached_coral(boot_id="boot-b")  # rebooted
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).ok
    assert _creations(fake_edgetpu_here) == 3
    attached_coral()
    edgetpu.forget_edgetpu_probes()  # the TPU failed in this process: never trust the store
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).ok
    assert _creations(fake_edgetpu_here) == 4
    attached_coral()
    assert edgetpu.probe_edgetpu(
        compiled, *backends.cpu_runtime()
    ).ok  # a fresh child's success counts again
    assert _creations(fake_edgetpu_here) == 4


def test_a_locked_up_coral_does_not_hang_the_start(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, attached_coral, caplog
):
    """It worked before the lock-up (stored success); re-enumerated since, it is probed in a
    child again, which is killed at the time limit: the CPU runs, with one warning."""
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    monkeypatch.setenv("FAKE_EDGETPU", "ok")
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).ok
    attached_coral(devnum=9)  # it reset itself and came back locked up
    monkeypatch.setenv("FAKE_EDGETPU", "hang")
    monkeypatch.setattr(edgetpu, "PROBE_TIMEOUT_SECONDS", 3.0)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime"):
        loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "cpu"
    assert time.monotonic() - started < 30  # the child's 3 s, plus starting Python
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "did not answer within 3 s" in warning
    assert _creations(fake_edgetpu_here) == 2


# --------------------------------------------------------------- failures mid-run


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _invokes(log) -> tuple[int, int]:
    lines = log.read_text().splitlines() if log.exists() else []
    return lines.count("invoke"), lines.count("fail")


@pytest.fixture
def flaky_tpu(tiny_model, tmp_path, monkeypatch, fake_edgetpu_here):
    """A model with its _edgetpu copy on the flaky stand-in; returns (model, fail file)."""
    monkeypatch.setenv("FAKE_EDGETPU", "flaky")
    fail = tmp_path / "tpu-fails"
    monkeypatch.setenv("FAKE_EDGETPU_FAIL_FILE", str(fail))
    return _model_with_edgetpu_copy(tiny_model, tmp_path / "model"), fail


def test_a_dead_tpu_leaves_the_scans_to_the_cpu_and_is_used_again_when_back(
    tmp_path, flaky_tpu, fake_edgetpu_here, caplog
):
    from edgecolor.device.gallery.catalogue import Catalogue

    model, fail = flaky_tpu
    watch, out = tmp_path / "inbox", tmp_path / "out"
    watch.mkdir()
    clock = Clock()
    factory = LazyColorizer(RuntimeOptions(model, "auto", 1), clock=clock)  # retries after 60 s
    events = []
    watcher = Watcher(watch, out, factory, settle=0.0, report=lambda text: None)
    catalogue = Catalogue(out, [watch], scanning=True)
    watcher.on_event = lambda event: (events.append(event), catalogue.on_scan_event(event))

    def scan(name: str) -> str:
        drop_scan(watch, name)
        (outcome,) = watcher.poll()
        assert outcome.status == "done", outcome.reason
        return factory().device

    assert scan("a.jpg") == "edgetpu"  # probe child + this process: 2 invokes
    assert _invokes(fake_edgetpu_here) == (2, 0)
    fail.write_text("*")  # the accelerator dies
    with caplog.at_level(logging.WARNING):
        assert scan("b.jpg") == "cpu"  # not "failed": done on the CPU
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("building its interpreter again (failure 1 of 3" in w for w in warnings)
    assert any("colorizing on the CPU, trying the TPU again in 60 s" in w for w in warnings)
    assert "USB transfer error (fake)" in factory.problem
    status = catalogue.status()
    assert status["colorizer"] == factory.problem  # the page says so
    assert _invokes(fake_edgetpu_here) == (2, 2)  # this process, then the probe child
    clock.now += 30
    assert scan("c.jpg") == "cpu"  # not tried again before its time
    assert _invokes(fake_edgetpu_here) == (2, 2)
    clock.now += 31
    assert scan("d.jpg") == "cpu"  # tried: still dead; the pause doubles
    assert _invokes(fake_edgetpu_here) == (2, 3)
    assert "trying the TPU again in 120 s" in factory.problem
    fail.unlink()  # plugged back in
    clock.now += 121
    assert scan("e.jpg") == "edgetpu"
    assert factory.problem is None and catalogue.status()["colorizer"] is None
    assert [event.message is None for event in events if event.kind == "colorizer"] == [
        False,
        False,
        True,
    ]
    assert sorted(path.name for path in out.glob("*.jpg")) == [
        "a.jpg",
        "b.jpg",
        "c.jpg",
        "d.jpg",
        "e.jpg",
    ]


def test_a_tpu_failing_again_and_again_is_rebuilt_then_left_for_the_cpu(
    tmp_path, flaky_tpu, fake_edgetpu_here, caplog
):
    """Each failure rebuilds the interpreter (its probe child works); the third failure in a
    row hands the work to the CPU. The image is colorized all the same."""
    model, fail = flaky_tpu
    fail.write_text(".F.F.F")  # probe ok, fail, probe ok, fail, probe ok, fail
    factory = LazyColorizer(RuntimeOptions(model, "auto", 1), clock=Clock())
    gray = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))
    with caplog.at_level(logging.WARNING):
        colour = factory().colorize(gray)
    assert colour.shape == (40, 48, 3) and colour.dtype == np.uint8
    assert factory().device == "cpu" and factory.backend_name.startswith("litert cpu")
    assert _invokes(fake_edgetpu_here) == (3, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    rebuilt = [w for w in warnings if "building its interpreter again" in w]
    assert len(rebuilt) == 2 and "failure 2 of 3" in rebuilt[1]
    assert "it failed 3 times in a row" in factory.problem


# --------------------------------------------------------------- the live loop


class GrayFrames:
    """A file-like frame source: ``count`` gray frames in order (every one is colorized)."""

    name = "frames"
    live = False
    fps = 10.0

    def __init__(self, count: int):
        self.count = count
        self.index = 0

    def open(self):
        self.index = 0

    def read(self):
        from edgecolor.device.frames.frame import Frame

        if self.index >= self.count:
            return None
        gray = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))
        frame = Frame(gray, self.index, self.index / self.fps)
        self.index += 1
        return frame

    def close(self):
        pass


def test_the_live_loop_survives_a_tpu_that_dies_mid_run_and_says_so(
    tmp_path, flaky_tpu, fake_edgetpu_here, caplog
):
    """Issue 17: `edgecolor live` colorized with a plain Colorizer, so the first failing
    invoke ended the run. Its frame path now goes through LazyColorizer as the scan does:
    the accelerator dies after frame 3 (the next frame goes to the CPU, none is lost), the
    page says so, and the TPU is used again once it is back and its pause is over."""
    pytest.importorskip("cv2")
    from edgecolor.device.frames.frame_colorizer import FrameColorizer
    from edgecolor.device.frames.loop import LiveLoop
    from edgecolor.device.frames.preview import PreviewServer
    from edgecolor.device.frames.sinks import Sink

    model, fail = flaky_tpu
    clock = Clock()
    factory = LazyColorizer(RuntimeOptions(model, "auto", 1), clock=clock)  # retries after 60 s
    assert factory().device == "edgetpu"
    preview = PreviewServer("127.0.0.1", 0)

    class Events(Sink):
        def __init__(self):
            self.devices, self.told = [], []

        def output(self, pictures):
            self.devices.append(factory.device)
            if len(self.devices) == 3:
                fail.write_text("*")  # the accelerator dies
            elif len(self.devices) == 6:
                fail.unlink()  # plugged back in ...
                clock.now += 61  # ... and the pause is over

        def show_colorizer_problem(self, problem):
            status = json.loads(preview.status())
            self.told.append((problem, status["colorizer"], b"Edge TPU not used" in preview.page()))

    events = Events()
    with caplog.at_level(logging.WARNING):
        result = LiveLoop(GrayFrames(9), FrameColorizer(factory), [preview, events]).run()
    assert result.frames == 9  # not one frame lost
    assert events.devices == ["edgetpu"] * 3 + ["cpu"] * 3 + ["edgetpu"] * 3
    (problem, shown, on_page), (cleared, *after) = events.told
    assert problem.startswith("Edge TPU not used: it failed (") and "USB transfer error" in problem
    assert shown == problem and on_page  # /status and the page say so
    assert cleared is None and after == [None, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("colorizing on the CPU" in w for w in warnings) == 1  # once, not per frame
    assert factory.on_problem is None  # the loop let go of the colorizer


def test_edgecolor_live_goes_on_on_the_cpu_when_the_tpu_fails(
    tmp_path, flaky_tpu, fake_edgetpu_here, capsys
):
    """The command itself: before, the RuntimeError of the first failing invoke ended it."""
    pytest.importorskip("av")
    from test_device_live import make_video
    from videos import read_video

    from edgecolor.cli import main

    model, fail = flaky_tpu
    fail.write_text("..F*")  # probe, warm-up: fine; the first frame fails, then it is dead
    clip = make_video(tmp_path / "clip.avi", frames=8)
    recording = tmp_path / "colour.avi"
    arguments = ["live", "--source", str(clip), "--record", str(recording)]
    options = ["--segment-minutes", "0", "--model", str(model), "--threads", "1"]
    assert main([*arguments, *options]) == 0
    assert len(read_video(recording)[0]) == 8
    assert _invokes(fake_edgetpu_here) == (2, 2)  # the frame's invoke, the probe child's
