"""The one place that imports Keras for the networks: ``tf_keras`` (Keras 2).

tensorflow-model-optimization 0.8.1 cannot quantize Keras 3 models (what TensorFlow 2.21
ships as ``tf.keras``), so every network is built with ``tf_keras`` and the environment
variable ``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow is imported.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

layers = keras.layers

__all__ = ["keras", "layers", "tf"]
