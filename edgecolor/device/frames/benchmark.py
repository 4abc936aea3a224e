"""``edgecolor bench``: how fast a model runs the live pipeline here, stage by stage, at 640x480.

It runs the live loop itself (:class:`~edgecolor.device.frames.loop.LiveLoop`, the frame path of
``edgecolor live``: a :class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer` with its colour
smoothing) on a 640x480 clip, with the web preview's encoding as the sink. The stages are
the loop's own: capture (decode a frame and make it gray, in the capture thread), prepare
(shrink to the model's input, L, scale), invoke (quantize, run the model, dequantize), join
(smooth the colour, join it with the full-resolution luma as Y'CbCr 4:2:0 planes), encode
(compose gray | colour with the fps label and JPEG-encode it, as the web preview does).
The photo path's exact Lab prepare and join (to RGB) are timed afterwards on frames of the
same clip for comparison. Without ``--source`` a synthetic 640x480 clip is generated
(moving shapes over gradients and noise); a clip of another size is scaled as it is read.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.device.frames.video_io import VideoFileSource
from edgecolor.device.runtime.options import RuntimeOptions
from edgecolor.errors import UsageError
from edgecolor.optional import require_av, require_cv2
from edgecolor.photos import UnreadableFile

# The photo path's stages, timed on frames of the same clip (not part of a frame's total).
PHOTO_STAGES = ("prepare (photo)", "join (photo)")
FRAME_SIZE = (640, 480)  # width, height


def synthetic_clip(path: Path, frames: int = 60, fps: int = 30, size=FRAME_SIZE) -> Path:
    """Write a gray test clip (MJPEG .avi): gradients, noise and shapes that move every frame."""
    av, cv2 = require_av(), require_cv2("OpenCV (for edgecolor bench)")
    width, height = size
    generator = np.random.default_rng(0)
    rows, columns = np.mgrid[0:height, 0:width]
    background = (columns / width * 160 + rows / height * 60).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        for index in range(frames):
            image = background + generator.normal(0, 6, (height, width)).astype(np.float32)
            center = (int(width * (0.2 + 0.6 * index / frames)), height // 2)
            cv2.circle(image, center, height // 5, 230.0, -1)
            cv2.rectangle(image, (40, 40 + index % 100), (200, 160 + index % 100), 40.0, -1)
            gray = np.clip(image, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(gray, format="gray")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def photo_path_timings(colorizer, clip: Path, frames: int) -> dict[str, list[float]]:
    """The photo path's prepare and join (exact Lab, to RGB) on up to ``frames`` of ``clip``."""
    timings = {stage: [] for stage in PHOTO_STAGES}
    clock = time.perf_counter
    source = VideoFileSource(clip, size=FRAME_SIZE)
    source.open()
    try:
        while len(timings["join (photo)"]) < frames and (frame := source.read()) is not None:
            start = clock()
            prepared = colorizer.prepare(frame.gray)
            prepared_at = clock()
            ab = colorizer.predict_ab(prepared.L_scaled)
            join_start = clock()
            colorizer.join(prepared, ab)
            timings["prepare (photo)"].append(prepared_at - start)
            timings["join (photo)"].append(clock() - join_start)
    finally:
        source.close()
    return timings


def run_benchmark(
    options: RuntimeOptions,
    frames: int = 200,
    warmup: int = 10,
    source: str | Path | None = None,
) -> dict[str, Any]:
    """Time every stage of the live pipeline on ``frames`` frames at 640x480.

    Returns:
        {"backend", "model", "input_size", "frames", "stages": {stage: [seconds, ...]},
         "photo_stages": {stage: [seconds, ...]}, "loop_fps": frames per second of the loop
         after its first frame, "total": [seconds per frame, ...]}.
    """
    require_cv2("OpenCV (for edgecolor bench)")
    from edgecolor.device.frames.frame_colorizer import FrameColorizer
    from edgecolor.device.frames.loop import STAGES, LiveLoop, SourceLost
    from edgecolor.device.frames.preview import LatestJpeg
    from edgecolor.device.runtime.colorizer import Colorizer

    colorizer = Colorizer.from_options(options)
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(source) if source else synthetic_clip(Path(folder) / "clip.avi")
        loop = LiveLoop(
            VideoFileSource(clip, size=FRAME_SIZE),  # a clip of another size is scaled
            FrameColorizer(colorizer),
            [LatestJpeg(always=True)],  # what the preview does while watched
            frames=warmup + frames,
            loop=True,  # a short clip plays again
        )
        try:
            result = loop.run()
        except (SourceLost, UnreadableFile) as error:
            raise UsageError(f"--source {clip}: {error}") from None
        if result.frames < warmup + frames:
            raise UsageError(f"--source {clip}: only {result.frames} frames could be decoded")
        timings = {stage: list(result.stage_seconds[stage])[-frames:] for stage in STAGES}
        photo_timings = photo_path_timings(colorizer, clip, min(frames, 100))
    return {
        "backend": colorizer.backend_name,
        "model": str(colorizer.model_path),
        "input_size": list(colorizer.input_size),
        "frames": frames,
        "stages": timings,
        "photo_stages": photo_timings,
        # The loop's own rate after its first frame (warm-up excluded): what `edgecolor
        # live` shows, capture overlapping the rest.
        "loop_fps": (result.frames - 1) / max(result.seconds - result.first_frame_seconds, 1e-9),
        # one thread's work per frame (the loop overlaps capture with the rest)
        "total": [sum(stage_seconds) for stage_seconds in zip(*timings.values(), strict=True)],
    }


def report(result: dict[str, Any]) -> str:
    """A readable table of a :func:`run_benchmark` result."""
    total = np.array(result["total"]) * 1000.0
    height, width = result["input_size"]
    lines = [
        f"model {Path(result['model']).name} ({width}x{height} input) on {result['backend']}",
        f"{result['frames']} frames at {FRAME_SIZE[0]}x{FRAME_SIZE[1]}",
        f"latency ms: p50 {np.percentile(total, 50):.1f}  p90 {np.percentile(total, 90):.1f}  "
        f"p99 {np.percentile(total, 99):.1f}   ->  {1000.0 / np.mean(total):.1f} fps "
        f"(one thread of work; live overlaps capture with the rest)",
        f"the live loop itself: {result['loop_fps']:.1f} fps "
        f"(capture in its own thread, as `edgecolor live` runs; the sink encodes JPEG)",
        f"{'stage':<8} {'median ms':>10} {'p90 ms':>8} {'share':>7}",
    ]
    medians = {
        stage: float(np.median(values)) * 1000.0 for stage, values in result["stages"].items()
    }
    for stage, values in result["stages"].items():
        values = np.array(values) * 1000.0
        lines.append(
            f"{stage:<8} {medians[stage]:>10.2f} {np.percentile(values, 90):>8.2f} "
            f"{medians[stage] / max(sum(medians.values()), 1e-9):>7.0%}"
        )
    ratio = (medians["prepare"] + medians["join"]) / max(medians["invoke"], 1e-9)
    lines.append(f"prepare + join = {ratio:.0%} of invoke (the frame path, as the live loop runs)")
    photo = {
        stage: float(np.median(values)) * 1000.0 for stage, values in result["photo_stages"].items()
    }
    photo_sum = photo["prepare (photo)"] + photo["join (photo)"]
    lines.append(
        f"photo path on the same clip (exact Lab join): prepare "
        f"{photo['prepare (photo)']:.2f} + join {photo['join (photo)']:.2f} ms = "
        f"{photo_sum / max(medians['invoke'], 1e-9):.0%} of invoke; the frame path is "
        f"{photo_sum / max(medians['prepare'] + medians['join'], 1e-9):.1f}x faster"
    )
    return "\n".join(lines)
