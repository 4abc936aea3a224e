"""Colorize a video file: every frame, the same frame timing, the audio kept.

With PyAV (``pip install av``; ``'.[camera]'`` in the checkout) the frames are decoded and encoded by
FFmpeg, each frame keeps its own timestamp (so variable frame rates survive), and the audio
packets are copied unchanged (or re-encoded to AAC when the output container cannot hold
the original codec). Without PyAV, OpenCV reads and writes the frames at the file's nominal
frame rate and the audio is dropped, with a note saying so.

The output is written to a temporary file beside it and moved into place when complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.device.images import UnreadableFile
from edgecolor.errors import INSTALL_CAMERA, MissingDependencyError
from edgecolor.files import commit, temporary_beside

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .avi .webm .mpg .mpeg .wmv .flv .ts .mts .m2ts .3gp .ogv".split()
)
# Containers written as they came; anything else becomes .mp4.
KEPT_SUFFIXES = frozenset(".mp4 .m4v .mov .mkv .avi .webm".split())
# x264 quality: visually lossless for the colour a model adds, a fraction of raw size.
X264_OPTIONS = {"crf": "18", "preset": "veryfast"}
# Audio codecs tried, in order, when the source's cannot be copied into the output container.
AUDIO_FALLBACK_CODECS = ("aac", "libopus", "libvorbis")


@dataclass
class VideoResult:
    """What :func:`colorize_video` wrote."""

    frames: int
    fps: float
    audio: bool
    notes: list[str] = field(default_factory=list)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def output_suffix(source: Path) -> str:
    return source.suffix if source.suffix.lower() in KEPT_SUFFIXES else ".mp4"


def colorize_video(
    source: str | Path,
    output: str | Path,
    colorize: Callable[[np.ndarray], np.ndarray],
    progress: Callable[[int], None] | None = None,
) -> VideoResult:
    """Colorize every frame of ``source`` into ``output`` (atomically).

    Args:
        source: a video file.
        output: the video to write; its suffix picks the container.
        colorize: uint8 (H, W) gray frame -> uint8 (H, W, 3) RGB, e.g. ``Colorizer.colorize``.
        progress: called with 1 after each frame.
    Raises:
        UnreadableFile: not a video, no video stream, or no frame could be decoded.
        MissingDependencyError: neither PyAV nor OpenCV is installed.
    """
    source, output = Path(source), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(output)
    try:
        try:
            import av  # noqa: F401
        except ImportError:
            result = _colorize_with_opencv(source, temporary, colorize, progress)
        else:
            result = _colorize_with_pyav(source, temporary, colorize, progress)
        commit(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return result


# --------------------------------------------------------------------------- PyAV


def _video_codec(suffix: str) -> str:
    import av

    if suffix == ".webm":
        return "libvpx-vp9"
    if suffix == ".avi":
        return "mpeg4"  # what AVI players (and OpenCV) expect
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # an FFmpeg build without x264
        return "mpeg4"


def _colorize_with_pyav(
    source: Path, target: Path, colorize: Callable, progress: Callable | None
) -> VideoResult:
    import av

    try:
        reader = av.open(str(source))
    except (av.error.FFmpegError, OSError) as error:
        raise UnreadableFile(f"not a video FFmpeg can open ({error})") from None
    with reader:
        if not reader.streams.video:
            raise UnreadableFile("no video stream")
        in_video = reader.streams.video[0]
        in_video.thread_type = "AUTO"
        in_audio = reader.streams.audio[0] if reader.streams.audio else None
        rate = in_video.average_rate or in_video.guessed_rate or Fraction(25)
        notes: list[str] = []
        with av.open(str(target), "w") as writer:
            codec = _video_codec(target.suffix.lower())
            out_video = writer.add_stream(codec, rate=rate)
            out_video.width, out_video.height = in_video.width, in_video.height
            odd = in_video.width % 2 or in_video.height % 2
            out_video.pix_fmt = "yuv444p" if odd and codec == "libx264" else "yuv420p"
            if codec == "libx264":
                out_video.options = dict(X264_OPTIONS)
                # Keep the source's own clock: every frame keeps its timestamp.
                out_video.codec_context.time_base = in_video.time_base
            elif codec == "mpeg4":
                out_video.bit_rate = max(2_000_000, in_video.width * in_video.height * 8)
            out_audio, transcode = _audio_stream(writer, in_audio, notes)
            streams = [in_video] + ([in_audio] if out_audio is not None else [])
            frames = 0
            try:
                for packet in reader.demux(*streams):
                    if packet.stream is in_video:
                        for frame in packet.decode():
                            _encode(writer, out_video, frame, colorize, frames)
                            frames += 1
                            if progress:
                                progress(1)
                    elif packet.dts is not None:
                        _audio_packet(writer, out_audio, packet, transcode)
            except av.error.InvalidDataError as error:
                if not frames:
                    raise UnreadableFile(f"corrupt video data ({error})") from None
                notes.append(f"stopped at corrupt data after {frames} frames ({error})")
            if not frames:
                raise UnreadableFile("no video frame could be decoded")
            for packet in out_video.encode(None):
                writer.mux(packet)
            if transcode:
                for packet in out_audio.encode(None):
                    writer.mux(packet)
    return VideoResult(frames, float(rate), out_audio is not None, notes)


def _encode(writer: Any, stream: Any, frame: Any, colorize: Callable, index: int) -> None:
    import av

    colour = colorize(frame.to_ndarray(format="gray"))
    new_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(colour), format="rgb24")
    if frame.pts is not None:
        new_frame.pts = frame.pts
        new_frame.time_base = frame.time_base
    else:
        new_frame.pts = index
        new_frame.time_base = 1 / stream.average_rate if stream.average_rate else Fraction(1, 25)
    for packet in stream.encode(new_frame):
        writer.mux(packet)


def _audio_stream(writer: Any, in_audio: Any, notes: list[str]) -> tuple[Any, bool]:
    """The output audio stream: a copy of the source's, or re-encoded when the container refuses it."""
    if in_audio is None:
        return None, False
    try:
        return writer.add_stream_from_template(in_audio), False
    except Exception as error:  # the container cannot hold this codec as is
        logger.debug("audio copy refused (%s); re-encoding", error)
    for codec in AUDIO_FALLBACK_CODECS:
        try:
            stream = writer.add_stream(
                codec, rate=48000 if "opus" in codec else in_audio.rate or 48000
            )
        except Exception:
            continue
        notes.append(f"audio re-encoded from {in_audio.codec_context.name} to {codec}")
        return stream, True
    notes.append("audio dropped: the output container takes neither its codec nor AAC/Opus/Vorbis")
    return None, False


def _audio_packet(writer: Any, stream: Any, packet: Any, transcode: bool) -> None:
    if not transcode:
        packet.stream = stream
        writer.mux(packet)
        return
    for frame in packet.decode():
        frame.pts = None
        for out_packet in stream.encode(frame):
            writer.mux(out_packet)


# --------------------------------------------------------------------------- OpenCV fallback


def _colorize_with_opencv(
    source: Path, target: Path, colorize: Callable, progress: Callable | None
) -> VideoResult:
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError("PyAV or OpenCV (for video files)", INSTALL_CAMERA) from None
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise UnreadableFile("not a video OpenCV can open")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    frames = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            colour = colorize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            if writer is None:
                writer = open_video_writer(target, fps, colour.shape[1], colour.shape[0])
            writer.write(cv2.cvtColor(colour, cv2.COLOR_RGB2BGR))
            frames += 1
            if progress:
                progress(1)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if not frames:
        raise UnreadableFile("no video frame could be decoded")
    return VideoResult(frames, fps, False, ["audio dropped: PyAV is not installed"])


def open_video_writer(path: Path, fps: float, width: int, height: int):
    """An OpenCV ``VideoWriter`` whose file OpenCV reads back: MJPG in .avi, mp4v otherwise."""
    import cv2

    fourcc = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise UnreadableFile(f"OpenCV cannot write {path.suffix} video ({fourcc})")
    return writer
