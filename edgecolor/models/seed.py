"""The study's own networks (DESIGN.md), kept as the ``seed`` baseline for comparison.

Generator: input (N, 120, 120, 1) L / 50 - 1; every convolution stride 1, no padding, so
each encoder layer shrinks the map and each transposed convolution grows it back.
Output (N, 120, 120, 2) ab / 110 in [-1, 1]. About 14 GMAC per 120x120 image.

Discriminator: input (N, 120, 120, 3) = L and ab; VGG-like convs, max-pooling and a dense
head. It returns one logit per image (the study's final sigmoid is applied inside the loss,
which is numerically safer).
"""

from __future__ import annotations

from edgecolor.config import DiscriminatorConfig, GeneratorConfig
from edgecolor.models.keras import keras, layers

SEED_IMAGE_SIZE = 120

# (filters, kernel) of each encoder stage and each decoder stage, from DESIGN.md.
_ENCODER = [[(16, 5), (32, 3), (32, 3)], [(32, 5), (64, 3), (64, 3)], [(64, 5), (128, 3), (128, 3)]]
_DECODER = [[(128, 3), (128, 3), (64, 5)], [(64, 3), (64, 3), (32, 5)], [(32, 3), (32, 3), (2, 5)]]


def build_seed_generator(
    config: GeneratorConfig, image_size: int | None = SEED_IMAGE_SIZE
) -> keras.Model:
    """The study's U-Net with valid (unpadded) stride-1 convolutions."""
    del config  # the seed network has a fixed layout
    size = image_size or SEED_IMAGE_SIZE
    inputs = keras.Input((size, size, 1), name="L")
    x = inputs
    skips = []
    for stage, convs in enumerate(_ENCODER, start=1):
        for index, (filters, kernel) in enumerate(convs, start=1):
            x = layers.Conv2D(filters, kernel, use_bias=False, name=f"enc{stage}_{index}")(x)
            x = layers.BatchNormalization(name=f"enc{stage}_{index}_bn")(x)
            x = layers.LeakyReLU(0.2, name=f"enc{stage}_{index}_lrelu")(x)
        skips.append(x)  # 112, 104, 96 at a 120 input
    x = layers.Conv2D(128, 3, padding="same", activation="tanh", name="bottleneck")(x)
    for stage, convs in zip((3, 2, 1), _DECODER, strict=True):
        x = layers.Concatenate(name=f"skip{stage}")([x, skips[stage - 1]])
        for index, (filters, kernel) in enumerate(convs, start=1):
            last = stage == 1 and index == len(convs)
            x = layers.Conv2DTranspose(
                filters, kernel, activation="tanh" if last else None, name=f"dec{stage}_{index}"
            )(x)
            if not last:
                x = layers.BatchNormalization(name=f"dec{stage}_{index}_bn")(x)
                x = layers.ReLU(name=f"dec{stage}_{index}_relu")(x)
    return keras.Model(inputs, x, name="seed_generator")


def build_seed_discriminator(
    config: DiscriminatorConfig, image_size: int | None = SEED_IMAGE_SIZE
) -> keras.Model:
    """The study's discriminator: (N, S, S, 3) L+ab -> (N, 1) logit. Needs a fixed size."""
    del config
    size = image_size or SEED_IMAGE_SIZE
    inputs = keras.Input((size, size, 3), name="L_ab")
    x = inputs
    for block, (filters, kernel) in enumerate([(32, 7), (64, 5), (128, 3), (256, 3)], start=1):
        for index in (1, 2):
            x = layers.Conv2D(filters, kernel, padding="same", name=f"conv{block}_{index}")(x)
            x = layers.LeakyReLU(0.2, name=f"conv{block}_{index}_lrelu")(x)
        x = layers.MaxPooling2D(name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    for units in (512, 128, 16):
        x = layers.Dense(units, activation="relu", name=f"dense{units}")(x)
    outputs = layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, outputs, name="seed_discriminator")
