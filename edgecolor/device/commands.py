"""Subcommands: colorize, scan, live, bench (gallery: edgecolor.device.gallery.commands). Nothing heavy is imported until a command runs."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from edgecolor.device.runtime.options import (
    RuntimeOptions,
    add_output_option,
    add_runtime_options,
    add_serve_option,
)
from edgecolor.errors import EXIT_OK, EXIT_PARTIAL, UsageError
from edgecolor.signals import stop_on_sigterm


def _recolor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recolor",
        action="store_true",
        help="colorize photos already in colour too (default: keep them as they are; "
        "toned black-and-white such as sepia is colorized either way)",
    )


COLORIZE_DESCRIPTION = """\
Colorize image and video files, or whole folders (recursively). Each output goes under
OUT_DIR with the same relative path and name; originals are never touched. A re-run
leaves finished outputs alone (unless --overwrite). Unreadable files are reported by
name and skipped; the exit code is then 1.
"""

SCAN_DESCRIPTION = """\
Watch DIR (recursively) and colorize every image or video once it is completely written
(size and time unchanged for --settle seconds). A manifest in OUT_DIR/.edgecolor/
survives restarts: nothing is redone, nothing missed.
"""

LIVE_DESCRIPTION = """\
Colorize frames from the Raspberry Pi camera (picamera2), a USB webcam (usb:N, the N-th
UVC webcam; or /dev/videoN, /dev/v4l/by-id/...), a video file or a network stream (URL).
A camera always gives its newest frame (stale frames are dropped); a file gives every
frame in order, at its own pace when you watch it (--display/--serve), as fast as
possible when only recording.
"""

BENCH_DESCRIPTION = """\
Run the live pipeline (capture, prepare, invoke, join, encode) on a 640x480 clip and
print latency percentiles, frames per second and each stage's share.
"""


def register(subparsers) -> None:
    """Add this stage's subcommands to the `edgecolor` parser."""
    colorize = subparsers.add_parser(
        "colorize",
        help="colorize photos, folders of photos and videos",
        description=COLORIZE_DESCRIPTION,
    )
    colorize.add_argument("paths", nargs="+", metavar="PATH", help="image/video files or folders")
    add_output_option(colorize)
    add_runtime_options(colorize)
    colorize.add_argument(
        "--overwrite", action="store_true", help="redo outputs that already exist"
    )
    _recolor_option(colorize)
    colorize.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on Ray: join the cluster at ADDRESS (host:port, auto), or without ADDRESS "
        "start a local Ray; one actor per CPU (per --threads CPUs with it); inputs and "
        "OUT_DIR must be on a mount every node shares (needs pip install '.[ray]'; put it "
        "after the paths)",
    )
    colorize.set_defaults(func=run_colorize)

    scan = subparsers.add_parser(
        "scan",
        help="watch a scanner's folder and colorize each new photo once",
        description=SCAN_DESCRIPTION,
    )
    scan.add_argument("--watch", required=True, metavar="DIR", help="the folder to watch")
    add_output_option(scan)
    scan.add_argument(
        "--once",
        action="store_true",
        help="process what is there (waiting for files being written), then exit",
    )
    scan.add_argument(
        "--move-originals",
        metavar="DIR",
        help="move each finished original here (default: leave it where it is); one that "
        "cannot be moved (DIR full or read-only) stays where it is, named, and is moved later",
    )
    scan.add_argument(
        "--settle",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="a file counts as written after this long unchanged (default: 2)",
    )
    scan.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="polling interval (default: 1)",
    )
    scanning = scan.add_argument_group(
        "scanning with SANE's scanimage", "scan pages into --watch DIR, then colorize them"
    )
    scanning.add_argument(
        "--scanimage",
        action="store_true",
        help=(
            "scan with SANE's scanimage into DIR: asks before each page (needs a terminal); "
            "with --once one page; with --scan-batch everything put in the document feeder"
        ),
    )
    scanning.add_argument(
        "--scan-batch",
        action="store_true",
        help=(
            "with --scanimage: scan the document feeder with `scanimage --batch`, again and "
            "again (no terminal needed: for the service); needs --scan-source"
        ),
    )
    scanning.add_argument(
        "--scan-source",
        metavar="NAME",
        help="scanimage --source, e.g. ADF (names differ per scanner: scanimage --help -d DEVICE)",
    )
    scanning.add_argument(
        "--scan-mode",
        default="Gray",
        metavar="NAME",
        help="scanimage --mode (default: Gray; some backends say e.g. 'True Gray' or Grayscale)",
    )
    scanning.add_argument(
        "--scan-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help=(
            "with --scan-batch: pause after finding the feeder empty or the scanner off or "
            "busy (default: 10); it doubles while that lasts, up to 1 minute for the feeder "
            "and 10 minutes for the scanner"
        ),
    )
    scanning.add_argument(
        "--scan-timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="stop a scanimage run that takes longer and try again later (default: 1800)",
    )
    scanning.add_argument(
        "--scan-device", metavar="NAME", help="scanimage device (default: the first)"
    )
    scanning.add_argument(
        "--scan-resolution",
        type=int,
        default=600,
        metavar="DPI",
        help="scan resolution (default: 600)",
    )
    add_serve_option(scan, "a page of the scans, live as they are colorized,")
    add_runtime_options(scan)
    _recolor_option(scan)
    scan.set_defaults(func=run_scan)

    live = subparsers.add_parser(
        "live",
        help="colorize a camera, video file or stream live, with a window or a web preview",
        description=LIVE_DESCRIPTION,
    )
    live.add_argument(
        "--source",
        required=True,
        metavar="SOURCE",
        help="picamera2, usb:N (the N-th USB webcam), /dev/videoN, a video file or a URL",
    )
    live.add_argument("--display", action="store_true", help="show a window (needs a desktop)")
    add_serve_option(
        live,
        "web preview",
        more="; a camera missing or busy at the start is then waited for, the page saying why",
    )
    live.add_argument(
        "--record",
        metavar="FILE",
        help="write the output video: H.264 .mp4 (or .mov, .mkv), with a video file's audio",
    )
    live.add_argument(
        "--segment-minutes",
        type=float,
        default=5.0,
        metavar="N",
        help="with --record: FILE-0001.mp4, FILE-0002.mp4, ... of N minutes each, each one "
        "finished as it closes, so a power cut loses at most one; 0: one file (default: 5)",
    )
    live.add_argument("--frames", type=int, metavar="N", help="stop after N colorized frames")
    live.add_argument("--loop", action="store_true", help="restart a video file at its end")
    live.add_argument(
        "--side-by-side",
        action="store_true",
        help="window and recording show gray | colour (the web page always does)",
    )
    live.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        metavar="X",
        help="temporal colour smoothing, 0 (off) to 0.95 (slow); reset at scene cuts (default: 0.5)",
    )
    live.add_argument(
        "--overlay",
        choices=("preview", "all", "none"),
        default="preview",
        help="where the frame rate is drawn: the window and web preview only, all "
        "(the recording too) or none (default: preview)",
    )
    live.add_argument(  # the old spelling, kept for a release
        "--no-overlay", dest="overlay", action="store_const", const="none", help=argparse.SUPPRESS
    )
    add_runtime_options(live)
    live.set_defaults(func=run_live)

    bench = subparsers.add_parser(
        "bench",
        help="latency, fps and per-stage times of a model in the live pipeline at 640x480",
        description=BENCH_DESCRIPTION,
    )
    # MODEL as a positional, the old spelling of --model (kept for a release)
    bench.add_argument("model_file", nargs="?", metavar="MODEL", help=argparse.SUPPRESS)
    add_runtime_options(bench, saturation=False)
    bench.add_argument(
        "--frames", type=int, default=200, metavar="N", help="frames timed (default: 200)"
    )
    bench.add_argument("--source", metavar="FILE", help="a video to use (resized to 640x480)")
    bench.add_argument("--json", metavar="FILE", help="also write the raw timings as JSON")
    bench.set_defaults(func=run_bench)


def run_colorize(args: argparse.Namespace) -> int:
    from edgecolor.device.files import batch, output_folder
    from edgecolor.device.runtime.lazy_colorizer import LazyColorizer

    options = RuntimeOptions.from_args(args)  # fail now (exit 2), not after reading files
    if args.ray is not None:
        from edgecolor.device.files import ray_colorize

        ray_colorize.check_usable(args.ray)  # before OUT_DIR is made
    out_dir = Path(args.output)
    jobs, ignored = batch.collect_jobs(args.paths, out_dir)
    if not jobs:
        raise UsageError(f"no image or video files found in {' '.join(args.paths)}")
    output_folder.prepare_output_dir(out_dir)
    if args.ray is not None:
        summary = ray_colorize.run_batch_on_ray(
            jobs,
            out_dir,
            args.ray or None,
            # without --model, each node's own bundled model
            options=options if args.model else dataclasses.replace(options, model=None),
            overwrite=args.overwrite,
            recolor=args.recolor,
        )
    else:
        factory = LazyColorizer(options)
        summary = batch.run_batch(
            jobs, factory, out_dir, overwrite=args.overwrite, recolor=args.recolor
        )
    summary.ignored = ignored
    print(summary.line(out_dir), file=sys.stderr)
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def run_scan(args: argparse.Namespace) -> int:
    from edgecolor.device.files.scan import Watcher
    from edgecolor.device.files.scanimage import scanner_from_args
    from edgecolor.device.runtime.lazy_colorizer import LazyColorizer

    options = RuntimeOptions.from_args(args)
    if args.settle < 0 or args.interval <= 0:
        raise UsageError(f"--settle {args.settle} / --interval {args.interval}: must be positive")
    if args.serve and args.once:
        raise UsageError("--serve with --once: the page needs a running service; drop one")
    factory = LazyColorizer(options)
    watcher = Watcher(
        Path(args.watch),
        Path(args.output),
        factory,
        move_originals=Path(args.move_originals) if args.move_originals else None,
        settle=args.settle,
        recolor=args.recolor,
        wait_for_output=not args.once,  # the service waits for a full or read-only -o
    )
    scanner = scanner_from_args(args)  # None without --scanimage
    gallery = None
    if args.serve:
        from edgecolor.device.gallery.commands import start_scan_gallery

        gallery = start_scan_gallery(args.serve, watcher)
    if not args.once:
        print(f"watching {args.watch} -> {args.output} (Ctrl+C to stop)", file=sys.stderr)
    try:
        with stop_on_sigterm():  # the service's stop prints the summary too
            watcher.run(once=args.once, interval=args.interval, scanner=scanner)
    except KeyboardInterrupt:
        pass
    finally:
        if gallery is not None:
            gallery.close()
    print(watcher.summary.line(Path(args.output)), file=sys.stderr)
    # an original that could not be moved (--move-originals full or read-only) is not lost,
    # but the run did not do all it was asked: exit 1, as for a file that failed
    return EXIT_PARTIAL if watcher.summary.failed or watcher.summary.unmoved else EXIT_OK


def run_live(args: argparse.Namespace) -> int:
    import logging

    from edgecolor.device.frames import capture, sources
    from edgecolor.device.frames.frame_colorizer import FrameColorizer
    from edgecolor.device.frames.loop import LiveLoop, SourceLost, SourceUnavailable
    from edgecolor.device.frames.sinks import WindowSink
    from edgecolor.device.frames.video_io import VideoFileSink
    from edgecolor.device.runtime.lazy_colorizer import LazyColorizer

    options = RuntimeOptions.from_args(args)
    if args.frames is not None and args.frames < 1:
        raise UsageError(f"--frames {args.frames}: must be at least 1")
    if not 0.0 <= args.smoothing <= 0.95:
        raise UsageError(f"--smoothing {args.smoothing}: must be between 0 and 0.95")
    if not 0.0 <= args.segment_minutes <= 24 * 60:
        raise UsageError(f"--segment-minutes {args.segment_minutes}: must be 0 to 1440")
    bind = None
    if args.serve:
        from edgecolor.device.web import parse_bind

        bind = parse_bind(args.serve)
    source = sources.parse_source(args.source)
    # Built now (a bad model is exit 2 before anything starts); an Edge TPU that fails
    # mid-run is rebuilt, then left for the CPU, as in `scan` (the page says so).
    colorizer = LazyColorizer(options)()
    sinks = []
    if args.record:
        sinks.append(
            VideoFileSink(
                args.record,
                side_by_side=args.side_by_side,
                segment_seconds=args.segment_minutes * 60 or None,
                label=args.overlay == "all",
                keep_going=True,  # a full disk pauses the recording, never the loop
            )
        )
    if args.display:
        sinks.append(WindowSink(side_by_side=args.side_by_side))
    if bind:
        from edgecolor.device.frames.preview import PreviewServer

        preview = PreviewServer(
            *bind, source_name=source.name, model_name=colorizer.model_path.name
        )
        sinks.append(preview)
        print(f"web preview: {preview.url}", file=sys.stderr, flush=True)
    loop = LiveLoop(
        source,
        FrameColorizer(colorizer, args.smoothing),
        sinks,
        frames=args.frames,
        loop=args.loop,
        pace=not source.live and bool(args.display or args.serve),
        overlay=args.overlay != "none",
        # the live service (--serve): a camera missing or busy at the start is waited for,
        # the page saying why there is no picture; at a terminal it is one line, exit 2.
        # A camera lost mid-run: the service retries for ever (1 s doubling to 60 s), the
        # page saying "camera lost, retrying"; at a terminal five tries, then exit 1.
        wait_for_source=bool(bind),
        retry_delays=capture.APPLIANCE_RETRY_DELAYS if bind else capture.DEFAULT_RETRY_DELAYS,
        reconnect_forever=bool(bind),
    )
    try:
        with stop_on_sigterm():  # systemctl stop: finish the recording as Ctrl+C does
            result = loop.run()  # opens and closes the source, starts and stops every sink
    except SourceUnavailable as error:
        raise UsageError(f"--source {args.source}: {error}") from None
    except SourceLost as error:
        print(f"edgecolor live: error: {error}", file=sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:  # Ctrl+C or systemctl stop, also while waiting for the camera
        return EXIT_OK
    stages = ", ".join(f"{stage} {result.median_ms(stage):.1f}" for stage in result.stage_seconds)
    logging.getLogger("edgecolor.device.frames.loop").info(
        "%d frames in %.1f s (%.1f fps), %d dropped; median ms: %s",
        result.frames,
        result.seconds,
        result.fps,
        result.dropped,
        stages,
    )
    return EXIT_OK


def run_bench(args: argparse.Namespace) -> int:
    import json

    from edgecolor.device.frames.benchmark import report, run_benchmark
    from edgecolor.files import atomic_write_text

    if args.frames < 1:
        raise UsageError(f"--frames {args.frames}: must be at least 1")
    if args.source and not Path(args.source).is_file():
        raise UsageError(f"--source {args.source}: no such file")
    if args.model_file and args.model:
        raise UsageError(f"MODEL {args.model_file} and --model {args.model}: name one")
    args.model = args.model or args.model_file
    result = run_benchmark(RuntimeOptions.from_args(args), args.frames, source=args.source)
    print(report(result))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(result, indent=1) + "\n")
    return EXIT_OK
