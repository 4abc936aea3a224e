"""Subcommand ``edgecolor eval``: quality of exported models against the gray baseline.

    edgecolor eval --model int8.tflite --model float.tflite --data photos/ --out eval-output
    edgecolor eval --data source-a/ source-b/ --out eval-output   # one report per source

Nothing heavy is imported at module load; the device runtime (LiteRT) and scikit-image are
imported by ``run_eval``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edgecolor.device.runtime.options import (
    add_output_option,
    add_runtime_options,
    check_threads,
)
from edgecolor.errors import EXIT_OK, EXIT_PARTIAL, UsageError

log = logging.getLogger(__name__)

DEFAULT_OUT = "eval-output"
DEFAULT_GRID = 6


EVAL_DESCRIPTION = """\
Convert every colour photo under --data to 8-bit grayscale, colorize it with each
--model through the device runtime at the photo's own resolution, and compare with the
original: PSNR over 8-bit RGB, mean CIEDE2000, colourfulness (output / original) and the
hue figures (share of coloured pixels whose hue family survives, per family; share
turned sepia; chroma given to gray pixels), side by side with the gray baseline (the
grayscale input itself), overall and per source folder. Writes OUT/eval.json and a
comparison grid OUT/grid.png. Black-and-white photos are skipped; unreadable ones are
named and skipped (exit code 1).
"""


def register(subparsers) -> None:
    """Add the ``eval`` subcommand to the ``edgecolor`` parser."""
    parser = subparsers.add_parser(
        "eval",
        help="measure colorization quality (PSNR, CIEDE2000, colourfulness, hue figures) vs gray",
        description=EVAL_DESCRIPTION,
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="FILE",
        help="exported .tflite model (its .json beside it); repeat to compare models. "
        "Default: the bundled model",
    )
    parser.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="DIR",
        help="folder(s) of colour photos (recursive); several folders (e.g. one per source) "
        "are reported each on its own, in OUT/<folder name>/",
    )
    add_output_option(parser, DEFAULT_OUT)
    parser.add_argument(
        "--grid",
        type=int,
        default=DEFAULT_GRID,
        metavar="N",
        help=f"photos in the comparison grid, 0 for none (default {DEFAULT_GRID})",
    )
    add_runtime_options(parser, model=False, saturation=False)
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="evaluate N photos evenly spread over the sorted folder (default: all)",
    )
    parser.set_defaults(func=run_eval)


def _check_arguments(args: argparse.Namespace) -> tuple[list[Path | None], list[Path], Path]:
    """Validate paths and numbers before anything is loaded; UsageError names the bad value."""
    data_dirs = [Path(directory).expanduser() for directory in args.data]
    for data_dir in data_dirs:
        if not data_dir.is_dir():
            raise UsageError(f"data folder not found: {data_dir}")
    names = [data_dir.resolve().name for data_dir in data_dirs]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise UsageError(f"two --data folders are both named {duplicate!r}: rename one")
    if args.grid < 0:
        raise UsageError(f"--grid must be 0 or more, got {args.grid}")
    if args.limit is not None and args.limit <= 0:
        raise UsageError(f"--limit must be positive, got {args.limit}")
    check_threads(args.threads)
    model_paths: list[Path | None] = []
    for model in args.model or [None]:
        if model is None:
            model_paths.append(None)  # the bundled default; the Colorizer reports if it is absent
            continue
        path = Path(model).expanduser()
        if not path.is_file():
            raise UsageError(f"model file not found: {path}")
        model_paths.append(path)
    return model_paths, data_dirs, Path(args.output).expanduser()


def load_candidates(model_paths: list[Path | None], device: str, threads: int | None):
    """One ``Candidate`` per model file, each with a device-runtime Colorizer loaded."""
    from edgecolor.device import Colorizer
    from edgecolor.device.runtime.model import load_metadata, resolve_model_path
    from edgecolor.evaluation.evaluate import Candidate, unique_labels

    resolved = [resolve_model_path(path) for path in model_paths]
    candidates = []
    for label, path in zip(unique_labels(resolved), resolved, strict=True):
        metadata = load_metadata(path)
        colorizer = Colorizer(path, device=device, threads=threads)
        details = {
            "format": metadata.get("format"),
            "input_size": list(colorizer.input_size),
            "backend": colorizer.backend_name,
            "training_step": metadata.get("training_step"),
            "quantization": metadata.get("quantization"),
        }
        candidates.append(
            Candidate(label=label, colorizer=colorizer, model_file=str(path), details=details)
        )
    return candidates


def run_eval(args: argparse.Namespace) -> int:
    """``edgecolor eval``: see the parser description. Returns the exit code."""
    from edgecolor.evaluation import metrics
    from edgecolor.evaluation.evaluate import format_hue_table, spread_sample
    from edgecolor.files import write_json
    from edgecolor.photos import find_photos

    model_paths, data_dirs, out_dir = _check_arguments(args)
    sources = []
    for data_dir in data_dirs:
        photos = spread_sample(find_photos(data_dir, exclude=[out_dir]), args.limit)
        if not photos:
            raise UsageError(f"no photos (JPEG, PNG, WebP, TIFF, BMP) found in {data_dir}")
        sources.append((data_dir, photos))
    metrics.require_skimage()  # fail now, before loading models, if scikit-image is missing
    candidates = load_candidates(model_paths, args.device, args.threads)

    if len(sources) == 1:
        data_dir, photos = sources[0]
        return _evaluate_source(candidates, data_dir, photos, out_dir, args.grid)[1]
    exit_code = EXIT_OK
    summary = {"schema": "edgecolor.eval-sources/1", "sources": {}}
    per_label: dict[str, list] = {}
    for data_dir, photos in sources:
        name = data_dir.resolve().name
        print(f"== {name} ({data_dir})")
        data, code = _evaluate_source(candidates, data_dir, photos, out_dir / name, args.grid)
        exit_code = max(exit_code, code)
        summary["sources"][name] = {
            "data": str(data_dir),
            "report": f"{name}/eval.json",
            "photos": data["photos"],
            "baseline": data["baseline"],
            "models": [
                {
                    key: entry.get(key)
                    for key in (
                        "label",
                        "psnr",
                        "delta_e2000",
                        "colorfulness_ratio",
                        "hue_hit",
                        "sepia_share",
                        "neutral_chroma",
                        "vs_baseline",
                    )
                }
                for entry in data["models"]
            ],
        }
        for photo in data["per_photo"]:
            for label, scores in photo["scores"].items():
                per_label.setdefault(label, []).append(metrics.Scores.from_dict(scores))
    # Every photo of every source counted once: the figure to quote for "all sources".
    pooled = {label: metrics.mean_scores(scores) for label, scores in per_label.items()}
    summary["pooled"] = {
        "photos": sum(entry["photos"] for entry in summary["sources"].values()),
        "scores": {label: scores.as_dict() for label, scores in pooled.items()},
    }
    print(_pooled_table(summary["pooled"]))
    print("\n".join(format_hue_table(pooled)))
    print(f"summary: {write_json(out_dir / 'eval.json', summary)}")
    return exit_code


def _pooled_table(pooled: dict) -> str:
    """The pooled means, one line per label (the gray baseline first, as in each table)."""
    from edgecolor.evaluation.evaluate import BASELINE

    baseline = pooled["scores"][BASELINE]
    lines = [f"== all sources pooled: {pooled['photos']} colour photos"]
    for label, scores in pooled["scores"].items():
        gain = (
            ""
            if label == BASELINE
            else (
                f" ({scores['psnr'] - baseline['psnr']:+.2f} dB,"
                f" CIEDE2000 {scores['delta_e2000'] - baseline['delta_e2000']:+.2f})"
            )
        )
        lines.append(
            f"{label:28} PSNR {scores['psnr']:6.2f}  CIEDE2000 {scores['delta_e2000']:6.2f}  "
            f"colourful {scores['colorfulness_ratio']:.2f}{gain}"
        )
    return "\n".join(lines)


def _evaluate_source(
    candidates, data_dir: Path, photos, out_dir: Path, grid: int
) -> tuple[dict, int]:
    """Evaluate one folder of photos: print its table, write OUT/eval.json and grid.png."""
    from edgecolor.evaluation.evaluate import evaluate, format_table, report
    from edgecolor.evaluation.grid import comparison_grid
    from edgecolor.files import save_image, write_json

    evaluation = evaluate(candidates, photos, grid=grid, progress=True)
    for path, error in evaluation.failed:
        log.error("unreadable photo skipped: %s (%s)", path, error)
    if not evaluation.photos:
        raise UsageError(
            f"no colour photos found in {data_dir}: {len(evaluation.skipped_gray)} black-and-white, "
            f"{len(evaluation.failed)} unreadable"
        )

    data = report(evaluation, data_dir)
    if evaluation.grid_rows:
        labels = ["grayscale"] + [candidate.label for candidate in candidates] + ["original"]
        grid_path = save_image(out_dir / "grid.png", comparison_grid(evaluation.grid_rows, labels))
        data["grid"] = grid_path.name
    json_path = write_json(out_dir / "eval.json", data)

    print(format_table(evaluation, data_dir))
    for candidate in candidates:
        print(f"{candidate.label}: {candidate.details['backend']}, {candidate.model_file}")
    if evaluation.skipped_gray:
        print(f"skipped {len(evaluation.skipped_gray)} black-and-white photos")
    print(
        f"report: {json_path}" + (f"  grid: {out_dir / 'grid.png'}" if evaluation.grid_rows else "")
    )
    if evaluation.failed:
        print(f"{len(evaluation.failed)} unreadable photos skipped (named above)")
        return data, EXIT_PARTIAL
    return data, EXIT_OK
