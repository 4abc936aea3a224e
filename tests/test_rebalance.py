"""Class-rebalanced L1 (Zhang et al. 2016): rare colours weigh more, plain L1 is strength 0."""

from __future__ import annotations

import numpy as np
import pytest
from training_photos import tiny_config_dict, write_colour_photos

from edgecolor import color
from edgecolor.config import RunConfig
from edgecolor.training.rebalance import (
    BINS,
    ab_bin_index,
    ab_histogram,
    rebalancing_weights,
)


def photos_of(rgb_values, count, size=(24, 32)):
    return [np.full((*size, 3), value, np.uint8) for value in rgb_values for _ in range(count)]


def bin_of(rgb):
    ab = color.rgb_to_lab(np.asarray(rgb, np.float32)[None] / 255.0)[0, 1:]
    return divmod(int(ab_bin_index(ab)), BINS)


def test_histogram_counts_each_photos_colour_in_its_bin():
    gray, red = (128, 128, 128), (200, 30, 30)
    histogram = ab_histogram(photos_of([gray], 3) + photos_of([red], 1))
    assert histogram.shape == (BINS, BINS) and histogram.sum() == pytest.approx(1.0)
    assert histogram[bin_of(gray)] == pytest.approx(0.75)
    assert histogram[bin_of(red)] == pytest.approx(0.25)
    assert bin_of(gray) != bin_of(red)


def test_rare_colours_weigh_more_and_the_mean_weight_is_one():
    gray, red, blue = (128, 128, 128), (200, 30, 30), (40, 60, 200)
    histogram = ab_histogram(photos_of([gray], 18) + photos_of([red, blue], 1))
    assert np.array_equal(rebalancing_weights(histogram, 0.0), np.ones((BINS, BINS)))
    previous_ratio = 1.0
    for strength in (0.25, 0.5, 0.75):
        weights = rebalancing_weights(histogram, strength)
        assert weights.dtype == np.float32 and np.all(weights > 0)
        ratio = weights[bin_of(red)] / weights[bin_of(gray)]
        assert ratio > previous_ratio  # stronger rebalancing, rarer colours weigh more
        previous_ratio = ratio
        # a bin no photo reached gets the largest weight of a seen bin, not an unbounded one
        assert weights.max() == pytest.approx(max(weights[bin_of(c)] for c in (gray, red, blue)))
    with pytest.raises(ValueError, match="strength"):
        rebalancing_weights(histogram, 1.0)


def test_weighted_l1_is_plain_l1_under_uniform_weights_and_favours_rare_pixels():
    import tensorflow as tf

    from edgecolor.training.losses import generator_loss, l1_loss
    from edgecolor.training.rebalance import weighted_l1_loss

    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-0.9, 0.9, (2, 6, 6, 2)), tf.float32)
    fake = tf.constant(rng.uniform(-0.9, 0.9, (2, 6, 6, 2)), tf.float32)
    ones = tf.ones((BINS, BINS))
    assert weighted_l1_loss(real, fake, ones).numpy() == pytest.approx(
        l1_loss(real, fake).numpy(), rel=1e-6
    )
    # only the bin of pixel (0, 0, 0) weighs 10: the error there counts ten times
    bins = np.floor(
        (color.LAB_SCALING.ab_from_model(real.numpy()[0, 0, 0]) + color.AB_GAMUT) / 10
    ).astype(int)
    heavy = np.ones((BINS, BINS), np.float32)
    heavy[bins[0], bins[1]] = 10.0
    error_at_one_pixel = fake.numpy().copy()
    error_at_one_pixel[...] = real.numpy()
    error_at_one_pixel[0, 0, 0] += 0.2
    plain = l1_loss(real, error_at_one_pixel).numpy()
    weighted = weighted_l1_loss(real, error_at_one_pixel, tf.constant(heavy)).numpy()
    assert weighted == pytest.approx(10 * plain, rel=1e-4)
    # generator_loss reports the plain L1 and puts the weighted one in the objective
    total, _, reported = generator_loss(None, real, error_at_one_pixel, 0.0, 100.0, heavy)
    assert reported.numpy() == pytest.approx(plain, rel=1e-6)
    assert total.numpy() == pytest.approx(100 * weighted, rel=1e-4)


def test_trainer_sets_the_weights_from_its_training_photos(tmp_path):
    from edgecolor.training.train import Trainer

    photos = tmp_path / "photos"
    write_colour_photos(photos, copies=1)
    config = RunConfig.from_dict(
        tiny_config_dict([str(photos)], steps=2, eval_every=2, rebalance=0.5)
    )
    trainer = Trainer(config, tmp_path / "run")
    result = trainer.run(progress=False)
    assert result.step == 2
    weights = trainer.ab_weights.numpy()
    assert weights.min() < 1.0 < weights.max()  # common colours lighter, rare ones heavier


def test_rebalance_out_of_range_is_a_usage_error():
    from edgecolor.errors import UsageError
    from edgecolor.training.commands import validate_train_config

    config = RunConfig.from_dict(tiny_config_dict(["photos"], rebalance=1.0))
    with pytest.raises(UsageError, match="train.rebalance"):
        validate_train_config(config)


def test_qat_fine_tuning_optimises_the_runs_rebalanced_loss():
    import tensorflow as tf

    from edgecolor.models import build_generator
    from edgecolor.training.qat import qat_finetune

    config = RunConfig.from_dict(tiny_config_dict(["photos"], gan_weight=0.0, rebalance=0.5))
    rng = np.random.default_rng(0)
    batch = (
        tf.constant(rng.uniform(-1, 1, (2, 32, 32, 1)), tf.float32),
        tf.constant(rng.uniform(-0.5, 0.5, (2, 32, 32, 2)), tf.float32),
    )
    losses = {}
    for name, weights in (("plain", None), ("ten", np.full((BINS, BINS), 10.0, np.float32))):
        generator = build_generator(config.generator, 32)
        _, history = qat_finetune(
            generator, None, [batch], config, steps=1, log_every=1, ab_weights=weights
        )
        losses[name] = history[0]
    # the objective weighs the L1 by the bins' weights; the logged L1 stays plain
    plain, ten = losses["plain"], losses["ten"]
    assert plain["g_loss"] == pytest.approx(config.train.l1_weight * plain["g_l1"], rel=1e-4)
    assert ten["g_loss"] == pytest.approx(10 * config.train.l1_weight * ten["g_l1"], rel=1e-4)
