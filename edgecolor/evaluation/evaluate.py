"""Evaluate colorization models on a folder of colour photos, against the gray baseline.

For each colour photo: original -> 8-bit grayscale (:func:`metrics.to_grayscale`) ->
colorized by each model through the device runtime's ``Colorizer`` at the photo's own
resolution -> PSNR, CIEDE2000 and colourfulness ratio against the original. The grayscale
input itself is scored the same way as the "gray baseline". No TensorFlow here.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecolor.color import colorfulness
from edgecolor.evaluation import metrics
from edgecolor.evaluation.grid import CELL_HEIGHT, CELL_WIDTH, thumbnail
from edgecolor.photos import ImageReadError, read_rgb

log = logging.getLogger(__name__)

BASELINE = "gray baseline"


class ColorizerLike(Protocol):
    """What evaluation needs from ``edgecolor.device.Colorizer`` (a fake works in tests)."""

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W) gray -> uint8 (H, W, 3) RGB of the same size and luminance."""
        ...


@dataclass
class Candidate:
    """One model under evaluation."""

    label: str
    colorizer: ColorizerLike
    model_file: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # format, backend, training step...
    seconds: float = 0.0  # total time spent in colorize(), for a rough per-photo figure


@dataclass
class PhotoResult:
    """Scores of every candidate (and the baseline, under ``BASELINE``) on one photo."""

    path: Path
    height: int
    width: int
    original_colorfulness: float
    scores: dict[str, metrics.Scores]


@dataclass
class Evaluation:
    """Everything one evaluation run produced."""

    candidates: list[Candidate]
    photos: list[PhotoResult] = field(default_factory=list)
    skipped_gray: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    # One row per grid photo: [grayscale, colorized by each candidate..., original], each
    # image shrunk to at most the grid's cell size.
    grid_rows: list[list[np.ndarray]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [BASELINE] + [candidate.label for candidate in self.candidates]

    def summary(self, label: str) -> metrics.Scores:
        """Mean scores of one candidate (or ``BASELINE``) over all evaluated photos."""
        return metrics.mean_scores([photo.scores[label] for photo in self.photos])


def unique_labels(paths: Sequence[Path]) -> list[str]:
    """Short, distinct column names for model files: the file stem, or parent/stem on clashes."""
    stems = [Path(path).stem for path in paths]
    labels = []
    for index, path in enumerate(paths):
        label = stems[index]
        if stems.count(label) > 1:
            label = f"{Path(path).parent.name}/{label}"
        if label in labels or label == BASELINE:
            label = f"{label} #{index + 1}"
        labels.append(label)
    return labels


def _grid_slots(count: int, grid: int) -> set[int]:
    """Indices (into the photo list) whose photos go into the grid: evenly spaced."""
    if grid <= 0 or count == 0:
        return set()
    return set(np.linspace(0, count - 1, min(grid, count)).round().astype(int).tolist())


def evaluate(
    candidates: list[Candidate],
    photo_paths: Sequence[Path],
    grid: int = 6,
    progress: bool = True,
) -> Evaluation:
    """Score every candidate and the gray baseline on every colour photo.

    Gray photos are skipped (listed in ``skipped_gray``); unreadable ones are skipped and
    named in ``failed``. Errors inside a colorizer are not caught: they are a broken model,
    not a broken photo.

    Args:
        candidates: the models, each with a ready colorizer.
        photo_paths: the photos, in order.
        grid: how many photos to keep for the comparison grid (evenly spaced over the list;
            when a chosen photo is gray or unreadable the next colour photo takes its place,
            or, at the end of the list, the latest one not in the grid yet).
        progress: show a tqdm bar on stderr.
    """
    from tqdm import tqdm

    result = Evaluation(candidates=candidates)
    slots = _grid_slots(len(photo_paths), grid)
    grid_owed = 0  # chosen grid photos still to fill (a chosen photo may have been skipped)
    chosen: list[tuple[int, list[np.ndarray]]] = []  # (photo index, row) in the grid
    spares: deque[tuple[int, list[np.ndarray]]] = deque(maxlen=max(grid, 1))  # latest others
    for index, path in enumerate(
        tqdm(photo_paths, desc="eval", unit="photo", disable=not progress)
    ):
        if index in slots:
            grid_owed += 1
        try:
            original = read_rgb(path)  # uint8 (H, W, 3)
        except ImageReadError as error:
            log.warning("skipping unreadable photo %s: %s", path, error)
            result.failed.append((Path(path), str(error)))
            continue
        original_colorfulness = colorfulness(original)
        if original_colorfulness < metrics.MIN_COLORFULNESS:
            log.debug("skipping black-and-white photo %s", path)
            result.skipped_gray.append(Path(path))
            continue
        gray = metrics.to_grayscale(original)  # uint8 (H, W)
        outputs = {BASELINE: metrics.gray_to_rgb(gray)}
        for candidate in candidates:
            start = time.perf_counter()
            colorized = candidate.colorizer.colorize(gray)
            candidate.seconds += time.perf_counter() - start
            if colorized.shape != original.shape or colorized.dtype != np.uint8:
                raise RuntimeError(
                    f"{candidate.label}: colorize returned {colorized.dtype} {colorized.shape} "
                    f"for a {gray.shape} gray image, expected uint8 {original.shape}"
                )
            outputs[candidate.label] = colorized
        result.photos.append(
            PhotoResult(
                path=Path(path),
                height=original.shape[0],
                width=original.shape[1],
                original_colorfulness=original_colorfulness,
                scores={
                    label: metrics.compare(original, image) for label, image in outputs.items()
                },
            )
        )
        if grid > 0:
            row = [gray] + [outputs[candidate.label] for candidate in candidates] + [original]
            row = [thumbnail(image, CELL_WIDTH, CELL_HEIGHT) for image in row]
            if grid_owed and len(chosen) < grid:
                grid_owed -= 1
                chosen.append((index, row))
            else:
                spares.append((index, row))
    # Chosen photos near the end that were skipped: fill in with the latest other photos.
    while len(chosen) < min(grid, len(result.photos)) and spares:
        chosen.append(spares.pop())
    result.grid_rows = [row for _, row in sorted(chosen, key=lambda item: item[0])]
    return result


def report(evaluation: Evaluation, data_dir: Path) -> dict:
    """The evaluation as a JSON-able dict (schema ``edgecolor.eval/1``)."""
    from edgecolor import __version__

    baseline = evaluation.summary(BASELINE) if evaluation.photos else None
    photo_count = len(evaluation.photos)

    def relative(path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(Path(data_dir).resolve()))
        except ValueError:
            return str(path)

    models = []
    for candidate in evaluation.candidates:
        entry: dict[str, Any] = {"label": candidate.label, "model_file": candidate.model_file}
        entry.update(candidate.details)
        if baseline is not None:
            scores = evaluation.summary(candidate.label)
            entry.update(scores.as_dict())
            entry["vs_baseline"] = {
                "psnr_gain_db": scores.psnr - baseline.psnr,
                "delta_e2000_reduction": baseline.delta_e2000 - scores.delta_e2000,
            }
            entry["ms_per_photo"] = 1000.0 * candidate.seconds / max(photo_count, 1)
        models.append(entry)
    return {
        "schema": "edgecolor.eval/1",
        "edgecolor_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": str(data_dir),
        "photos": photo_count,
        "grayscale_conversion": "neutral gray of the original's CIE L* (edgecolor.evaluation.metrics.to_grayscale)",
        "metrics": {
            "psnr": "dB over 8-bit RGB, skimage.metrics.peak_signal_noise_ratio, mean over photos",
            "delta_e2000": "skimage.color.deltaE_ciede2000 on rgb2lab, mean over pixels then photos",
            "colorfulness_ratio": "Hasler-Suesstrunk colourfulness output / original, mean over photos",
        },
        "baseline": {"label": BASELINE, **(baseline.as_dict() if baseline else {})},
        "models": models,
        "skipped_gray": [relative(path) for path in evaluation.skipped_gray],
        "failed": [{"path": relative(path), "error": error} for path, error in evaluation.failed],
        "per_photo": [
            {
                "path": relative(photo.path),
                "size": [photo.height, photo.width],
                "original_colorfulness": photo.original_colorfulness,
                "scores": {label: scores.as_dict() for label, scores in photo.scores.items()},
            }
            for photo in evaluation.photos
        ],
    }


def format_table(evaluation: Evaluation) -> str:
    """The mean scores side by side, baseline first, as a plain-text table."""
    baseline = evaluation.summary(BASELINE)
    header = (
        f"{'':28} {'PSNR dB':>8} {'vs gray':>8} {'CIEDE2000':>10} {'vs gray':>8} {'colourful':>10}"
    )
    lines = [f"{len(evaluation.photos)} colour photos", header, "-" * len(header)]
    for label in evaluation.labels:
        scores = evaluation.summary(label)
        if label == BASELINE:
            psnr_gain = delta_gain = "-"
        else:
            psnr_gain = f"{scores.psnr - baseline.psnr:+.2f}"
            delta_gain = f"{scores.delta_e2000 - baseline.delta_e2000:+.2f}"
        name = label if len(label) <= 28 else label[:25] + "..."
        lines.append(
            f"{name:28} {scores.psnr:8.2f} {psnr_gain:>8} {scores.delta_e2000:10.2f} "
            f"{delta_gain:>8} {scores.colorfulness_ratio:10.2f}"
        )
    lines.append(
        "PSNR higher is better; CIEDE2000 lower is better; colourful = output/original colourfulness."
    )
    return "\n".join(lines)
