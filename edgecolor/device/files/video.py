"""``edgecolor colorize clip.mp4`` and scanned videos: every frame through the one frame loop.

The same loop, frame path and recording as ``edgecolor live --source clip.mp4 --record
out.mp4`` (:mod:`edgecolor.device.frames.video_io`): every frame, its timing and the audio
kept, the same colours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecolor.device.frames.video_io import VideoFileSink, VideoFileSource
from edgecolor.photos import UnreadableFile

VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .avi .webm .mpg .mpeg .wmv .flv .ts .mts .m2ts .3gp .ogv".split()
)
# Containers written as they came (colorize); anything else becomes .mp4.
KEPT_SUFFIXES = frozenset(".mp4 .m4v .mov .mkv .avi .webm".split())


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
    frame_colorizer: Any,
) -> VideoResult:
    """Colorize every frame of ``source`` into ``output`` (atomically), audio kept.

    The same loop, frame path and recording as ``edgecolor live --source SOURCE --record
    OUTPUT``: same frames, same timing, same colours.

    Args:
        source: a video file.
        output: the video to write; its suffix picks the container.
        frame_colorizer: a :class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer` (fresh: its
            colour smoothing carries over from frame to frame).
    Raises:
        UnreadableFile: not a video, no video stream, or no frame could be decoded.
        MissingDependencyError: PyAV is not installed.
    """
    from edgecolor.device.frames.loop import LiveLoop

    reader = VideoFileSource(source)
    sink = VideoFileSink(output)
    result = LiveLoop(reader, frame_colorizer, [sink]).run()
    if not result.frames:
        raise UnreadableFile("no video frame could be decoded")
    return VideoResult(result.frames, reader.fps or 25.0, sink.audio, reader.notes + sink.notes)
