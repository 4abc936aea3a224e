"""Shared test setup: legacy Keras for TensorFlow, and tiny exported models for device tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TINY_IMAGE_SIZE = 32


def _export_tiny(directory: Path, fmt: str) -> Path:
    """Build a tiny edge generator (fixed seed), convert it to ``fmt`` and write .tflite + .json."""
    from edgecolor.config import GeneratorConfig, RunConfig
    from edgecolor.export.tflite import export_untrained

    run_config = RunConfig(generator=GeneratorConfig(filters=(8, 16), dropout_levels=1))
    return export_untrained(run_config, fmt, TINY_IMAGE_SIZE, directory / f"tiny-{fmt}.tflite")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path to a tiny int8 edge-generator .tflite (32x32, int8 I/O) with its .json beside it."""
    return _export_tiny(tmp_path_factory.mktemp("tiny_int8"), "int8")


@pytest.fixture(scope="session")
def tiny_float_model(tmp_path_factory) -> Path:
    """Path to a tiny float32 edge-generator .tflite (32x32, float I/O) with its .json beside it."""
    return _export_tiny(tmp_path_factory.mktemp("tiny_float32"), "float32")


@pytest.fixture(scope="session")
def fake_libedgetpu(tmp_path_factory) -> Path:
    """A stand-in libedgetpu.so.1 (see fake_edgetpu.py); its folder goes on LD_LIBRARY_PATH."""
    from fake_edgetpu import build_fake_libedgetpu

    library = build_fake_libedgetpu(tmp_path_factory.mktemp("fake_libedgetpu"))
    if library is None:
        pytest.skip("needs a C compiler (cc) to build the stand-in libedgetpu.so.1")
    return library
