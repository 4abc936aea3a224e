"""Export stage: formats table, TFLite conversion, Edge TPU lint/compile, verification."""
