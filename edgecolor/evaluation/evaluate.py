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

    def summary(self, label: str, photos: list[PhotoResult] | None = None) -> metrics.Scores:
        """Mean scores of one candidate (or ``BASELINE``) over all evaluated photos (or
        ``photos``); hue figures pooled by pixel count."""
        chosen = self.photos if photos is None else photos
        return metrics.mean_scores([photo.scores[label] for photo in chosen])

    def folders(self, data_dir: Path) -> dict[str, list[PhotoResult]]:
        """The photos grouped by their first folder under ``data_dir`` (a source each);
        photos directly in ``data_dir`` go under "."."""
        groups: dict[str, list[PhotoResult]] = {}
        root = Path(data_dir).resolve()
        for photo in self.photos:
            try:
                parts = Path(photo.path).resolve().relative_to(root).parts
            except ValueError:
                parts = ()
            groups.setdefault(parts[0] if len(parts) > 1 else ".", []).append(photo)
        return dict(sorted(groups.items()))


def spread_sample(items: list, count: int | None) -> list:
    """``count`` items evenly spaced over ``items`` (all of them when count is None or larger).

    Deterministic, and it samples every part of a sorted folder tree rather than its first
    sub-folder.
    """
    if count is None or count >= len(items):
        return list(items)
    if count <= 0:
        return []
    indices = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[index] for index in sorted(set(indices.tolist()))]


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
    folders = evaluation.folders(data_dir) if evaluation.photos else {}
    per_folder = {
        name: {
            "photos": len(photos),
            "scores": {
                label: evaluation.summary(label, photos).as_dict() for label in evaluation.labels
            },
        }
        for name, photos in folders.items()
    }
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
            "hue_hit": "per hue family of the original (CIELAB h, skimage rgb2lab) and 'all': share "
            "of pixels with original C*ab >= 15 whose output has C*ab >= 0.3 x original and hue "
            "within 30 degrees; families under 50 pixels in a photo left out; pooled by pixels",
            "hue_families": {name: list(bounds) for name, bounds in metrics.HUE_FAMILIES.items()},
            "sepia_share": "of pixels with original C*ab >= 15, share whose output hue is in "
            "[50, 100) with C*ab >= 5 while the original's hue is not",
            "neutral_chroma": "mean output C*ab over pixels whose original C*ab < 5",
        },
        "baseline": {"label": BASELINE, **(baseline.as_dict() if baseline else {})},
        "models": models,
        "skipped_gray": [relative(path) for path in evaluation.skipped_gray],
        "failed": [{"path": relative(path), "error": error} for path, error in evaluation.failed],
        "per_folder": per_folder,
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


def _share(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(evaluation: Evaluation, data_dir: Path | None = None) -> str:
    """The mean scores side by side, baseline first, as plain-text tables: PSNR, CIEDE2000
    and colourfulness; the hue figures per family; and, when the photos lie in several
    folders under ``data_dir``, one line per folder and label."""
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
        lines.append(
            f"{_short(label):28} {scores.psnr:8.2f} {psnr_gain:>8} {scores.delta_e2000:10.2f} "
            f"{delta_gain:>8} {scores.colorfulness_ratio:10.2f}"
        )
    lines.append(
        "PSNR higher is better; CIEDE2000 lower is better; colourful = output/original colourfulness."
    )
    lines += [
        "",
        *format_hue_table({label: evaluation.summary(label) for label in evaluation.labels}),
    ]
    folders = evaluation.folders(data_dir) if data_dir is not None else {}
    if len(folders) > 1:
        lines += [
            "",
            f"{'per folder':40} {'photos':>6} {'PSNR':>7} {'CIEDE':>7} {'hue':>5} "
            f"{'green':>5} {'red':>5} {'sepia':>5} {'neutral':>7}",
        ]
        for name, photos in folders.items():
            for label in evaluation.labels:
                scores = evaluation.summary(label, photos)
                hue = scores.hue.figures() if scores.hue is not None else {}
                hit = hue.get("hue_hit", {})
                neutral = hue.get("neutral_chroma")
                lines.append(
                    f"{_short(name + ' ' + label, 40):40} {len(photos):6d} {scores.psnr:7.2f} "
                    f"{scores.delta_e2000:7.2f} {_share(hit.get('all')):>5} "
                    f"{_share(hit.get('green')):>5} {_share(hit.get('red')):>5} "
                    f"{_share(hue.get('sepia_share')):>5} "
                    f"{'-' if neutral is None else f'{neutral:.1f}':>7}"
                )
    return "\n".join(lines)


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 3] + "..."


def format_hue_table(summaries: dict[str, metrics.Scores]) -> list[str]:
    """Lines of the hue table: hue hit per family and overall, sepia share, neutral chroma."""
    families = list(metrics.HUE_FAMILIES)
    names = {"orange_skin": "orange", "purple": "purple"}
    header = (
        f"{'hue hit (right hue, >=0.3 chroma)':34}"
        + "".join(f"{names.get(family, family)[:6]:>7}" for family in families)
        + f"{'all':>7}{'sepia':>7}{'neutral':>8}"
    )
    lines = [header, "-" * len(header)]
    for label, scores in summaries.items():
        if scores.hue is None:
            continue
        figures = scores.hue.figures()
        hit = figures["hue_hit"]
        neutral = figures["neutral_chroma"]
        lines.append(
            f"{_short(label):34}"
            + "".join(f"{_share(hit[family]):>7}" for family in families)
            + f"{_share(hit['all']):>7}{_share(figures['sepia_share']):>7}"
            + f"{'-' if neutral is None else f'{neutral:.1f}':>8}"
        )
    lines.append(
        "hue hit: share of clearly coloured pixels (C*ab >= 15) with the original's hue family "
        "kept; sepia: share turned orange-brown; neutral: mean chroma given to gray pixels "
        "(lower is better)."
    )
    return lines
