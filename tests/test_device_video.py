"""A file is a file, whichever command reads it: `colorize clip.mp4` and `live --source clip.mp4
--record` run the same loop, frame path and recording (issue 18 item 1)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from edgecolor.cli import main

av = pytest.importorskip("av")
pytest.importorskip("cv2")  # the frame path's 4:2:0 join


def make_clip(path: Path, frames: int = 24, fps: int = 12, audio: bool = True) -> Path:
    """An H.264 clip with an AAC tone: a bright bar sweeping over a gradient, a cut halfway."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        sound = container.add_stream("aac", rate=16000) if audio else None
        gradient = np.linspace(30, 200, 96, dtype=np.float32)[None, :].repeat(64, 0)
        for index in range(frames):
            gray = gradient * (0.6 if index < frames // 2 else 1.0)
            gray[:, (index * 4) % 90 : (index * 4) % 90 + 6] = 250
            image = np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if sound is not None:
            seconds = frames / fps
            tone = np.sin(np.arange(int(16000 * seconds)) / 16000 * 2 * np.pi * 330)
            tone = (0.2 * tone).astype(np.float32)
            for start in range(0, tone.size, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate = 16000
                for packet in sound.encode(chunk):
                    container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def decode(path: Path) -> dict:
    """Every frame (RGB int), its time, the codecs and pixel format of ``path``."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(video):
            frames.append(frame.to_ndarray(format="rgb24").astype(int))
            times.append(float(frame.time))
        return {
            "frames": frames,
            "times": times,
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "rate": video.average_rate,
            "audio": [stream.codec_context.name for stream in container.streams.audio],
            "audio_seconds": (
                float(container.streams.audio[0].duration * container.streams.audio[0].time_base)
                if container.streams.audio and container.streams.audio[0].duration
                else None
            ),
        }


def test_colorize_and_live_record_give_the_same_video(tmp_path, tiny_model):
    clip = make_clip(tmp_path / "clip.mp4")
    model = ["--model", str(tiny_model), "--threads", "1", "--saturation", "5"]
    assert main(["colorize", str(clip), "-o", str(tmp_path / "colorized"), *model]) == 0
    assert main(["live", "--source", str(clip), "--record", str(tmp_path / "rec.mp4"), *model]) == 0
    (recorded,) = (tmp_path).glob("rec-*.mp4")  # live's default: segments, this the first
    source, colorized, live = (
        decode(clip),
        decode(tmp_path / "colorized" / "clip.mp4"),
        decode(recorded),
    )
    for output in (colorized, live):
        assert output["codec"] == "h264" and output["pix_fmt"] == "yuv420p"  # browsers play it
        assert len(output["frames"]) == len(source["frames"]) == 24  # every frame
        assert output["times"] == pytest.approx(source["times"], abs=1e-3)  # its timing
        assert output["rate"] == Fraction(12)
        assert output["audio"] == ["aac"]  # and the audio
        assert output["audio_seconds"] == pytest.approx(source["audio_seconds"], abs=0.1)
    # the same colours (up to encoder noise), and colours indeed (not gray)
    for mine, theirs in zip(colorized["frames"], live["frames"], strict=True):
        assert np.abs(mine - theirs).mean() <= 1.0
    assert max(np.abs(frame[..., 0] - frame[..., 2]).max() for frame in live["frames"]) > 3
    for path in (tmp_path / "colorized" / "clip.mp4", recorded):  # moov first: +faststart
        data = path.read_bytes()
        assert data.index(b"moov") < data.index(b"mdat")


def test_the_recording_has_no_fps_overlay_unless_asked(tmp_path, tiny_model):
    clip = make_clip(tmp_path / "clip.mp4", frames=6, audio=False)
    model = ["--model", str(tiny_model), "--threads", "1", "--segment-minutes", "0"]
    plain, overlaid = tmp_path / "plain.mp4", tmp_path / "overlaid.mp4"
    assert main(["live", "--source", str(clip), "--record", str(plain), *model]) == 0
    arguments = ["live", "--source", str(clip), "--record", str(overlaid), "--overlay", "all"]
    assert main([*arguments, *model]) == 0
    plain_frames, overlaid_frames = decode(plain)["frames"], decode(overlaid)["frames"]
    assert decode(plain)["audio"] == []  # no audio in, none out
    # the label's black box is in the top-left corner; its text starts 6 pixels in
    corner = (slice(0, 3), slice(0, 3))
    assert plain_frames[-1][corner].min() > 20
    assert overlaid_frames[-1][corner].max() < 40
    far = (slice(40, 64), slice(60, 96))  # elsewhere the two are the same picture
    assert np.abs(plain_frames[-1][far] - overlaid_frames[-1][far]).mean() <= 1.0


# ----------------------------------------------------------------- a folder that takes nothing


def _segment_sink(folder: Path):
    """The live service's recording: 0.5 s segments of a 10 fps camera."""
    from edgecolor.device.frames.sinks import StreamInfo
    from edgecolor.device.frames.video_io import VideoFileSink

    sink = VideoFileSink(folder / "cam.mp4", segment_seconds=0.5)
    sink.start(StreamInfo(10.0, (32, 24), live=True))
    return sink


def _feed(sink, start: float, count: int) -> None:
    from edgecolor.device.frames.sinks import FramePictures
    from edgecolor.device.frames.yuv import Yuv420Picture

    for index in range(count):
        gray = np.full((24, 32), (index * 20) % 256, np.uint8)
        rgb = np.stack([gray, gray // 2, 255 - gray], axis=-1)
        sink.output(FramePictures(gray, Yuv420Picture.from_rgb(rgb), start + index / 10))


def _no_partials(folder: Path) -> bool:
    return not [path.name for path in folder.iterdir() if "partial" in path.name]


def test_a_read_only_recording_folder_pauses_the_recording_and_retries(
    tmp_path, monkeypatch, caplog
):
    import errno

    from videos import read_video

    from edgecolor.device.frames import video_io, video_writer

    real, attempts = video_writer.temporary_beside, []

    def read_only(path):
        attempts.append(path)
        if read_only.on:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path)

    read_only.on = True
    monkeypatch.setattr(video_writer, "temporary_beside", read_only)
    sink = _segment_sink(tmp_path)
    with caplog.at_level("WARNING", logger=video_io.__name__):
        _feed(sink, 100.0, 20)  # before: the OSError out of output(), the loop dead
    paused = [record.getMessage() for record in caplog.records]
    assert len(paused) == 1 and "read-only" in paused[0] and str(tmp_path) in paused[0]
    assert len(attempts) == 1  # backing off: not every frame
    _feed(sink, 105.0, 1)  # after 5 s: tried again, still read-only, the wait doubles
    assert len(attempts) == 2 and "retrying in 10 s" in caplog.records[-1].getMessage()
    read_only.on = False
    _feed(sink, 115.0, 12)
    sink.stop()
    # the last warning (an earlier test may have left INFO records of the recording on)
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "recording again" in warnings[-1].getMessage()
    segments = sorted(tmp_path.glob("cam-*.mp4"))
    assert [path.name for path in segments] == ["cam-0001.mp4", "cam-0002.mp4", "cam-0003.mp4"]
    for segment in segments[:2]:
        assert len(read_video(segment)[0]) == 5
    assert _no_partials(tmp_path)


def test_a_segment_that_fails_mid_way_is_discarded_not_moved_into_place(
    tmp_path, monkeypatch, caplog
):

    from videos import read_video

    from edgecolor.device.frames import video_io

    full_after_two = _disk_full_at_frame_three(monkeypatch)
    sink = _segment_sink(tmp_path)
    with caplog.at_level("WARNING", logger=video_io.__name__):
        _feed(sink, 100.0, 4)
    assert "disk full" in caplog.records[0].getMessage()
    assert list(tmp_path.iterdir()) == []  # the half-written segment went, no partial left
    full_after_two.on = False
    _feed(sink, 105.2, 5)  # paused at 100.2 for 5 s
    sink.stop()
    (segment,) = tmp_path.glob("cam-*.mp4")
    assert segment.name == "cam-0001.mp4" and len(read_video(segment)[0]) == 5


def test_a_segment_cut_short_at_close_is_not_moved_into_place(tmp_path, monkeypatch, caplog):
    """A full disk can cut a file short without an error from FFmpeg's buffered writes."""
    from edgecolor.device.frames import video_io, video_writer

    real_playable = video_writer.playable

    def cut_short(path, frames):
        if cut_short.on:
            with open(path, "r+b") as handle:
                handle.truncate(path.stat().st_size // 2)
        return real_playable(path, frames)

    cut_short.on = True
    monkeypatch.setattr(video_writer, "playable", cut_short)
    sink = _segment_sink(tmp_path)
    with caplog.at_level("WARNING", logger=video_io.__name__):
        _feed(sink, 100.0, 5)
    assert "recording paused" in caplog.records[0].getMessage()
    assert list(tmp_path.iterdir()) == []
    cut_short.on = False
    _feed(sink, 106.0, 5)  # paused at 100.4 for 5 s
    assert [path.name for path in tmp_path.iterdir()] == ["cam-0001.mp4"]


def test_segment_numbers_skip_leftover_partials_and_files_that_appear(tmp_path):
    from videos import read_video

    (tmp_path / "cam-0002.mp4").write_bytes(b"an earlier run's segment")
    leftover = tmp_path / ".cam-0003.k2j4x9q1.partial.mp4"  # a killed run's unfinished one
    leftover.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    sink = _segment_sink(tmp_path)
    _feed(sink, 100.0, 5)
    assert not leftover.exists()  # unplayable: removed at start
    (tmp_path / "cam-0004.mp4").write_bytes(b"copied here by someone")
    _feed(sink, 100.5, 5)
    sink.stop()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "cam-0002.mp4",
        "cam-0003.mp4",
        "cam-0004.mp4",
        "cam-0005.mp4",
    ]
    assert (tmp_path / "cam-0004.mp4").read_bytes() == b"copied here by someone"
    assert len(read_video(tmp_path / "cam-0005.mp4")[0]) == 5


def test_sigterm_while_a_segment_is_being_set_up_leaves_no_hidden_file(tmp_path, monkeypatch):
    """SIGTERM (KeyboardInterrupt under stop_on_sigterm) landing while the next segment's
    file is being set up, before the sink holds its writer: the loop's stop finishes the
    segments there are and no hidden temporary file is left (seen once in twenty runs of
    the systemctl-stop test)."""
    import av

    from edgecolor.device.frames import video_writer

    sink = _segment_sink(tmp_path)
    _feed(sink, 100.0, 5)  # cam-0001 full and finished
    real_open = av.open
    opened = []

    def interrupted_open(*args, **kwargs):
        opened.append(real_open(*args, **kwargs))  # the hidden file exists now
        raise KeyboardInterrupt

    monkeypatch.setattr(video_writer.require_av(), "open", interrupted_open)
    with pytest.raises(KeyboardInterrupt):
        _feed(sink, 100.5, 1)
    monkeypatch.undo()
    sink.stop()
    assert opened  # the interruption came after the file was made
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cam-0001.mp4"]


def test_stop_removes_a_hidden_segment_file_the_run_let_go_of(tmp_path):
    """Whatever an interruption left hidden during the run (a segment's file made but not
    held by the sink) is cleaned up at stop, as a killed run's is at start."""
    sink = _segment_sink(tmp_path)
    _feed(sink, 100.0, 7)  # cam-0001 finished, cam-0002 being written
    lost = tmp_path / ".cam-0003.x1y2z3w4.partial.mp4"  # made, then let go of
    lost.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    sink.stop()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cam-0001.mp4", "cam-0002.mp4"]


# ----------------------------------------------------------------- one file (no segments)


def _one_file_sink(path: Path):
    """`live --record FILE --segment-minutes 0`: one file that survives write errors."""
    from edgecolor.device.frames.sinks import StreamInfo
    from edgecolor.device.frames.video_io import VideoFileSink

    sink = VideoFileSink(path, keep_going=True)
    sink.start(StreamInfo(10.0, (32, 24), live=True))
    return sink


def _disk_full_at_frame_three(monkeypatch):
    """Make every VideoWriter fail its third frame with ENOSPC while the returned switch's
    ``on`` is True (a disk that fills up mid-recording and is later cleared)."""
    import errno
    import types

    from edgecolor.device.frames import video_writer

    real_write = video_writer.VideoWriter.write
    switch = types.SimpleNamespace(on=True)

    def write(writer, rgb, timestamp):
        if switch.on and writer.frames == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(writer, rgb, timestamp)

    monkeypatch.setattr(video_writer.VideoWriter, "write", write)
    return switch


def test_a_single_recording_that_hits_a_full_disk_keeps_its_frames_and_goes_on_later(
    tmp_path, monkeypatch, caplog
):
    """Issue 17: without segments the ENOSPC ended the live loop. Now the file is finished
    with what it has, one warning names it and the errno, and recording resumes into
    NAME-2.mp4 after the back-off; a name that is taken is never overwritten."""

    from videos import read_video

    from edgecolor.device.frames import video_io

    full_at_frame_three = _disk_full_at_frame_three(monkeypatch)
    (tmp_path / "cam-2.mp4").write_bytes(b"somebody's file")
    sink = _one_file_sink(tmp_path / "cam.mp4")
    with caplog.at_level("WARNING", logger=video_io.__name__):
        _feed(sink, 100.0, 10)  # no exception out of output(): the loop goes on
    (warning,) = [record.getMessage() for record in caplog.records]
    assert str(tmp_path / "cam.mp4") in warning and "disk full" in warning
    assert "ENOSPC" in warning and "kept in cam.mp4" in warning and "cam-3.mp4" in warning
    assert len(read_video(tmp_path / "cam.mp4")[0]) == 2  # what was written, finished
    full_at_frame_three.on = False
    with caplog.at_level("WARNING", logger=video_io.__name__):
        _feed(sink, 104.0, 5)  # still within the 5 s pause from 100.2: nothing written
        _feed(sink, 105.2, 5)
        sink.stop()
    # the last warning (an earlier test may have left INFO on: "recorded N frames" follows)
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert "recording again into" in warnings[-1]
    assert len(read_video(tmp_path / "cam-3.mp4")[0]) == 5
    assert (tmp_path / "cam-2.mp4").read_bytes() == b"somebody's file"
    assert sink.finished == [tmp_path / "cam.mp4", tmp_path / "cam-3.mp4"]
    assert _no_partials(tmp_path)


def test_a_single_recording_that_cannot_be_finished_is_removed_not_left_broken(
    tmp_path, monkeypatch, caplog
):
    """The disk stays full: the MP4's index cannot be written at the end, so what was
    written does not play; it is removed (never moved into place), said in the warning,
    and the next try goes to the same name."""
    import errno

    from edgecolor.device.frames import video_io, video_writer

    real_write, real_close = video_writer.VideoWriter.write, video_writer.VideoWriter.close

    def full(writer, rgb, timestamp):
        if full.on and writer.frames == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(writer, rgb, timestamp)

    def cut_short(writer, audio_until):  # the trailer did not fit: a file without its index
        if not full.on:
            return real_close(writer, audio_until)
        writer._container.close()
        with open(writer._temporary, "r+b") as handle:
            handle.truncate(64)
        raise OSError(errno.ENOSPC, "No space left on device")

    full.on = True
    monkeypatch.setattr(video_writer.VideoWriter, "write", full)
    monkeypatch.setattr(video_writer.VideoWriter, "close", cut_short)
    sink = _one_file_sink(tmp_path / "cam.mp4")
    with caplog.at_level("WARNING", logger=video_io.__name__):
        _feed(sink, 100.0, 3)
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "the 2 frames written could not be finished" in warning
    assert "recording again into cam.mp4" in warning
    assert list(tmp_path.iterdir()) == []
    full.on = False
    _feed(sink, 105.5, 4)
    sink.stop()
    assert [path.name for path in tmp_path.iterdir()] == ["cam.mp4"]


def test_live_record_one_file_survives_a_write_error(tmp_path, tiny_model, monkeypatch):
    """The command: `live --record FILE --segment-minutes 0` ran into ENOSPC and died."""
    import errno

    from videos import read_video

    from edgecolor.device.frames import video_writer

    real_write = video_writer.VideoWriter.write

    def full_once(writer, rgb, timestamp):
        if writer.target.name == "rec.mp4" and writer.frames == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(writer, rgb, timestamp)

    monkeypatch.setattr(video_writer.VideoWriter, "write", full_once)
    clip = make_clip(tmp_path / "clip.mp4", frames=24, fps=12, audio=False)
    arguments = ["live", "--source", str(clip), "--loop", "--frames", "84"]
    options = ["--segment-minutes", "0", "--model", str(tiny_model), "--threads", "1"]
    assert main([*arguments, "--record", str(tmp_path / "rec.mp4"), *options]) == 0
    assert len(read_video(tmp_path / "rec.mp4")[0]) == 5
    # paused at frame 6 (0.42 s) for 5 s of the file's time, then from frame 66 (5.42 s,
    # give or take a frame: the pause ends exactly on a frame's time) to frame 84
    assert abs(len(read_video(tmp_path / "rec-2.mp4")[0]) - (84 - 65)) <= 1
