"""Colorization quality on photos the model never saw: int8 vs float vs the gray baseline.

    .venv/bin/python bench/bench_quality.py [--run RUN_DIR] [--model INT8.tflite]
                                            [--float-model FLOAT.tflite] [--out DIR]

Photo sets, each measured side by side in one run (``edgecolor.evaluation``, through the
device runtime at each photo's own resolution):

* ``hold-out``: the run's hold-out files (``RUN_DIR/split.json``), whole photos the
  training never saw; only with ``--run``.
* ``scikit-image``: colour photos scikit-image bundles (astronaut, chelsea, coffee, rocket,
  motorcycle): another source altogether.

Models: the int8 model (``--model``, default the bundled one) and a float model
(``--float-model``, or exported from ``--run`` with ``edgecolor export --float32`` at the
int8 model's input size). Prints one table per set (PSNR, CIEDE2000, colourfulness and the
hue figures: hue hit per family, sepia share, neutral chroma) and the targets (PSNR >= +1.0 dB
over gray, CIEDE2000 >= 1.0 below gray, colourfulness ratio >= 0.45, int8 within 0.3 dB of
float; issue 16's green hit >= 0.30, red >= 0.15, all >= 0.40, sepia <= 0.15, neutral
chroma <= 4), and writes ``OUT/quality.json`` and a grid per set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from edgecolor.evaluation.evaluate import BASELINE, evaluate, format_table, report  # noqa: E402

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")
# (metric, target, aim) from issue 5.
TARGETS = {
    "psnr_gain_db": (1.0, 1.5),
    "delta_e2000_reduction": (1.0, 2.0),
    "colorfulness_ratio": (0.45, 0.6),
}
INT8_VS_FLOAT_MAX_DB = 0.3
# Issue 16's hue targets: (figure, family or None, bound, "min" or "max").
HUE_TARGETS = (
    ("hue_hit", "green", 0.30, "min"),
    ("hue_hit", "red", 0.15, "min"),
    ("hue_hit", "all", 0.40, "min"),
    ("sepia_share", None, 0.15, "max"),
    ("neutral_chroma", None, 4.0, "max"),
)


def skimage_photos(folder: Path) -> list[Path]:
    """Write scikit-image's bundled colour photos as PNG into ``folder``; returns their paths."""
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SKIMAGE_PHOTOS:
        try:
            image = getattr(skimage.data, name)()
        except Exception as error:  # some need pooch for a download; skip, say so
            print(f"note: scikit-image photo {name!r} unavailable ({type(error).__name__})")
            continue
        image = image[0] if isinstance(image, tuple) else image  # stereo: (left, right, disparity)
        path = folder / f"{name}.png"
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def holdout_photos(run_dir: Path) -> list[Path]:
    """The run's hold-out photo files that still exist."""
    document = json.loads((run_dir / "split.json").read_text())
    paths = [Path(item) for item in document["holdout"]]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        print(f"note: {len(missing)} hold-out photos no longer exist, e.g. {missing[0]}")
    return [path for path in paths if path.is_file()]


def export_float(run_dir: Path, image_size: int, out: Path) -> Path | None:
    """Export the run's generator as float32 at ``image_size`` with the edgecolor CLI.

    Returns None (and says why) when the export fails, so the int8 figures still come out.
    """
    command = [
        sys.executable, "-m", "edgecolor.cli", "export", str(run_dir), "--float32",
        "--image-size", str(image_size), "--force", "-o", str(out),
    ]  # fmt: skip
    print("exporting the float model:", " ".join(command[2:]))
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"note: float export failed (exit {completed.returncode}): {reason}")
        return None
    return out


def check_targets(data: dict, int8_label: str, float_label: str | None) -> list[str]:
    """One line per target: the value, the target and aim, and whether it is met."""
    entry = next(model for model in data["models"] if model["label"] == int8_label)
    values = {
        "psnr_gain_db": entry["vs_baseline"]["psnr_gain_db"],
        "delta_e2000_reduction": entry["vs_baseline"]["delta_e2000_reduction"],
        "colorfulness_ratio": entry["colorfulness_ratio"],
    }
    lines = []
    for name, (target, aim) in TARGETS.items():
        verdict = "MET" if values[name] >= target else "NOT MET"
        aim_note = " (aim met)" if values[name] >= aim else ""
        lines.append(
            f"  {name:24} {values[name]:+7.2f}  target >= {target}, aim {aim}: {verdict}{aim_note}"
        )
    for figure, family, bound, kind in HUE_TARGETS:
        value = entry.get(figure)
        value = value.get(family) if family is not None and value is not None else value
        name = f"{figure} {family}" if family else figure
        if value is None:
            lines.append(f"  {name:24}     n/a  (no such pixels in this set)")
            continue
        met = value >= bound if kind == "min" else value <= bound
        sign = ">=" if kind == "min" else "<="
        lines.append(
            f"  {name:24} {value:7.2f}  target {sign} {bound}: {'MET' if met else 'NOT MET'}"
        )
    if float_label is not None:
        float_entry = next(model for model in data["models"] if model["label"] == float_label)
        gap = float_entry["psnr"] - entry["psnr"]
        verdict = "MET" if gap <= INT8_VS_FLOAT_MAX_DB else "NOT MET"
        lines.append(
            f"  {'float - int8 PSNR dB':24} {gap:+7.2f}  target <= {INT8_VS_FLOAT_MAX_DB}: {verdict}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, help="training run folder (hold-out photos, float export)"
    )
    parser.add_argument("--model", type=Path, help="int8 .tflite (default: the bundled model)")
    parser.add_argument("--float-model", type=Path, help="float .tflite to compare with")
    parser.add_argument(
        "--out", type=Path, help="folder for quality.json and grids (default: a temp folder)"
    )
    parser.add_argument("--grid", type=int, default=6, help="photos per comparison grid")
    args = parser.parse_args(argv)

    from edgecolor.device.runtime.model import load_metadata, resolve_model_path
    from edgecolor.errors import EdgecolorError
    from edgecolor.evaluation.commands import load_candidates
    from edgecolor.evaluation.grid import comparison_grid
    from edgecolor.files import save_image, write_json

    work = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    out = args.out or work / "out"
    try:
        int8_path = resolve_model_path(args.model)
    except EdgecolorError as error:
        print(f"skipped: {error}")
        return 0
    model_paths: list[Path | None] = [int8_path]
    float_path = args.float_model
    if float_path is None and args.run is not None:
        height = load_metadata(int8_path)["input"]["shape"][1]  # (1, H, W, 1)
        float_path = export_float(
            args.run, height, work / f"{args.run.resolve().name}-float32.tflite"
        )
    if float_path is not None:
        model_paths.append(float_path)
    candidates = load_candidates(model_paths, "cpu", None)
    int8_label = candidates[0].label
    float_label = candidates[1].label if len(candidates) > 1 else None
    print("models:")
    for candidate in candidates:
        print(
            f"  {candidate.label}: {candidate.details['format']}, {candidate.details['input_size']}, "
            f"{candidate.details['backend']}, {candidate.model_file}"
        )
    if float_label is None:
        print("note: no float model (pass --float-model or --run): int8 vs float not measured")

    sets: dict[str, tuple[list[Path], Path]] = {}
    if args.run is not None:
        photos = holdout_photos(args.run)
        root = Path(os.path.commonpath(photos)) if photos else args.run
        sets["hold-out"] = (photos, root)
    else:
        print("note: no --run: the hold-out set is not measured")
    sets["scikit-image"] = (skimage_photos(work / "skimage"), work / "skimage")

    results = {}
    for name, (photos, root) in sets.items():
        for candidate in candidates:
            candidate.seconds = 0.0
        evaluation = evaluate(candidates, photos, grid=args.grid, progress=False)
        if not evaluation.photos:
            print(f"\n## {name}: no colour photos")
            continue
        data = report(evaluation, root)
        results[name] = data
        print(f"\n## {name} ({len(evaluation.photos)} photos)")
        print(format_table(evaluation))
        print("targets (int8 model):")
        print("\n".join(check_targets(data, int8_label, float_label)))
        if evaluation.grid_rows:
            labels = ["grayscale"] + [candidate.label for candidate in candidates] + ["original"]
            save_image(out / f"grid-{name}.png", comparison_grid(evaluation.grid_rows, labels))
    write_json(out / "quality.json", {"sets": results, "baseline_label": BASELINE})
    print(f"\nreport: {out / 'quality.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
