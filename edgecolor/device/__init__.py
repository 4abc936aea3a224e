"""Device runtime: NO TensorFlow. Interpreter back-ends, Colorizer, frame sources, sinks."""
