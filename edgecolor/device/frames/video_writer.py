"""Writing one video file through PyAV: :class:`VideoWriter` (H.264 with the source's audio,
atomically) and :func:`playable` (the check that a finished file decodes before it is moved
into place). Used by :class:`edgecolor.device.frames.video_io.VideoFileSink`.
"""

from __future__ import annotations

import errno
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.device.frames.sinks import StreamInfo
from edgecolor.files import commit, temporary_beside
from edgecolor.optional import require_av

logger = logging.getLogger("edgecolor.device.frames.video_io")  # one logger for recordings

# x264 quality: visually lossless for the colour a model adds, a fraction of raw size.
X264_OPTIONS = {"crf": "18", "preset": "veryfast"}
# Audio codecs tried, in order, when the source's cannot be copied into the output container.
AUDIO_FALLBACK_CODECS = ("aac", "libopus", "libvorbis")
# The clock of a live recording (cameras have no time base of their own): 90 kHz, as MPEG.
LIVE_TIME_BASE = Fraction(1, 90000)


def playable(path: Path, frames: int) -> bool:
    """True when ``path`` opens as a video with ``frames`` video packets, the first decodable.

    A full disk can cut a file short without an error from the muxer (FFmpeg's buffered
    writes are checked late, ``+faststart`` rewrites the file at close): such a file must
    not be moved into place as a recording. Demuxing reads every packet's header, not the
    pictures, so this is cheap next to the encoding.
    """
    av = require_av()
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count, decoded = 0, False
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream flush packet
                if not decoded:
                    decoded = bool(packet.decode()) or decoded
                count += 1
            return count >= frames and (decoded or bool(stream.codec_context.decode(None)))
    except Exception:  # any decoder error: not playable
        logger.debug("recording %s does not decode", path, exc_info=True)
        return False


class AudioCopy:
    """The source's audio into a recording, packet by packet, kept in step with the video."""

    def __init__(self, writer: Any, source: Path, offset: float, notes: list[str]):
        av = require_av()
        self._input = av.open(str(source))
        in_audio = self._input.streams.audio[0]
        self.stream, self._transcode = audio_stream(writer, in_audio, notes)
        self._writer = writer
        self._offset = offset  # seconds: the recording's time 0 in the source's time
        self._packets = self._input.demux(in_audio) if self.stream is not None else iter(())
        self._pending = None

    def copy_until(self, seconds: float | None) -> None:
        """Mux the audio up to ``seconds`` of the source's time (None: all of it)."""
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's final empty packet
                continue
            if (
                seconds is not None
                and packet.pts is not None
                and float(packet.pts * packet.time_base) >= seconds
            ):
                self._pending = packet
                return
            self._mux(packet)

    def _mux(self, packet: Any) -> None:
        shift = round(self._offset / packet.time_base) if self._offset else 0
        if self._transcode:
            for frame in packet.decode():
                frame.pts = None
                for out_packet in self.stream.encode(frame):
                    self._writer.mux(out_packet)
            return
        if packet.pts is not None:
            packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self.stream
        self._writer.mux(packet)

    def close(self) -> None:
        if self._transcode:
            for packet in self.stream.encode(None):
                self._writer.mux(packet)
        self._input.close()


def audio_stream(writer: Any, in_audio: Any, notes: list[str]) -> tuple[Any, bool]:
    """The output audio stream: a copy of the source's, or re-encoded when the container refuses it."""
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


class VideoWriter:
    """One output file: H.264 (VP9 in .webm, MPEG-4 Part 2 in .avi) and the audio, atomically."""

    def __init__(self, target: Path, width: int, height: int, info: StreamInfo, start: float):
        av = require_av()
        self.target = target
        self.frames = 0
        self.notes: list[str] = []
        self.start = start  # the source's time that becomes 0 in this file
        self._temporary = temporary_beside(target)
        self._container = None
        # Ctrl+C or SIGTERM (a KeyboardInterrupt under stop_on_sigterm) can land while the
        # file is being set up, before the sink holds this writer: the hidden temporary
        # file must not outlive it.
        try:
            suffix = target.suffix.lower()
            options = {"movflags": "+faststart"} if suffix in (".mp4", ".m4v", ".mov") else {}
            self._container = av.open(str(self._temporary), "w", options=options)
            rate = Fraction(info.fps).limit_denominator(1001) if info.fps else Fraction(25)
            codec = {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(suffix, "libx264")
            self.time_base = info.time_base or LIVE_TIME_BASE
            stream = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height = width, height
            odd = width % 2 or height % 2
            stream.pix_fmt = "yuv444p" if odd and codec == "libx264" else "yuv420p"
            if codec == "libx264":
                stream.options = dict(X264_OPTIONS)
                stream.codec_context.time_base = self.time_base  # every frame keeps its time
            elif codec == "mpeg4":
                stream.bit_rate = max(2_000_000, width * height * 8)
            self._stream = stream
            self._last_pts = -1
            self._audio = (
                AudioCopy(self._container, info.audio, start, self.notes) if info.audio else None
            )
            self.has_audio = self._audio is not None and self._audio.stream is not None
        except BaseException:
            self.discard()
            raise

    def write(self, rgb: np.ndarray, timestamp: float) -> None:
        av = require_av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = max(round((timestamp - self.start) / self.time_base), self._last_pts + 1)
        frame.pts, frame.time_base, self._last_pts = pts, self.time_base, pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1
        if self._audio is not None:
            self._audio.copy_until(timestamp)

    def close(self, audio_until: float | None) -> None:
        """Finish the file and move it into place (an empty one is removed)."""
        try:
            if self.frames:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                if self._audio is not None:
                    self._audio.copy_until(audio_until)
        finally:
            if self._audio is not None:
                self._audio.close()
            self._container.close()
        if self.frames and not playable(self._temporary, self.frames):
            raise OSError(errno.EIO, f"{self.target.name} was cut short (disk full?)")
        if self.frames:
            commit(self._temporary, self.target)
        else:
            self._temporary.unlink(missing_ok=True)

    def keep_what_plays(self) -> bool:
        """After :meth:`close` failed: move the file into place when what it holds plays (at
        least one frame: a Matroska file cut short does, an MP4 without its index does not);
        otherwise remove it. True when kept."""
        try:
            self._container.close()
        except Exception:  # closed already, or failing again: what is on disk decides
            logger.debug("closing a failed recording failed", exc_info=True)
        try:
            if self._temporary.exists() and playable(self._temporary, 1):
                commit(self._temporary, self.target)
                return True
        except OSError:
            logger.debug("keeping what %s holds failed", self.target, exc_info=True)
        self._temporary.unlink(missing_ok=True)
        return False

    def discard(self) -> None:
        try:
            if self._container is not None:  # None: set-up stopped before it was opened
                self._container.close()
        except Exception:  # already failing: the partial file goes either way
            logger.debug("closing a discarded recording failed", exc_info=True)
        self._temporary.unlink(missing_ok=True)
