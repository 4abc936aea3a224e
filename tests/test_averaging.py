"""Checkpoint averaging (edgecolor/training/averaging.py): the mean of the weights, as a
run folder that export's loader restores."""

from __future__ import annotations

import numpy as np
import pytest
from training_photos import tiny_config_dict

from edgecolor.config import RunConfig
from edgecolor.errors import UsageError


def _run_with_checkpoints(run_dir, offsets):
    """A run folder whose checkpoints ckpt-1, ckpt-2, ... hold one network's weights plus
    each offset."""
    import tensorflow as tf

    from edgecolor.models import build_generator

    config = RunConfig.from_dict(tiny_config_dict(["photos"]))
    run_dir.mkdir()
    config.save(run_dir / "config.json")
    generator = build_generator(config.generator, None)
    base = generator.get_weights()
    checkpoint = tf.train.Checkpoint(generator=generator, step=tf.Variable(0, dtype=tf.int64))
    for number, offset in enumerate(offsets, start=1):
        generator.set_weights([weight + offset for weight in base])
        checkpoint.step.assign(number)
        saved = checkpoint.save(str(run_dir / "checkpoints" / "ckpt"))  # as training saves
        assert saved.endswith(f"ckpt-{number}")
    return base


def test_average_is_the_mean_of_the_weights_and_export_can_load_it(tmp_path):
    from edgecolor.training.averaging import average_checkpoints
    from edgecolor.training.checkpoint import load_generator

    base = _run_with_checkpoints(tmp_path / "run", [0.0, 1.0, 5.0])
    average_checkpoints(tmp_path / "run", [1, 2, 3], tmp_path / "mean")
    generator, config, step = load_generator(tmp_path / "mean", which="latest")
    assert step == 3 and config.generator.name == RunConfig().generator.name
    for averaged, original in zip(generator.get_weights(), base, strict=True):
        np.testing.assert_allclose(averaged, original + 2.0, rtol=1e-6, atol=1e-6)
    # two of the three: their own mean
    average_checkpoints(tmp_path / "run", [1, 2], tmp_path / "pair")
    first = load_generator(tmp_path / "pair", which="latest")[0].get_weights()[0]
    np.testing.assert_allclose(first, base[0] + 0.5, rtol=1e-6, atol=1e-6)


def test_average_refuses_one_step_a_missing_checkpoint_and_an_existing_folder(tmp_path):
    from edgecolor.training.averaging import average_checkpoints

    _run_with_checkpoints(tmp_path / "run", [0.0, 1.0])
    with pytest.raises(UsageError, match="at least two"):
        average_checkpoints(tmp_path / "run", [1, 1], tmp_path / "out")
    with pytest.raises(UsageError, match="ckpt-7"):
        average_checkpoints(tmp_path / "run", [1, 7], tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(UsageError, match="exists"):
        average_checkpoints(tmp_path / "run", [1, 2], tmp_path / "taken")
