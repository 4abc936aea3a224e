"""Shared test setup: legacy Keras for TensorFlow, and tiny exported models for device tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY_IMAGE_SIZE = 32


def _tiny_representative_L(count: int = 8) -> list[np.ndarray]:
    """float32 (32, 32) L/50-1 calibration images: smooth gradients plus noise, in [-1, 1]."""
    generator = np.random.default_rng(0)
    ramp = np.linspace(-1.0, 1.0, TINY_IMAGE_SIZE, dtype=np.float32)
    images = []
    for index in range(count):
        gradient = ramp[None, :] if index % 2 else ramp[:, None]
        noise = generator.normal(0.0, 0.3, (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE))
        images.append(np.clip(gradient + noise, -1.0, 1.0).astype(np.float32))
    return images


def _export_tiny(directory: Path, fmt: str) -> Path:
    """Build a tiny edge generator (fixed seed), convert it to ``fmt`` and write .tflite + .json."""
    from edgecolor.config import GeneratorConfig, RunConfig
    from edgecolor.export.metadata import build_metadata, write_metadata
    from edgecolor.export.tflite import convert_generator
    from edgecolor.files import atomic_write_bytes
    from edgecolor.models import build_generator
    from edgecolor.models.keras import keras

    keras.utils.set_random_seed(0)
    run_config = RunConfig(generator=GeneratorConfig(filters=(8, 16), dropout_levels=1))
    model = build_generator(run_config.generator)
    io = "int8" if fmt == "int8" else "float32"
    content = convert_generator(model, fmt, TINY_IMAGE_SIZE, _tiny_representative_L(), io=io)
    path = directory / f"tiny-{fmt}.tflite"
    atomic_write_bytes(path, content)
    metadata = build_metadata(
        content,
        path.name,
        fmt,
        run_config.generator,
        run_config.generator_hash(),
        training_step=0,
        quantization={"method": "ptq" if fmt == "int8" else "none", "io": io},
    )
    write_metadata(path, metadata)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path to a tiny int8 edge-generator .tflite (32x32, int8 I/O) with its .json beside it."""
    return _export_tiny(tmp_path_factory.mktemp("tiny_int8"), "int8")


@pytest.fixture(scope="session")
def tiny_float_model(tmp_path_factory) -> Path:
    """Path to a tiny float32 edge-generator .tflite (32x32, float I/O) with its .json beside it."""
    return _export_tiny(tmp_path_factory.mktemp("tiny_float32"), "float32")
