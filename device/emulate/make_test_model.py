"""Write an int8 edge-generator .tflite (+ .json) and a grayscale test photo for check-arm64.sh.

The model has the default generator's architecture (the shipped model's op set: int8
CONV_2D, RESIZE_BILINEAR, CONCATENATION, TANH) with seeded random weights: the emulated
check tests that the arm64 runtime loads and runs it, not that the colours are good.
Runs on the x86-64 host, with TensorFlow (the repository's .venv):

    TF_USE_LEGACY_KERAS=1 .venv/bin/python device/emulate/make_test_model.py OUT_DIR --size 128
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def representative_L(size: int, count: int = 8) -> list[np.ndarray]:
    """float32 (size, size) L/50-1 calibration images in [-1, 1]: gradients plus noise."""
    generator = np.random.default_rng(0)
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    images = []
    for index in range(count):
        gradient = ramp[None, :] if index % 2 else ramp[:, None]
        noise = generator.normal(0.0, 0.3, (size, size))
        images.append(np.clip(gradient + noise, -1.0, 1.0).astype(np.float32))
    return images


def write_model(directory: Path, size: int) -> Path:
    """Export the default-config edge generator (random weights) to int8 at ``size``."""
    from edgecolor.config import RunConfig
    from edgecolor.export.metadata import build_metadata, write_metadata
    from edgecolor.export.tflite import convert_generator
    from edgecolor.files import atomic_write_bytes
    from edgecolor.models import build_generator
    from edgecolor.models.keras import keras

    keras.utils.set_random_seed(0)
    run_config = RunConfig()  # the default generator: edge, filters (16, 32, 64, 128, 256)
    model = build_generator(run_config.generator)
    content = convert_generator(model, "int8", size, representative_L(size), io="int8")
    path = directory / f"edge-random-int8-{size}.tflite"
    atomic_write_bytes(path, content)
    metadata = build_metadata(
        content,
        path.name,
        "int8",
        run_config.generator,
        run_config.generator_hash(),
        training_step=0,
        quantization={"method": "ptq", "io": "int8"},
    )
    write_metadata(path, metadata)
    return path


def write_photo(directory: Path) -> Path:
    """scikit-image's astronaut as an 8-bit grayscale JPEG, 512x512."""
    from PIL import Image
    from skimage import data

    path = directory / "astronaut-gray.jpg"
    Image.fromarray(data.astronaut()).convert("L").save(path, quality=92)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=128, help="model input side (multiple of 32)")
    arguments = parser.parse_args()
    arguments.out_dir.mkdir(parents=True, exist_ok=True)
    print(write_model(arguments.out_dir, arguments.size))
    print(write_photo(arguments.out_dir))


if __name__ == "__main__":
    main()
