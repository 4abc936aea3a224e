"""A tfmot QuantizeConfig for weightless layers the default 8-bit scheme does not know.

Defined once at module level (tfmot and TensorFlow are imported with this module, which
``training.qat`` imports only when it quantizes): a class made anew inside a function
confused autograph's cache of converted methods when a second model was quantized in the
same process (one config's method was called with another's arguments).
"""

from __future__ import annotations

import tensorflow_model_optimization as tfmot

quantize = tfmot.quantization.keras


class OutputQuantizeConfig(quantize.QuantizeConfig):
    """No weights; fake-quantizes the layer's output (8 bit, per tensor, asymmetric,
    moving-average range), as tfmot's default scheme does for activations."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [
            quantize.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]

    def get_config(self):
        return {}
