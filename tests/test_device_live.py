"""The live loop: files to recordings, cameras' newest frames, lost cameras, picamera2's Y planes,
sinks started and stopped, each layout labelled once."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.request
from pathlib import Path

import fake_picamera2
import numpy as np
import pytest
from fake_picamera2 import FakePicamera2
from videos import read_video

from edgecolor.cli import main
from edgecolor.device.frames.frame import CAMERA_BUSY, CAMERA_NOT_FOUND, CameraUnavailable, Frame
from edgecolor.device.frames.frame_colorizer import FrameColorizer
from edgecolor.device.frames.loop import LiveLoop, SourceLost
from edgecolor.device.frames.pi_camera import Picamera2Source
from edgecolor.device.frames.sinks import Sink
from edgecolor.device.frames.sources import parse_source
from edgecolor.device.runtime import pixels
from edgecolor.device.runtime.colorizer import Colorizer

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def colorizer(tiny_model):
    return Colorizer(tiny_model, device="cpu", threads=1)


@pytest.fixture
def frames(colorizer):
    """The frame path around the tiny model: a new one (a new smoother) for each test."""
    return FrameColorizer(colorizer)


def make_video(path: Path, frames: int = 20, fps: float = 10.0, size=(64, 48)) -> Path:
    """A gray test clip: a bright bar sweeping across, one cut to a darker scene halfway."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for index in range(frames):
        level = 60 if index < frames // 2 else 180
        image = np.full((height, width, 3), level, np.uint8)
        column = (index * 5) % width
        image[:, column : column + 6] = 255
        writer.write(image)
    writer.release()
    return path


def test_live_runs_a_video_file_to_a_recording(tmp_path, tiny_model, capsys):
    clip = make_video(tmp_path / "clip.avi")
    recording = tmp_path / "out" / "colour.avi"
    code = main(
        ["live", "--source", str(clip), "--record", str(recording), "--model", str(tiny_model)]
    )
    assert code == 0
    assert sorted(p.name for p in recording.parent.iterdir()) == ["colour-0001.avi"]  # segments
    frames, fps = read_video(recording.with_name("colour-0001.avi"))
    assert len(frames) == 20 and fps == pytest.approx(10.0)
    assert frames[0].shape == (48, 64, 3)
    colour = cv2.cvtColor(frames[5], cv2.COLOR_BGR2RGB)
    assert np.abs(colour[..., 0].astype(int) - colour[..., 2]).max() > 3  # not gray

    side = tmp_path / "side.mp4"
    assert (
        main(
            [
                "live",
                "--source",
                str(clip),
                "--record",
                str(side),
                "--side-by-side",
                "--segment-minutes",
                "0",
                "--frames",
                "5",
                "--model",
                str(tiny_model),
            ]
        )
        == 0
    )
    frames, _ = read_video(side)
    assert len(frames) == 5 and frames[0].shape == (48, 128, 3)
    left = frames[3][:, 20:40].astype(int)  # the gray half, away from the overlay
    assert np.abs(left[..., 0] - left[..., 2]).max() <= 8  # still gray (after compression)

    looped = tmp_path / "looped.avi"
    assert (
        main(
            [
                "live",
                "--source",
                str(clip),
                "--record",
                str(looped),
                "--segment-minutes",
                "0",
                "--loop",
                "--frames",
                "45",
                "--model",
                str(tiny_model),
            ]
        )
        == 0
    )
    assert len(read_video(looped)[0]) == 45


def _live_process(tmp_path: Path, *arguments: str) -> subprocess.Popen:
    """`python -m edgecolor.cli live ...` in a child process, this checkout on its path."""
    package_root = str(Path(__file__).resolve().parents[1])
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "edgecolor.cli", "live", *arguments],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
    )


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_systemctl_stop_keeps_the_recording_in_finished_segments(tmp_path, tiny_model):
    """Issue 17 item 7: SIGTERM (systemctl stop) lost the whole recording, left hidden as
    .partial. Now each segment is finished as it closes, and SIGTERM finishes the last."""
    clip = make_video(tmp_path / "clip.avi", frames=20, fps=10.0)
    folder = tmp_path / "recordings"
    earlier = folder / "cam-0007.mp4"  # a run before: numbers go on after it
    folder.mkdir()
    earlier.write_bytes(b"an earlier run's segment")
    service = _live_process(
        tmp_path,
        *("--source", str(clip), "--loop", "--record", str(folder / "cam.mp4")),
        *("--segment-minutes", "0.01", "--model", str(tiny_model), "--threads", "1"),
    )  # 0.01 minutes at 10 fps: 6 frames per segment
    try:
        assert _wait_for(
            lambda: len(list(folder.glob("cam-*.mp4"))) >= 4 or service.poll() is not None, 120
        )
    finally:
        service.send_signal(signal.SIGTERM)
        _, error = service.communicate(timeout=60)
    assert service.returncode == 0, error
    assert "Traceback" not in error
    assert earlier.read_bytes() == b"an earlier run's segment"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # nothing hidden
    segments = sorted(p for p in folder.glob("cam-*.mp4") if p != earlier)
    assert segments[0].name == "cam-0008.mp4" and len(segments) >= 3
    numbers = [int(p.stem.split("-")[1]) for p in segments]
    assert numbers == list(range(8, 8 + len(segments)))
    for segment in segments[:-1]:
        frames, fps = read_video(segment)
        assert len(frames) == 6 and fps == pytest.approx(10.0), segment.name
    last, _ = read_video(segments[-1])  # the one SIGTERM finished
    assert 1 <= len(last) <= 6


def test_sigterm_finishes_the_recording_like_ctrl_c(tmp_path, tiny_model):
    """Issue 17 item 7: SIGTERM killed `live --record` with its file still hidden as
    .partial; now it ends the run like Ctrl+C: the file is finished and in place, exit 0."""
    clip = make_video(tmp_path / "clip.avi", frames=20, fps=10.0)
    folder = tmp_path / "recordings"
    service = _live_process(
        tmp_path,
        *("--source", str(clip), "--loop", "--record", str(folder / "cam.mp4")),
        *("--model", str(tiny_model), "--threads", "1"),
    )

    def recording() -> bool:
        partial = [p for p in folder.glob(".*") if p.stat().st_size > 0] if folder.exists() else []
        return bool(partial) or service.poll() is not None

    try:
        assert _wait_for(recording, 120)
        time.sleep(0.5)
    finally:
        service.send_signal(signal.SIGTERM)
        _, error = service.communicate(timeout=60)
    assert service.returncode == 0, error
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # nothing hidden
    (finished,) = folder.glob("cam*.mp4")  # the default: 5-minute segments, this is the first
    assert finished.name == "cam-0001.mp4"
    assert len(read_video(finished)[0]) > 0


def test_bad_live_options_are_usage_errors(tmp_path, tiny_model, capsys):
    clip = make_video(tmp_path / "clip.avi", frames=2)
    assert main(["live", "--source", str(tmp_path / "none.mp4"), "--model", str(tiny_model)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["live", "--source", "usb:x", "--model", str(tiny_model)]) == 2
    assert (
        main(
            [
                "live",
                "--source",
                str(clip),
                "--record",
                str(tmp_path / "a.gif"),
                "--model",
                str(tiny_model),
            ]
        )
        == 2
    )
    assert "--record" in capsys.readouterr().err
    assert (
        main(["live", "--source", str(clip), "--serve", "host:port", "--model", str(tiny_model)])
        == 2
    )
    assert main(["live", "--source", str(clip), "--frames", "0", "--model", str(tiny_model)]) == 2


class FakeCamera:
    """A live source: produces frames as fast as asked, counts them; can disappear."""

    name = "fake-camera"
    live = True
    fps = 30.0

    def __init__(
        self, frames_before_loss: int | None = None, comes_back: bool = False, delay: float = 0.0
    ):
        self.produced = 0
        self.opens = 0
        self.frames_before_loss = frames_before_loss
        self.comes_back = comes_back
        self.delay = delay
        self.lost = False

    def open(self):
        self.opens += 1
        if self.lost and not self.comes_back:
            raise OSError("no such device")
        self.lost = False

    def read(self):
        if self.lost:
            return None
        if self.frames_before_loss is not None and self.produced >= self.frames_before_loss:
            self.lost = True
            self.frames_before_loss = None if self.comes_back else self.frames_before_loss
            return None
        time.sleep(self.delay)
        gray = np.full((24, 32), (self.produced * 7) % 256, np.uint8)
        frame = Frame(gray, self.produced, float(self.produced))
        self.produced += 1
        return frame

    def close(self):
        pass


class SlowSink(Sink):
    """Records which frames arrived (and, with ``keep``, their pictures); takes its time, as
    a slow display would."""

    def __init__(self, seconds: float = 0.01, keep: bool = False, side_by_side: bool = False):
        self.timestamps = []
        self.pictures = []
        self.seconds = seconds
        self.keep = keep
        self.side_by_side = side_by_side
        self.started = self.stopped = 0

    def start(self, info):
        self.started += 1

    def output(self, pictures):
        self.timestamps.append(pictures.timestamp)
        if self.keep:
            self.pictures.append(pictures.rgb(self.side_by_side).copy())
        time.sleep(self.seconds)

    def stop(self):
        self.stopped += 1


def test_camera_gives_the_newest_frame_and_drops_stale_ones(frames):
    camera = FakeCamera(delay=0.001)
    sink = SlowSink(seconds=0.02)
    result = LiveLoop(camera, frames, [sink], frames=15).run()
    assert result.frames == 15 and sink.started == sink.stopped == 1
    indices = np.array(sink.timestamps)
    assert (np.diff(indices) > 0).all()  # in order...
    assert np.diff(indices).max() > 1  # ...with stale frames skipped, not queued
    assert result.dropped > 0
    # what was shown was fresh: never more than a couple of frames behind the camera
    assert camera.produced - indices[-1] <= 3 + int(0.03 / 0.001)


def test_a_lost_camera_is_retried_then_reported(frames):
    camera = FakeCamera(frames_before_loss=3)
    sink = SlowSink(0)
    loop = LiveLoop(camera, frames, [sink], retry_delays=(0.01, 0.02, 0.03))
    with pytest.raises(
        SourceLost, match="fake-camera .* did not come back after 3 reconnection attempts"
    ):
        loop.run()
    assert camera.opens == 1 + 3
    assert sink.stopped == 1  # stopped however the run ended


def test_a_camera_that_comes_back_keeps_going(frames):
    camera = FakeCamera(frames_before_loss=3, comes_back=True)
    result = LiveLoop(camera, frames, [SlowSink(0)], frames=8, retry_delays=(0.01, 0.02)).run()
    assert result.frames == 8 and result.reconnects == 1


class UnpluggedCamera(FakeCamera):
    """Lost after ``frames_before_loss`` frames; then every try to open it fails until
    ``plugged`` is set (after ``wait_for`` returns true, so a test sees what the loop says
    meanwhile), as a camera whose cable was pulled."""

    def __init__(self, frames_before_loss: int, wait_for=lambda: True):
        super().__init__(frames_before_loss, comes_back=True)
        self.plugged = threading.Event()
        self.wait_for = wait_for

    def open(self):
        self.opens += 1
        if self.lost and not self.plugged.is_set():
            fake_picamera2.wait_until(self.wait_for, 10)
            raise OSError("no such device")
        self.lost = False


class ProblemSink(SlowSink):
    """Also records what the loop says about the picture (``show_problem``)."""

    def __init__(self):
        super().__init__(0)
        self.problems = []

    def show_problem(self, problem):
        self.problems.append(problem)


def test_the_appliance_keeps_reconnecting_a_lost_camera_until_it_is_back(frames):
    """Issue 17: the loop gave up after 5 reconnects (DEFAULT_RETRY_DELAYS); the appliance
    (``reconnect_forever``) keeps trying with the last pause, the page saying so."""
    sink = ProblemSink()
    camera = UnpluggedCamera(frames_before_loss=3, wait_for=lambda: sink.problems)
    delays = (0.001, 0.002, 0.004)

    def plug_in_later():
        fake_picamera2.wait_until(lambda: camera.opens >= 1 + 9, 30)  # far past 3 tries
        camera.plugged.set()

    threading.Thread(target=plug_in_later, daemon=True).start()
    loop = LiveLoop(camera, frames, [sink], frames=6, retry_delays=delays, reconnect_forever=True)
    result = loop.run()
    assert result.frames == 6 and result.reconnects == 1
    assert camera.opens >= 1 + 10
    assert sink.problems[0] == "camera lost, retrying in 0.001 s"
    assert "camera lost, retrying in 0.004 s" in sink.problems  # the last pause, repeated
    assert sink.problems[-1] is None  # the picture is back


def test_a_terminal_run_still_gives_up_a_lost_camera(frames):
    camera = UnpluggedCamera(frames_before_loss=3)
    with pytest.raises(SourceLost, match="after 3 reconnection attempts"):
        LiveLoop(camera, frames, [SlowSink(0)], retry_delays=(0.001, 0.002, 0.004)).run()
    assert camera.opens == 1 + 3


def test_a_sink_takes_every_frame_and_no_sinks_is_fine(tmp_path, frames):
    clip = make_video(tmp_path / "clip.avi", frames=5)
    sink = SlowSink(0)
    result = LiveLoop(parse_source(str(clip)), frames, [sink]).run()
    assert result.frames == len(sink.timestamps) == 5
    alone = LiveLoop(parse_source(str(clip)), FrameColorizer(frames.colorizer)).run()
    assert alone.frames == 5
    assert all(len(alone.stage_seconds[stage]) == 5 for stage in alone.stage_seconds)


@pytest.fixture(autouse=True)
def no_camera_held():
    """Each test starts with the (fake) camera free, as after a reboot."""
    fake_picamera2.ACQUIRED.clear()
    yield
    fake_picamera2.ACQUIRED.clear()


def _picamera2_source(*cameras, **options):
    """A Picamera2Source whose camera factory hands out ``cameras`` one per open()."""
    queue = list(cameras)

    def factory():
        camera = queue.pop(0)
        return camera() if callable(camera) else camera

    options.setdefault("main_size", (96, 64))
    options.setdefault("lores_size", (64, 32))
    return Picamera2Source(camera_factory=factory, colour_space_factory=lambda: "sYCC", **options)


def test_picamera2_uses_the_y_planes_without_colour_conversion(colorizer):
    camera = FakePicamera2()
    source = _picamera2_source(camera)
    sink = SlowSink(0, keep=True)
    pictures = sink.pictures
    LiveLoop(source, FrameColorizer(colorizer, smoothing=0), [sink], frames=3, overlay=False).run()
    assert camera.requested["main"]["size"] == (96, 64)
    assert camera.requested["main"]["format"] == "YUV420"
    assert camera.requested["lores"]["size"] == (64, 32)
    assert camera.requested["lores"]["format"] == "YUV420"
    assert camera.requested["colour_space"] == "sYCC"  # full range: Y is the sRGB gray
    assert camera.stopped and camera.closed and not camera.acquired
    assert pictures[0].shape == (64, 96, 3)
    ramp = np.tile(np.linspace(10, 240, 96).astype(np.uint8), (64, 1))
    # the loop carries frames as 4:2:0 planes, like any video: luminance within 1 L unit
    assert np.abs(pixels.luminance(pictures[0]) - pixels.luminance(ramp)).max() < 1.0


def test_a_stalled_picamera2_times_out_reconnects_and_stops_cleanly(frames):
    """picamera2 waits for ever without ``wait``; a stuck job must be cancelled before stop()."""
    stalling = FakePicamera2(stall_after=3)
    healthy = FakePicamera2
    source = _picamera2_source(stalling, healthy, capture_timeout=0.2)
    loop = LiveLoop(source, frames, [SlowSink(0)], frames=6, retry_delays=(0.01, 0.01))
    result = loop.run()
    assert result.frames == 6 and result.reconnects == 1
    assert not stalling.blocked_forever and set(stalling.capture_waits) == {0.2}
    assert stalling.cancelled_jobs >= 1 and not stalling.stop_blocked
    assert stalling.closed and not stalling.acquired
    assert not fake_picamera2.ACQUIRED  # the second camera was closed at the end too


def test_stopping_while_a_capture_is_stuck_does_not_hang(colorizer):
    camera = FakePicamera2(stall_after=1, forever=3.0)
    source = _picamera2_source(camera, capture_timeout=10.0)
    source.open()
    assert source.read() is not None
    stuck = threading.Thread(target=source.read)  # waits in capture_request
    stuck.start()
    assert fake_picamera2.wait_until(lambda: len(camera.capture_waits) == 2)
    started = time.monotonic()
    source.close()  # as the loop does on Ctrl+C or `systemctl stop`
    stuck.join(5.0)
    assert time.monotonic() - started < 1.0 and not stuck.is_alive()
    assert camera.closed and not camera.stop_blocked and not camera.acquired


@pytest.mark.parametrize("fail_in", ["configure", "start"])
def test_a_failed_picamera2_set_up_releases_the_camera(fail_in):
    broken = FakePicamera2(fail_in=fail_in)
    source = _picamera2_source(broken, FakePicamera2)
    with pytest.raises(OSError, match="could not be started: .*(Configuration|start)") as error:
        source.open()
    assert "\n" not in str(error.value)
    assert broken.closed and not broken.acquired
    source.open()  # the camera is free again: the next open works
    assert source.read() is not None
    source.close()


def test_picamera2_close_closes_even_when_stop_fails():
    camera = FakePicamera2()
    source = _picamera2_source(camera)
    source.open()

    def failing_stop():
        raise RuntimeError("Failed to stop camera: Device or resource busy")

    camera.stop = failing_stop
    source.close()
    assert not camera.acquired


def test_picamera2_uses_the_configuration_the_camera_accepted():
    # libcamera aligns the lores width down to 32 pixels: 80 -> 64; rows are padded.
    camera = FakePicamera2(size_alignment=32)
    source = _picamera2_source(camera, main_size=(96, 64), lores_size=(80, 40))
    source.open()
    frame = source.read()
    source.close()
    assert source.streams["lores"]["size"] == (64, 40)
    assert frame.model_gray.shape == (40, 64) and frame.gray.shape == (64, 96)
    ramp = np.linspace(10, 240, 64).astype(np.uint8)
    assert (frame.model_gray == ramp[None, :]).all()  # no padding bytes, no U/V rows


@pytest.mark.parametrize("autofocus", [True, False], ids=["module-3", "no-autofocus"])
def test_picamera2_keeps_a_camera_module_3_focusing(autofocus):
    """Camera Module 3 starts in manual focus: continuous autofocus is asked for when the
    camera offers AfMode, and never sent to a camera without it (issue 17 item 6)."""
    camera = FakePicamera2(autofocus=autofocus)
    source = _picamera2_source(camera, main_size=(96, 64), lores_size=(64, 32))
    source.open()
    source.close()
    controls = camera.requested["controls"]
    if autofocus:
        assert controls["AfMode"] == 2  # libcamera's AfModeContinuous
    else:
        assert "AfMode" not in controls
    assert "FrameRate" in controls


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        (lambda: FakePicamera2(accept_formats=("YUYV",)), "YUYV .* planar YUV420"),
        (lambda: FakePicamera2(raspberry_pi_sensor=False), "USB camera.*usb:0"),
    ],
)
def test_a_camera_without_two_yuv420_streams_is_refused_and_released(camera, message):
    source = _picamera2_source(camera)
    with pytest.raises(OSError, match=message):
        source.open()
    assert not fake_picamera2.ACQUIRED


def test_the_fake_picamera2_fails_as_the_real_one_for_a_busy_and_a_missing_camera():
    """picamera2/picamera2.py: no camera -> IndexError from global_camera_info()[0]; a camera
    held elsewhere -> RuntimeError("Camera __init__ sequence did not complete.") whose cause
    is libcamera's "Failed to acquire camera: Device or resource busy"."""
    with pytest.raises(IndexError, match="list index out of range"):
        FakePicamera2(attached=False)
    with pytest.raises(
        RuntimeError, match=r"^Camera __init__ sequence did not complete\.$"
    ) as busy:
        FakePicamera2(busy=True)
    assert isinstance(busy.value.__cause__, RuntimeError)
    assert str(busy.value.__cause__) == "Failed to acquire camera: Device or resource busy"
    holder = FakePicamera2()
    with pytest.raises(RuntimeError, match="__init__ sequence") as second:
        FakePicamera2()  # the same camera, held by the first
    assert "Device or resource busy" in str(second.value.__cause__)
    holder.close()


@pytest.mark.parametrize(
    ("camera", "reason", "words"),
    [
        (
            lambda: FakePicamera2(busy=True),
            CAMERA_BUSY,
            ["busy: another process holds it", "sudo fuser -v /dev/media*", "stop"],
        ),
        (
            lambda: FakePicamera2(attached=False),
            CAMERA_NOT_FOUND,
            ["no Raspberry Pi camera found", "ribbon cable", "rpicam-hello --list-cameras"],
        ),
    ],
    ids=["busy", "missing"],
)
def test_a_busy_or_missing_picamera2_is_one_line_naming_the_cause(camera, reason, words):
    """Real picamera2 shows only "Camera __init__ sequence did not complete" for a busy
    camera and "list index out of range" for a missing one (issue 17 item 6)."""
    source = _picamera2_source(camera)
    with pytest.raises(CameraUnavailable) as error:
        source.open()
    assert error.value.reason == reason and isinstance(error.value, OSError)
    message = str(error.value)
    assert "\n" not in message and "__init__" not in message and "list index" not in message
    for word in words:
        assert word in message, message


def test_a_camera_held_by_this_process_is_reported_busy_and_free_after_close():
    first = _picamera2_source(FakePicamera2)
    first.open()
    second = _picamera2_source(FakePicamera2, FakePicamera2)
    with pytest.raises(CameraUnavailable, match="busy"):
        second.open()
    first.close()
    second.open()  # released: the next try works
    assert second.read() is not None
    second.close()


def test_another_picamera2_failure_keeps_its_own_words():
    def broken():
        try:
            raise RuntimeError("Failed to initialize camera")
        except RuntimeError as cause:
            raise RuntimeError("Camera __init__ sequence did not complete.") from cause

    with pytest.raises(
        OSError, match="could not be opened: .*Failed to initialize camera"
    ) as error:
        _picamera2_source(broken).open()
    assert not isinstance(error.value, CameraUnavailable)


def test_a_camera_missing_or_busy_at_the_start_is_waited_for(caplog):
    """Issue 17 item 3: in the process, with growing pauses (Bookworm's systemd restarts at
    a fixed pace), telling the page why there is no picture."""
    from edgecolor.device.frames.loop import wait_for_source

    source = _picamera2_source(
        lambda: FakePicamera2(busy=True),
        lambda: FakePicamera2(attached=False),
        lambda: FakePicamera2(attached=False),
        lambda: FakePicamera2(attached=False),
        FakePicamera2,
    )
    told, slept = [], []
    with caplog.at_level(logging.WARNING, logger="edgecolor.device.frames.loop"):
        failures = wait_for_source(source, told.append, delays=(2, 5, 10), sleep=slept.append)
    assert failures == 4 and slept == [2, 5, 10, 10]  # the last pause repeats
    assert told == [
        "camera busy, retrying in 2 s",
        "camera not found, retrying in 5 s",
        "camera not found, retrying in 10 s",  # (the same line again is not told twice)
        None,
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "edgecolor.device.frames.loop"]
    assert len(warnings) == 4 and "sudo fuser -v /dev/media*" in warnings[0]
    assert "rpicam-hello --list-cameras" in warnings[1]
    assert source.read() is not None  # open now
    source.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_live_service_keeps_its_page_up_until_the_camera_comes(tiny_model, monkeypatch):
    """`edgecolor live --source picamera2 --serve` with no camera: the page says "camera
    not found, retrying"; the camera plugged in, the picture flows (no exit, no restart)."""
    from edgecolor.device.frames import loop as live_loop

    plugged = threading.Event()
    tries = []

    def picamera2_constructor():  # picamera2.Picamera2 as the real one fails without a camera
        tries.append(time.monotonic())
        return FakePicamera2(attached=plugged.is_set())

    monkeypatch.setitem(
        sys.modules, "picamera2", types.SimpleNamespace(Picamera2=picamera2_constructor)
    )
    monkeypatch.setitem(
        sys.modules,
        "libcamera",
        types.SimpleNamespace(ColorSpace=types.SimpleNamespace(Sycc=lambda: "sYCC")),
    )
    monkeypatch.setattr(live_loop, "OPEN_RETRY_DELAYS", (0.1,))
    port = _free_port()
    command = ["live", "--source", "picamera2", "--serve", f"127.0.0.1:{port}", "--frames", "3"]
    finished = {}
    runner = threading.Thread(
        target=lambda: finished.setdefault("status", main([*command, "--model", str(tiny_model)]))
    )
    runner.start()
    try:
        page = _page(f"http://127.0.0.1:{port}/", "camera not found, retrying in 0.1 s")
        assert "camera not found, retrying in 0.1 s" in page
        assert 'http-equiv="refresh"' in page  # it reloads itself to see the camera come
        assert fake_picamera2.wait_until(lambda: len(tries) >= 3, 20)  # it keeps trying
        assert runner.is_alive()
    finally:
        plugged.set()
        runner.join(60)
    assert not runner.is_alive() and finished["status"] == 0


def _page(url: str, wanted: str, seconds: float = 60) -> str:
    """The page at ``url`` once it has ``wanted`` in it (or the last one seen)."""
    page = ""
    deadline = time.monotonic() + seconds
    while wanted not in page and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                page = response.read().decode()
        except OSError:
            time.sleep(0.05)
    return page


def test_the_live_service_keeps_retrying_a_camera_lost_mid_run(tiny_model, monkeypatch):
    """Issue 17: `live --serve` exited after 5 reconnects and left systemd to restart it;
    now it tries for as long as it takes (1 s doubling to 60 s), its page saying "camera
    lost, retrying", and the picture comes back by itself."""
    from edgecolor.device.frames import capture, sources

    camera = UnpluggedCamera(frames_before_loss=3)
    monkeypatch.setattr(sources, "parse_source", lambda text: camera)
    monkeypatch.setattr(capture, "APPLIANCE_RETRY_DELAYS", (0.05, 0.1))
    port = _free_port()
    command = ["live", "--source", "usb:0", "--serve", f"127.0.0.1:{port}", "--frames", "6"]
    finished = {}
    runner = threading.Thread(
        target=lambda: finished.setdefault("status", main([*command, "--model", str(tiny_model)]))
    )
    runner.start()
    try:
        page = _page(f"http://127.0.0.1:{port}/", "camera lost, retrying in 0.1 s")
        assert "camera lost, retrying in 0.1 s" in page
        assert 'http-equiv="refresh"' in page  # it reloads itself to see the camera come
        assert fake_picamera2.wait_until(lambda: camera.opens >= 1 + 8, 20)  # past 5 tries
        assert runner.is_alive()
    finally:
        camera.plugged.set()
        runner.join(60)
    assert not runner.is_alive() and finished["status"] == 0
    assert camera.produced >= 6  # it went on after the camera came back (3 before)


def test_a_camera_lost_at_a_terminal_is_five_tries_then_exit_1(tiny_model, monkeypatch, capsys):
    from edgecolor.device.frames import capture, sources

    camera = UnpluggedCamera(frames_before_loss=3)
    monkeypatch.setattr(sources, "parse_source", lambda text: camera)
    monkeypatch.setattr(capture, "DEFAULT_RETRY_DELAYS", (0.001,) * 5)
    assert main(["live", "--source", "usb:0", "--model", str(tiny_model)]) == 1
    assert camera.opens == 1 + 5
    assert "did not come back after 5 reconnection attempts" in capsys.readouterr().err


def _video_node(sysfs, number, driver, index, name):
    """A /sys/class/video4linux/videoN entry as the kernel lays it out (driver as a link)."""
    drivers = sysfs.parent / "drivers"
    (drivers / driver).mkdir(parents=True, exist_ok=True)
    node = sysfs / f"video{number}"
    (node / "device").mkdir(parents=True)
    (node / "device" / "driver").symlink_to(drivers / driver)
    (node / "index").write_text(f"{index}\n")
    (node / "name").write_text(f"{name}\n")


@pytest.fixture
def pi5_with_camera_module_and_webcam(tmp_path):
    """Bookworm on a Pi 5 with a camera module: CSI and ISP nodes first, then a webcam."""
    sysfs = tmp_path / "class" / "video4linux"
    for number in range(0, 8):
        _video_node(sysfs, number, "rp1-cfe", number, "rp1-cfe")
    for number in range(20, 36):
        _video_node(sysfs, number, "pispbe", number - 20, "pispbe")
    _video_node(sysfs, 36, "uvcvideo", 0, "HD Pro Webcam C920")
    _video_node(sysfs, 37, "uvcvideo", 1, "HD Pro Webcam C920")  # its metadata node
    _video_node(sysfs, 38, "uvcvideo", 0, "USB2.0 Camera")
    return sysfs


class RecordingVideoCapture:
    """Stands in for cv2.VideoCapture (no webcam here): records how it was opened."""

    opened: list = []

    def __init__(self, *arguments):
        RecordingVideoCapture.opened.append(arguments)

    def isOpened(self):
        return True

    def set(self, *arguments):
        return True

    def get(self, *arguments):
        return 30.0

    def release(self):
        pass


def test_usb_n_is_the_nth_uvc_webcam_opened_with_v4l2(
    pi5_with_camera_module_and_webcam, monkeypatch
):
    from edgecolor.device.frames import sources

    monkeypatch.setattr(sources, "VIDEO4LINUX", pi5_with_camera_module_and_webcam)
    assert [str(path) for path, _ in sources.uvc_cameras()] == ["/dev/video36", "/dev/video38"]
    monkeypatch.setattr(cv2, "VideoCapture", RecordingVideoCapture)
    RecordingVideoCapture.opened = []
    for spec in ("usb:0", "usb:1"):
        source = parse_source(spec)
        source.open()
        source.close()
    assert RecordingVideoCapture.opened == [(36, cv2.CAP_V4L2), (38, cv2.CAP_V4L2)]
    with pytest.raises(
        OSError, match="no USB webcam number 2 .*/dev/video36 \\(HD Pro Webcam C920\\)"
    ):
        parse_source("usb:2").open()


def test_device_paths_are_cameras_opened_with_v4l2(tmp_path, monkeypatch):
    # /dev/null stands in for /dev/videoN: an existing character device, not a file
    by_id = tmp_path / "usb-046d_HD_Pro_Webcam_C920-video-index0"
    by_id.symlink_to("/dev/null")
    monkeypatch.setattr(cv2, "VideoCapture", RecordingVideoCapture)
    RecordingVideoCapture.opened = []
    for spec in ("/dev/null", str(by_id)):
        source = parse_source(spec)
        assert source.live
        source.open()
    assert RecordingVideoCapture.opened == [("/dev/null", cv2.CAP_V4L2), (str(by_id), cv2.CAP_V4L2)]


def test_live_from_a_character_device_says_it_cannot_open_it(tiny_model, capsys):
    """The reported case: `edgecolor live --source /dev/null` said "no such file"."""
    assert main(["live", "--source", "/dev/null", "--frames", "1", "--model", str(tiny_model)]) == 2
    error = capsys.readouterr().err
    assert "no such file" not in error and "cannot open /dev/null (V4L2, /dev/null)" in error


@pytest.mark.hardware
def test_picamera2_on_a_real_raspberry_pi(frames):
    pytest.importorskip(
        "picamera2", reason="needs a Raspberry Pi with python3-picamera2 and a camera"
    )
    source = parse_source("picamera2")
    try:
        result = LiveLoop(source, frames, [SlowSink(0)], frames=10).run()
    except OSError as error:
        pytest.skip(f"no camera attached: {error}")
    assert result.frames == 10


def test_file_source_in_a_thread_stops_cleanly_when_the_file_ends(tmp_path, frames):
    clip = make_video(tmp_path / "clip.avi", frames=6)
    sink = SlowSink(0)
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.setdefault(
            "result", LiveLoop(parse_source(str(clip)), frames, [sink]).run()
        )
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert outcome["result"].frames == 6 and len(sink.timestamps) == 6
    assert sink.timestamps == sorted(sink.timestamps)


@pytest.mark.parametrize("model", ["positional", "--model", "bundled"])
def test_bench_command_prints_every_stage(tiny_model, capsys, model):
    """`edgecolor bench` alone times the bundled model, as every other command defaults to
    it (issue 18); MODEL as a positional is the old spelling of --model."""
    naming = {"positional": [str(tiny_model)], "--model": ["--model", str(tiny_model)]}
    arguments = ["bench", "--frames", "3", "--threads", "1", "--device", "cpu"]
    assert main([*arguments, *naming.get(model, [])]) == 0
    output = capsys.readouterr().out
    expected = "tiny-int8.tflite" if model in naming else "edgecolor-default-int8.tflite"
    assert output.startswith(f"model {expected} ")
    for stage in ("capture", "prepare", "invoke", "join", "encode"):
        assert f"\n{stage} " in output
    assert "latency ms: p50" in output and "fps" in output and "of invoke" in output
    loop_fps = re.search(r"the live loop itself: ([0-9.]+) fps", output)
    assert loop_fps and float(loop_fps.group(1)) > 0


def test_display_without_a_desktop_is_a_clear_usage_error(
    tmp_path, tiny_model, monkeypatch, capsys
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    clip = make_video(tmp_path / "clip.avi", frames=2)
    assert main(["live", "--source", str(clip), "--display", "--model", str(tiny_model)]) == 2
    assert "--serve" in capsys.readouterr().err


def test_a_watched_file_plays_no_faster_than_its_own_frame_rate(tmp_path, frames):
    clip = make_video(tmp_path / "clip.avi", frames=12, fps=20.0)
    sink_times = []

    class ClockSink(Sink):
        def output(self, pictures):
            sink_times.append(time.monotonic())

    result = LiveLoop(parse_source(str(clip)), frames, [ClockSink()], pace=True).run()
    assert result.frames == 12
    # 11 intervals of 1/20 s at least (a busy machine can only make it slower)
    assert sink_times[-1] - sink_times[0] >= 11 / 20.0 * 0.9


@pytest.mark.parametrize("preview_first", [True, False])
def test_one_fps_label_each_for_a_sink_and_the_preview(tmp_path, frames, preview_first):
    """Colour alone to one sink and gray | colour to another (the preview's layout): each
    gets one label, whichever sink asks first."""
    clip = make_video(tmp_path / "clip.avi", frames=4, size=(160, 96))
    colour_sink, preview = SlowSink(0, keep=True), SlowSink(0, keep=True, side_by_side=True)
    sinks = [preview, colour_sink] if preview_first else [colour_sink, preview]
    LiveLoop(parse_source(str(clip)), frames, sinks, frames=2).run()
    colour, both = colour_sink.pictures[-1], preview.pictures[-1]
    assert colour.shape == (96, 160, 3) and both.shape == (96, 320, 3)
    assert colour[2:6, 2:6].max() <= 2  # the label's black box on the sink's picture
    assert both[2:6, 2:6].max() <= 2  # and on the preview's gray half...
    assert both[2:6, 162:166].min() >= 20  # ...but not again on its colour half
