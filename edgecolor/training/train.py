"""The cGAN training loop behind ``edgecolor train``.

``Trainer`` builds the networks, optimizers and checkpoint of a run and runs its schedule:
the L1 phase (``pretrain_steps``; always, with ``gan_weight`` 0, the study's L1-only
baseline), then the adversarial phase; evaluations, learning-rate plateaus, early stopping,
sample grids and checkpoints. The steps themselves are ``edgecolor.training.steps``; the
strategy, step meter and logs ``edgecolor.training.runtime``; the data a folder run decodes
into memory (``catalogue``, ``data``) or a shard run streams (``stream``).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

from edgecolor.config import RunConfig
from edgecolor.training import catalogue, stream
from edgecolor.training import data as data_module
from edgecolor.training.checkpoint import RunCheckpoint
from edgecolor.training.rebalance import BINS, run_weights
from edgecolor.training.runtime import (  # noqa: F401 (re-exported: the loop's public names)
    TEXT_LOG,
    StepMeter,
    TrainingDivergedError,
    TrainResult,
    add_file_log,
    check_finite,
    is_chief,
    make_strategy,
    steps_to_run,
)
from edgecolor.training.samples import evaluate, write_sample_grid
from edgecolor.training.steps import make_steps

log = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"
# Training losses go to TensorBoard this often (steps); evaluations at eval_every.
SCALAR_EVERY = 10


class Trainer:
    """Builds the networks, optimizers, checkpoint and step functions of one run.

    Args:
        config: the resolved run config.
        run_dir: the run folder (config.json, checkpoints/, samples/, log.jsonl, ...).
        strategy: a tf.distribute strategy; None picks one with ``make_strategy``.
    """

    def __init__(self, config: RunConfig, run_dir: str | Path, strategy=None):
        import tensorflow as tf

        from edgecolor.models import build_discriminator, build_generator, load_pretrained
        from edgecolor.models.keras import keras

        self.config = config
        self.run_dir = Path(run_dir)
        train = config.train
        self.strategy = strategy or make_strategy()
        self.chief = is_chief(self.strategy)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(train.seed)
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if train.mixed_precision else "float32"
        )
        size = train.image_size
        with self.strategy.scope():
            self.generator = build_generator(config.generator, size)
            # A fresh run starts from the pretrained weights; a resumed one's checkpoint
            # overwrites them on restore.
            filled = load_pretrained(config.generator, self.generator)
            if filled:
                log.info("generator: %d layers start from pretrained weights", filled)
            self.discriminator = build_discriminator(config.discriminator, size)
            self.generator_adam = keras.optimizers.Adam(train.learning_rate, beta_1=train.beta_1)
            self.discriminator_adam = keras.optimizers.Adam(
                train.learning_rate, beta_1=train.beta_1
            )
            self.generator_optimizer = self.generator_adam
            self.discriminator_optimizer = self.discriminator_adam
            if train.mixed_precision:
                scaler = keras.mixed_precision.LossScaleOptimizer
                self.generator_optimizer = scaler(self.generator_adam)
                self.discriminator_optimizer = scaler(self.discriminator_adam)
            # Create the optimizers' slots now so a restore fills them immediately.
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)
            write_dir = None
            if not self.chief:
                write_dir = self.run_dir / f".worker-{self.strategy.cluster_resolver.task_id}"
            self.state = RunCheckpoint(
                self.run_dir,
                self.generator,
                self.discriminator,
                self.generator_optimizer,
                self.discriminator_optimizer,
                train.learning_rate,
                train.keep_checkpoints,
                write_dir,
            )
        # Class-rebalancing weights (training/rebalance.py): all ones until ``run`` has
        # counted the training photos' colours; read by the steps, so no retrace. The
        # regression head weighs its L1 on a (BINS, BINS) grid, the distribution head its
        # cross-entropy per in-gamut bin (Q,).
        if config.generator.head == "distribution":
            from edgecolor.models.ab_bins import bin_count

            weights_shape = (bin_count(),)
        else:
            weights_shape = (BINS, BINS)
        with self.strategy.scope():
            self.ab_weights = tf.Variable(
                tf.ones(weights_shape, tf.float32), trainable=False, name="ab_weights"
            )
        # (one step on a batch, ``count`` steps drawn from an iterator) per phase
        self._steps = {phase: make_steps(self, adversarial=phase) for phase in (False, True)}
        self._tf = tf

    def set_rebalancing(self, images) -> None:
        """Weights for the class-rebalanced L1 from the training photos' colours."""
        weights = run_weights(self.config.train.rebalance, images, self.config.generator.head)
        self.ab_weights.assign(weights)
        log.info(
            "class rebalancing (strength %.2f): bin weights %.2f to %.2f",
            self.config.train.rebalance,
            float(weights.min()),
            float(weights.max()),
        )

    def set_learning_rate(self, value: float) -> None:
        """Set both optimizers' learning rate (and the checkpointed copy)."""
        self.state.learning_rate.assign(value)
        self.generator_adam.learning_rate.assign(value)
        self.discriminator_adam.learning_rate.assign(value)

    def train_step(self, batch, adversarial: bool) -> dict[str, float]:
        """One distributed step on ``batch`` = (L_scaled, ab_scaled); returns the mean losses."""
        step = self._steps[adversarial][0]
        return {name: float(value) for name, value in step(batch).items()}

    def train_steps(self, batches, count: int, adversarial: bool) -> dict[str, float]:
        """``count`` steps in one tf.function call (``train.steps_per_execution``), each on
        the next batch of the distributed iterator ``batches``; returns their mean losses."""
        steps = self._steps[adversarial][1]
        return {name: float(value) for name, value in steps(batches, count).items()}

    # ------------------------------------------------------------------ loop

    def run(
        self,
        resume: bool = False,
        progress: bool = True,
        prepared: catalogue.PreparedData | None = None,
    ) -> TrainResult:
        """Train up to ``config.train.steps`` (the run's total), resuming when asked.

        The schedule, one step at a time: start the adversarial phase at
        ``pretrain_steps``; train on a batch; check the losses; every ``eval_every`` steps
        evaluate on the hold-out (and maybe stop early); every ``sample_every`` write a
        sample grid; every ``checkpoint_every`` save. The last step does all three.

        ``prepared``: the run's decoded photos (``catalogue.prepare_data``), or None to load them.

        Raises:
            UsageError: resume without a checkpoint, or a checkpoint that does not match.
            TrainingDivergedError: a loss became NaN/Inf (the last good checkpoint stays).
        """
        train = self.config.train
        start = self.state.restore_latest() if resume else 0
        self.set_learning_rate(float(self.state.learning_rate.numpy()))
        prepared = prepared or stream.load_data(self.config, self.run_dir)
        if train.rebalance > 0:
            self.set_rebalancing(prepared.train)
        batches = self._batches(prepared, start)
        holdout, samples = self._evaluation_arrays(prepared)
        last_checkpoint = self.state.manager.latest_checkpoint if resume else None
        saved_step = start if resume else -1
        sample_path = None
        metrics: dict = {}
        meter = StepMeter(train.batch_size)
        step = start
        if step >= train.steps:
            log.info("run is already at step %d of %d: nothing to train", step, train.steps)

        bar = self._progress_bar(start, progress)
        writer = self._tensorboard_writer()
        try:
            while step < train.steps:
                adversarial = train.gan_weight > 0 and step >= train.pretrain_steps
                if adversarial and step == train.pretrain_steps and train.pretrain_steps > 0:
                    self._start_adversarial_phase(step)
                count = steps_to_run(train, step)
                if count == 1:
                    losses = self.train_step(next(batches), adversarial)
                else:
                    losses = self.train_steps(batches, self._tf.constant(count), adversarial)
                check_finite(losses, step + count, last_checkpoint)
                step += count
                self.state.step.assign(step)
                meter.add(losses, count)
                self._report_step(step, count, losses, meter.images_per_second, bar, writer)
                last = step == train.steps
                if step % train.eval_every == 0 or last:
                    averages = meter.take_averages()
                    metrics = self._evaluate(
                        step, adversarial, averages, holdout, meter.images_per_second, writer
                    )
                    if self._should_stop_early(step, adversarial):
                        last = True
                if step % train.sample_every == 0 or last:
                    sample_path = self._write_samples(step, samples)
                if step % train.checkpoint_every == 0 or last:
                    last_checkpoint = self.state.save()
                    saved_step = step
                if last:
                    break
        finally:
            bar.close()
            if writer is not None:
                writer.flush()
            self._cleanup_worker_dir()
        if saved_step != step and step > 0:
            last_checkpoint = self.state.save()
        return self._finish(step, last_checkpoint, metrics, meter.images_per_second, sample_path)

    # ------------------------------------------------------------------ the loop's parts

    def _batches(self, prepared, start: int):
        """An endless iterator of distributed training batches (L_scaled, ab_scaled)."""
        train = self.config.train
        # A resumed run draws a fresh data order (seed offset by the step) instead of
        # replaying the first batches again.
        if isinstance(prepared, stream.ShardedData):
            return stream.distributed_batches(self.strategy, prepared, train, start)
        dataset = data_module.training_dataset(
            prepared.train,
            train.image_size,
            train.batch_size,
            train.seed + start,
            train.vertical_flip,
            train.crop_scale,
        )
        return iter(self.strategy.experimental_distribute_dataset(dataset))

    def _evaluation_arrays(self, prepared: catalogue.PreparedData):
        """(hold-out arrays for evaluation, arrays for the sample grids).

        Each is (rgb, L_scaled, ab_scaled) as ``data.holdout_arrays`` returns; the samples
        are the first ``sample_count`` hold-out photos, or training photos when the run
        has no hold-out.
        """
        train = self.config.train
        holdout = data_module.holdout_arrays(prepared.holdout, train.image_size, limit=64)
        samples = (
            holdout
            if len(holdout[0])
            else data_module.holdout_arrays(prepared.train, train.image_size, train.sample_count)
        )
        return holdout, tuple(array[: train.sample_count] for array in samples)

    def _progress_bar(self, start: int, progress: bool):
        from tqdm import tqdm

        return tqdm(
            total=self.config.train.steps,
            initial=start,
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
            desc="train",
            # Redirected output (a log file) gets a line every half minute, not a flood.
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
        )

    def _tensorboard_writer(self):
        """The TensorBoard writer of RUN_DIR/tensorboard (chief only; None elsewhere)."""
        if not self.chief:
            return None
        return self._tf.summary.create_file_writer(str(self.run_dir / TENSORBOARD_DIR))

    def _start_adversarial_phase(self, step: int) -> None:
        """At ``pretrain_steps``: the best L1 generator, a fresh plateau count, the phase's rate."""
        train = self.config.train
        # The adversarial phase fine-tunes the best L1 generator (by hold-out L1), not the
        # last one: a long L1 phase on few photos overfits.
        best = self.state.restore_best_generator()
        if best is not None:
            log.info("step %d: adversarial phase starts from the best L1 generator %s", step, best)
        # Hold-out L1 jumps when the adversarial term starts: plateau anew, from the
        # adversarial phase's own starting learning rate.
        self.state.best_holdout_l1.assign(float("inf"))
        self.state.evals_without_improvement.assign(0)
        self.state.evals_since_best.assign(0)
        self.set_learning_rate(
            train.learning_rate
            if train.adversarial_learning_rate is None
            else train.adversarial_learning_rate
        )
        log.info("step %d: L1 pretraining done, adversarial training starts", step)

    def _report_step(self, step, count, losses, images_per_second, bar, writer):
        """The progress bar after every ``count`` steps; TensorBoard every ``SCALAR_EVERY``."""
        bar.update(count)
        bar.set_postfix(
            l1=f"{losses['g_l1']:.4f}",
            ce=f"{losses['g_ce']:.3f}",
            g=f"{losses['g_adversarial']:.3f}",
            d=f"{losses['d_loss']:.3f}",
            img_s=f"{images_per_second:.1f}",
            refresh=False,
        )
        if writer is None or step // SCALAR_EVERY == (step - count) // SCALAR_EVERY:
            return
        tf = self._tf
        with writer.as_default(step=step):
            for name, value in losses.items():
                tf.summary.scalar(f"train/{name}", value)
            tf.summary.scalar("train/learning_rate", float(self.state.learning_rate.numpy()))
            tf.summary.scalar("train/images_per_second", images_per_second)

    def _write_samples(self, step: int, samples) -> Path | None:
        """RUN_DIR/samples/step_XXXXXXX.png: gray | generated | original (written by the chief)."""
        return write_sample_grid(
            self.run_dir / SAMPLES_DIR / f"step_{step:07d}.png",
            self.generator,
            samples[0],
            samples[1],
            write=self.chief,
        )

    def _should_stop_early(self, step: int, adversarial: bool) -> bool:
        """True (and logged) when early stopping is on and the last phase stopped improving.

        Only the run's last phase stops early: an L1 pretraining phase that plateaus still
        hands over to the adversarial phase at ``pretrain_steps``.
        """
        train = self.config.train
        last_phase = adversarial or train.gan_weight == 0
        stop = (
            train.early_stopping_evals > 0
            and last_phase
            and int(self.state.evals_since_best.numpy()) >= train.early_stopping_evals
        )
        if stop:
            log.info(
                "step %d: hold-out L1 has not improved for %d evaluations: "
                "stopping early (best checkpoint kept)",
                step,
                train.early_stopping_evals,
            )
        return stop

    def _evaluate(self, step, adversarial, averages, holdout, images_per_second, writer) -> dict:
        """Hold-out metrics, plateau detection (learning rate / 10), log.jsonl, TensorBoard."""
        tf = self._tf
        train = self.config.train
        metrics = evaluate(self.generator, *holdout)
        holdout_l1 = metrics.get("holdout_l1", averages.get("g_l1", float("nan")))
        if holdout_l1 < float(self.state.best_holdout_l1.numpy()) - 1e-5:
            self.state.best_holdout_l1.assign(holdout_l1)
            self.state.evals_without_improvement.assign(0)
            self.state.evals_since_best.assign(0)
            if metrics:  # a real hold-out: keep this generator as the run's best
                self.state.save_best()
        else:
            self.state.evals_without_improvement.assign_add(1)
            self.state.evals_since_best.assign_add(1)
            if int(self.state.evals_without_improvement.numpy()) >= train.plateau_patience:
                old = float(self.state.learning_rate.numpy())
                new = max(old * train.lr_decay_factor, train.min_learning_rate)
                if new < old:
                    self.set_learning_rate(new)
                    log.info(
                        "step %d: hold-out L1 plateaued, learning rate %.3g -> %.3g", step, old, new
                    )
                self.state.evals_without_improvement.assign(0)
        record = {
            "step": step,
            "time": round(time.time(), 3),
            "phase": "adversarial" if adversarial else "l1",
            "learning_rate": float(f"{float(self.state.learning_rate.numpy()):.6g}"),
            **{name: round(value, 6) for name, value in averages.items()},
            **{name: round(value, 6) for name, value in metrics.items()},
            "images_per_second": round(images_per_second, 2),
        }
        if self.chief:
            with open(self.run_dir / LOG_FILE, "a") as stream:
                stream.write(json.dumps(record) + "\n")
            if writer is not None:
                with writer.as_default(step=step):
                    for name, value in metrics.items():
                        tf.summary.scalar(f"holdout/{name}", value)
        log.debug("eval %s", record)
        return record

    def _finish(self, step, last_checkpoint, metrics, images_per_second, sample_path):
        """The run's TrainResult, naming the chief's files (a worker's copies were scratch)."""
        if not self.chief:
            if last_checkpoint is not None:
                last_checkpoint = str(self.run_dir / "checkpoints" / Path(last_checkpoint).name)
            sample_path = None
        log.info("done: step %d, checkpoint %s", step, last_checkpoint)
        if sample_path is not None:
            log.info("samples: %s", sample_path)
        return TrainResult(step, last_checkpoint, metrics, images_per_second, sample_path)

    def _cleanup_worker_dir(self) -> None:
        if not self.chief:
            shutil.rmtree(
                self.run_dir / f".worker-{self.strategy.cluster_resolver.task_id}",
                ignore_errors=True,
            )


def train(
    config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train a run folder (see ``Trainer.run``). ``config.json`` must already be written.

    The photos are decoded before the networks are built, so data errors come first.
    """
    run_dir = Path(run_dir)
    add_file_log(run_dir)
    # TensorFlow's own INFO chatter (e.g. checkpoint sharding timings) is not for users.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)
    # The strategy first: a multi-worker one must be set up before TensorFlow runs any op
    # (reading the shards' samples does).
    strategy = make_strategy()
    prepared = stream.load_data(config, run_dir)
    trainer = Trainer(config, run_dir, strategy=strategy)
    return trainer.run(resume=resume, progress=progress, prepared=prepared)
