"""Training stage (TensorFlow): data pipeline, cGAN train step, checkpoints, QAT."""

import os

# The networks are tf_keras (Keras 2) models; TensorFlow must see this before it loads Keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
