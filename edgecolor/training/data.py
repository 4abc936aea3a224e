"""Training data: find photos, decode them once, split by file, and feed ``tf.data``.

The flow (``prepare_data`` then ``training_dataset``):

1. ``find_images``: every JPEG/PNG/WebP/TIFF/BMP under the data folders, recursively.
2. ``decode_images``: Pillow decodes each file once (EXIF orientation applied, RGB),
   shrunk so its short side is ``CACHE_SCALE * image_size`` (aspect kept); unreadable
   files and grayscale or near-achromatic photos (mean Lab chroma below
   ``train.min_chroma``) are skipped, counted and listed in the log, never a crash.
3. ``split_files``: a seeded hold-out split by file, written to ``RUN_DIR/split.json`` and
   reused when a run resumes.
4. ``training_dataset``: the decoded pixels live in one in-memory buffer; ``tf.data`` crops
   a random square (scale jitter), resizes it to ``image_size``, flips it, converts it to
   Lab and scales it, batches and prefetches. Everything after decoding runs in the
   TensorFlow graph, in parallel, so it keeps a GPU fed (``bench/bench_training.py``).

The hold-out photos are evaluated on fixed centre crops (``holdout_arrays``).
TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor import color
from edgecolor.config import RunConfig
from edgecolor.errors import UsageError
from edgecolor.files import IMAGE_SUFFIXES, atomic_write_text

log = logging.getLogger(__name__)

# Decoded photos are cached with their short side this many times the training size, so
# random crops with scale jitter still have room to move and are resized down, not up.
CACHE_SCALE = 1.25
# Random crops cover this fraction range of the cached short side (scale jitter).
CROP_SCALE_RANGE = (0.6, 1.0)
SPLIT_FILE = "split.json"
# Side of the thumbnail the chroma test runs on: enough to judge colour, cheap to convert.
_CHROMA_THUMBNAIL = 64


# --------------------------------------------------------------------------- finding files


def find_images(dirs: Iterable[str | Path]) -> list[Path]:
    """All image files under ``dirs`` (recursively), sorted, without duplicates.

    Recognised suffixes (any case): jpg, jpeg, png, webp, tif, tiff, bmp.

    Raises:
        UsageError: a folder is missing, is not a folder, or holds no image files;
            or no folder was given.
    """
    dirs = list(dirs)
    if not dirs:
        raise UsageError("no data folder given: pass --data DIR")
    found: set[Path] = set()
    for directory in dirs:
        directory = Path(directory).expanduser()
        if not directory.exists():
            raise UsageError(f"data folder not found: {directory}")
        if not directory.is_dir():
            raise UsageError(f"data path is not a folder: {directory}")
        images = [
            path.resolve()
            for path in directory.rglob("*")
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
        ]
        if not images:
            raise UsageError(
                f"data folder {directory} has no images "
                f"({', '.join(sorted(suffix[1:] for suffix in IMAGE_SUFFIXES))})"
            )
        found.update(images)
    return sorted(found)


# --------------------------------------------------------------------------- decoding


class UnreadableImageError(Exception):
    """A file that Pillow cannot decode (truncated, not an image, unsupported)."""


def load_rgb(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Decode one photo with Pillow: EXIF orientation applied, converted to RGB.

    Args:
        path: the image file.
        short_side: when given, shrink (never enlarge) so the short side is this many
            pixels, keeping the aspect ratio.
    Returns:
        uint8 (H, W, 3), sRGB.
    Raises:
        UnreadableImageError: the file cannot be decoded.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            if short_side is not None:
                # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much faster for big photos.
                image.draft("RGB", (short_side, short_side))
            image = ImageOps.exif_transpose(image)
            image = image.convert("RGB")
            if short_side is not None and min(image.size) > short_side:
                width, height = image.size
                factor = short_side / min(width, height)
                size = (
                    max(short_side, round(width * factor)),
                    max(short_side, round(height * factor)),
                )
                image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            pixels = np.asarray(image, dtype=np.uint8)
    except Exception as error:  # Pillow raises many types for bad files; all mean "unreadable"
        raise UnreadableImageError(f"{type(error).__name__}: {error}") from error
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
        raise UnreadableImageError(f"unexpected decoded shape {pixels.shape}")
    return pixels


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
            rgb = load_rgb(path, short_side)
        except UnreadableImageError as error:
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


def prepare_data(config: RunConfig, run_dir: str | Path | None = None) -> PreparedData:
    """Find, decode, filter and split the photos of ``config.train.data``.

    With ``run_dir``: an existing ``split.json`` there is reused (a resumed run keeps its
    hold-out set; files that have disappeared since are dropped with a warning), otherwise
    the new split is written there.

    Raises:
        UsageError: missing or empty data folder, or no colour photos at all.
    """
    train_config = config.train
    short_side = int(round(CACHE_SCALE * train_config.image_size))
    split_path = Path(run_dir) / SPLIT_FILE if run_dir is not None else None
    if split_path is not None and split_path.exists():
        split = load_split(run_dir)
        listed = split["train"] + split["holdout"]
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
        train_paths = find_images(train_config.data)
        validation_paths = find_images(train_config.validation)
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
        paths = find_images(train_config.data)
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


# --------------------------------------------------------------------------- tf.data


def rgb_to_model_arrays(rgb):
    """TensorFlow: sRGB float32 (..., 3) in [0, 1] -> (L_scaled (..., 1), ab_scaled (..., 2)).

    L_scaled = L / 50 - 1 in [-1, 1]; ab_scaled = ab / 110 in about [-1, 1].
    """
    import tensorflow as tf

    lab = color.tf_rgb_to_lab(rgb)
    L_scaled = lab[..., :1] / color.L_SCALE - color.L_OFFSET
    ab_scaled = lab[..., 1:] / color.AB_SCALE
    return tf.cast(L_scaled, tf.float32), tf.cast(ab_scaled, tf.float32)


def training_dataset(images: DecodedImages, image_size: int, batch_size: int, seed: int = 0):
    """An endless, shuffled ``tf.data.Dataset`` of augmented training batches.

    Each element is (L_scaled float32 (batch, S, S, 1) in [-1, 1],
    ab_scaled float32 (batch, S, S, 2) in about [-1, 1]) with S = ``image_size``.
    Augmentation: a random square crop covering ``CROP_SCALE_RANGE`` of the short side
    (scale jitter) at a random position, resized to S, and a random horizontal flip.
    Deterministic for a given ``seed`` (stateless random ops seeded per element).
    """
    import tensorflow as tf

    if not len(images):
        raise UsageError("no training photos")
    pixels = tf.constant(images.pixels)
    offsets = tf.constant(images.offsets)
    shapes = tf.constant(images.shapes)
    low, high = CROP_SCALE_RANGE

    def augment(index, element_seed):
        shape = shapes[index]
        height, width = shape[0], shape[1]
        rgb = tf.reshape(pixels[offsets[index] : offsets[index] + tf.reduce_prod(shape)], shape)
        seeds = tf.random.experimental.stateless_split(tf.stack([element_seed, index]), 4)
        short = tf.minimum(height, width)
        scale = tf.random.stateless_uniform([], seeds[0], low, high)
        crop = tf.maximum(
            tf.constant(1, tf.int64),
            tf.cast(tf.round(scale * tf.cast(short, tf.float32)), tf.int64),
        )
        top = tf.random.stateless_uniform([], seeds[1], 0, height - crop + 1, dtype=tf.int64)
        left = tf.random.stateless_uniform([], seeds[2], 0, width - crop + 1, dtype=tf.int64)
        patch = rgb[top : top + crop, left : left + crop]
        patch = tf.image.resize(
            tf.cast(patch, tf.float32) / 255.0,
            (image_size, image_size),
            method="bilinear",
            antialias=True,
        )
        patch = tf.image.stateless_random_flip_left_right(patch, seeds[3])
        patch = tf.clip_by_value(patch, 0.0, 1.0)
        patch = tf.ensure_shape(patch, (image_size, image_size, 3))
        return rgb_to_model_arrays(patch)

    count = len(images)
    indices = (
        tf.data.Dataset.range(count)
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .repeat()
    )
    element_seeds = tf.data.Dataset.random(seed=seed)
    dataset = tf.data.Dataset.zip((indices, element_seeds))
    dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    options = tf.data.Options()
    # The photos are in memory, not in files: shard batches by data across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def make_training_dataset(config: RunConfig, run_dir: str | Path | None = None):
    """The training batches of a run config: ``prepare_data`` then ``training_dataset``.

    Used by QAT fine-tuning. Elements: (L_scaled float32 (B, S, S, 1), ab_scaled float32
    (B, S, S, 2)), B = ``config.train.batch_size``, S = ``config.train.image_size``.
    """
    prepared = prepare_data(config, run_dir)
    return training_dataset(
        prepared.train, config.train.image_size, config.train.batch_size, config.train.seed
    )


def centre_crop(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """The central square of a photo resized to ``image_size``.

    Args:
        rgb: uint8 (H, W, 3).
    Returns:
        float32 (S, S, 3) sRGB in [0, 1].
    """
    from PIL import Image

    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(rgb[top : top + side, left : left + side])
    square = square.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.float32) / 255.0


def holdout_arrays(images: DecodedImages, image_size: int, limit: int | None = None):
    """Fixed centre crops of hold-out photos, for evaluation and sample grids.

    Returns:
        (rgb float32 (N, S, S, 3) in [0, 1], L_scaled float32 (N, S, S, 1),
        ab_scaled float32 (N, S, S, 2)); N = min(len(images), limit).
    """
    count = len(images) if limit is None else min(limit, len(images))
    if count == 0:
        empty = np.zeros((0, image_size, image_size, 1), np.float32)
        return (
            np.zeros((0, image_size, image_size, 3), np.float32),
            empty,
            np.zeros((0, image_size, image_size, 2), np.float32),
        )
    rgb = np.stack([centre_crop(images.image(index), image_size) for index in range(count)])
    lab = color.rgb_to_lab(rgb)
    L_scaled = color.scale_L(lab[..., :1])
    ab_scaled = color.scale_ab(lab[..., 1:])
    return rgb, L_scaled, ab_scaled
