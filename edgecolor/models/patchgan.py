"""The default discriminator: pix2pix's 70x70 PatchGAN.

Input (N, H, W, 3) = L / 50 - 1 and ab / 110; output (N, H/8 - 2, W/8 - 2, 1) logits, one
per overlapping 70x70 patch (30x30 at 256x256). It never leaves the training machine, so
it keeps LeakyReLU.
"""

from __future__ import annotations

from edgecolor.config import DiscriminatorConfig
from edgecolor.models.keras import keras, layers


def build_patchgan(config: DiscriminatorConfig, image_size: int | None = None) -> keras.Model:
    """C64-C128-C256-C512 (4x4 kernels), then a 4x4 conv to one logit per patch."""
    width = config.base_filters

    def initializer():
        # A fresh instance per layer: one unseeded instance reused gives every layer the
        # same random draws (tf_keras warns about it).
        return keras.initializers.RandomNormal(0.0, 0.02)

    inputs = keras.Input((image_size, image_size, 3), name="L_ab")
    x = inputs
    for index, (multiplier, stride) in enumerate([(1, 2), (2, 2), (4, 2)], start=1):
        x = layers.Conv2D(
            width * multiplier,
            4,
            strides=stride,
            padding="same",
            use_bias=index == 1,
            kernel_initializer=initializer(),
            name=f"c{index}",
        )(x)
        if index > 1:
            x = layers.BatchNormalization(name=f"c{index}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"c{index}_lrelu")(x)
    x = layers.ZeroPadding2D(name="pad4")(x)
    x = layers.Conv2D(width * 8, 4, use_bias=False, kernel_initializer=initializer(), name="c4")(x)
    x = layers.BatchNormalization(name="c4_bn")(x)
    x = layers.LeakyReLU(0.2, name="c4_lrelu")(x)
    x = layers.ZeroPadding2D(name="pad5")(x)
    outputs = layers.Conv2D(1, 4, kernel_initializer=initializer(), name="patch_logits")(x)
    return keras.Model(inputs, outputs, name="patchgan")
