"""Parameters and multiply-accumulates (MACs) of a Keras model at a given input size."""

from __future__ import annotations

from edgecolor.models.keras import keras, layers


def count_macs(model: keras.Model) -> int:
    """MACs of one forward pass of a model built with a fixed input size (batch 1).

    Counts convolutions, transposed convolutions, depthwise convolutions and dense
    layers, which are all but a fraction of a percent of the work.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output_shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw
        elif isinstance(layer, layers.Conv2DTranspose):
            _, h, w, cin = layer.input_shape
            kh, kw = layer.kernel_size
            total += h * w * cin * kh * kw * layer.filters
        elif isinstance(layer, layers.Conv2D):
            _, h, w, cout = layer.output_shape
            cin = layer.input_shape[-1]
            kh, kw = layer.kernel_size
            total += h * w * cout * kh * kw * cin // layer.groups
        elif isinstance(layer, layers.Dense):
            total += layer.input_shape[-1] * layer.units
    return int(total)


def summarize(model: keras.Model) -> dict:
    """{"name", "parameters", "macs", "input_shape", "output_shape"} for a fixed-size model."""
    return {
        "name": model.name,
        "parameters": int(model.count_params()),
        "macs": count_macs(model),
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
    }
