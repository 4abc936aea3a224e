"""Every network builds with the right output shape; the edge U-Net is fully convolutional."""

from __future__ import annotations

import numpy as np
import pytest

from edgecolor.config import DiscriminatorConfig, GeneratorConfig
from edgecolor.errors import UsageError

TINY = GeneratorConfig(name="edge", filters=(4, 8), dropout_levels=1)


def test_edge_generator_shape_and_range():
    from edgecolor.models import build_generator

    model = build_generator(TINY, 32)
    L_scaled = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    ab = model(L_scaled, training=False).numpy()
    assert ab.shape == (2, 32, 32, 2)
    assert np.abs(ab).max() <= 1.0


def test_edge_generator_is_fully_convolutional():
    """One model with a free input size runs at every multiple of its stride, same weights."""
    from edgecolor.models import build_generator
    from edgecolor.models.keras import layers

    free = build_generator(TINY, None)
    fixed = build_generator(TINY, 32)
    fixed.set_weights(free.get_weights())
    assert not any(isinstance(layer, (layers.Dense, layers.Flatten)) for layer in free.layers)
    rng = np.random.default_rng(1)
    for height, width in [(32, 32), (64, 32), (48, 80)]:
        L_scaled = rng.uniform(-1, 1, (1, height, width, 1)).astype(np.float32)
        assert free(L_scaled, training=False).shape == (1, height, width, 2)
    L_scaled = rng.uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(
        free(L_scaled, training=False).numpy(), fixed(L_scaled, training=False).numpy(), atol=1e-5
    )


def test_edge_generator_image_size_must_match_stride():
    from edgecolor.models import build_generator, check_image_size

    check_image_size(TINY, 36)  # stride 4
    with pytest.raises(UsageError, match="30"):
        check_image_size(TINY, 30)
    with pytest.raises(UsageError, match="100"):
        build_generator(GeneratorConfig(), 100)  # default depth 5: stride 32


def test_default_edge_generator_budget():
    """The design's budget: at most 2 M parameters and 1 GMAC at 256x256."""
    from edgecolor.models import build_generator
    from edgecolor.models.summary import summarize

    summary = summarize(build_generator(GeneratorConfig(), 256))
    assert summary["parameters"] <= 2_000_000
    assert 0.1e9 < summary["macs"] <= 1.0e9
    assert summary["output_shape"] == [None, 256, 256, 2]


@pytest.mark.parametrize("size", [32, 64])
def test_patchgan_output_is_a_patch_map(size):
    from edgecolor.models import build_discriminator

    model = build_discriminator(DiscriminatorConfig(base_filters=4), size)
    logits = model(np.zeros((2, size, size, 3), np.float32), training=False)
    assert logits.shape == (2, size // 8 - 2, size // 8 - 2, 1)


def test_seed_networks_build_at_120():
    from edgecolor.models import build_discriminator, build_generator, check_image_size

    generator = build_generator(GeneratorConfig(name="seed"), 120)
    assert generator.output_shape == (None, 120, 120, 2)
    discriminator = build_discriminator(DiscriminatorConfig(name="seed"), 120)
    assert discriminator(np.zeros((1, 120, 120, 3), np.float32)).shape == (1, 1)
    with pytest.raises(UsageError, match="128"):
        check_image_size(GeneratorConfig(name="seed"), 128)


def test_mac_counts_match_hand_formulas():
    from edgecolor.models.keras import keras, layers
    from edgecolor.models.summary import count_macs

    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same")(inputs)  # 16*16*8 * 3*3*3
    x = layers.Conv2D(4, 3, strides=2, padding="same")(x)  # 8*8*4 * 3*3*8
    x = layers.Conv2DTranspose(2, 4, strides=2, padding="same")(x)  # 8*8*4 * 4*4*2
    x = layers.DepthwiseConv2D(3, padding="same")(x)  # 16*16*2 * 3*3
    x = layers.Flatten()(x)
    outputs = layers.Dense(5)(x)  # 512 * 5
    model = keras.Model(inputs, outputs)
    expected = 16 * 16 * 8 * 27 + 8 * 8 * 4 * 72 + 8 * 8 * 4 * 32 + 16 * 16 * 2 * 9 + 512 * 5
    assert count_macs(model) == expected


def test_seed_generator_costs_far_more_than_edge():
    """DESIGN.md: the study's network is about 14 GMAC at 120x120; edge must beat it widely."""
    from edgecolor.models import build_generator
    from edgecolor.models.summary import count_macs

    seed = count_macs(build_generator(GeneratorConfig(name="seed"), 120))
    edge = count_macs(build_generator(GeneratorConfig(), 128))
    assert 10e9 < seed < 18e9
    assert edge * 20 < seed


def test_registry_errors_name_the_bad_value():
    from edgecolor.models import build_discriminator, build_generator

    with pytest.raises(UsageError, match="'unet9'"):
        build_generator(GeneratorConfig(name="unet9"), 32)
    with pytest.raises(UsageError, match="'nope'"):
        build_discriminator(DiscriminatorConfig(name="nope"), 32)


@pytest.mark.slow
def test_pix2pix_reference_size():
    """DESIGN.md's reference: 54.4 M parameters, about 6.0 GMAC at 256x256 (1 -> 2 channels)."""
    from edgecolor.models import build_generator
    from edgecolor.models.summary import summarize

    summary = summarize(build_generator(GeneratorConfig(name="pix2pix"), 256))
    assert summary["parameters"] == pytest.approx(54.4e6, rel=0.02)
    assert summary["macs"] == pytest.approx(6.0e9, rel=0.1)
