"""Networks, one file each, registered in plain dicts (no discovery by file name).

Importing this package imports TensorFlow (through ``edgecolor.models.keras``).
"""

from __future__ import annotations

from edgecolor.config import DiscriminatorConfig, GeneratorConfig
from edgecolor.errors import UsageError
from edgecolor.models.edge import build_edge_generator, edge_stride
from edgecolor.models.patchgan import build_patchgan
from edgecolor.models.pix2pix import build_pix2pix_generator
from edgecolor.models.seed import SEED_IMAGE_SIZE, build_seed_discriminator, build_seed_generator

GENERATORS = {
    "edge": build_edge_generator,
    "seed": build_seed_generator,
    "pix2pix": build_pix2pix_generator,  # speed comparison only
}
DISCRIMINATORS = {
    "patchgan": build_patchgan,
    "seed": build_seed_discriminator,
}


def check_image_size(config: GeneratorConfig, image_size: int) -> None:
    """Raise UsageError when the generator cannot take ``image_size``."""
    if config.name == "edge":
        stride = edge_stride(config)
        if image_size <= 0 or image_size % stride:
            raise UsageError(
                f"image size {image_size} is not a multiple of {stride}, the edge generator's stride"
            )
    elif config.name == "seed" and image_size != SEED_IMAGE_SIZE:
        raise UsageError(f"image size {image_size}: the seed generator takes only {SEED_IMAGE_SIZE}")
    elif config.name == "pix2pix" and image_size != 256:
        raise UsageError(f"image size {image_size}: the pix2pix generator takes only 256")


def build_generator(config: GeneratorConfig, image_size: int | None = None):
    """The generator named by ``config.name``; (N, H, W, 1) L scaled -> (N, H, W, 2) ab scaled."""
    if config.name not in GENERATORS:
        raise UsageError(f"unknown generator {config.name!r}; choose from {sorted(GENERATORS)}")
    if image_size is not None:
        check_image_size(config, image_size)
    return GENERATORS[config.name](config, image_size)


def build_discriminator(config: DiscriminatorConfig, image_size: int | None = None):
    """The discriminator named by ``config.name``; (N, H, W, 3) L+ab scaled -> logits."""
    if config.name not in DISCRIMINATORS:
        raise UsageError(f"unknown discriminator {config.name!r}; choose from {sorted(DISCRIMINATORS)}")
    return DISCRIMINATORS[config.name](config, image_size)
