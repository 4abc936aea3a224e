"""Networks, one file each, registered in plain dicts of entries (no discovery by file name).

Each entry carries the network's facts (what input sizes it takes, whether it has
pretrained weights), so no other module asks ``if name == ...``.

Importing this package imports TensorFlow (through ``edgecolor.models.keras``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgecolor.config import DiscriminatorConfig, GeneratorConfig
from edgecolor.errors import UsageError
from edgecolor.models.edge import build_edge_generator, edge_stride
from edgecolor.models.lite0 import (
    LITE_VARIANTS,
    build_lite0_generator,
    lite0_stride,
    load_imagenet_weights,
)
from edgecolor.models.patchgan import build_patchgan
from edgecolor.models.pix2pix import build_pix2pix_generator
from edgecolor.models.seed import SEED_IMAGE_SIZE, build_seed_discriminator, build_seed_generator


@dataclass(frozen=True)
class NetworkEntry:
    """One registered network.

    build: (config, image_size or None) -> keras.Model.
    stride: config -> the input side must be a multiple of this (fully convolutional
        networks); None for networks that take one fixed size.
    fixed_size: the only input side the network takes, or None.
    load_pretrained: fills a freshly built model with pretrained weights (returns the
        number of layers filled), or None when the network has none.
    """

    build: Callable
    stride: Callable[[GeneratorConfig], int] | None = None
    fixed_size: int | None = None
    load_pretrained: Callable | None = None


GENERATORS = {
    "edge": NetworkEntry(build_edge_generator, stride=edge_stride),
    # EfficientNet-Lite0, -Lite1 and -Lite2 encoders (edgecolor/models/lite0.py)
    **{
        name: NetworkEntry(
            build_lite0_generator, stride=lite0_stride, load_pretrained=load_imagenet_weights
        )
        for name in LITE_VARIANTS
    },
    "seed": NetworkEntry(build_seed_generator, fixed_size=SEED_IMAGE_SIZE),
    "pix2pix": NetworkEntry(build_pix2pix_generator, fixed_size=256),  # speed comparison only
}
DISCRIMINATORS = {
    "patchgan": NetworkEntry(build_patchgan),
    "seed": NetworkEntry(build_seed_discriminator, fixed_size=SEED_IMAGE_SIZE),
}


def _entry(table: dict, kind: str, name: str) -> NetworkEntry:
    if name not in table:
        raise UsageError(f"unknown {kind} {name!r}; choose from {sorted(table)}")
    return table[name]


def check_image_size(config: GeneratorConfig, image_size: int) -> None:
    """Raise UsageError when the generator cannot take ``image_size``."""
    entry = _entry(GENERATORS, "generator", config.name)
    if entry.fixed_size is not None and image_size != entry.fixed_size:
        raise UsageError(
            f"image size {image_size}: the {config.name} generator takes only {entry.fixed_size}"
        )
    if entry.stride is not None:
        stride = entry.stride(config)
        if image_size <= 0 or image_size % stride:
            raise UsageError(
                f"image size {image_size} is not a multiple of {stride}, "
                f"the {config.name} generator's stride"
            )


def check_discriminator_size(config: DiscriminatorConfig, image_size: int) -> None:
    """Raise UsageError when the discriminator cannot take ``image_size``."""
    entry = _entry(DISCRIMINATORS, "discriminator", config.name)
    if entry.fixed_size is not None and image_size != entry.fixed_size:
        raise UsageError(
            f"image size {image_size}: the {config.name} discriminator takes only {entry.fixed_size}"
        )


def is_fully_convolutional(config: GeneratorConfig) -> bool:
    """True when one trained generator can be rebuilt at any multiple of its stride."""
    return _entry(GENERATORS, "generator", config.name).fixed_size is None


def build_generator(config: GeneratorConfig, image_size: int | None = None):
    """The generator named by ``config.name``; (N, H, W, 1) L scaled -> (N, H, W, 2) ab scaled."""
    entry = _entry(GENERATORS, "generator", config.name)
    if config.head != "regression" and config.name not in LITE_VARIANTS:
        raise UsageError(
            f"generator.head {config.head!r} needs a lite generator ({', '.join(LITE_VARIANTS)})"
        )
    if image_size is not None:
        check_image_size(config, image_size)
    return entry.build(config, image_size)


def load_pretrained(config: GeneratorConfig, generator) -> int:
    """Fill ``generator`` with its network's pretrained weights when ``config.pretrained``.

    Returns the number of layers filled (0 when not asked). Raises UsageError when asked
    for a network that has none.
    """
    if not config.pretrained:
        return 0
    entry = _entry(GENERATORS, "generator", config.name)
    if entry.load_pretrained is None:
        raise UsageError(f"generator {config.name!r} has no pretrained weights (pretrained: false)")
    return entry.load_pretrained(generator)


def build_discriminator(config: DiscriminatorConfig, image_size: int | None = None):
    """The discriminator named by ``config.name``; (N, H, W, 3) L+ab scaled -> logits."""
    return _entry(DISCRIMINATORS, "discriminator", config.name).build(config, image_size)
