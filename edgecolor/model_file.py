"""The model-file contract: what an exported model's metadata (``OUT.json``) holds.

One home for the ``edgecolor.model/1`` schema, imported by its writer
(``edgecolor.export.metadata``) and its reader (``edgecolor.device.runtime.model``), so the two
cannot drift apart. No TensorFlow, no LiteRT, no numpy here. The fields are described in
docs/architecture.md.
"""

from __future__ import annotations

from pathlib import Path

SCHEMA = "edgecolor.model/1"

# What the device runtime needs to run a model: its format and file, its input and output
# tensors (shape, dtype, quantization) and the L / ab scaling.
RUNTIME_KEYS = ("schema", "format", "model_file", "input", "output", "scaling")
# What export writes on top: where the model came from and how it was checked.
PROVENANCE_KEYS = (
    "generator",
    "config_hash",
    "training_step",
    "quantization",
    "verification",
)
# Every key an exported model's metadata must have (the writer refuses less).
EXPORT_KEYS = RUNTIME_KEYS + PROVENANCE_KEYS
# The keys of each tensor description ("input", "output").
TENSOR_KEYS = ("shape", "dtype", "scale", "zero_point")


def metadata_path(tflite_path: str | Path) -> Path:
    """``OUT.tflite`` -> ``OUT.json`` (same folder, same stem)."""
    return Path(tflite_path).with_suffix(".json")
