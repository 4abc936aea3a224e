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



def write_model(directory: Path, size: int) -> Path:
    """Export the default-config edge generator (random weights) to int8 at ``size``."""
    from edgecolor.config import RunConfig
    from edgecolor.export.tflite import export_untrained

    # the default generator: edge, filters (16, 32, 64, 128, 256)
    return export_untrained(
        RunConfig(), "int8", size, directory / f"edge-random-int8-{size}.tflite"
    )


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
