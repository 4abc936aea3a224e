"""The cGAN losses (DESIGN.md), shared by training and QAT fine-tuning.

Generator: ``gan_weight * adversarial + l1_weight * L1`` with the non-saturating
adversarial term -log D(x, G(x)) (the "alternative" generator cost: strong gradients
early, when the discriminator easily rejects fakes). Discriminator: binary cross-entropy
with one-sided label smoothing (real targets ``real_label``, e.g. 0.9; fake targets 0)
and no L1 term.

Discriminator outputs are logits (any shape: one per image or one per patch); the sigmoid
is applied inside the cross-entropy, which is numerically safer. Every loss is a mean
over the batch (and patches), cast to float32 so mixed-precision models work unchanged.
"""

from __future__ import annotations

import tensorflow as tf


def l1_loss(real_ab: tf.Tensor, fake_ab: tf.Tensor) -> tf.Tensor:
    """Mean absolute error between ab maps, float32 scalar.

    Args:
        real_ab, fake_ab: float (N, H, W, 2), ab / 110 in [-1, 1].
    """
    return tf.reduce_mean(tf.abs(tf.cast(real_ab, tf.float32) - tf.cast(fake_ab, tf.float32)))


def adversarial_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating generator loss -log sigmoid(D(x, G(x))), float32 scalar.

    Args:
        fake_logits: discriminator logits on generated images, any shape (N, ...).
    """
    fake_logits = tf.cast(fake_logits, tf.float32)
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.ones_like(fake_logits), logits=fake_logits
        )
    )


def generator_loss(
    fake_logits: tf.Tensor | None,
    real_ab: tf.Tensor,
    fake_ab: tf.Tensor,
    gan_weight: float,
    l1_weight: float,
    ab_weights: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The generator's objective ``gan_weight * adversarial + l1_weight * L1``.

    Args:
        fake_logits: discriminator logits on generated images, or None for L1 only
            (L1 pretraining, or the study's L1-only baseline with ``gan_weight`` 0).
        real_ab, fake_ab: float (N, H, W, 2), ab / 110.
        ab_weights: float32 (BINS, BINS) class-rebalancing weights
            (``training.rebalance``), or None for plain L1 in the objective.
    Returns:
        (total, adversarial, l1), float32 scalars; adversarial is 0 without logits. ``l1``
        is always the plain L1 (comparable across runs), whatever the objective weighs.
    """
    l1 = l1_loss(real_ab, fake_ab)
    if fake_logits is None or gan_weight == 0:
        adversarial = tf.constant(0.0, tf.float32)
    else:
        adversarial = adversarial_generator_loss(fake_logits)
    if ab_weights is None:
        l1_objective = l1
    else:
        from edgecolor.training.rebalance import weighted_l1_loss

        l1_objective = weighted_l1_loss(real_ab, fake_ab, ab_weights)
    total = gan_weight * adversarial + l1_weight * l1_objective
    return total, adversarial, l1


def discriminator_loss(
    real_logits: tf.Tensor, fake_logits: tf.Tensor, real_label: float = 0.9
) -> tf.Tensor:
    """Binary cross-entropy with one-sided label smoothing, float32 scalar.

    Real pairs (L, ab) are labelled ``real_label`` (smoothing only the real side keeps the
    discriminator from being over-confident without rewarding fakes); generated pairs 0.
    The two halves are averaged, as in pix2pix.

    Args:
        real_logits: logits on (L, real ab), any shape (N, ...).
        fake_logits: logits on (L, generated ab), same shape.
    """
    real_logits = tf.cast(real_logits, tf.float32)
    fake_logits = tf.cast(fake_logits, tf.float32)
    real = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(real_logits), tf.constant(real_label, tf.float32)),
        logits=real_logits,
    )
    fake = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.zeros_like(fake_logits), logits=fake_logits
    )
    return 0.5 * (tf.reduce_mean(real) + tf.reduce_mean(fake))
