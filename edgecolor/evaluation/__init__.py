"""Quality evaluation of exported models against the gray baseline (device runtime, no TensorFlow)."""
