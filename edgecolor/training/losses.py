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


# --------------------------------------------------------------------------- distribution head

# Soft encoding of a true colour over its nearest bins (Zhang et al. 2016: a Gaussian of
# sigma 5 Lab units over the 5 nearest bins). The bins lie on a 10-unit grid, so "the bins
# within 12 units" are 4 to 6 of the nearest (5 for a colour on a bin centre) and need no
# top-k over the Q bins (the step's slowest op on a CPU).
SOFT_ENCODING_SIGMA = 5.0
SOFT_ENCODING_RADIUS = 12.0


def soft_encode(ab_scaled: tf.Tensor, centres_scaled: tf.Tensor):
    """Soft-encoded targets of true colours over the bins.

    Args:
        ab_scaled: float32 (N, h, w, 2), ab / 110.
        centres_scaled: float32 (Q, 2), bin centres / 110.
    Returns:
        (targets float32 (N, h, w, Q) summing to 1 over Q, nearest bin int32 (N, h, w)).
    """
    from edgecolor import color

    ab = color.LAB_SCALING.ab_from_model(tf.cast(ab_scaled, tf.float32))
    centres = color.LAB_SCALING.ab_from_model(centres_scaled)
    # |ab - c|^2 for every bin, without an (N, h, w, Q, 2) intermediate.
    squared = (
        tf.reduce_sum(ab * ab, -1, keepdims=True)
        - 2.0 * tf.tensordot(ab, tf.transpose(centres), axes=1)
        + tf.reduce_sum(centres * centres, -1)
    )
    squared = tf.maximum(squared, 0.0)
    nearest = tf.argmin(squared, axis=-1, output_type=tf.int32)
    # The nearest bin always counts (a colour beyond the gamut's edge may have no bin
    # within the radius).
    near = (squared <= SOFT_ENCODING_RADIUS**2) | tf.one_hot(
        nearest, tf.shape(centres)[0], on_value=True, off_value=False
    )
    targets = tf.where(near, tf.exp(-squared / (2.0 * SOFT_ENCODING_SIGMA**2)), 0.0)
    targets = targets / tf.maximum(tf.reduce_sum(targets, -1, keepdims=True), 1e-12)
    return targets, nearest


def half_resolution(ab_scaled: tf.Tensor) -> tf.Tensor:
    """(N, H, W, 2) -> (N, H/2, W/2, 2) by 2x2 means: the truth at the head's resolution."""
    return tf.nn.avg_pool2d(tf.cast(ab_scaled, tf.float32), 2, 2, "VALID")


def distribution_losses(
    real_ab: tf.Tensor,
    logits: tf.Tensor,
    gain: tf.Tensor,
    vector: tf.Tensor,
    centres_scaled: tf.Tensor,
    temperature: float,
    bin_weights: tf.Tensor | None = None,
    gain_loss: str = "l1",
) -> tuple[tf.Tensor, tf.Tensor]:
    """The distribution head's two terms (edgecolor/models/distribution_head.py).

    Args:
        real_ab: float (N, H, W, 2), ab / 110 at the input's resolution.
        logits: (N, H/2, W/2, Q) annealed logits z / T (the ``ab_logits`` layer).
        gain, vector: (N, H/2, W/2, 1) and (N, H/2, W/2, 2), the head's chroma gain and
            hue vector (``ab_gain``, ``ab_vector``).
        centres_scaled: float32 (Q, 2), bin centres / 110.
        temperature: the run's T: the cross-entropy is on softmax(T * logits) = softmax(z).
        bin_weights: float32 (Q,) class-rebalancing weight of each pixel's nearest true
            bin (``rebalance.distribution_bin_weights``), or None for none.
        gain_loss: "l1" or "l2" (``TrainConfig.gain_loss``): the error that fits the gain.
    Returns:
        (cross_entropy, restrained), float32 scalars. The cross-entropy trains the
        distribution; the L1 (or squared error) of ``gain * vector`` against the truth
        trains only the gain (no gradient flows into ``vector``): the chroma an L1 optimum
        (the median along the distribution's hue) or an L2 optimum (the mean, lower where
        the hue is often wrong) would choose.
    """
    truth = half_resolution(real_ab)
    targets, nearest = soft_encode(truth, centres_scaled)
    log_probabilities = tf.nn.log_softmax(tf.cast(logits, tf.float32) * temperature, axis=-1)
    per_pixel = -tf.reduce_sum(targets * log_probabilities, axis=-1)  # (N, h, w)
    if bin_weights is not None:
        per_pixel = per_pixel * tf.gather(bin_weights, nearest)
    cross_entropy = tf.reduce_mean(per_pixel)
    decoded = tf.cast(gain, tf.float32) * tf.stop_gradient(tf.cast(vector, tf.float32))
    error = truth - decoded
    if gain_loss == "l2":
        restrained = tf.reduce_mean(tf.square(error))
    else:
        restrained = tf.reduce_mean(tf.abs(error))
    return cross_entropy, restrained


class GeneratorObjective:
    """The generator's whole objective for a run's head, shared by training and QAT.

    Regression head: ``gan_weight * adversarial + l1_weight * L1`` (``generator_loss``).
    Distribution head: ``gan_weight * adversarial + ce_weight * cross-entropy +
    l1_weight * restrained L1`` (``distribution_losses``); the discriminator sees the
    decoded ab, so its gradient reaches the distribution too.

    Args:
        generator: the (float or QAT-wrapped) generator, L/50-1 -> ab/110.
        train: the run's ``TrainConfig``; ``temperature`` the generator's.
        weights: the class-rebalancing table of the head (``rebalance.run_weights``): float32
            (BINS, BINS) for the regression head's L1, (Q,) for the distribution head's
            cross-entropy; None for none.
    """

    def __init__(self, generator, train, temperature: float, weights=None):
        from edgecolor.models import ab_bins
        from edgecolor.models.distribution_head import has_distribution_head, training_outputs

        self.train = train
        self.weights = weights
        self.temperature = temperature
        self.distribution = has_distribution_head(generator)
        self.model = training_outputs(generator) if self.distribution else generator
        self.centres = None
        if self.distribution:
            from edgecolor import color

            self.centres = tf.constant(color.LAB_SCALING.ab_to_model(ab_bins.bin_centres()))

    def __call__(
        self,
        L_scaled,
        ab_scaled,
        discriminator=None,
        gan_weight: float = 0.0,
        discriminator_training: bool = True,
    ):
        """One forward pass and its losses.

        Args:
            L_scaled, ab_scaled: the batch, (N, H, W, 1) and (N, H, W, 2).
            discriminator: judges (L, generated ab); None for the L1 / cross-entropy
                terms only.
            gan_weight: the adversarial term's weight in this phase.
            discriminator_training: the discriminator's batch norm mode.
        Returns:
            (fake_ab, fake_logits or None, {"g_loss", "g_adversarial", "g_l1", "g_ce"}):
            ``g_l1`` is the plain L1 of the output (comparable across heads and runs);
            ``g_ce`` is 0 for the regression head.
        """
        if self.distribution:
            fake_ab, logits, gain, vector = self.model(L_scaled, training=True)
        else:
            fake_ab = self.model(L_scaled, training=True)
        fake_ab = tf.cast(fake_ab, L_scaled.dtype)
        fake_logits = None
        # With a discriminator the phase is adversarial: it judges the fakes (and learns
        # from them) even where the generator's adversarial weight is 0.
        if discriminator is not None:
            fake_logits = discriminator(
                tf.concat([L_scaled, fake_ab], -1), training=discriminator_training
            )
        if not self.distribution:
            total, adversarial, l1 = generator_loss(
                fake_logits, ab_scaled, fake_ab, gan_weight, self.train.l1_weight, self.weights
            )
            cross_entropy = tf.constant(0.0, tf.float32)
        else:
            l1 = l1_loss(ab_scaled, fake_ab)
            adversarial = (
                adversarial_generator_loss(fake_logits)
                if fake_logits is not None
                else tf.constant(0.0, tf.float32)
            )
            cross_entropy, restrained = distribution_losses(
                ab_scaled,
                logits,
                gain,
                vector,
                self.centres,
                self.temperature,
                self.weights,
                self.train.gain_loss,
            )
            total = (
                gan_weight * adversarial
                + self.train.ce_weight * cross_entropy
                + self.train.l1_weight * restrained
            )
        losses = {"g_loss": total, "g_adversarial": adversarial, "g_l1": l1, "g_ce": cross_entropy}
        return fake_ab, fake_logits, losses
