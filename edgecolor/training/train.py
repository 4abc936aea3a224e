"""The cGAN training loop behind ``edgecolor train``.

One training step (DESIGN.md): G(x); D on the real pair (L, ab) and on the generated pair
(L, G(L)); the generator loss (non-saturating adversarial + lambda * L1) and the
discriminator loss; gradients from two tapes; both Adam optimizers (beta_1 = 0.5) step.
Before ``pretrain_steps`` (and always with ``gan_weight`` 0, the study's L1-only
baseline) only the generator trains, on L1 alone.

Every device setup runs the same code: ``make_strategy`` picks MirroredStrategy over all
visible GPUs, MultiWorkerMirroredStrategy when ``TF_CONFIG`` describes a cluster, and the
default (one-replica) strategy on a CPU. ``train.mixed_precision`` and ``train.xla``
switch on float16 compute (with loss scaling) and XLA compilation of the step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from edgecolor.config import RunConfig
from edgecolor.errors import EdgecolorError
from edgecolor.training import catalogue
from edgecolor.training import data as data_module
from edgecolor.training.checkpoint import RunCheckpoint
from edgecolor.training.rebalance import BINS, run_weights
from edgecolor.training.samples import evaluate, write_sample_grid

log = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"
TEXT_LOG = "logs/train.log"
# Training losses go to TensorBoard this often (steps); evaluations at eval_every.
SCALAR_EVERY = 10
# images/s in the progress bar and the log is measured over this many recent steps.
RATE_WINDOW = 50


class TrainingDivergedError(EdgecolorError):
    """A loss became NaN or infinite; the run stopped without saving the bad state."""


@dataclass
class TrainResult:
    """What a finished run reports."""

    step: int
    checkpoint: str | None
    metrics: dict = field(default_factory=dict)
    images_per_second: float = 0.0
    sample_grid: Path | None = None


def make_strategy():
    """The tf.distribute strategy for the visible hardware (one code path for all).

    * ``TF_CONFIG`` set: MultiWorkerMirroredStrategy (synchronous data parallelism
      across machines, each with its GPUs).
    * GPUs visible: MirroredStrategy over all of them.
    * Otherwise the default strategy: one replica on the CPU.
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """True on the worker that writes checkpoints, samples and logs (always, on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not os.environ.get("TF_CONFIG"):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def _check_finite(losses: dict[str, float], step: int, last_checkpoint: str | None) -> None:
    """Raise TrainingDivergedError when a loss of ``step`` is NaN or infinite."""
    bad = [name for name, value in losses.items() if not math.isfinite(value)]
    if bad:
        raise TrainingDivergedError(
            f"{bad[0]} became {losses[bad[0]]} at step {step}; stopped without saving. "
            f"Last good checkpoint: {last_checkpoint or 'none'}. "
            "Lower the learning rate or disable mixed precision, then --resume."
        )


class _StepMeter:
    """Running figures of the steps since the last evaluation.

    ``take_averages`` gives the mean of each loss since the last call (and starts anew);
    ``images_per_second`` is measured over the last ``RATE_WINDOW`` steps: the first steps
    of each phase trace and compile, so a whole-run average would understate it.
    """

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.images_per_second = 0.0
        self._totals: dict[str, float] = {}
        self._counted = 0
        self._step_times: deque[float] = deque(maxlen=RATE_WINDOW + 1)

    def add(self, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            self._totals[name] = self._totals.get(name, 0.0) + value
        self._counted += 1
        self._step_times.append(time.perf_counter())
        if len(self._step_times) > 1:
            elapsed = self._step_times[-1] - self._step_times[0]
            steps = len(self._step_times) - 1
            self.images_per_second = steps * self.batch_size / max(elapsed, 1e-9)

    def take_averages(self) -> dict[str, float]:
        averages = {name: value / self._counted for name, value in self._totals.items()}
        self._totals, self._counted = {}, 0
        return averages


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
        self._l1_step = self._make_step(adversarial=False)
        self._gan_step = self._make_step(adversarial=True)
        self._tf = tf

    # ------------------------------------------------------------------ steps

    def _make_step(self, adversarial: bool):
        """A distributed tf.function running one step on a per-replica batch."""
        import tensorflow as tf

        from edgecolor.training.losses import GeneratorObjective, discriminator_loss

        train = self.config.train
        strategy = self.strategy
        generator, discriminator = self.generator, self.discriminator
        generator_optimizer, discriminator_optimizer = (
            self.generator_optimizer,
            self.discriminator_optimizer,
        )
        mixed = train.mixed_precision
        gan_weight = train.gan_weight if adversarial else 0.0
        objective = GeneratorObjective(
            generator,
            train,
            self.config.generator.temperature,
            self.ab_weights if train.rebalance > 0 else None,
        )

        @tf.function(jit_compile=train.xla)
        def gradients(L_scaled, ab_scaled):
            replicas = tf.cast(tf.distribute.get_replica_context().num_replicas_in_sync, tf.float32)
            with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
                _, fake_logits, losses = objective(
                    L_scaled, ab_scaled, discriminator if adversarial else None, gan_weight
                )
                if adversarial:
                    real_logits = discriminator(tf.concat([L_scaled, ab_scaled], -1), training=True)
                    d_loss = discriminator_loss(real_logits, fake_logits, train.real_label)
                else:
                    d_loss = tf.constant(0.0)
                g_total = losses["g_loss"]
                # Each replica's mean over its own batch; the replicas' gradients are summed.
                g_objective = g_total / replicas
                d_objective = d_loss / replicas
                if mixed:
                    g_objective = generator_optimizer.get_scaled_loss(g_objective)
                    d_objective = discriminator_optimizer.get_scaled_loss(d_objective)
            g_gradients = generator_tape.gradient(g_objective, generator.trainable_variables)
            if mixed:
                g_gradients = generator_optimizer.get_unscaled_gradients(g_gradients)
            d_gradients = []
            if adversarial:
                d_gradients = discriminator_tape.gradient(
                    d_objective, discriminator.trainable_variables
                )
                if mixed:
                    d_gradients = discriminator_optimizer.get_unscaled_gradients(d_gradients)
            losses["d_loss"] = d_loss
            return g_gradients, d_gradients, losses

        def replica_step(L_scaled, ab_scaled):
            g_gradients, d_gradients, losses = gradients(L_scaled, ab_scaled)
            generator_optimizer.apply_gradients(
                zip(g_gradients, generator.trainable_variables, strict=True)
            )
            if adversarial:
                discriminator_optimizer.apply_gradients(
                    zip(d_gradients, discriminator.trainable_variables, strict=True)
                )
            return losses

        @tf.function
        def distributed_step(batch):
            per_replica = strategy.run(replica_step, args=batch)
            return {
                name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for name, value in per_replica.items()
            }

        return distributed_step

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
        step = self._gan_step if adversarial else self._l1_step
        return {name: float(value) for name, value in step(batch).items()}

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
        prepared = prepared or catalogue.prepare_data(self.config, self.run_dir)
        if train.rebalance > 0:
            self.set_rebalancing(prepared.train)
        batches = self._batches(prepared, start)
        holdout, samples = self._evaluation_arrays(prepared)
        last_checkpoint = self.state.manager.latest_checkpoint if resume else None
        saved_step = start if resume else -1
        sample_path = None
        metrics: dict = {}
        meter = _StepMeter(train.batch_size)
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
                losses = self.train_step(next(batches), adversarial)
                _check_finite(losses, step + 1, last_checkpoint)
                step += 1
                self.state.step.assign(step)
                meter.add(losses)
                self._report_step(step, losses, meter.images_per_second, bar, writer)
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

    def _batches(self, prepared: catalogue.PreparedData, start: int):
        """An endless iterator of distributed training batches (L_scaled, ab_scaled)."""
        train = self.config.train
        # A resumed run draws a fresh data order (seed offset by the step) instead of
        # replaying the first batches again.
        dataset = data_module.training_dataset(
            prepared.train, train.image_size, train.batch_size, train.seed + start
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
            else data_module.holdout_arrays(prepared.train, train.image_size)
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

    def _report_step(self, step: int, losses: dict, images_per_second: float, bar, writer):
        """The progress bar after every step; TensorBoard scalars every ``SCALAR_EVERY``."""
        bar.update(1)
        bar.set_postfix(
            l1=f"{losses['g_l1']:.4f}",
            ce=f"{losses['g_ce']:.3f}",
            g=f"{losses['g_adversarial']:.3f}",
            d=f"{losses['d_loss']:.3f}",
            img_s=f"{images_per_second:.1f}",
            refresh=False,
        )
        if writer is None or step % SCALAR_EVERY:
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
    _add_file_log(run_dir)
    # TensorFlow's own INFO chatter (e.g. checkpoint sharding timings) is not for users.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)
    prepared = catalogue.prepare_data(config, run_dir)
    trainer = Trainer(config, run_dir)
    return trainer.run(resume=resume, progress=progress, prepared=prepared)


def _add_file_log(run_dir: Path) -> None:
    """Also log to RUN_DIR/logs/train.log (skipped files, schedule changes, results)."""
    path = run_dir / TEXT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("edgecolor")
    for handler in root.handlers:
        if (
            isinstance(handler, logging.FileHandler)
            and Path(handler.baseFilename) == path.resolve()
        ):
            return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
