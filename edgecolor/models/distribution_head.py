"""The distribution head: a colour distribution per pixel, decoded inside the network.

Why: a regression head trained with L1 answers an uncertain pixel (a shirt that may be
red, green or blue) with the average of the possibilities, a desaturated brown: the
"sepia effect". Zhang, Isola and Efros (2016) predict a distribution over Q in-gamut ab
bins (``ab_bins``) with a cross-entropy loss and decode it by the *annealed mean*, the mean
of the distribution sharpened by a temperature T (0.38): close to the most likely colour
where one dominates, still smooth where two neighbouring bins compete.

How it is decoded here, with ops that stay integer-only, inside one XNNPACK partition and
on the Edge TPU's list (no SOFTMAX on a 4-D tensor, no DIV, no L2_NORMALIZATION: measured
with LiteRT 2.3, see tests/test_distribution_head.py):

    u            = conv1x1(features)                 annealed logits z / T   (N, h, w, Q)
    weight_q     = sigmoid(u_q - max_q u)            ~ exp(z_q / T) / exp(max z / T)
    vector       = sum_q weight_q * centre_q         fixed 1x1 conv          (N, h, w, 2)
    total        = sum_q weight_q                    fixed 1x1 conv          (N, h, w, 1)
    gain         = sigmoid(mlp([features, total]))   in (0, 1)               (N, h, w, 1)
    ab           = gain * vector

``vector`` points at the annealed mean's hue (the common factor 1 / sum of exp(z / T)
does not change a direction, so no division is needed); the *gain* sets the chroma. It is
trained by an L1 loss on ``gain * vector`` with no gradient into the distribution (neither
through ``vector`` nor through ``total``, which the gain reads), so it
learns the chroma that the L1 optimum would give along the chosen hue: full where the
network is sure, towards neutral (not towards brown) where it is not, including the
normalisation by ``total`` that the division would have done. The tail of the sigmoid is
exp(x); at the top it gives the best bin 0.5 instead of 1, a gentler peak than the exact
annealed mean, which the gain absorbs.

Layer names are the contract with training (``training_outputs``) and export.
"""

from __future__ import annotations

import numpy as np

from edgecolor import color
from edgecolor.errors import UsageError
from edgecolor.models import ab_bins
from edgecolor.models.keras import keras, layers, tf

LOGITS = "ab_logits"
VECTOR = "ab_vector"
GAIN = "ab_gain"
GAIN_HIDDEN = 16
GAIN_INPUTS = ("concat", "add")
# An untrained network should predict gray, as the regression head's zero-initialised
# output does: the neutral bin's logit starts this far above the others (sigmoid(-8) =
# 0.0003, so the other bins weigh nothing and the hue vector is ~0), and the gain starts
# near sigmoid(-2) = 0.12. Measured: with no such start, the hold-out L1 of the first
# hundred steps was 3-7x the gray baseline's while the gain learnt the scale.
NEUTRAL_LOGIT_INIT = 8.0
GAIN_BIAS_INIT = -2.0


@keras.utils.register_keras_serializable(package="edgecolor")
class ChannelMax(layers.Layer):
    """max over the last axis, kept: (N, H, W, C) -> (N, H, W, 1) (TFLite REDUCE_MAX)."""

    def call(self, inputs):
        return tf.reduce_max(inputs, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)


@keras.utils.register_keras_serializable(package="edgecolor")
class StopGradient(layers.Layer):
    """Identity whose gradient is zero (the converter drops it): keeps the gain's losses
    out of the distribution."""

    def call(self, inputs):
        return tf.stop_gradient(inputs)


def build_distribution_head(features, gain_input: str = "concat"):
    """The head on decoder features (N, h, w, C) -> ab / 110 (N, h, w, 2), not bounded.

    The two fixed 1x1 convolutions (bin centres, ones) are not trainable: they are the
    decoder, not learned weights. ``gain_input`` (``GeneratorConfig.gain_input``): the
    gain's first layer as one convolution on [features, total] ("concat") or as the sum of
    one on each ("add", the same function; it converts after QAT).
    """
    if gain_input not in GAIN_INPUTS:
        raise UsageError(f"generator.gain_input {gain_input!r}: choose from {list(GAIN_INPUTS)}")
    centres = color.LAB_SCALING.ab_to_model(ab_bins.bin_centres())  # (Q, 2), ab / 110
    count = len(centres)
    neutral = int(np.argmin(np.hypot(centres[:, 0], centres[:, 1])))
    bias = np.zeros(count, np.float32)
    bias[neutral] = NEUTRAL_LOGIT_INIT
    logits = layers.Conv2D(
        count, 1, bias_initializer=keras.initializers.Constant(bias), name=LOGITS
    )(features)  # (N, h, w, Q) = z / T
    peak = ChannelMax(name="ab_logits_max")(logits)
    shifted = layers.Subtract(name="ab_logits_shifted")([logits, peak])  # <= 0
    weights = layers.Activation("sigmoid", name="ab_bin_weights")(shifted)
    vector = layers.Conv2D(
        2,
        1,
        use_bias=False,
        trainable=False,
        kernel_initializer=keras.initializers.Constant(centres[None, None]),
        name=VECTOR,
    )(weights)
    total = layers.Conv2D(
        1,
        1,
        use_bias=False,
        trainable=False,
        kernel_initializer=keras.initializers.Constant(np.ones((1, 1, count, 1), np.float32)),
        name="ab_weight_sum",
    )(weights)
    total = StopGradient(name="ab_weight_sum_fixed")(total)
    if gain_input == "add":
        from_features = layers.Conv2D(GAIN_HIDDEN, 1, name="ab_gain_mix")(features)
        from_total = layers.Conv2D(GAIN_HIDDEN, 1, use_bias=False, name="ab_gain_mix_total")(total)
        gain = layers.Add(name="ab_gain_in")([from_features, from_total])
        gain = layers.ReLU(name="ab_gain_mix_relu")(gain)
    else:
        gain = layers.Concatenate(name="ab_gain_in")([features, total])
        gain = layers.Conv2D(GAIN_HIDDEN, 1, activation="relu", name="ab_gain_mix")(gain)
    gain = layers.Conv2D(
        1,
        1,
        activation="sigmoid",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(GAIN_BIAS_INIT),
        name=GAIN,
    )(gain)
    return layers.Multiply(name="ab_decoded")([vector, gain])


def has_distribution_head(model) -> bool:
    """True when ``model`` (float or QAT-wrapped) has the distribution head."""
    return _find_layer(model, LOGITS) is not None


def _find_layer(model, name: str):
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # tfmot's QuantizeWrapper keeps it in .layer
        if inner.name == name:
            return layer
    return None


def training_outputs(model):
    """A view of ``model`` with the head's inner tensors as extra outputs (shared weights).

    Returns:
        keras.Model: L (N, H, W, 1) -> [ab (N, H, W, 2), annealed logits (N, h, w, Q),
        gain (N, h, w, 1), vector (N, h, w, 2)], h = H / 2 for lite0.
    """
    return keras.Model(
        model.inputs,
        [model.outputs[0]] + [_find_layer(model, name).output for name in (LOGITS, GAIN, VECTOR)],
        name=f"{model.name}_training_view",
    )
