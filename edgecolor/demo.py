"""``edgecolor demo``: the main job on the bundled model and bundled inputs, nothing else.

    edgecolor demo -o demo-output             (what ``make demo`` runs)

1. colorizes the black-and-white photos shipped in ``edgecolor/assets/demo/`` through the
   device runtime (LiteRT, no TensorFlow) and writes each result plus a before/after grid;
2. runs the bundled clip through the live pipeline headless and records a colorized clip;
3. writes ``summary.json`` (photos done, live-pipeline fps, back-end) and says where to look.

Seconds on a laptop CPU. Nothing heavy is imported at module load.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.device.runtime.options import (
    RuntimeOptions,
    add_output_option,
    add_runtime_options,
)
from edgecolor.errors import EXIT_OK, EXIT_PARTIAL, UsageError
from edgecolor.photos import UnreadableFile

log = logging.getLogger(__name__)

DEMO_ASSETS = Path(__file__).resolve().parent / "assets" / "demo"
DEMO_CLIP = "street.mp4"
DEFAULT_OUT = "demo-output"
# The before/after grid shows this many photos side by side per row (before | after, twice).
PAIRS_PER_ROW = 2


DEMO_DESCRIPTION = """\
Colorize the black-and-white photos and the short street clip that ship with edgecolor,
using the bundled int8 model on the device runtime, and write the results, a
before/after grid, a colorized clip and summary.json into --output.
"""


def register(subparsers) -> None:
    """Add the ``demo`` subcommand to the ``edgecolor`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="colorize the bundled photos and clip with the bundled model (no data needed)",
        description=DEMO_DESCRIPTION,
    )
    add_output_option(parser, DEFAULT_OUT)
    add_runtime_options(parser, saturation=False)
    parser.set_defaults(func=run_demo)


def demo_photos() -> list[Path]:
    """The bundled black-and-white photos, sorted by name."""
    photos = sorted(path for path in DEMO_ASSETS.glob("*.jpg") if path.is_file())
    if not photos:
        raise UsageError(f"no demo photos in {DEMO_ASSETS}: the installation is incomplete")
    return photos


def demo_clip() -> Path:
    """The bundled grayscale street clip."""
    path = DEMO_ASSETS / DEMO_CLIP
    if not path.is_file():
        raise UsageError(f"demo clip missing: {path}: the installation is incomplete")
    return path


@dataclass
class PhotoRun:
    """What colorizing the demo photos produced."""

    done: list[dict[str, Any]] = field(default_factory=list)  # name, output, seconds
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)
    # (before uint8 (H, W), after uint8 (H, W, 3)) per photo done, for the grid
    pairs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def colorize_photos(colorizer, photos: list[Path], out_dir: Path) -> PhotoRun:
    """Colorize each photo into ``out_dir/photos/NAME.jpg``; unreadable ones are named and skipped."""
    from edgecolor.files import save_image
    from edgecolor.photos import ImageReadError, read_gray

    run = PhotoRun()
    for path in photos:
        try:
            gray = read_gray(path)  # uint8 (H, W)
        except ImageReadError as error:
            log.error("skipping unreadable photo %s: %s", path, error)
            run.failed.append((path, str(error)))
            continue
        start = time.perf_counter()
        colorized = colorizer.colorize(gray)  # uint8 (H, W, 3)
        seconds = time.perf_counter() - start
        output = save_image(out_dir / "photos" / f"{path.stem}.jpg", colorized)
        run.done.append({"name": path.name, "output": str(output), "seconds": seconds})
        run.pairs.append((gray, colorized))
    return run


def before_after_grid(pairs: list[tuple[np.ndarray, np.ndarray]], model_label: str) -> np.ndarray:
    """Before/after pairs tiled ``PAIRS_PER_ROW`` to a row: uint8 (H, W, 3) RGB."""
    from edgecolor.evaluation.grid import comparison_grid

    labels = []
    for _ in range(PAIRS_PER_ROW):
        labels += ["black-and-white input", f"colorized ({model_label})"]
    rows = []
    for start in range(0, len(pairs), PAIRS_PER_ROW):
        row: list[np.ndarray] = []
        for index in range(start, start + PAIRS_PER_ROW):
            if index < len(pairs):
                row.extend(pairs[index])
            else:  # an odd count: pad the last row with blank cells
                row.extend([np.full((2, 2, 3), 255, np.uint8)] * 2)
        rows.append(row)
    return comparison_grid(rows, labels)


def run_clip_live(colorizer, clip: Path, output: Path) -> dict[str, Any]:
    """Run ``clip`` through the live pipeline headless and record gray | colour to ``output``.

    The same loop and frame path as ``edgecolor live --source CLIP --record OUTPUT
    --side-by-side``: a capture thread decodes frames while the main thread colorizes them
    with a :class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer` around ``colorizer`` (the 4:2:0
    join, the live colour smoothing); a file that nobody watches is not
    paced, so the fps is what the live path sustains. The recording has every frame at the
    clip's rate.

    Returns:
        {"frames", "seconds", "fps", "first_frame_seconds", "dropped",
        "median_ms": {stage: ms}, "output"}.
    """
    from edgecolor.device.frames.frame_colorizer import FrameColorizer
    from edgecolor.device.frames.loop import LiveLoop, SourceUnavailable
    from edgecolor.device.frames.video_io import VideoFileSink, VideoFileSource

    sink = VideoFileSink(output, side_by_side=True)
    try:  # the loop opens and closes the source, starts and stops the sink
        result = LiveLoop(VideoFileSource(clip), FrameColorizer(colorizer), [sink]).run()
    except (SourceUnavailable, UnreadableFile) as error:
        raise UsageError(f"demo clip {clip}: {error}") from None
    if result.frames == 0:
        raise UsageError(f"no frames could be read from {clip}")
    return {
        "frames": result.frames,
        "seconds": result.seconds,
        "fps": result.fps,
        "first_frame_seconds": result.first_frame_seconds,
        "dropped": result.dropped,
        "median_ms": {stage: result.median_ms(stage) for stage in result.stage_seconds},
        "output": str(output),
    }


def run_demo(args: argparse.Namespace) -> int:
    """``edgecolor demo``: see the module docstring. Returns the exit code."""
    from edgecolor import __version__
    from edgecolor.device import Colorizer
    from edgecolor.device.runtime.model import load_metadata
    from edgecolor.files import save_image, write_json

    options = RuntimeOptions.from_args(args)  # UsageError names the missing bundled model
    out_dir = Path(args.output).expanduser()
    photos, clip = demo_photos(), demo_clip()
    model_path = options.model
    metadata = load_metadata(model_path)
    started = time.perf_counter()
    colorizer = Colorizer.from_options(options)
    load_seconds = time.perf_counter() - started
    # (the back-end line is the runtime's own log: printed once)
    print(f"model {model_path.name} ({metadata.get('format')})")

    photo_run = colorize_photos(colorizer, photos, out_dir)
    done, failed = photo_run.done, photo_run.failed
    grid_path = None
    if photo_run.pairs:
        grid = before_after_grid(photo_run.pairs, model_path.stem)
        grid_path = save_image(out_dir / "before-after.png", grid)
    print(f"photos: {len(done)} colorized" + (f", {len(failed)} failed" if failed else ""))

    clip_result = run_clip_live(colorizer, clip, out_dir / f"{clip.stem}-colorized.mp4")
    stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in clip_result["median_ms"].items())
    print(
        f"clip: {clip_result['frames']} frames through the live pipeline at "
        f"{clip_result['fps']:.1f} fps (median ms per frame: {stages})"
    )

    summary = {
        "schema": "edgecolor.demo/1",
        "edgecolor_version": __version__,
        "model": {
            "file": str(model_path),
            "format": metadata.get("format"),
            "input_size": list(colorizer.input_size),
            "training_step": metadata.get("training_step"),
        },
        "backend": colorizer.backend_name,
        "model_load_seconds": load_seconds,
        "photos_done": len(done),
        "photos_failed": [{"path": str(path), "error": reason} for path, reason in failed],
        "photos": done,
        "before_after": str(grid_path) if grid_path else None,
        "clip": {"input": str(clip), **clip_result},
        "total_seconds": time.perf_counter() - started,
    }
    summary_path = write_json(out_dir / "summary.json", summary)
    print(f"done in {summary['total_seconds']:.1f} s. Look at:")
    if grid_path:
        print(f"  {grid_path}    black-and-white inputs next to their colorized versions")
    print(f"  {out_dir / 'photos'}/    each colorized photo")
    print(f"  {clip_result['output']}    the clip, black-and-white | colorized")
    print(f"  {summary_path}    the numbers (photos, fps, back-end)")
    return EXIT_PARTIAL if failed else EXIT_OK
