"""The training data pipeline: a run's decoded photos -> augmented ``tf.data`` batches.

Which photos, their decoding and the hold-out split are ``edgecolor.training.catalogue``.
Here the decoded pixels live in one in-memory buffer; ``tf.data`` crops a random square
(scale jitter), resizes it to ``image_size``, flips it, converts it to Lab and scales it,
batches and prefetches. Everything after decoding runs in the TensorFlow graph, in
parallel, so it keeps a GPU fed (``bench/bench_training.py``).

The hold-out photos are evaluated on fixed centre crops (``holdout_arrays``).
TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import numpy as np

from edgecolor import color
from edgecolor.config import DEFAULT_CROP_SCALE
from edgecolor.errors import UsageError
from edgecolor.training.catalogue import DecodedImages

# --------------------------------------------------------------------------- tf.data


def rgb_to_model_arrays(rgb):
    """TensorFlow: sRGB float32 (..., 3) in [0, 1] -> (L_scaled (..., 1), ab_scaled (..., 2)).

    L_scaled = L / 50 - 1 in [-1, 1]; ab_scaled = ab / 110 in about [-1, 1].
    """
    import tensorflow as tf

    lab = color.tf_rgb_to_lab(rgb)
    L_scaled = color.LAB_SCALING.L_to_model(lab[..., :1])
    ab_scaled = color.LAB_SCALING.ab_to_model(lab[..., 1:])
    return tf.cast(L_scaled, tf.float32), tf.cast(ab_scaled, tf.float32)


def augment_photo(
    rgb, seeds, image_size: int, vertical_flip: float = 0.0, crop_scale=DEFAULT_CROP_SCALE
):
    """TensorFlow: one photo -> its random training crop as model arrays.

    A random square crop covering ``crop_scale`` (low, high) of the short side (scale
    jitter) at a random position, resized to ``image_size`` (antialiased), a random horizontal flip,
    and with probability ``vertical_flip`` an upside-down flip (``TrainConfig.vertical_flip``).

    Args:
        rgb: uint8 (H, W, 3) tensor.
        seeds: int64 (4, 2) stateless seeds (crop scale, top, left, flips).
        vertical_flip: probability in [0, 1] of flipping the crop upside down.
        crop_scale: (low, high), 0 < low <= high <= 1 (``TrainConfig.crop_scale``).
    Returns:
        (L_scaled float32 (S, S, 1), ab_scaled float32 (S, S, 2)), S = ``image_size``.
    """
    import tensorflow as tf

    low, high = (float(value) for value in crop_scale)
    shape = tf.shape(rgb, out_type=tf.int64)
    height, width = shape[0], shape[1]
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
    if vertical_flip > 0:
        # Its own seed, folded from the flip seed, so runs without it draw as before.
        flip_seed = tf.random.experimental.stateless_fold_in(seeds[3], 1)
        draw = tf.random.stateless_uniform([], flip_seed, 0.0, 1.0)
        patch = tf.cond(draw < vertical_flip, lambda: tf.reverse(patch, [0]), lambda: patch)
    patch = tf.clip_by_value(patch, 0.0, 1.0)
    patch = tf.ensure_shape(patch, (image_size, image_size, 3))
    return rgb_to_model_arrays(patch)


def training_dataset(
    images: DecodedImages,
    image_size: int,
    batch_size: int,
    seed: int = 0,
    vertical_flip: float = 0.0,
    crop_scale=DEFAULT_CROP_SCALE,
):
    """An endless, shuffled ``tf.data.Dataset`` of augmented training batches.

    Each element is (L_scaled float32 (batch, S, S, 1) in [-1, 1],
    ab_scaled float32 (batch, S, S, 2) in about [-1, 1]) with S = ``image_size``.
    Augmentation: a random square crop covering ``crop_scale`` of the short side
    (scale jitter) at a random position, resized to S, a random horizontal flip and, with
    probability ``vertical_flip``, an upside-down one. Deterministic for a given ``seed``
    (stateless random ops seeded per element).
    """
    import tensorflow as tf

    if not len(images):
        raise UsageError("no training photos")
    pixels = tf.constant(images.pixels)
    offsets = tf.constant(images.offsets)
    shapes = tf.constant(images.shapes)

    def augment(index, element_seed):
        shape = shapes[index]
        rgb = tf.reshape(pixels[offsets[index] : offsets[index] + tf.reduce_prod(shape)], shape)
        seeds = tf.random.experimental.stateless_split(tf.stack([element_seed, index]), 4)
        return augment_photo(rgb, seeds, image_size, vertical_flip, crop_scale)

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
    L_scaled = color.LAB_SCALING.L_to_model(lab[..., :1])
    ab_scaled = color.LAB_SCALING.ab_to_model(lab[..., 1:])
    return rgb, L_scaled, ab_scaled
