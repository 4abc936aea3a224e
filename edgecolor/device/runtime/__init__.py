"""What runs the model: back-ends (LiteRT on the CPU, the Coral Edge TPU), the model file's
metadata, the runtime options, ``Colorizer`` (the exact photo path), pixel work and the
join tables. Never imports TensorFlow."""
