"""The cGAN training loop: steps learn, checkpoints resume exactly, samples, NaN handling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from training_photos import MIRRORED_SCRIPT, tiny_config_dict, write_colour_photos

from edgecolor.config import RunConfig
from edgecolor.errors import UsageError


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    write_colour_photos(folder, copies=2)
    return folder


def make_config(photos, **train) -> RunConfig:
    return RunConfig.from_dict(tiny_config_dict([str(photos)], **train))


def fixed_batch(photos, config):
    from edgecolor.training import data
    from edgecolor.training.catalogue import prepare_data

    prepared = prepare_data(config)
    dataset = data.training_dataset(
        prepared.train, config.train.image_size, config.train.batch_size, 0
    )
    L_scaled, ab_scaled = next(iter(dataset))
    return L_scaled, ab_scaled


def test_losses_values():
    import tensorflow as tf

    from edgecolor.training.losses import discriminator_loss, generator_loss

    real_ab = tf.zeros((2, 4, 4, 2))
    fake_ab = tf.fill((2, 4, 4, 2), 0.5)
    confident_fake = tf.fill((2, 3, 3, 1), -20.0)  # D sure the fake is fake
    total, adversarial, l1 = generator_loss(confident_fake, real_ab, fake_ab, 1.0, 100.0)
    assert l1.numpy() == pytest.approx(0.5)
    assert adversarial.numpy() == pytest.approx(20.0, rel=1e-3)  # non-saturating: large, not ~0
    assert total.numpy() == pytest.approx(70.0, rel=1e-3)
    total, adversarial, _ = generator_loss(None, real_ab, fake_ab, 1.0, 100.0)
    assert adversarial.numpy() == 0 and total.numpy() == pytest.approx(50.0)
    # one-sided smoothing: a perfect discriminator still pays for real labels of 0.9
    perfect = discriminator_loss(tf.fill((2, 1), 20.0), tf.fill((2, 1), -20.0), real_label=0.9)
    assert perfect.numpy() == pytest.approx(0.5 * 0.1 * 20.0, rel=1e-2)
    unsmoothed = discriminator_loss(tf.fill((2, 1), 20.0), tf.fill((2, 1), -20.0), real_label=1.0)
    assert unsmoothed.numpy() < 1e-6


def test_a_few_l1_steps_lower_l1_on_a_fixed_batch(photos, tmp_path):
    from edgecolor.training.train import Trainer

    config = make_config(photos, learning_rate=0.01)
    batch = fixed_batch(photos, config)
    trainer = Trainer(config, tmp_path / "run")
    losses = [trainer.train_step(batch, adversarial=False)["g_l1"] for _ in range(30)]
    assert all(math.isfinite(value) for value in losses)
    assert np.mean(losses[-3:]) < 0.7 * losses[0]


def test_gan_step_trains_both_networks(photos, tmp_path):
    from edgecolor.training.train import Trainer

    config = make_config(photos)
    batch = fixed_batch(photos, config)
    trainer = Trainer(config, tmp_path / "run")
    generator_before = [weight.copy() for weight in trainer.generator.get_weights()]
    discriminator_before = [weight.copy() for weight in trainer.discriminator.get_weights()]
    losses = trainer.train_step(batch, adversarial=True)
    assert set(losses) == {"g_loss", "g_adversarial", "g_l1", "g_ce", "d_loss"}
    assert losses["g_ce"] == 0  # the regression head has no cross-entropy
    assert losses["g_adversarial"] > 0 and losses["d_loss"] > 0
    assert losses["g_loss"] == pytest.approx(
        losses["g_adversarial"] + 100 * losses["g_l1"], rel=1e-4
    )
    changed = lambda before, model: any(  # noqa: E731
        not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)
    )
    assert changed(generator_before, trainer.generator)
    assert changed(discriminator_before, trainer.discriminator)


def test_an_adversarial_step_runs_where_the_generator_weight_is_zero(photos, tmp_path):
    """bench_training times a cGAN step on every recipe, including gan_weight 0 ones."""
    from edgecolor.training.train import Trainer

    config = make_config(photos, gan_weight=0.0)
    batch = fixed_batch(photos, config)
    trainer = Trainer(config, tmp_path / "run")
    discriminator_before = [weight.copy() for weight in trainer.discriminator.get_weights()]
    losses = trainer.train_step(batch, adversarial=True)
    assert losses["d_loss"] > 0
    assert losses["g_loss"] == pytest.approx(100 * losses["g_l1"], rel=1e-4)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(discriminator_before, trainer.discriminator.get_weights(), strict=True)
    )


def test_l1_only_baseline_never_trains_the_discriminator(photos, tmp_path):
    from edgecolor.training.train import Trainer

    config = make_config(photos, gan_weight=0.0, pretrain_steps=0, steps=3)
    trainer = Trainer(config, tmp_path / "run")
    before = [weight.copy() for weight in trainer.discriminator.get_weights()]
    result = trainer.run(progress=False)
    assert result.step == 3
    for a, b in zip(before, trainer.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    records = [
        json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    assert {record["phase"] for record in records} == {"l1"}


def test_run_writes_checkpoints_log_and_final_sample_grid(photos, tmp_path):
    from PIL import Image

    from edgecolor.training.train import Trainer

    run_dir = tmp_path / "run"
    config = make_config(
        photos, steps=3, checkpoint_every=2, eval_every=2, sample_every=100, holdout_fraction=0.5
    )
    result = Trainer(config, run_dir).run(progress=False)
    assert result.step == 3
    # checkpoints every 2 steps and at the end
    names = sorted(path.name for path in (run_dir / "checkpoints").glob("*.index"))
    assert names == ["ckpt-2.index", "ckpt-3.index"]
    assert result.checkpoint.endswith("ckpt-3")
    # a sample grid at the end even though sample_every was never reached
    grid = run_dir / "samples" / "step_0000003.png"
    assert result.sample_grid == grid
    with Image.open(grid) as image:
        assert image.size == (3 * 32, config.train.sample_count * 32)
    pixels = np.asarray(Image.open(grid).convert("RGB")).astype(int)
    gray_column = pixels[:, :32]
    assert np.abs(gray_column[..., 0] - gray_column[..., 2]).max() <= 2  # first column is gray
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [2, 3]
    for key in (
        "holdout_l1",
        "holdout_psnr",
        "holdout_colorfulness",
        "g_l1",
        "d_loss",
        "learning_rate",
    ):
        assert math.isfinite(records[-1][key])
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_resume_continues_the_step_count_and_restores_weights(photos, tmp_path):
    from edgecolor.training.train import Trainer

    run_dir = tmp_path / "run"
    first = Trainer(make_config(photos, steps=4, pretrain_steps=1), run_dir)
    first.run(progress=False)
    saved = {
        "generator": first.generator.get_weights(),
        "discriminator": first.discriminator.get_weights(),
        "generator_optimizer": [v.numpy() for v in first.generator_optimizer.variables],
    }

    second = Trainer(make_config(photos, steps=4, pretrain_steps=1), run_dir)
    assert second.state.restore_latest() == 4
    for a, b in zip(saved["generator"], second.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(saved["discriminator"], second.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        saved["generator_optimizer"],
        [v.numpy() for v in second.generator_optimizer.variables],
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)

    third = Trainer(make_config(photos, steps=7, pretrain_steps=1), run_dir)
    result = third.run(resume=True, progress=False)
    assert result.step == 7 and result.checkpoint.endswith("ckpt-7")
    assert int(third.generator_optimizer.iterations.numpy()) == 7  # 4 before + 3 after
    steps = [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 7]


def test_resume_without_checkpoint_is_a_usage_error(photos, tmp_path):
    from edgecolor.training.train import Trainer

    with pytest.raises(UsageError, match="no checkpoint"):
        Trainer(make_config(photos), tmp_path / "run").run(resume=True, progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(photos, tmp_path):
    from edgecolor.training.train import Trainer, TrainingDivergedError

    run_dir = tmp_path / "run"
    trainer = Trainer(make_config(photos, steps=6, checkpoint_every=2), run_dir)
    real_step = trainer.train_step
    calls = []

    def step_that_diverges(batch, adversarial):
        losses = real_step(batch, adversarial)
        calls.append(1)
        if len(calls) == 3:  # the third step's loss blows up
            losses["g_l1"] = float("nan")
        return losses

    trainer.train_step = step_that_diverges
    with pytest.raises(TrainingDivergedError, match="g_l1 became nan at step 3.*ckpt-2"):
        trainer.run(progress=False)
    assert sorted(path.name for path in (run_dir / "checkpoints").glob("*.index")) == [
        "ckpt-2.index"
    ]
    assert not list((run_dir / "samples").glob("*.png")) if (run_dir / "samples").exists() else True


def test_real_nan_from_an_infinite_loss_weight(photos, tmp_path):
    """Not a mock: an infinite L1 weight makes the loss inf and the run stops cleanly."""
    from edgecolor.training.train import Trainer, TrainingDivergedError

    run_dir = tmp_path / "run"
    config = make_config(photos, steps=3)
    config.train.l1_weight = float("inf")
    with pytest.raises(TrainingDivergedError, match="became inf at step 1"):
        Trainer(config, run_dir).run(progress=False)
    assert not (run_dir / "checkpoints").exists() or not list(
        (run_dir / "checkpoints").glob("*.index")
    )


def test_learning_rate_divided_when_holdout_l1_plateaus(photos, tmp_path, monkeypatch):
    from edgecolor.training import train as train_module
    from edgecolor.training.train import Trainer

    config = make_config(photos, plateau_patience=2, learning_rate=1e-3)
    trainer = Trainer(config, tmp_path / "run")
    scores = iter([0.5, 0.4, 0.4, 0.41, 0.3, 0.35, 0.35])
    monkeypatch.setattr(train_module, "evaluate", lambda *args: {"holdout_l1": next(scores)})
    rates = []
    for step in range(7):
        trainer._evaluate(step, False, {}, (), 0.0, None)
        rates.append(float(trainer.state.learning_rate.numpy()))
    # improvements at 0.5, 0.4, 0.3; two evaluations without improvement -> / 10 each time
    assert rates == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-5])
    assert float(trainer.generator_adam.learning_rate.numpy()) == pytest.approx(1e-5)
    assert float(trainer.discriminator_adam.learning_rate.numpy()) == pytest.approx(1e-5)


def test_load_generator_restores_the_trained_weights(photos, tmp_path):
    from edgecolor.training.checkpoint import load_generator
    from edgecolor.training.train import Trainer

    run_dir = tmp_path / "run"
    config = make_config(photos, steps=2)
    trainer = Trainer(config, run_dir)
    trainer.run(progress=False)
    config.save(run_dir / "config.json")
    generator, loaded_config, step = load_generator(run_dir)
    assert step == 2 and loaded_config == config
    assert generator.input_shape == (None, None, None, 1)  # fully convolutional for export
    for a, b in zip(trainer.generator.get_weights(), generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    L_scaled = np.zeros((1, 64, 64, 1), np.float32)
    assert generator(L_scaled).shape == (1, 64, 64, 2)

    # config.json describing another generator than the checkpoint holds -> UsageError
    changed = json.loads((run_dir / "config.json").read_text())
    changed["generator"]["filters"] = [4, 8, 16]
    (run_dir / "config.json").write_text(json.dumps(changed))
    with pytest.raises(UsageError, match="does not match"):
        load_generator(run_dir)
    changed["generator"]["filters"] = [6, 8]  # same layer count, other shapes
    (run_dir / "config.json").write_text(json.dumps(changed))
    with pytest.raises(UsageError, match="does not match"):
        load_generator(run_dir)


def test_load_generator_without_checkpoint(tmp_path):
    from edgecolor.training.checkpoint import load_generator

    with pytest.raises(UsageError, match="no config.json"):
        load_generator(tmp_path)
    RunConfig().save(tmp_path / "config.json")
    with pytest.raises(UsageError, match="no checkpoint"):
        load_generator(tmp_path)


@pytest.mark.slow
def test_two_replica_mirrored_strategy_with_mixed_precision(photos, tmp_path):
    """The multi-GPU code path (MirroredStrategy, per-replica loss scaling, float16 with loss
    scaling), run on two logical CPUs in a fresh process."""
    import os
    import subprocess
    import sys

    config = tiny_config_dict([str(photos)], steps=3, mixed_precision=True)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(config), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["step"] == 3
    assert math.isfinite(report["g_l1"]) and math.isfinite(report["holdout_l1"])
    assert (tmp_path / "run" / "checkpoints" / "ckpt-3.index").is_file()


def test_adversarial_phase_restarts_from_the_initial_learning_rate(photos, tmp_path):
    from edgecolor.training.train import Trainer

    config = make_config(photos, steps=3, pretrain_steps=2, learning_rate=1e-3)
    trainer = Trainer(config, tmp_path / "run")
    trainer.state.learning_rate.assign(1e-5)  # as if the L1 phase had plateaued twice
    trainer.state.best_holdout_l1.assign(0.01)
    trainer.run(progress=False)
    records = [
        json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    assert [(r["step"], r["phase"]) for r in records] == [(2, "l1"), (3, "adversarial")]
    assert records[0]["learning_rate"] == pytest.approx(1e-5)
    assert records[1]["learning_rate"] == pytest.approx(1e-3)
    assert float(trainer.state.best_holdout_l1.numpy()) == pytest.approx(
        records[1]["holdout_l1"], rel=1e-5
    )


def test_validation_source_is_the_holdout_and_is_never_trained_on(photos, tmp_path):
    from edgecolor.training.catalogue import prepare_data

    validation = tmp_path / "other-source"
    write_colour_photos(validation, copies=1)
    config = make_config(photos, validation=[str(validation)], holdout_fraction=0.25)
    prepared = prepare_data(config, tmp_path / "run")
    assert {path.parent for path in prepared.holdout.paths} == {validation}
    assert {path.parent for path in prepared.train.paths} == {photos}
    assert len(prepared.train) == 8  # every training photo: no fraction held out
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert all(str(validation) in path for path in split["holdout"])
    # the same folder given as both is refused
    with pytest.raises(UsageError, match="also in the training data"):
        prepare_data(make_config(photos, validation=[str(photos)]))


def test_best_checkpoint_follows_the_holdout_and_early_stopping_ends_the_run(
    photos, tmp_path, monkeypatch
):
    from edgecolor.training import train as train_module
    from edgecolor.training.checkpoint import latest_checkpoint, load_generator
    from edgecolor.training.train import Trainer

    run_dir = tmp_path / "run"
    config = make_config(
        photos, steps=20, pretrain_steps=0, eval_every=2, early_stopping_evals=3, plateau_patience=9
    )
    config.save(run_dir / "config.json")
    scores = iter([0.5, 0.4, 0.45, 0.41, 0.42, 0.2, 0.3])
    monkeypatch.setattr(
        train_module, "evaluate", lambda *args: {"holdout_l1": next(scores), "holdout_psnr": 1.0}
    )
    result = Trainer(config, run_dir).run(progress=False)
    # best at step 4 (0.4); steps 6, 8, 10 do not improve -> stopped at step 10 of 20
    assert result.step == 10
    assert latest_checkpoint(run_dir, "best").endswith("ckpt-4")
    assert latest_checkpoint(run_dir, "latest").endswith("ckpt-10")
    _, _, step = load_generator(run_dir)  # export takes the best by default
    assert step == 4
    _, _, step = load_generator(run_dir, which="latest")
    assert step == 10


def test_adversarial_phase_starts_from_the_best_l1_generator(photos, tmp_path, monkeypatch):
    from edgecolor.training import train as train_module
    from edgecolor.training.checkpoint import RunCheckpoint
    from edgecolor.training.train import Trainer

    run_dir = tmp_path / "run"
    config = make_config(photos, steps=7, pretrain_steps=6, eval_every=2, plateau_patience=9)
    config.save(run_dir / "config.json")
    scores = iter([0.5, 0.3, 0.4, 0.45])  # best at step 4 of the L1 phase
    monkeypatch.setattr(
        train_module, "evaluate", lambda *args: {"holdout_l1": next(scores), "holdout_psnr": 1.0}
    )
    trainer = Trainer(config, run_dir)
    restored = {}
    original = RunCheckpoint.restore_best_generator

    def spy(state):
        import tensorflow as tf

        before = [weight.copy() for weight in trainer.generator.get_weights()]
        path = original(state)
        reader = tf.train.load_checkpoint(path)  # read now: a later best replaces it
        restored.update(
            path=path,
            before=before,
            after=[weight.copy() for weight in trainer.generator.get_weights()],
            stored=[
                reader.get_tensor(name)
                for name in reader.get_variable_to_shape_map()
                if name.startswith("generator/") and "kernel" in name
            ],
        )
        return path

    monkeypatch.setattr(RunCheckpoint, "restore_best_generator", spy)
    trainer.run(progress=False)
    assert restored["path"].endswith("ckpt-4")
    # the step-6 weights were replaced by the step-4 ones
    assert any(
        not np.array_equal(a, b) for a, b in zip(restored["before"], restored["after"], strict=True)
    )
    # every stored kernel of the best checkpoint is now in the generator
    after = restored["after"]
    for kernel in restored["stored"]:
        assert any(
            weight.shape == kernel.shape and np.array_equal(weight, kernel) for weight in after
        )
