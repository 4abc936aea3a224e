"""A pix2pix-size generator (the TensorFlow tutorial's layout), for speed comparison only.

8 down blocks (Conv 4x4 stride 2) and 7 up blocks (Conv2DTranspose 4x4 stride 2) with
skips; 1 -> 2 channels: about 54.4 M parameters and 6.0 GMAC at 256x256.
Input (N, 256, 256, 1) in [-1, 1]; output (N, 256, 256, 2) in [-1, 1].
"""

from __future__ import annotations

from edgecolor.config import GeneratorConfig
from edgecolor.models.keras import keras, layers

_DOWN = [64, 128, 256, 512, 512, 512, 512, 512]
_UP = [512, 512, 512, 512, 256, 128, 64]


def build_pix2pix_generator(config: GeneratorConfig, image_size: int | None = 256) -> keras.Model:
    del config
    size = image_size or 256
    inputs = keras.Input((size, size, 1), name="L")
    x = inputs
    skips = []
    for index, filters in enumerate(_DOWN):
        x = layers.Conv2D(
            filters, 4, strides=2, padding="same", use_bias=False, name=f"down{index}"
        )(x)
        if index:
            x = layers.BatchNormalization(name=f"down{index}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"down{index}_lrelu")(x)
        skips.append(x)
    for index, (filters, skip) in enumerate(zip(_UP, reversed(skips[:-1]), strict=True)):
        x = layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=False, name=f"up{index}"
        )(x)
        x = layers.BatchNormalization(name=f"up{index}_bn")(x)
        if index < 3:
            x = layers.Dropout(0.5, name=f"up{index}_dropout")(x)
        x = layers.ReLU(name=f"up{index}_relu")(x)
        x = layers.Concatenate(name=f"skip{index}")([x, skip])
    outputs = layers.Conv2DTranspose(2, 4, strides=2, padding="same", activation="tanh", name="ab")(
        x
    )
    return keras.Model(inputs, outputs, name="pix2pix_generator")
