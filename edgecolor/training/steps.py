"""The distributed training steps of a ``Trainer`` (one code path for CPU, GPUs, machines).

One step (DESIGN.md): G(x); D on the real pair (L, ab) and on the generated pair (L, G(L));
the generator loss (non-saturating adversarial + lambda * L1) and the discriminator loss;
gradients from two tapes; both Adam optimizers step. The L1 phase trains the generator only.

* ``train.xla`` compiles the forward and backward pass (``gradients``) with XLA; the
  optimizer update and the cross-replica sum stay outside it, where XLA gains nothing.
* ``train.mixed_precision`` computes in float16 with dynamic loss scaling.
* Each replica gets a per-replica batch and divides its mean loss by the number of
  replicas, so the summed gradients are those of the global batch's mean.
* ``many_steps`` runs ``count`` steps inside one ``tf.function`` (Keras'
  ``steps_per_execution``): Python, which a fast GPU would otherwise wait for between
  steps, runs once per ``count`` steps.
"""

from __future__ import annotations


def make_steps(trainer, adversarial: bool):
    """(one_step(batch), many_steps(iterator, count)) for one phase of ``trainer``.

    ``one_step`` takes a distributed batch (L_scaled (B, S, S, 1), ab_scaled (B, S, S, 2)),
    ``many_steps`` a distributed iterator of them and an int32 scalar count >= 1; both
    return a dict of float32 scalar losses (the mean over replicas, and over the steps).
    """
    import tensorflow as tf

    from edgecolor.training.losses import GeneratorObjective, discriminator_loss

    train = trainer.config.train
    strategy = trainer.strategy
    generator, discriminator = trainer.generator, trainer.discriminator
    generator_optimizer = trainer.generator_optimizer
    discriminator_optimizer = trainer.discriminator_optimizer
    mixed = train.mixed_precision
    gan_weight = train.gan_weight if adversarial else 0.0
    objective = GeneratorObjective(
        generator,
        train,
        trainer.config.generator.temperature,
        trainer.ab_weights if train.rebalance > 0 else None,
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

    def step_on(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in per_replica.items()
        }

    @tf.function
    def one_step(batch):
        return step_on(batch)

    @tf.function
    def many_steps(iterator, count):
        totals = step_on(next(iterator))
        for _ in tf.range(count - 1):
            losses = step_on(next(iterator))
            totals = {name: totals[name] + losses[name] for name in totals}
        scale = tf.cast(count, tf.float32)
        return {name: value / scale for name, value in totals.items()}

    return one_step, many_steps
