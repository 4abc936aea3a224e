"""Training stage (TensorFlow): data pipeline, cGAN train step, checkpoints, QAT."""
