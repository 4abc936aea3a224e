"""Quantization-aware fine-tuning (QAT) of a trained generator, before int8 export.

``tfmot.quantization.keras.quantize_model`` wraps every layer of the flat functional
``tf_keras`` generator with fake-quantization (int8 per-channel weights, int8 per-tensor
activations, batch norm folded at conversion), and the wrapped generator is fine-tuned for
a few hundred steps with the run's own objective: ``gan_weight * adversarial + l1_weight * L1``
(``edgecolor.training.losses.generator_loss``) against the run's **frozen** float
discriminator (weights never updated; batch norm on batch statistics, as when it judged
fakes in training). The discriminator still judges colour plausibility, so QAT does not
drift back towards the grayish L1-only optimum. The generator's own batch norms are frozen
too (inference mode, trained statistics), so QAT adapts only the convolution weights and
the quantization ranges: on the default model this keeps PSNR within 0.2 dB of the float
model, where letting the statistics move lost 0.5 dB (docs/export-variants.md).

QAT trains at the run's image size (its data pipeline); the network is fully
convolutional, so the fine-tuned model converts at any export size.

A saved QAT model can only be loaded inside ``quantize_scope`` (its layers are tfmot
wrappers); use ``load_qat_model``. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edgecolor.config import RunConfig
from edgecolor.errors import UsageError

log = logging.getLogger(__name__)

# Fine-tuning learning rate as a fraction of the run's initial one: QAT only has to adapt
# weights to the int8 grid, so it takes small steps from the trained optimum. Measured on
# the default model (docs/export-variants.md): 0.01 keeps PSNR, CIEDE2000 and colourfulness
# at the float model's; 0.1 re-trained it (colourfulness 0.98 -> 0.84).
QAT_LEARNING_RATE_FACTOR = 0.01
# Default QAT steps: sized so the default model (edge, 128 px, batch 16) fine-tunes in
# well under 10 minutes on a 2-core x86 CPU (see docs/export-variants.md for the timing).
DEFAULT_QAT_STEPS = 300


def quantize_generator(generator):
    """Wrap a float ``tf_keras`` generator for QAT (tfmot's default 8-bit scheme).

    Args:
        generator: a flat functional model, float32 (N, H, W, 1) L/50-1 -> (N, H, W, 2) ab/110.
    Returns:
        The quantize-wrapped model, same input/output contract.
    Raises:
        UsageError: the network has a layer tfmot cannot quantize.
    """
    import tensorflow_model_optimization as tfmot

    from edgecolor.models.distribution_head import ChannelMax, StopGradient
    from edgecolor.models.keras import keras
    from edgecolor.training.quantize_config import OutputQuantizeConfig

    quantize = tfmot.quantization.keras
    output_config = OutputQuantizeConfig()
    # The distribution head's weightless layers that tfmot's default 8-bit scheme refuses
    # (channel max, stop-gradient, subtraction, product). Only these get a config of ours:
    # batch norm, ReLU and the like are handled by tfmot's own transforms (which fold batch
    # norm into the convolutions) and must be left to them.
    unsupported = [
        layer
        for layer in generator.layers
        if isinstance(
            layer, (ChannelMax, StopGradient, keras.layers.Subtract, keras.layers.Multiply)
        )
    ]
    try:
        if not unsupported:
            return quantize.quantize_model(generator)

        # They have no weights, so fake-quantizing their outputs (as the converter will
        # quantize those tensors) is all QAT needs of them. As tfmot's
        # quantize_annotate_model does, the layers themselves are wrapped (their weights
        # come along).
        def annotate(layer):
            if isinstance(layer, keras.layers.InputLayer):
                return layer
            config = output_config if layer in unsupported else None
            return quantize.quantize_annotate_layer(layer, config)

        annotated = keras.models.clone_model(generator, clone_function=annotate)
        with quantize.quantize_scope(
            {
                "ChannelMax": ChannelMax,
                "StopGradient": StopGradient,
                "OutputQuantizeConfig": OutputQuantizeConfig,
            }
        ):
            return quantize.quantize_apply(annotated)
    except (RuntimeError, ValueError, TypeError) as error:
        raise UsageError(
            f"generator {generator.name!r} cannot be quantization-aware trained: {error}"
        ) from None


def load_discriminator(run_dir: str | Path, config: RunConfig):
    """Rebuild the run's discriminator and restore its newest weights (float32).

    Raises:
        UsageError: no checkpoint, or its discriminator does not match ``config``.
    """
    import tensorflow as tf

    from edgecolor.models import build_discriminator
    from edgecolor.training.checkpoint import checkpoint_dir, latest_checkpoint

    path = latest_checkpoint(run_dir)
    if path is None:
        raise UsageError(f"no checkpoint in {checkpoint_dir(run_dir)}: train first")
    discriminator = build_discriminator(config.discriminator, config.train.image_size)
    checkpoint = tf.train.Checkpoint(discriminator=discriminator)
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UsageError(
            f"checkpoint {path} does not match config.json's discriminator: {first_line}"
        ) from None
    return discriminator


def qat_finetune(
    generator,
    discriminator,
    dataset,
    config: RunConfig,
    steps: int,
    learning_rate: float | None = None,
    log_every: int = 50,
    discriminator_batch_statistics: bool = True,
    freeze_batch_norm: bool = True,
    ab_weights=None,
):
    """Quantization-aware fine-tuning with the run's generator objective.

    Args:
        generator: the trained float generator (not modified).
        discriminator: the trained discriminator, kept frozen (inference mode, no updates);
            None fine-tunes on L1 alone (used when the run's ``gan_weight`` is 0).
        dataset: an iterable of (L_scaled float32 (B, S, S, 1), ab_scaled float32 (B, S, S, 2)).
        config: the run's config (loss weights, learning rate, beta_1).
        steps: fine-tuning steps; 0 returns the wrapped model with untrained ranges.
        learning_rate: Adam step size; None = ``QAT_LEARNING_RATE_FACTOR`` x the run's.
        discriminator_batch_statistics: run the frozen discriminator's batch norm on batch
            statistics, exactly as it judged fakes during training (True), or on its moving
            averages (False). Its weights are never updated either way.
        freeze_batch_norm: keep the generator's batch norms in inference mode with their
            trained statistics (``trainable = False`` on those layers of ``generator``,
            which is modified), so only convolution weights and quantization ranges adapt.
        ab_weights: the class-rebalancing weights of a run with ``train.rebalance``
            (``training.rebalance.run_weights``, for the run's head), None for none.
    Returns:
        (qat_model, history): the quantize-wrapped generator and a list of per-step
        {"step", "g_loss", "g_l1", "g_adversarial"} dicts (every ``log_every`` steps and the last).
    """
    import tensorflow as tf

    from edgecolor.models.keras import keras
    from edgecolor.training.losses import GeneratorObjective

    if steps < 0:
        raise UsageError(f"QAT steps {steps}: must be 0 or more")
    train = config.train
    if freeze_batch_norm:
        for layer in generator.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    qat_model = quantize_generator(generator)
    adversarial = discriminator is not None and train.gan_weight > 0
    optimizer = keras.optimizers.Adam(
        learning_rate
        if learning_rate is not None
        else train.learning_rate * QAT_LEARNING_RATE_FACTOR,
        beta_1=train.beta_1,
    )

    objective = GeneratorObjective(qat_model, train, config.generator.temperature, ab_weights)

    @tf.function
    def step_function(L_scaled, ab_scaled):
        with tf.GradientTape() as tape:
            # The discriminator is frozen: no gradient is ever applied to its weights.
            _, _, losses = objective(
                L_scaled,
                ab_scaled,
                discriminator if adversarial else None,
                train.gan_weight if adversarial else 0.0,
                discriminator_training=discriminator_batch_statistics,
            )
        gradients = tape.gradient(losses["g_loss"], qat_model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, qat_model.trainable_variables, strict=True))
        return {name: losses[name] for name in ("g_loss", "g_l1", "g_adversarial", "g_ce")}

    history = []
    started = time.perf_counter()
    iterator = iter(dataset)
    for step in range(1, steps + 1):
        L_scaled, ab_scaled = next(iterator)
        losses = step_function(L_scaled, ab_scaled)
        if step % log_every == 0 or step == steps:
            values = {name: float(value) for name, value in losses.items()}
            history.append({"step": step, **values})
            elapsed = time.perf_counter() - started
            log.info(
                "qat step %d/%d: g_loss %.4f l1 %.4f adversarial %.4f (%.1f s)",
                step,
                steps,
                values["g_loss"],
                values["g_l1"],
                values["g_adversarial"],
                elapsed,
            )
            if not all(map(_finite, values.values())):
                raise RuntimeError(f"QAT diverged at step {step}: {values}")
    return qat_model, history


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def save_qat_model(model, path: str | Path) -> Path:
    """Save a quantize-wrapped model as one ``.h5`` file (for re-export without re-training)."""
    path = Path(path)
    model.save(path, include_optimizer=False)
    return path


def load_qat_model(path: str | Path):
    """Load a model saved by ``save_qat_model``; its tfmot layers need ``quantize_scope``."""
    import tensorflow_model_optimization as tfmot

    from edgecolor.models.keras import keras

    with tfmot.quantization.keras.quantize_scope():
        return keras.models.load_model(path, compile=False)
