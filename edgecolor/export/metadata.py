"""The metadata file written beside every exported model: ``OUT.json`` next to ``OUT.tflite``.

Schema ``edgecolor.model/1`` (docs/architecture.md). The device runtime reads it with
``edgecolor.device.runtime.model.load_metadata`` and refuses a schema it does not know, so nothing
about the model is guessed at run time. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgecolor import __version__
from edgecolor.color import LabScaling
from edgecolor.files import write_json
from edgecolor.model_file import EXPORT_KEYS, SCHEMA, metadata_path


def tensor_description(detail: dict) -> dict:
    """One LiteRT tensor detail -> {"shape", "dtype", "scale", "zero_point"} (null for float)."""
    dtype = np.dtype(detail["dtype"]).name
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quantized = dtype in ("int8", "uint8", "int16") and scale
    return {
        "shape": [int(size) for size in detail["shape"]],
        "dtype": dtype,
        "scale": float(scale) if quantized else None,
        "zero_point": int(zero_point) if quantized else None,
    }


def io_descriptions(model_content: bytes) -> tuple[dict, dict]:
    """The input and output tensor descriptions of a .tflite file's bytes (via LiteRT)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_content)
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    return tensor_description(input_detail), tensor_description(output_detail)


def build_metadata(
    model_content: bytes,
    model_file: str,
    fmt: str,
    generator_config: Any,
    config_hash: str,
    training_step: int,
    scaling: LabScaling,
    quantization: dict | None = None,
    verification: dict | None = None,
    edgetpu_model_file: str | None = None,
) -> dict:
    """The metadata dict for one exported file.

    Args:
        model_content: the .tflite bytes; input/output shapes, dtypes and quantization
            parameters are read from its own tensors, so they cannot disagree with the file.
        model_file: the .tflite file name (no folder), as it sits beside the .json.
        fmt: "int8", "float16" or "float32".
        generator_config: ``GeneratorConfig`` (or its dict).
        config_hash: ``RunConfig.generator_hash()`` of the run the weights came from.
        training_step: the checkpoint's training step.
        scaling: the run's Lab scaling (``RunConfig.scaling``), which the model was trained with.
        quantization: e.g. {"method": "qat", "qat_steps": 600, "io": "int8"}.
        verification: the export's own verification figures.
    """
    input_description, output_description = io_descriptions(model_content)
    if dataclasses.is_dataclass(generator_config):
        generator_config = dataclasses.asdict(generator_config)
    generator = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dict(generator_config).items()
    }
    return {
        "schema": SCHEMA,
        "format": fmt,
        "model_file": model_file,
        "edgetpu_model_file": edgetpu_model_file,
        "input": input_description,
        "output": output_description,
        "scaling": scaling.to_metadata(),
        "generator": generator,
        "config_hash": config_hash,
        "training_step": int(training_step),
        "quantization": quantization or {"method": "none", "io": input_description["dtype"]},
        "verification": verification or {},
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "edgecolor_version": __version__,
    }


def write_metadata(tflite_path: str | Path, metadata: dict) -> Path:
    """Write ``metadata`` as ``OUT.json`` beside ``tflite_path``, atomically; return its path.

    Raises ValueError when the dict lacks a required key or has another schema, so a
    malformed file never reaches a device.
    """
    missing = [key for key in EXPORT_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"model metadata lacks {missing[0]!r}")
    if metadata["schema"] != SCHEMA:
        raise ValueError(f"model metadata schema {metadata['schema']!r} is not {SCHEMA!r}")
    return write_json(metadata_path(tflite_path), metadata)
