"""The training data: the run's photo catalogue (decoding, skipping, splitting) and tf.data batches.

Finding and reading photo files is tested in test_photos.py."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image
from training_photos import (
    tiny_config_dict,
    write_colour_photos,
    write_corrupt_files,
    write_gray_photo,
)

from edgecolor import color
from edgecolor.config import RunConfig
from edgecolor.errors import UsageError
from edgecolor.training import catalogue, data


def test_gray_and_corrupt_files_are_skipped_and_listed(tmp_path, caplog):
    colour = write_colour_photos(tmp_path / "photos", copies=1)
    gray = [write_gray_photo(tmp_path / "photos" / "gray.jpg")]
    gray_rgb = tmp_path / "photos" / "gray_rgb.png"  # an RGB file holding a gray picture
    Image.open(gray[0]).convert("RGB").save(gray_rgb)
    gray.append(gray_rgb)
    corrupt = write_corrupt_files(tmp_path / "photos" / "broken")
    config = RunConfig.from_dict(tiny_config_dict([str(tmp_path / "photos")]))
    with caplog.at_level(logging.INFO, logger="edgecolor"):
        prepared = catalogue.prepare_data(config)
    report = prepared.report
    assert sorted(report.kept) == sorted(path.resolve() for path in colour)
    assert sorted(path for path, _ in report.gray) == sorted(path.resolve() for path in gray)
    assert sorted(path for path, _ in report.unreadable) == sorted(
        path.resolve() for path in corrupt
    )
    assert "4 colour photos, 2 unreadable skipped, 2 gray skipped" in caplog.text
    for path in corrupt + gray:
        assert path.name in caplog.text
    assert len(prepared.train) + len(prepared.holdout) == 4


def test_no_colour_photos_is_a_usage_error(tmp_path):
    write_gray_photo(tmp_path / "old" / "gray.jpg")
    write_corrupt_files(tmp_path / "old")
    config = RunConfig.from_dict(tiny_config_dict([str(tmp_path / "old")]))
    with pytest.raises(UsageError, match="no colour photos found in .*old"):
        catalogue.prepare_data(config)


def test_split_is_deterministic_by_file(tmp_path):
    paths = [tmp_path / f"photo_{index:02d}.jpg" for index in range(20)]
    first = catalogue.split_files(paths, 0.25, seed=3)
    assert first == catalogue.split_files(list(reversed(paths)), 0.25, seed=3)
    assert len(first["holdout"]) == 5 and len(first["train"]) == 15
    assert not set(first["holdout"]) & set(first["train"])
    assert first != catalogue.split_files(paths, 0.25, seed=4)
    # tiny sets still hold one photo out, and never all of them
    assert len(catalogue.split_files(paths[:2], 0.1, seed=0)["holdout"]) == 1
    assert catalogue.split_files(paths[:1], 0.5, seed=0)["holdout"] == []


def test_split_written_and_reused_on_resume(tmp_path):
    photos = tmp_path / "photos"
    write_colour_photos(photos, copies=2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = RunConfig.from_dict(tiny_config_dict([str(photos)]))
    first = catalogue.prepare_data(config, run_dir)
    written = json.loads((run_dir / "split.json").read_text())
    assert written["holdout"] == [str(path) for path in first.holdout.paths]
    assert len(written["train"]) + len(written["holdout"]) == 8
    # a new photo after the split does not change a resumed run's split
    write_colour_photos(photos / "later", copies=1)
    second = catalogue.prepare_data(config, run_dir)
    assert second.holdout.paths == first.holdout.paths
    assert second.train.paths == first.train.paths
    assert catalogue.load_split(run_dir)["holdout"] == first.holdout.paths


def test_training_dataset_batches(tmp_path):
    write_colour_photos(tmp_path / "photos", copies=1)
    config = RunConfig.from_dict(tiny_config_dict([str(tmp_path / "photos")], holdout_fraction=0.0))
    prepared = catalogue.prepare_data(config)
    dataset = data.training_dataset(prepared.train, 32, batch_size=3, seed=7)
    batches = [(L.numpy(), ab.numpy()) for L, ab in dataset.take(4)]
    L_scaled, ab_scaled = batches[0]
    assert L_scaled.shape == (3, 32, 32, 1) and ab_scaled.shape == (3, 32, 32, 2)
    assert L_scaled.dtype == np.float32 and ab_scaled.dtype == np.float32
    assert L_scaled.min() >= -1.0 and L_scaled.max() <= 1.0
    assert np.abs(ab_scaled).max() <= 1.0
    assert np.abs(ab_scaled).mean() > 0.02  # colour photos carry colour
    # the same seed gives the same batches; another seed gives other crops
    again = [
        (L.numpy(), ab.numpy())
        for L, ab in data.training_dataset(prepared.train, 32, 3, seed=7).take(4)
    ]
    for (L1, ab1), (L2, ab2) in zip(batches, again, strict=True):
        np.testing.assert_array_equal(L1, L2)
        np.testing.assert_array_equal(ab1, ab2)
    other = next(iter(data.training_dataset(prepared.train, 32, 3, seed=8)))[0].numpy()
    assert not np.array_equal(other, L_scaled)


def test_vertical_flip_turns_the_same_crop_upside_down():
    """train.vertical_flip = 1 gives exactly the unflipped crops upside down (same draws)."""
    import tensorflow as tf

    rgb = tf.constant(np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8))
    for element in range(6):
        seeds = tf.random.experimental.stateless_split(tf.constant([element, 11], tf.int64), 4)
        L_plain, ab_plain = data.augment_photo(rgb, seeds, 16)
        L_flipped, ab_flipped = data.augment_photo(rgb, seeds, 16, vertical_flip=1.0)
        np.testing.assert_array_equal(L_flipped.numpy(), L_plain.numpy()[::-1])
        np.testing.assert_array_equal(ab_flipped.numpy(), ab_plain.numpy()[::-1])
        assert not np.array_equal(L_flipped.numpy(), L_plain.numpy())
    # half the crops flipped: over many elements both outcomes occur
    flipped = 0
    for element in range(40):
        seeds = tf.random.experimental.stateless_split(tf.constant([element, 5], tf.int64), 4)
        plain = data.augment_photo(rgb, seeds, 16)[0].numpy()
        half = data.augment_photo(rgb, seeds, 16, vertical_flip=0.5)[0].numpy()
        flipped += int(not np.array_equal(plain, half))
    assert 8 <= flipped <= 32, flipped


def test_vertical_flip_outside_zero_to_one_is_refused():
    config = RunConfig.from_dict(tiny_config_dict(["photos"]))
    config.train.vertical_flip = 1.5
    from edgecolor.training.commands import validate_train_config

    with pytest.raises(UsageError, match="train.vertical_flip"):
        validate_train_config(config)


def test_model_arrays_match_numpy_colour_maths():
    import tensorflow as tf

    rgb = np.random.default_rng(0).uniform(0, 1, (4, 4, 3)).astype(np.float32)
    L_scaled, ab_scaled = data.rgb_to_model_arrays(tf.constant(rgb))
    lab = color.rgb_to_lab(rgb)
    np.testing.assert_allclose(
        L_scaled.numpy()[..., 0], color.LAB_SCALING.L_to_model(lab[..., 0]), atol=1e-3
    )
    np.testing.assert_allclose(
        ab_scaled.numpy(), color.LAB_SCALING.ab_to_model(lab[..., 1:]), atol=1e-3
    )


def test_holdout_arrays_are_fixed_centre_crops(tmp_path):
    write_colour_photos(tmp_path / "photos", copies=1)
    config = RunConfig.from_dict(tiny_config_dict([str(tmp_path / "photos")], holdout_fraction=0.5))
    prepared = catalogue.prepare_data(config)
    rgb, L_scaled, ab_scaled = data.holdout_arrays(prepared.holdout, 32)
    again = data.holdout_arrays(prepared.holdout, 32)
    assert (
        rgb.shape == (2, 32, 32, 3)
        and L_scaled.shape == (2, 32, 32, 1)
        and ab_scaled.shape == (2, 32, 32, 2)
    )
    np.testing.assert_array_equal(rgb, again[0])
    lab = color.rgb_to_lab(rgb)
    np.testing.assert_allclose(
        color.LAB_SCALING.L_from_model(L_scaled)[..., 0], lab[..., 0], atol=1e-3
    )
    assert data.holdout_arrays(prepared.holdout, 32, limit=1)[0].shape == (1, 32, 32, 3)


def test_crop_scale_sets_how_much_of_the_short_side_a_crop_covers():
    """On a photo whose gray level is its column, a crop of half the short side spans half
    the levels; the whole side spans them all (train.crop_scale)."""
    import tensorflow as tf

    columns = np.linspace(0, 255, 64).astype(np.uint8)
    rgb = tf.constant(np.broadcast_to(columns[None, :, None], (64, 64, 3)).copy())
    for element in range(4):
        seeds = tf.random.experimental.stateless_split(tf.constant([element, 2], tf.int64), 4)
        half = data.augment_photo(rgb, seeds, 32, crop_scale=(0.5, 0.5))[0].numpy()
        whole = data.augment_photo(rgb, seeds, 32, crop_scale=(1.0, 1.0))[0].numpy()
        half_span = float(half.max() - half.min())
        whole_span = float(whole.max() - whole.min())
        assert 0.35 * whole_span < half_span < 0.65 * whole_span, (half_span, whole_span)


@pytest.mark.parametrize("crop_scale", [[0.0, 0.5], [0.9, 0.5], [0.5, 1.2], [0.5]])
def test_crop_scale_out_of_range_is_refused(crop_scale):
    config = RunConfig.from_dict(tiny_config_dict(["photos"]))
    config.train.crop_scale = crop_scale
    from edgecolor.training.commands import validate_train_config

    with pytest.raises(UsageError, match="train.crop_scale"):
        validate_train_config(config)


def test_unknown_gain_loss_is_refused():
    config = RunConfig.from_dict(tiny_config_dict(["photos"]))
    config.train.gain_loss = "huber"
    from edgecolor.training.commands import validate_train_config

    with pytest.raises(UsageError, match="train.gain_loss"):
        validate_train_config(config)
