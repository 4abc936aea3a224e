"""Small photo folders for the training tests, made on the fly (no shared data).

Colour photos come from scikit-image's bundled images, shrunk to about 64 px so tests stay
fast; gray and corrupt files are generated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def colour_photos(size: int = 64) -> list[np.ndarray]:
    """scikit-image's colour photos, uint8 (H, W, 3), short side ``size``."""
    from skimage import data

    photos = []
    for name in SKIMAGE_PHOTOS:
        image = Image.fromarray(getattr(data, name)())
        scale = size / min(image.size)
        image = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)))
        photos.append(np.asarray(image.convert("RGB")))
    return photos


def write_colour_photos(folder: Path, copies: int = 2, size: int = 64) -> list[Path]:
    """Write the colour photos (and mirrored copies) as JPEG and PNG into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for copy in range(copies):
        for name, rgb in zip(SKIMAGE_PHOTOS, colour_photos(size), strict=True):
            image = Image.fromarray(rgb if copy % 2 == 0 else rgb[:, ::-1])
            suffix = ".jpg" if copy % 2 == 0 else ".png"
            path = folder / f"{name}_{copy}{suffix}"
            image.save(path)
            paths.append(path)
    return paths


def write_gray_photo(path: Path, size: int = 64) -> Path:
    """A grayscale (mode L) photo: astronaut's luminance."""
    from skimage import data

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(data.astronaut()).convert("L").resize((size, size))
    image.save(path)
    return path


def write_corrupt_files(folder: Path) -> list[Path]:
    """A JPEG cut in half and random bytes named .png."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "whole.jpg"
    Image.fromarray(colour_photos()[0]).save(source)
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(source.read_bytes()[:300])
    source.unlink()
    garbage = folder / "garbage.png"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    return [truncated, garbage]


def tiny_config_dict(data: list[str] | None = None, **train) -> dict:
    """A config dict for 32 px runs with filters (4, 8) that trains in about a second."""
    settings = {
        "image_size": 32,
        "batch_size": 4,
        "steps": 4,
        "pretrain_steps": 1,
        "eval_every": 2,
        "checkpoint_every": 2,
        "sample_every": 100,
        "sample_count": 3,
        "holdout_fraction": 0.25,
        "data": data or [],
    }
    settings.update(train)
    return {
        "generator": {"name": "edge", "filters": [4, 8], "dropout_levels": 1},
        "discriminator": {"name": "patchgan", "base_filters": 4},
        "train": settings,
    }


# A fresh process with two logical CPUs under MirroredStrategy (the multi-GPU code path):
# argv[1] the RunConfig as JSON, argv[2] the run folder; prints the result as JSON.
MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from edgecolor.config import RunConfig
from edgecolor.training.train import Trainer
config = RunConfig.from_dict(json.loads(sys.argv[1]))
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = Trainer(config, sys.argv[2], strategy=strategy).run(progress=False)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "step": result.step, **result.metrics}))
"""
