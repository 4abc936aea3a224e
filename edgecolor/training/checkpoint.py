"""Checkpoints of a training run, and loading a run's generator for export.

``RUN_DIR/checkpoints/`` is a ``tf.train.CheckpointManager`` holding the generator, the
discriminator, both optimizers, the step, the learning rate and the plateau state, so
``--resume`` continues exactly where the run stopped.

Crash safety (verified in TensorFlow 2.21's source, ``checkpoint/functional_saver.py`` and
``checkpoint/checkpoint_management.py``): a save writes ``ckpt-N.data-*``/``.index``
through a ``_temp`` folder that is merged and renamed at the end, and only then rewrites
the small ``checkpoint`` index file with ``atomic_write_string_to_file``. A run killed
mid-save (even with SIGKILL) therefore still points at the previous, complete checkpoint:
it loses at most one checkpoint interval.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from edgecolor.config import RunConfig
from edgecolor.errors import UsageError

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
# The generator at its best hold-out L1 (within the run's last phase), for export.
BEST_DIR = "checkpoints/best"
CONFIG_FILE = "config.json"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def latest_checkpoint(run_dir: str | Path, which: str = "latest") -> str | None:
    """Path prefix of a complete checkpoint of the run, or None.

    ``which``: "latest" (the newest in ``RUN_DIR/checkpoints``), "best" (the generator at
    its best hold-out L1, ``RUN_DIR/checkpoints/best``) or "auto" (best when there is one).
    """
    import tensorflow as tf

    if which not in ("latest", "best", "auto"):
        raise UsageError(f"checkpoint {which!r}: choose latest, best or auto")
    if which in ("best", "auto"):
        best_directory = Path(run_dir) / BEST_DIR
        best = tf.train.latest_checkpoint(str(best_directory)) if best_directory.is_dir() else None
        if best is not None or which == "best":
            return best
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return None
    return tf.train.latest_checkpoint(str(directory))


def has_checkpoint(run_dir: str | Path) -> bool:
    """True when the run folder holds at least one complete checkpoint (no TensorFlow)."""
    state = checkpoint_dir(run_dir) / "checkpoint"
    if not state.is_file():
        return False
    # The index file names the latest checkpoint; it is complete when its .index exists.
    for line in state.read_text().splitlines():
        if line.startswith("model_checkpoint_path:"):
            name = json.loads(line.split(":", 1)[1].strip())
            return (checkpoint_dir(run_dir) / f"{name}.index").is_file()
    return False


class RunCheckpoint:
    """The training state of a run, saved and restored with ``tf.train.CheckpointManager``.

    Attributes ``step`` (int64), ``learning_rate`` (float32), ``best_holdout_l1`` and
    ``evals_without_improvement`` are ``tf.Variable``s saved with the networks and the
    optimizers, so a resumed run keeps its schedule and its plateau detection.
    """

    def __init__(
        self,
        run_dir,
        generator,
        discriminator,
        generator_optimizer,
        discriminator_optimizer,
        learning_rate: float,
        keep: int = 3,
        write_dir: str | Path | None = None,
    ):
        import tensorflow as tf

        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.learning_rate = tf.Variable(
            learning_rate, dtype=tf.float32, trainable=False, name="learning_rate"
        )
        self.best_holdout_l1 = tf.Variable(
            float("inf"), dtype=tf.float32, trainable=False, name="best_holdout_l1"
        )
        self.evals_without_improvement = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="evals_without_improvement"
        )
        # Evaluations since the best hold-out L1 (not reset by a learning-rate decay).
        self.evals_since_best = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="evals_since_best"
        )
        self.checkpoint = tf.train.Checkpoint(
            generator=generator,
            discriminator=discriminator,
            generator_optimizer=generator_optimizer,
            discriminator_optimizer=discriminator_optimizer,
            step=self.step,
            learning_rate=self.learning_rate,
            best_holdout_l1=self.best_holdout_l1,
            evals_without_improvement=self.evals_without_improvement,
            evals_since_best=self.evals_since_best,
        )
        self.best_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(generator=generator, step=self.step),
            str((Path(write_dir) / "best") if write_dir is not None else Path(run_dir) / BEST_DIR),
            max_to_keep=1,
        )
        # Multi-worker training: every worker must take part in a save, but only the chief
        # writes into the run folder; the others write to a scratch folder (write_dir).
        directory = Path(write_dir) if write_dir is not None else checkpoint_dir(run_dir)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep=keep)
        self.read_manager = (
            self.manager
            if write_dir is None
            else tf.train.CheckpointManager(
                self.checkpoint, str(checkpoint_dir(run_dir)), max_to_keep=keep
            )
        )

    def restore_latest(self) -> int:
        """Restore the newest checkpoint; returns its step.

        Raises:
            UsageError: there is no checkpoint, or it does not match the networks.
        """
        path = self.read_manager.latest_checkpoint
        if path is None:
            raise UsageError(f"no checkpoint to resume from in {self.read_manager.directory}")
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise UsageError(
                f"checkpoint {path} does not match the run's config.json: {_first_line(error)}"
            ) from None
        log.info("resumed from %s (step %d)", path, int(self.step.numpy()))
        return int(self.step.numpy())

    def save(self) -> str:
        """Save at the current step (checkpoint number = step); returns the path prefix."""
        step = int(self.step.numpy())
        return self.manager.save(checkpoint_number=step)

    def restore_best_generator(self) -> str | None:
        """Load the generator of the best checkpoint into the live generator (its optimizer
        state is left as it is); returns the checkpoint path, or None when there is none."""
        path = self.best_manager.latest_checkpoint
        if path is None:
            return None
        import tensorflow as tf

        step = tf.Variable(0, dtype=tf.int64)
        tf.train.Checkpoint(generator=self.checkpoint.generator, step=step).restore(
            path
        ).expect_partial().assert_existing_objects_matched()
        return path

    def save_best(self) -> str:
        """Save the generator as the run's best (replacing the previous best)."""
        return self.best_manager.save(checkpoint_number=int(self.step.numpy()))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load_run_config(run_dir: str | Path) -> RunConfig:
    """``RUN_DIR/config.json`` as a RunConfig (UsageError when missing or invalid)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"not a training run folder (no {CONFIG_FILE}): {run_dir}")
    return RunConfig.load_run(path)


def load_generator(run_dir: str | Path, image_size: int | None = None, which: str = "auto"):
    """Rebuild a run's generator from ``config.json`` and restore its newest weights.

    Only the generator is restored (the discriminator and optimizers are not needed for
    export). The model is built in float32 whatever the run's mixed-precision setting.

    Args:
        run_dir: a training run folder.
        image_size: fixed square input size; None builds the edge generator with a free
            input size (it is fully convolutional) and the other networks at the run's
            training size.
    Returns:
        (keras.Model mapping float32 (N, H, W, 1) L / 50 - 1 -> (N, H, W, 2) ab / 110,
        RunConfig, training step of the restored checkpoint).
    Raises:
        UsageError: not a run folder, no checkpoint, or a checkpoint that does not match
            the generator described by config.json.
    """
    config = load_run_config(run_dir)  # not a run folder: say that first
    path = latest_checkpoint(run_dir, which)
    if path is None:
        kind = "" if which == "auto" else f"{which} "
        raise UsageError(f"no {kind}checkpoint in {checkpoint_dir(run_dir)}: train first")
    generator = build_run_generator(config, image_size)
    return generator, config, restore_weights(generator, config, path)


def build_run_generator(config: RunConfig, image_size: int | None = None):
    """A run's generator, untrained, in float32 whatever the run's mixed precision:
    ``image_size`` as :func:`load_generator` takes it."""
    from edgecolor.models import build_generator, is_fully_convolutional
    from edgecolor.models.keras import keras

    if image_size is None and not is_fully_convolutional(config.generator):
        image_size = config.train.image_size
    keras.mixed_precision.set_global_policy("float32")
    return build_generator(config.generator, image_size)


def restore_weights(generator, config: RunConfig, path: str) -> int:
    """Load checkpoint ``path`` (a prefix such as ``RUN_DIR/checkpoints/ckpt-4000``) into
    ``generator``, built from the run's ``config``; returns the checkpoint's step.

    Raises:
        UsageError: the checkpoint does not match the generator described by the config.
    """
    import tensorflow as tf

    # Every generator variable must be in the checkpoint with the same shape, and the
    # checkpoint must hold no generator variable the rebuilt network lacks.
    stored = {
        name: shape
        for name, shape in tf.train.list_variables(path)
        if name.startswith("generator/") and "OPTIMIZER_SLOT" not in name
    }
    expected = len(generator.weights)
    if len(stored) != expected:
        raise UsageError(
            f"checkpoint {path} does not match config.json: it holds {len(stored)} generator "
            f"variables, config.json's generator {config.generator.name!r} has {expected}"
        )
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(generator=generator, step=step)
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        raise UsageError(
            f"checkpoint {path} does not match config.json's generator: {_first_line(error)}"
        ) from None
    return int(step.numpy())
