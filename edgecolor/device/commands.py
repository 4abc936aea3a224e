"""Subcommands: colorize, scan, live, bench. Nothing heavy is imported until a command runs."""

from __future__ import annotations

import argparse
import sys

from edgecolor.errors import EXIT_OK, EXIT_PARTIAL, UsageError

DEVICES = ("auto", "cpu", "edgetpu")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="FILE",
        help="exported .tflite model (its .json beside it); default: the bundled model",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto: the Coral Edge TPU when present, else the CPU (default: auto)",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads (default: every core)"
    )


def _saturation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--saturation",
        type=float,
        default=1.0,
        metavar="X",
        help="colour strength: 1 as predicted, 0 gray, 1.3 stronger (default: 1)",
    )


def register(subparsers) -> None:
    """Add this stage's subcommands to the `edgecolor` parser."""
    colorize = subparsers.add_parser(
        "colorize",
        help="colorize photos, folders of photos and videos",
        description=(
            "Colorize image and video files, or whole folders (recursively). Each output goes "
            "under OUT_DIR with the same relative path and name; originals are never touched. "
            "A re-run leaves finished outputs alone (unless --overwrite). Unreadable files are "
            "reported by name and skipped; the exit code is then 1."
        ),
    )
    colorize.add_argument("paths", nargs="+", metavar="PATH", help="image/video files or folders")
    colorize.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    _model_options(colorize)
    _saturation_option(colorize)
    colorize.add_argument(
        "--overwrite", action="store_true", help="redo outputs that already exist"
    )
    colorize.set_defaults(func=run_colorize)


def check_common(args: argparse.Namespace) -> None:
    """Validate options shared by the commands (argparse checks types, this checks ranges)."""
    if getattr(args, "threads", None) is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be at least 1")
    saturation = getattr(args, "saturation", 1.0)
    if not 0.0 <= saturation <= 5.0:
        raise UsageError(f"--saturation {saturation}: must be between 0 and 5")


def run_colorize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgecolor.device import batch
    from edgecolor.device.model import resolve_model_path

    check_common(args)
    out_dir = Path(args.output)
    model_path = resolve_model_path(args.model)  # fail now (exit 2), not after reading files
    jobs, ignored = batch.collect_jobs(args.paths, out_dir)
    if not jobs:
        raise UsageError(f"no image or video files found in {' '.join(args.paths)}")
    factory = batch.LazyColorizer(
        model_path=model_path, device=args.device, threads=args.threads, saturation=args.saturation
    )
    summary = batch.run_batch(jobs, factory, out_dir, overwrite=args.overwrite)
    summary.ignored = ignored
    print(summary.line(out_dir), file=sys.stderr)
    return EXIT_PARTIAL if summary.failed else EXIT_OK
