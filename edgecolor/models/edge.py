"""The ``edge`` generator: a small U-Net built for int8 on ARM CPUs (XNNPACK) and the Edge TPU.

Choices, each for a measured reason (see docs/export-variants.md):

* Downsampling by stride-2 3x3 convolutions (no pooling): one CONV_2D op each.
* Conv (no bias) -> BatchNorm -> ReLU everywhere: tfmot folds the batch norm into the
  convolution, and ReLU (unlike LeakyReLU) runs on the Edge TPU and fuses into the conv.
* Upsampling by bilinear resize (RESIZE_BILINEAR): it costs no MACs, XNNPACK keeps it in
  its int8 partition and the Edge TPU maps it. Measured alternatives (LiteRT 2.3):
  RESIZE_NEAREST_NEIGHBOR splits the XNNPACK graph into 5 partitions; int8 TRANSPOSE_CONV
  stays in the partition but costs 15% more MACs, 40% more bytes and is fragile in the
  Edge TPU compiler; the Edge TPU has no DEPTH_TO_SPACE.
* Skip connections by concatenation; dropout in the first decoder levels is the GAN noise.
* Fully convolutional: one trained model exports at any size that is a multiple of
  ``2 ** len(filters)``.

Input:  float32 (N, H, W, 1), L / 50 - 1 in [-1, 1].
Output: float32 (N, H, W, 2), ab / 110 in [-1, 1] (tanh).
"""

from __future__ import annotations

from edgecolor.config import GeneratorConfig
from edgecolor.models.keras import keras, layers


def _conv_bn_relu(x, filters: int, stride: int, name: str):
    x = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_edge_generator(config: GeneratorConfig, image_size: int | None = None) -> keras.Model:
    """Build the edge U-Net.

    Args:
        config: ``filters`` (one per level), ``dropout``, ``dropout_levels``, ``decoder_width``.
        image_size: fixed square input side, or None for any size (a multiple of the stride).
    """
    filters = list(config.filters)
    inputs = keras.Input((image_size, image_size, 1), name="L")  # (N, H, W, 1)
    x = inputs
    skips = []
    for level, width in enumerate(filters):
        # (N, H / 2**(level+1), W / 2**(level+1), width)
        x = _conv_bn_relu(x, width, 2, f"down{level + 1}")
        x = _conv_bn_relu(x, width, 1, f"enc{level + 1}")
        skips.append(x)
    x = skips.pop()  # bottleneck: (N, H / 2**depth, W / 2**depth, filters[-1])
    for level in range(len(filters) - 1, 0, -1):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level - 1]])
        width = max(8, int(round(filters[level - 1] * config.decoder_width)))
        x = _conv_bn_relu(x, width, 1, f"dec{level}")
        if len(filters) - level <= config.dropout_levels and config.dropout > 0:
            x = layers.Dropout(config.dropout, name=f"noise{level}")(x)
    # (N, H/2, W/2, 2) -> tanh -> (N, H, W, 2)
    x = layers.Conv2D(2, 3, padding="same", name="ab_conv")(x)
    x = layers.Activation("tanh", name="ab_tanh")(x)
    outputs = layers.UpSampling2D(2, interpolation="bilinear", name="ab")(x)
    return keras.Model(inputs, outputs, name="edge_generator")


def edge_stride(config: GeneratorConfig) -> int:
    """The input side must be a multiple of this."""
    return 2 ** len(config.filters)
