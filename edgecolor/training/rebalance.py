"""Class-rebalanced L1: rare colours weigh more (Zhang, Isola and Efros 2016, section 2.2).

Most pixels of most photos are near-gray, sky blue or foliage green, so a plain L1 (or L2)
loss is lowest when the generator predicts a desaturated average for anything uncertain:
the brown, washed-out look of regression colorizers. Zhang et al. weight each pixel's loss
by the inverse of how common its true ab colour is in the training photos, mixed with a
uniform distribution so rare colours are boosted without letting a handful of pixels rule:

    w(q) ∝ 1 / ((1 - λ) p̃(q) + λ / Q),   normalised so that Σ_q p̃(q) w(q) = 1,

where q is a 10 × 10 ab bin, p̃ the bins' frequency in the training photos smoothed by a
Gaussian (σ = 5 ab units, half a bin), Q the number of bins any training pixel falls in, and
λ = 1 - ``strength`` (Zhang et al. use λ = 0.5, i.e. strength 0.5; strength 0 is plain L1).
The paper applies the weights to a classification loss; here they weight the L1 regression
loss per pixel, the smallest change that keeps the generator (and its int8 export) as is.

The weights depend only on the training photos, so a resumed run recomputes the same table.
"""

from __future__ import annotations

import numpy as np

from edgecolor import color

# Zhang et al.'s grid: 10 ab units per bin over sRGB's [-110, 110] on both axes.
AB_BIN = 10.0
BINS = int(round(2 * color.AB_GAMUT / AB_BIN))  # 22
# Gaussian smoothing of the histogram, in bins (σ = 5 ab units).
SMOOTHING_SIGMA_BINS = 0.5
# Every STRIDE-th pixel on each axis is counted: the histogram of a 16th of the pixels of
# hundreds of photos is the histogram of all of them, at a 16th of the cost.
STRIDE = 4


def ab_bin_index(ab: np.ndarray) -> np.ndarray:
    """Bin of each ab value: int64 (...,) in [0, BINS²), row = a bin, column = b bin.

    Args:
        ab: float (..., 2), Lab a and b in about [-110, 110] (values outside are clamped).
    """
    bins = np.floor((np.asarray(ab, np.float64) + color.AB_GAMUT) / AB_BIN).astype(np.int64)
    bins = np.clip(bins, 0, BINS - 1)
    return bins[..., 0] * BINS + bins[..., 1]


def ab_histogram(images) -> np.ndarray:
    """Frequency of each ab bin in some photos: float64 (BINS, BINS), summing to 1.

    Args:
        images: a sequence of uint8 (H, W, 3) sRGB photos, or anything with ``len`` and
            ``image(i)`` returning one (``training.catalogue.DecodedImages``).
    """
    return _bin_frequencies(images, ab_bin_index, BINS)


def _bin_frequencies(images, bin_of, side: int, stride: int = STRIDE) -> np.ndarray:
    """Share of the photos' pixels in each of ``side`` x ``side`` bins: float64, sum 1.

    ``bin_of`` maps Lab ab (..., 2) to flat bin indices (..., ) in [0, side²); every
    ``stride``-th pixel on each axis is counted.
    """
    counts = np.zeros(side * side, np.float64)
    for index in range(len(images)):
        rgb = images.image(index) if hasattr(images, "image") else images[index]
        sample = np.asarray(rgb[::stride, ::stride], np.float32) / 255.0
        ab = color.rgb_to_lab(sample)[..., 1:]
        counts += np.bincount(bin_of(ab).reshape(-1), minlength=side * side)
    if counts.sum() == 0:
        raise ValueError("no pixels to count: the ab histogram needs at least one photo")
    return (counts / counts.sum()).reshape(side, side)


def rebalancing_weights(histogram: np.ndarray, strength: float) -> np.ndarray:
    """Per-bin L1 weights from an ab histogram: float32 (BINS, BINS), mean 1 over pixels.

    Args:
        histogram: float (BINS, BINS) bin frequencies summing to 1 (``ab_histogram``).
        strength: in [0, 1); 0 gives all-ones (plain L1), 0.5 is Zhang et al.'s λ = 0.5.
    """
    from scipy.ndimage import gaussian_filter

    if not 0.0 <= strength < 1.0:
        raise ValueError(f"rebalance strength must be in [0, 1), got {strength}")
    histogram = np.asarray(histogram, np.float64)
    if strength == 0.0:
        return np.ones((BINS, BINS), np.float32)
    smoothed = gaussian_filter(histogram, SMOOTHING_SIGMA_BINS, mode="constant")
    smoothed /= smoothed.sum()
    occupied = int(np.count_nonzero(histogram))
    uniform = 1.0 / occupied
    mix = 1.0 - strength  # Zhang et al.'s λ
    weights = 1.0 / ((1.0 - mix) * smoothed + mix * uniform)
    weights /= float((smoothed * weights).sum())
    # A bin no training pixel fell in can still be met (a crop's resize blends colours):
    # it gets the largest weight a seen bin has, not the unbounded 1 / (λ / Q) tail.
    seen = histogram > 0
    weights = np.where(seen, weights, weights[seen].max())
    return weights.astype(np.float32)


def run_weights(strength: float, images, head: str = "regression") -> np.ndarray | None:
    """A run's rebalancing weights from its training photos, None when off.

    The one place training and QAT fine-tuning get them, so both optimise the same loss.

    Args:
        strength: ``train.rebalance`` (0 = off: None).
        images: the run's training photos (as for :func:`ab_histogram`).
        head: the generator's head: "regression" gives float32 (BINS, BINS) L1 weights on
            this module's grid; "distribution" float32 (Q,) cross-entropy weights of the
            head's in-gamut bins (:func:`distribution_bin_weights`).
    """
    if strength == 0:
        return None
    if head == "distribution":
        return distribution_bin_weights(strength, images)
    return rebalancing_weights(ab_histogram(images), strength)


def distribution_grid_histogram(images, stride: int = STRIDE) -> np.ndarray:
    """Frequency of each distribution-head grid cell (``ab_bins``) in some photos: float64
    (GRID_SIDE, GRID_SIDE), summing to 1; a photo's pixel counts in the cell nearest its ab.

    Args:
        images: a sequence of uint8 (H, W, 3) sRGB photos, or anything with ``len`` and
            ``image(i)`` (``training.catalogue.DecodedImages``).
        stride: every stride-th pixel on each axis is counted.
    """
    from edgecolor.models import ab_bins  # the head's grid (importing models loads TensorFlow)

    side = ab_bins.GRID_SIDE

    def cell(ab: np.ndarray) -> np.ndarray:
        rows_columns = ab_bins.grid_index(ab)
        return rows_columns[..., 0] * side + rows_columns[..., 1]

    return _bin_frequencies(images, cell, side, stride)


def distribution_bin_weights(strength: float, images) -> np.ndarray:
    """Class-rebalancing weight of each in-gamut bin: float32 (Q,), mean 1 over pixels.

    Zhang et al.'s w ∝ 1 / ((1 - λ) p̃ + λ / Q) with λ = 1 - ``strength`` (their λ = 0.5 is
    strength 0.5), computed by :func:`rebalancing_weights` on the grid
    histogram of the training photos. ``strength`` 0 gives all ones.
    """
    from edgecolor.models import ab_bins

    cells = np.array(ab_bins.gamut_grid_cells())
    if strength == 0:
        return np.ones(len(cells), np.float32)
    grid = rebalancing_weights(distribution_grid_histogram(images), strength)
    return grid[cells[:, 0], cells[:, 1]].astype(np.float32)


def weighted_l1_loss(real_ab, fake_ab, weights):
    """TensorFlow: class-rebalanced L1, float32 scalar.

    Each pixel's |real - fake| (summed over a and b, halved to match plain L1's mean over
    both channels) is weighted by its true colour's bin weight.

    Args:
        real_ab, fake_ab: float (N, H, W, 2), ab / 110 in [-1, 1].
        weights: float32 (BINS, BINS) tensor or variable (``rebalancing_weights``).
    """
    import tensorflow as tf

    real_ab = tf.cast(real_ab, tf.float32)
    fake_ab = tf.cast(fake_ab, tf.float32)
    real_ab_lab = color.LAB_SCALING.ab_from_model(real_ab)  # Lab units: the bins are the gamut's
    bins = tf.cast(tf.floor((real_ab_lab + color.AB_GAMUT) / AB_BIN), tf.int32)
    bins = tf.clip_by_value(bins, 0, BINS - 1)
    pixel_weights = tf.gather_nd(weights, bins)  # (N, H, W)
    per_pixel = tf.reduce_mean(tf.abs(real_ab - fake_ab), axis=-1)
    return tf.reduce_mean(pixel_weights * per_pixel)
