"""The default model shipped in edgecolor/assets: loads, matches its metadata, colorizes.

Runs through the device runtime only (LiteRT, no TensorFlow), as a user's first
`edgecolor colorize photo.jpg -o out/` does right after installing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import edgecolor
from edgecolor.color import rgb_to_lab
from edgecolor.demo import demo_photos
from edgecolor.device import Colorizer
from edgecolor.device.runtime.model import load_metadata
from edgecolor.evaluation.fringe import BAND_MARGIN, texture_bands

ASSETS = Path(edgecolor.__file__).parent / "assets"
MODEL = ASSETS / "edgecolor-default-int8.tflite"


def test_bundled_model_is_small_int8_with_its_metadata():
    # int8 at most 6 MB: room in the Edge TPU's ~8 MB on-chip parameter cache
    assert MODEL.is_file() and MODEL.stat().st_size <= 6_000_000
    metadata = load_metadata(MODEL)
    assert metadata["schema"] == "edgecolor.model/1"
    assert metadata["format"] == "int8"
    assert metadata["model_file"] == MODEL.name
    assert metadata["input"]["dtype"] == "int8" and metadata["output"]["dtype"] == "int8"
    assert metadata["generator"]["name"] == "lite0"
    verification = metadata["verification"]
    assert verification["accepted"] is True
    assert verification["one_partition"] is True


def test_bundled_model_loads_and_its_tensors_match_the_metadata():
    colorizer = Colorizer()  # no model_path: the bundled default
    metadata = json.loads(MODEL.with_suffix(".json").read_text())
    assert list(colorizer.input_size) == metadata["input"]["shape"][1:3]
    ab = colorizer.predict_ab(np.zeros(colorizer.input_size, np.float32))
    assert list(ab.shape) == metadata["output"]["shape"][1:]
    assert ab.dtype == np.float32 and np.all(np.abs(ab) <= 1.0)


def test_bundled_model_colorizes_a_bundled_photo_keeping_its_luminance():
    photo = demo_photos()[0]
    gray = np.asarray(Image.open(photo).convert("L"))
    colour = Colorizer().colorize(gray)
    assert colour.shape == gray.shape + (3,) and colour.dtype == np.uint8

    lab_out = rgb_to_lab(colour.astype(np.float32) / 255.0)
    gray_rgb = np.repeat(gray[..., None], 3, axis=-1).astype(np.float32) / 255.0
    L_in = rgb_to_lab(gray_rgb)[..., 0]
    # Luminance kept (8-bit rounding of the RGB output costs under a unit of L).
    assert np.abs(lab_out[..., 0] - L_in).mean() < 1.0
    # Clearly non-zero chroma: a gray output would have chroma ~0 everywhere.
    chroma = np.hypot(lab_out[..., 1], lab_out[..., 2])
    assert chroma.mean() > 5.0
    assert (chroma > 10.0).mean() > 0.1


def test_colorize_command_works_with_no_model_flag(tmp_path):
    photo = demo_photos()[0]
    original = photo.read_bytes()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecolor.cli",
            "colorize",
            str(photo),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outputs = list((tmp_path / "out").rglob(photo.stem + ".*"))
    assert len(outputs) == 1
    with Image.open(outputs[0]) as image:
        assert image.mode == "RGB" and image.size == Image.open(photo).size
    assert photo.read_bytes() == original


def test_bundled_model_adds_no_colour_fringe_along_the_borders():
    """A plain texture gets no band of colour along any border (the old model's rainbow fringe).

    scikit-image's grass and gravel are uniform textures: whatever colour the model gives
    them, a strip along each border should carry about as much chroma as the middle. The
    first default model painted a rainbow strip along the left and bottom edges (left strip
    chroma 16-18 against 4 in the middle).
    """
    colorizer = Colorizer(device="cpu", threads=2)
    bands = texture_bands(colorizer.colorize)
    assert [band.texture for band in bands] == ["grass", "gravel"]
    for band in bands:
        for side, strip in band.strips.items():
            assert strip <= band.interior + BAND_MARGIN, (band.texture, side, strip, band.interior)
