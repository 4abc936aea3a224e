"""The exported model on the device: its metadata (``OUT.json``) and the bundled default.

``load_metadata`` is the one reader of the ``edgecolor.model/1`` schema (see
docs/architecture.md); ``check_interpreter`` makes sure the loaded .tflite file is the one
the metadata describes, so a mismatched pair fails loudly instead of colouring wrongly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor.color import LabScaling
from edgecolor.errors import UsageError
from edgecolor.model_file import RUNTIME_KEYS, SCHEMA, TENSOR_KEYS, metadata_path

DEFAULT_MODEL_NAME = "edgecolor-default-int8.tflite"
# The device needs only the runtime part of the contract; provenance keys are optional here.
REQUIRED_KEYS = RUNTIME_KEYS


def default_model_path() -> Path:
    """The model shipped inside the package, ``edgecolor/assets/edgecolor-default-int8.tflite``.

    Raises:
        UsageError: when this installation has no bundled model (pass --model).
    """
    path = Path(__file__).resolve().parents[2] / "assets" / DEFAULT_MODEL_NAME
    if not path.is_file():
        raise UsageError(f"no bundled default model ({path} is missing): pass --model FILE.tflite")
    return path


def resolve_model_path(model_path: str | Path | None) -> Path:
    """``None`` -> the bundled default; otherwise the given path, which must be a file."""
    if model_path is None:
        return default_model_path()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    return path


def load_metadata(tflite_path: str | Path) -> dict[str, Any]:
    """Read and validate the metadata beside a .tflite model.

    Args:
        tflite_path: the model file; its metadata is the .json with the same stem.
    Returns:
        The metadata dict (schema ``edgecolor.model/1``).
    Raises:
        UsageError: missing file, bad JSON, another schema, a missing key or a malformed
            tensor description; the message names the file and the value.
    """
    path = metadata_path(tflite_path)
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"model metadata not found: {path} (every exported model has its .json beside it)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"model metadata {path} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise UsageError(f"model metadata {path}: expected a JSON object")
    schema = metadata.get("schema")
    if schema != SCHEMA:
        raise UsageError(
            f"model metadata {path}: unknown schema {schema!r}, this edgecolor reads {SCHEMA!r}"
        )
    for key in REQUIRED_KEYS:
        if key not in metadata:
            raise UsageError(f"model metadata {path}: missing {key!r}")
    metadata["scaling"] = LabScaling.from_metadata(
        metadata["scaling"], f"model metadata {path}: scaling"
    ).to_metadata()
    for side in ("input", "output"):
        description = metadata[side]
        if not isinstance(description, dict) or any(key not in description for key in TENSOR_KEYS):
            raise UsageError(f"model metadata {path}: {side!r} must have {', '.join(TENSOR_KEYS)}")
    channels = (metadata["input"]["shape"][-1], metadata["output"]["shape"][-1])
    if len(metadata["input"]["shape"]) != 4 or channels != (1, 2):
        raise UsageError(
            f"model metadata {path}: expected input (1, H, W, 1) and output (1, H, W, 2), got "
            f"{metadata['input']['shape']} and {metadata['output']['shape']}"
        )
    return metadata


def edgetpu_model_path(tflite_path: str | Path, metadata: dict[str, Any]) -> Path | None:
    """The ``*_edgetpu.tflite`` file named in the metadata (beside the model), or None."""
    name = metadata.get("edgetpu_model_file")
    return Path(tflite_path).parent / name if name else None


def check_interpreter(
    input_detail: dict[str, Any],
    output_detail: dict[str, Any],
    metadata: dict[str, Any],
    model_path: str | Path,
    check_quantization: bool = True,
) -> None:
    """Raise UsageError when the interpreter's tensors disagree with the metadata.

    Shapes and dtypes must match exactly; quantization scale and zero point too (within
    float rounding) unless ``check_quantization`` is False (the Edge TPU compiler may
    rewrite them on its ``_edgetpu`` copy).
    """
    for side, detail in (("input", input_detail), ("output", output_detail)):
        described = metadata[side]
        shape = [int(size) for size in detail["shape"]]
        dtype = np.dtype(detail["dtype"]).name
        if shape != list(described["shape"]) or dtype != described["dtype"]:
            raise UsageError(
                f"{model_path}: {side} tensor is {dtype} {shape} but its metadata says "
                f"{described['dtype']} {list(described['shape'])}: the .json belongs to another model"
            )
        if not check_quantization or described["scale"] is None:
            continue
        scale, zero_point = detail.get("quantization", (0.0, 0))
        if (
            not np.isclose(scale, described["scale"], rtol=1e-5)
            or zero_point != described["zero_point"]
        ):
            raise UsageError(
                f"{model_path}: {side} quantization ({scale}, {zero_point}) differs from its "
                f"metadata ({described['scale']}, {described['zero_point']})"
            )
