"""Subcommand ``edgecolor export``: a training run folder -> a verified .tflite + .json.

Nothing heavy is imported here: TensorFlow loads when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgecolor.export.formats import FORMATS, format_table

EXPORT_DESCRIPTION = """\
Export the generator of a training run folder to TensorFlow Lite and verify the file
through the device runtime on the run's hold-out photos. Writes OUT.tflite and OUT.json
beside it. A file more than 0.5 dB PSNR below the float generator, or failing the
op/partition checks, is kept as OUT.rejected.tflite (exit 1) unless --force.
"""


def register(subparsers) -> None:
    """Add ``export`` to the ``edgecolor`` parser."""
    parser = subparsers.add_parser(
        "export",
        help="export a training run's generator to int8/float16/float32 TFLite, verified",
        description=EXPORT_DESCRIPTION,
        epilog="formats and the options each takes:\n" + format_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="training run folder")
    group = parser.add_mutually_exclusive_group(required=True)
    for export_format in FORMATS.values():
        group.add_argument(
            export_format.flag,
            dest="format",
            action="store_const",
            const=export_format.name,
            help=export_format.description,
        )
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="OUT.tflite", help="output file"
    )
    parser.add_argument(
        "--ptq", action="store_true", help="int8: post-training quantization only (no QAT)"
    )
    parser.add_argument(
        "--checkpoint",
        choices=("auto", "best", "latest"),
        default="auto",
        help="which of the run's checkpoints: best (lowest hold-out L1), latest, or auto "
        "(best when the run kept one; the default)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        metavar="N",
        help="fixed square input size of the exported model (default: the run's training size)",
    )
    parser.add_argument(
        "--io",
        choices=("int8", "uint8"),
        help="int8: input/output tensor type (default int8; uint8 for devices that want it)",
    )
    parser.add_argument(
        "--qat-steps",
        type=int,
        metavar="N",
        help="int8: quantization-aware fine-tuning steps (default 300)",
    )
    parser.add_argument(
        "--edgetpu",
        action="store_true",
        help="int8: also compile OUT_edgetpu.tflite with edgetpu_compiler (when installed)",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help="int8: photos for the representative dataset (default: the run's training photos)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="keep the file as OUT.tflite even when verification fails",
    )
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Run ``edgecolor export``; returns the exit code (UsageError propagates -> 2)."""
    from edgecolor.export.pipeline import ExportOptions
    from edgecolor.export.pipeline import run_export as export

    options = ExportOptions(
        run_dir=args.run_dir,
        format=args.format,
        output=args.output,
        ptq=args.ptq,
        image_size=args.image_size,
        io=args.io,
        qat_steps=args.qat_steps,
        edgetpu=args.edgetpu,
        calibration=args.calibration,
        force=args.force,
        checkpoint=args.checkpoint,
    )
    result = export(options)
    verification = result.metadata.get("verification", {})
    summary = {
        "model": str(result.model_path),
        "metadata": str(result.metadata_path),
        "accepted": result.accepted and not verification.get("forced", False),
        "forced": verification.get("forced", False),
        "size_bytes": verification.get("size_bytes"),
        "psnr": _round(verification.get("psnr")),
        "psnr_float": _round(verification.get("psnr_float")),
        "delta_e2000": _round(verification.get("delta_e2000")),
        "delta_e2000_float": _round(verification.get("delta_e2000_float")),
        "hue_hit_all": _round(verification.get("hue", {}).get("hue_hit", {}).get("all")),
        "hue_hit_all_float": _round(
            verification.get("hue_float", {}).get("hue_hit", {}).get("all")
        ),
        "sepia_share": _round(verification.get("hue", {}).get("sepia_share")),
        "neutral_chroma": _round(verification.get("hue", {}).get("neutral_chroma")),
        "xnnpack": verification.get("reason"),
        "ops": verification.get("ops"),
        "edgetpu_lint_fully_mapped": verification.get("edgetpu_lint", {}).get("fully_mapped"),
        "failures": result.reasons,
    }
    print(json.dumps(summary, indent=2))
    return result.exit_code


def _round(value):
    return None if value is None else round(float(value), 3)
