"""``edgecolor bench``: how fast a model runs the live pipeline here, stage by stage, at 640x480.

The stages are the live loop's own: capture (decode a frame from a 640x480 video and make
it gray), prepare (shrink to the model's input, L, scale), invoke (quantize, run the model,
dequantize), join (upsample the colour, join with the full-resolution luma), encode
(compose gray | colour with the fps label and JPEG-encode it, as the web preview does).
The live loop runs the Colorizer in its video mode (box-halving shrink, a join into
Y'CbCr 4:2:0 planes that JPEG encodes as they are); the photo mode's exact Lab prepare and
join (to RGB) are timed on the same frames for comparison.
Without ``--source`` a synthetic 640x480 clip is generated (moving shapes over gradients
and noise).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.errors import INSTALL_CAMERA, MissingDependencyError

STAGES = ("capture", "prepare", "invoke", "join", "encode")
# The photo mode's stages, timed on the same frames (not part of the frame's total).
PHOTO_STAGES = ("prepare (photo)", "join (photo)")
FRAME_SIZE = (640, 480)  # width, height


def synthetic_clip(path: Path, frames: int = 60, fps: float = 30.0, size=FRAME_SIZE) -> Path:
    """Write a gray test clip (MJPG .avi): gradients, noise and shapes that move every frame."""
    import cv2

    width, height = size
    generator = np.random.default_rng(0)
    rows, columns = np.mgrid[0:height, 0:width]
    background = (columns / width * 160 + rows / height * 60).astype(np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for index in range(frames):
        image = background + generator.normal(0, 6, (height, width)).astype(np.float32)
        center = (int(width * (0.2 + 0.6 * index / frames)), height // 2)
        cv2.circle(image, center, height // 5, 230.0, -1)
        cv2.rectangle(image, (40, 40 + index % 100), (200, 160 + index % 100), 40.0, -1)
        gray = np.clip(image, 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def run_benchmark(
    model_path: str | Path | None,
    device: str = "auto",
    threads: int | None = None,
    frames: int = 200,
    warmup: int = 10,
    source: str | Path | None = None,
) -> dict[str, Any]:
    """Time every stage of the live pipeline on ``frames`` frames at 640x480.

    Returns:
        {"backend", "model", "input_size", "frames", "stages": {stage: [seconds, ...]},
         "photo_stages": {stage: [seconds, ...]}, "total": [seconds per frame, ...]}.
    """
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError("OpenCV (for edgecolor bench)", INSTALL_CAMERA) from None
    from edgecolor.device import pixels
    from edgecolor.device.colorizer import Colorizer
    from edgecolor.device.web import encode_jpeg
    from edgecolor.device.yuv import Yuv420Picture

    colorizer = Colorizer(model_path, device, threads, mode="video")
    photo = Colorizer.from_interpreter(colorizer._loaded, colorizer.metadata, mode="photo")
    pixels.chroma_join_table()  # all tables: built once per process, not part of a frame's time
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(source) if source else synthetic_clip(Path(folder) / "clip.avi")
        capture = cv2.VideoCapture(str(clip))
        if not capture.isOpened():
            raise MissingDependencyError(f"a reader for {clip}", INSTALL_CAMERA)
        timings = {stage: [] for stage in STAGES}
        photo_timings = {stage: [] for stage in PHOTO_STAGES}
        total = []
        clock = time.perf_counter
        done = 0
        while done < frames + warmup:
            start = clock()
            ok, image = capture.read()
            if not ok:  # loop the clip
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, image = capture.read()
                if not ok:
                    raise MissingDependencyError(f"a decoder for {clip}", INSTALL_CAMERA)
                start = clock()
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            if (gray.shape[1], gray.shape[0]) != FRAME_SIZE:
                gray = cv2.resize(gray, FRAME_SIZE, interpolation=cv2.INTER_AREA)
            captured = clock()
            prepared = colorizer.prepare(gray)
            after_prepare = clock()
            ab = colorizer.predict_ab(prepared.L_scaled)
            after_invoke = clock()
            colour = colorizer.join_yuv420(prepared, ab)
            after_join = clock()
            picture = Yuv420Picture.side_by_side(Yuv420Picture.from_gray(gray), colour)
            encode_jpeg(picture.draw_label("00.0 fps"))
            end = clock()
            # the photo mode on the same frame and colours, after the frame's own stages
            photo_start = clock()
            photo_prepared = photo.prepare(gray)
            photo_prepared_at = clock()
            photo.join(photo_prepared, ab)
            photo_end = clock()
            done += 1
            if done <= warmup:
                continue
            for stage, seconds in zip(
                STAGES,
                (
                    captured - start,
                    after_prepare - captured,
                    after_invoke - after_prepare,
                    after_join - after_invoke,
                    end - after_join,
                ),
                strict=True,
            ):
                timings[stage].append(seconds)
            photo_timings["prepare (photo)"].append(photo_prepared_at - photo_start)
            photo_timings["join (photo)"].append(photo_end - photo_prepared_at)
            total.append(end - start)
        capture.release()
    return {
        "backend": colorizer.backend_name,
        "model": str(colorizer.model_path),
        "input_size": list(colorizer.input_size),
        "frames": frames,
        "stages": timings,
        "photo_stages": photo_timings,
        "total": total,
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
    lines.append(f"prepare + join = {ratio:.0%} of invoke (video mode, as the live loop runs)")
    photo = {
        stage: float(np.median(values)) * 1000.0
        for stage, values in result.get("photo_stages", {}).items()
    }
    if photo:
        photo_sum = photo["prepare (photo)"] + photo["join (photo)"]
        lines.append(
            f"photo mode on the same frames (exact Lab join): prepare "
            f"{photo['prepare (photo)']:.2f} + join {photo['join (photo)']:.2f} ms = "
            f"{photo_sum / max(medians['invoke'], 1e-9):.0%} of invoke; video mode is "
            f"{photo_sum / max(medians['prepare'] + medians['join'], 1e-9):.1f}x faster"
        )
    return "\n".join(lines)
