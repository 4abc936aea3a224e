"""``edgecolor train --data SHARDS/``: the shards of ``prepare-data`` streamed by tf.data.

Nothing of the collection is held in memory: each input pipeline (one per worker) takes
every n-th shard file (file-level sharding across workers, what
``AutoShardPolicy.FILE`` does, done here explicitly so that each worker logs the files it
reads), shuffles its files every epoch, reads several at once (interleaved), shuffles the
encoded records in a buffer of ``train.shuffle_buffer`` photos, then decodes and augments
them in parallel (``data.augment_photo``, the same crops as a folder run), batches them at
the per-replica batch and prefetches. Memory is the buffers: ``shuffle_buffer`` JPEGs
(about 15 KB each at 160 px) plus a few batches.

A resumed run starts a new data order (seeded by the step it resumes at) instead of
replaying the first batches, so it reads nothing it does not train on.

Hold-out photos (``holdout-*`` shards, or ``--validation`` folders) are decoded into memory,
at most ``HOLDOUT_LIMIT`` of them, as are ``SAMPLE_LIMIT`` training photos spread over the
shards for the class-rebalancing histogram.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from edgecolor.config import DEFAULT_CROP_SCALE, RunConfig
from edgecolor.errors import UsageError
from edgecolor.training import catalogue
from edgecolor.training.shards import FORMAT, MANIFEST, PLAN

log = logging.getLogger(__name__)

HOLDOUT_LIMIT = 64  # what the trainer evaluates on (``Trainer._evaluation_arrays``)
SAMPLE_LIMIT = 512  # training photos for the rebalancing histogram and sample grids
# Shard files read at once by one input pipeline.
INTERLEAVE_FILES = 8


def is_shard_folder(path: str | Path) -> bool:
    """True for a folder written by ``prepare-data`` (finished or not); no TensorFlow."""
    path = Path(path)
    return (path / MANIFEST).is_file() or (path / PLAN).is_file()


def load_manifest(folder: str | Path) -> dict:
    """The manifest of a finished shard folder, with ``folder`` added.

    Raises:
        UsageError: no manifest (prepare-data unfinished), a bad one, or a missing shard.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        if (folder / PLAN).is_file():
            raise UsageError(
                f"--data {folder}: prepare-data has not finished (no {MANIFEST}); run it again, it resumes"
            )
        raise UsageError(f"--data {folder}: no {MANIFEST} (not a prepare-data folder)")
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT:
            raise KeyError("format")
        files = [
            folder / item["file"]
            for part in ("train", "holdout")
            for item in manifest["shards"][part]
        ]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UsageError(f"{path} is not a valid shard manifest: {error}") from None
    missing = [file for file in files if not file.is_file()]
    if missing:
        raise UsageError(f"shard listed in {path} is missing: {missing[0]}")
    manifest["folder"] = str(folder)
    return manifest


def shard_files(manifests: list[dict], part: str) -> list[str]:
    """Paths of the ``part`` ("train" or "holdout") shards with records, sorted per folder."""
    return [
        str(Path(manifest["folder"]) / item["file"])
        for manifest in manifests
        for item in manifest["shards"][part]
        if item["records"] > 0
    ]


def parse_record(serialized):
    """TensorFlow: a serialized record -> (jpeg string, source string, chroma float32)."""
    import tensorflow as tf

    features = tf.io.parse_single_example(
        serialized,
        {
            "jpeg": tf.io.FixedLenFeature([], tf.string),
            "source": tf.io.FixedLenFeature([], tf.string),
            "chroma": tf.io.FixedLenFeature([], tf.float32),
        },
    )
    return features["jpeg"], features["source"], features["chroma"]


def read_photos(files: list[str], limit: int, min_chroma: float) -> catalogue.DecodedImages:
    """Up to ``limit`` colour photos (chroma >= ``min_chroma``) from ``files``, decoded.

    The files are read round-robin (one record from each in turn), so a sample of a large
    collection spreads over all its shards.
    """
    import tensorflow as tf

    if not files or limit <= 0:
        return catalogue.DecodedImages.pack([], [])
    dataset = (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
        .map(parse_record)
        .filter(lambda jpeg, source, chroma: chroma >= min_chroma)
        .take(limit)
    )
    paths, images = [], []
    for jpeg, source, _ in dataset:
        paths.append(Path(source.numpy().decode()))
        images.append(tf.io.decode_jpeg(jpeg, channels=3).numpy())
    return catalogue.DecodedImages.pack(paths, images)


@dataclass
class ShardedData:
    """A shard run's data: the training shard files, and photos decoded for evaluation.

    ``train`` is a sample of the training photos (rebalancing weights, sample grids when
    there is no hold-out), ``holdout`` the photos evaluated on; both ``DecodedImages``.
    """

    train_files: list[str]
    train: catalogue.DecodedImages
    holdout: catalogue.DecodedImages
    short_side: int


def prepare_sharded(config: RunConfig, run_dir: str | Path | None = None) -> ShardedData:
    """The shard folders of ``config.train.data`` checked, their samples decoded.

    With ``run_dir``: ``split.json`` is written there with the hold-out photos and the
    sampled training photos (what ``edgecolor export`` calibrates on).
    """
    train = config.train
    manifests = [load_manifest(folder) for folder in train.data]
    train_files = shard_files(manifests, "train")
    if not train_files:
        raise UsageError(f"no training photos in the shards of {', '.join(train.data)}")
    short_side = min(manifest["short_side"] for manifest in manifests)
    if short_side < train.image_size:
        log.warning(
            "shards have a %d px short side, smaller than the %d px training crops: "
            "crops are enlarged (prepare-data --short-side %d)",
            short_side,
            train.image_size,
            round(catalogue.CACHE_SCALE * train.image_size),
        )
    if train.validation:
        holdout = validation_photos(train.validation, train.image_size, train.min_chroma)
    else:
        holdout = read_photos(shard_files(manifests, "holdout"), HOLDOUT_LIMIT, train.min_chroma)
    sample = read_photos(train_files, SAMPLE_LIMIT, train.min_chroma)
    if not len(sample):
        raise UsageError(f"no colour photos in the shards of {', '.join(train.data)}")
    log.info(
        "data: %d training shard files (%d records), %d hold-out photos",
        len(train_files),
        sum(manifest["counts"]["train_records"] for manifest in manifests),
        len(holdout),
    )
    if run_dir is not None:
        split = {
            "train": sorted(str(path) for path in sample.paths),
            "holdout": sorted(str(path) for path in holdout.paths),
        }
        catalogue.write_split(run_dir, split, train.seed, 0.0)
    return ShardedData(train_files, sample, holdout, short_side)


def validation_photos(folders: list[str], image_size: int, min_chroma: float):
    """A ``--validation`` source: shard folders (all their records) or photo folders."""
    if all(is_shard_folder(folder) for folder in folders):
        manifests = [load_manifest(folder) for folder in folders]
        files = shard_files(manifests, "holdout") + shard_files(manifests, "train")
        return read_photos(files, HOLDOUT_LIMIT, min_chroma)
    from edgecolor.photos import collect_photos

    paths = collect_photos(folders)[:HOLDOUT_LIMIT]
    short_side = round(catalogue.CACHE_SCALE * image_size)
    images, report = catalogue.decode_images(paths, short_side, min_chroma)
    catalogue.log_decode_report(report)
    return images


def load_data(config: RunConfig, run_dir: str | Path | None = None):
    """A run's data: ``ShardedData`` for shard folders, ``catalogue.PreparedData`` for photo
    folders (decoded into memory). Mixing the two raises UsageError."""
    shards = [is_shard_folder(folder) for folder in config.train.data]
    if any(shards) and not all(shards):
        raise UsageError("--data mixes shard folders and photo folders: prepare-data all of them")
    if all(shards) and shards:
        return prepare_sharded(config, run_dir)
    return catalogue.prepare_data(config, run_dir)


def dataset_function(
    files: list[str],
    image_size: int,
    global_batch: int,
    seed: int,
    min_chroma: float,
    shuffle_buffer: int,
    vertical_flip: float = 0.0,
    crop_scale=DEFAULT_CROP_SCALE,
):
    """The ``dataset_fn`` for ``strategy.distribute_datasets_from_function``.

    It gets a ``tf.distribute.InputContext`` and returns the endless dataset of input
    pipeline ``input_pipeline_id``: (L_scaled float32 (b, S, S, 1) in [-1, 1], ab_scaled
    float32 (b, S, S, 2) in about [-1, 1]), b the per-replica batch, S ``image_size``.
    """
    from edgecolor.training.data import augment_photo

    def make(context):
        import tensorflow as tf

        workers, index = context.num_input_pipelines, context.input_pipeline_id
        mine = files[index::workers]
        if not mine:
            raise UsageError(
                f"{len(files)} training shard files cannot feed {workers} workers: "
                "prepare-data with a smaller --photos-per-shard"
            )
        log.info(
            "input pipeline %d of %d reads %d shard files: %s",
            index,
            workers,
            len(mine),
            " ".join(Path(file).name for file in mine),
        )
        batch = context.get_per_replica_batch_size(global_batch)
        dataset = (
            tf.data.Dataset.from_tensor_slices(mine)
            .shuffle(len(mine), seed=seed, reshuffle_each_iteration=True)
            .repeat()
            .interleave(
                lambda file: tf.data.TFRecordDataset(file, buffer_size=1 << 20),
                cycle_length=min(len(mine), INTERLEAVE_FILES),
                block_length=1,
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
            .map(parse_record, num_parallel_calls=tf.data.AUTOTUNE)
            .filter(lambda jpeg, source, chroma: chroma >= min_chroma)
            .map(lambda jpeg, source, chroma: jpeg)
            .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        )
        element_seeds = tf.data.Dataset.random(seed=seed * 1009 + index)

        def decode_and_augment(jpeg, element_seed):
            rgb = tf.io.decode_jpeg(jpeg, channels=3)
            pair = tf.stack([element_seed, tf.constant(index, tf.int64)])
            seeds = tf.random.experimental.stateless_split(pair, 4)
            return augment_photo(rgb, seeds, image_size, vertical_flip, crop_scale)

        dataset = tf.data.Dataset.zip((dataset, element_seeds)).map(
            decode_and_augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        dataset = dataset.batch(batch, drop_remainder=True)
        options = tf.data.Options()
        # Sharded above, by file; the strategy must not shard it again.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)

    return make


def distributed_batches(strategy, data: ShardedData, train, start: int):
    """An endless iterator of distributed training batches from the shards."""
    make = dataset_function(
        data.train_files,
        train.image_size,
        train.batch_size,
        train.seed + start,
        train.min_chroma,
        train.shuffle_buffer,
        train.vertical_flip,
        train.crop_scale,
    )
    return iter(strategy.distribute_datasets_from_function(make))
