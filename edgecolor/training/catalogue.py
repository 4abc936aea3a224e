"""A run's photo catalogue: which photos it trains and evaluates on, decoded once.

``prepare_data`` is the whole story:

1. ``collect_photos`` (``edgecolor.photos``): every JPEG/PNG/WebP/TIFF/BMP under the data
   folders, recursively (hidden files and folders left out).
2. ``decode_images``: each file decoded once by ``edgecolor.photos.read_rgb`` (EXIF
   orientation applied, RGB), shrunk so its short side is ``CACHE_SCALE * image_size``
   (aspect kept); unreadable files and grayscale or near-achromatic photos (mean Lab chroma
   below ``train.min_chroma``) are skipped, counted and listed in the log, never a crash.
3. ``split_files``: a seeded hold-out split by file, written to ``RUN_DIR/split.json`` and
   reused when a run resumes (``load_split``; export reads it too).

The decoded photos feed ``edgecolor.training.data`` (the tf.data pipeline). No TensorFlow
here: numpy and Pillow only.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor import color
from edgecolor.config import RunConfig
from edgecolor.errors import UsageError
from edgecolor.files import atomic_write_text
from edgecolor.photos import ImageReadError, collect_photos, read_rgb

log = logging.getLogger(__name__)

# Decoded photos are cached with their short side this many times the training size, so
# random crops with scale jitter still have room to move and are resized down, not up.
CACHE_SCALE = 1.25
SPLIT_FILE = "split.json"
# Side of the thumbnail the chroma test runs on: enough to judge colour, cheap to convert.
_CHROMA_THUMBNAIL = 64


# --------------------------------------------------------------------------- decoding


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean Lab chroma sqrt(a^2 + b^2) of an image: 0 for gray, ~10+ for ordinary photos.

    Args:
        rgb: uint8 (H, W, 3) sRGB.
    """
    from PIL import Image

    thumbnail = Image.fromarray(rgb)
    thumbnail.thumbnail((_CHROMA_THUMBNAIL, _CHROMA_THUMBNAIL))
    lab = color.rgb_to_lab(np.asarray(thumbnail, dtype=np.float32) / 255.0)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


@dataclass
class DecodedImages:
    """Photos decoded once, packed into one flat buffer for ``tf.data``.

    ``pixels`` is uint8 (total,), the concatenation of every image's uint8 (H, W, 3) bytes;
    image i is ``pixels[offsets[i]: offsets[i] + prod(shapes[i])].reshape(shapes[i])``.
    """

    paths: list[Path]
    pixels: np.ndarray
    offsets: np.ndarray  # int64 (N,)
    shapes: np.ndarray  # int64 (N, 3)

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """uint8 (H, W, 3) sRGB of image ``index``."""
        shape = tuple(int(side) for side in self.shapes[index])
        start = int(self.offsets[index])
        return self.pixels[start : start + int(np.prod(shape))].reshape(shape)

    @classmethod
    def pack(cls, paths: Sequence[Path], images: Sequence[np.ndarray]) -> DecodedImages:
        shapes = np.array([image.shape for image in images], dtype=np.int64).reshape(-1, 3)
        sizes = shapes.prod(axis=1)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        pixels = (
            np.concatenate([image.reshape(-1) for image in images])
            if images
            else np.zeros((0,), np.uint8)
        )
        return cls(list(paths), pixels, offsets, shapes)


@dataclass
class DecodeReport:
    """What ``decode_images`` kept and skipped (and why)."""

    kept: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    gray: list[tuple[Path, float]] = field(default_factory=list)


def decode_images(
    paths: Sequence[Path], short_side: int, min_chroma: float, workers: int | None = None
) -> tuple[DecodedImages, DecodeReport]:
    """Decode ``paths`` in parallel, skipping unreadable and gray photos.

    Args:
        paths: image files.
        short_side: cached short side in pixels (see ``CACHE_SCALE``).
        min_chroma: photos whose mean Lab chroma is below this are skipped as gray.
        workers: decoding threads (Pillow releases the GIL while decoding).
    Returns:
        The kept photos and a report listing every skipped file with its reason.
    """

    def decode(path: Path):
        try:
            rgb = read_rgb(path, short_side)
        except ImageReadError as error:
            return path, None, str(error)
        return path, rgb, mean_chroma(rgb)

    workers = workers or min(8, (os.cpu_count() or 1) + 1)
    report = DecodeReport()
    kept_images = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, rgb, detail in pool.map(decode, paths):
            if rgb is None:
                report.unreadable.append((path, detail))
            elif detail < min_chroma:
                report.gray.append((path, detail))
            else:
                report.kept.append(path)
                kept_images.append(rgb)
    return DecodedImages.pack(report.kept, kept_images), report


def log_decode_report(report: DecodeReport) -> None:
    """Log the counts, and each skipped file with its reason."""
    log.info(
        "data: %d colour photos, %d unreadable skipped, %d gray skipped",
        len(report.kept),
        len(report.unreadable),
        len(report.gray),
    )
    for path, reason in report.unreadable:
        log.warning("skipped unreadable image %s (%s)", path, reason)
    for path, chroma in report.gray:
        log.info("skipped gray image %s (mean chroma %.1f)", path, chroma)


# --------------------------------------------------------------------------- split


def split_files(paths: Sequence[Path], holdout_fraction: float, seed: int) -> dict[str, list[str]]:
    """Deterministic seeded hold-out split by file.

    The same files, fraction and seed always give the same split (the files are sorted
    first, so the order they were found in does not matter). At least one photo stays in
    training; at least one is held out when there are two or more and the fraction > 0.

    Returns:
        {"train": [path, ...], "holdout": [path, ...]}, paths as strings, each list sorted.
    """
    ordered = sorted(str(path) for path in paths)
    count = len(ordered)
    holdout_count = int(round(holdout_fraction * count))
    if holdout_fraction > 0 and count >= 2:
        holdout_count = max(1, holdout_count)
    holdout_count = min(holdout_count, max(0, count - 1))
    permutation = np.random.default_rng(seed).permutation(count)
    holdout = sorted(ordered[index] for index in permutation[:holdout_count])
    train = sorted(ordered[index] for index in permutation[holdout_count:])
    return {"train": train, "holdout": holdout}


def write_split(
    run_dir: str | Path, split: dict[str, list[str]], seed: int, fraction: float
) -> Path:
    """Write ``RUN_DIR/split.json`` atomically."""
    path = Path(run_dir) / SPLIT_FILE
    document = {"seed": seed, "holdout_fraction": fraction, **split}
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    return path


def load_split(run_dir: str | Path) -> dict[str, list[Path]]:
    """Read ``RUN_DIR/split.json``: {"train": [Path, ...], "holdout": [Path, ...]}.

    Raises:
        UsageError: the file is missing or malformed.
    """
    path = Path(run_dir) / SPLIT_FILE
    try:
        document = json.loads(path.read_text())
        return {part: [Path(item) for item in document[part]] for part in ("train", "holdout")}
    except FileNotFoundError:
        raise UsageError(f"no hold-out split in the run folder: {path} not found") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UsageError(f"{path} is not a valid split file: {error}") from None


# --------------------------------------------------------------------------- prepared data


@dataclass
class PreparedData:
    """Decoded training and hold-out photos of a run."""

    train: DecodedImages
    holdout: DecodedImages
    report: DecodeReport


def prepare_data(
    config: RunConfig, run_dir: str | Path | None = None, holdout: bool = True
) -> PreparedData:
    """Find, decode, filter and split the photos of ``config.train.data``.

    With ``run_dir``: an existing ``split.json`` there is reused (a resumed run keeps its
    hold-out set; files that have disappeared since are dropped with a warning), otherwise
    the new split is written there. ``holdout=False`` with an existing split decodes only
    its training photos (QAT needs no hold-out; ``PreparedData.holdout`` is then empty).

    Raises:
        UsageError: missing or empty data folder, or no colour photos at all.
    """
    train_config = config.train
    short_side = int(round(CACHE_SCALE * train_config.image_size))
    split_path = Path(run_dir) / SPLIT_FILE if run_dir is not None else None
    if split_path is not None and split_path.exists():
        split = load_split(run_dir)
        listed = split["train"] + (split["holdout"] if holdout else [])
        missing = [path for path in listed if not path.is_file()]
        for path in missing:
            log.warning("photo listed in %s no longer exists: %s", split_path, path)
        paths = [path for path in listed if path.is_file()]
        if not paths:
            raise UsageError(f"no photos of {split_path} exist any more")
        decoded, report = decode_images(paths, short_side, train_config.min_chroma)
        log.info("data: reusing the split in %s", split_path)
    elif train_config.validation:
        # A separate validation source: train on every photo of ``data``, hold out those.
        train_paths = collect_photos(train_config.data)
        validation_paths = collect_photos(train_config.validation)
        overlap = set(train_paths) & set(validation_paths)
        if overlap:
            raise UsageError(f"validation photo is also in the training data: {sorted(overlap)[0]}")
        decoded, report = decode_images(
            train_paths + validation_paths, short_side, train_config.min_chroma
        )
        validation_set = {str(path) for path in validation_paths}
        split_strings = {
            "train": sorted(str(path) for path in decoded.paths if str(path) not in validation_set),
            "holdout": sorted(str(path) for path in decoded.paths if str(path) in validation_set),
        }
        if split_path is not None:
            write_split(run_dir, split_strings, train_config.seed, 0.0)
        split = {part: [Path(item) for item in items] for part, items in split_strings.items()}
    else:
        paths = collect_photos(train_config.data)
        decoded, report = decode_images(paths, short_side, train_config.min_chroma)
        split = None
    log_decode_report(report)
    if not len(decoded):
        folders = ", ".join(str(directory) for directory in train_config.data) or str(split_path)
        raise UsageError(f"no colour photos found in {folders} (all gray or unreadable)")
    if split is None:
        split_strings = split_files(decoded.paths, train_config.holdout_fraction, train_config.seed)
        if split_path is not None:
            write_split(run_dir, split_strings, train_config.seed, train_config.holdout_fraction)
        split = {part: [Path(item) for item in items] for part, items in split_strings.items()}
    index_of = {path: index for index, path in enumerate(decoded.paths)}
    parts = {}
    for part in ("train", "holdout"):
        indices = [index_of[path] for path in split[part] if path in index_of]
        parts[part] = DecodedImages.pack(
            [decoded.paths[index] for index in indices], [decoded.image(index) for index in indices]
        )
    if not len(parts["train"]):
        raise UsageError(f"no colour photos left for training in {split_path}")
    log.info(
        "data: %d training photos, %d hold-out photos", len(parts["train"]), len(parts["holdout"])
    )
    return PreparedData(train=parts["train"], holdout=parts["holdout"], report=report)
