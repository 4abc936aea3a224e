"""edgecolor.color against scikit-image: sRGB <-> Lab within 0.5 delta E, numpy and TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color as skcolor

from edgecolor import color

EDGE_CASES = np.array(
    [
        [0, 0, 0],  # black
        [1, 1, 1],  # white
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],  # primaries
        [1, 1, 0],
        [0, 1, 1],
        [1, 0, 1],  # secondaries
        [0.5, 0.5, 0.5],
        [0.01, 0.01, 0.01],  # near black: the linear segment of sRGB and of Lab's f()
        [0.04045, 0.04045, 0.04045],  # the sRGB break point
        [0.2, 0.1, 0.05],  # dark brown
        [1.0, 0.0, 0.0001],
    ],
    dtype=np.float32,
)


def random_colours(count: int = 5000) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 1.0, (count, 3)).astype(np.float32)


def all_colours() -> np.ndarray:
    return np.concatenate([EDGE_CASES, random_colours()])


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    return skcolor.deltaE_ciede2000(lab_a.astype(np.float64), lab_b.astype(np.float64))


def test_rgb_to_lab_matches_scikit_image():
    rgb = all_colours()
    ours = color.rgb_to_lab(rgb)
    reference = skcolor.rgb2lab(rgb.astype(np.float64)[None])[0]
    assert ours.dtype == np.float32 and ours.shape == rgb.shape
    assert delta_e(ours, reference).max() < 0.5
    assert np.abs(ours - reference).max() < 0.05


def test_lab_to_rgb_matches_scikit_image_and_round_trips():
    rgb = all_colours()
    lab = skcolor.rgb2lab(rgb.astype(np.float64)[None])[0].astype(np.float32)
    ours = color.lab_to_rgb(lab)
    reference = skcolor.lab2rgb(lab.astype(np.float64)[None])[0]
    assert np.abs(ours - reference).max() < 2e-3
    # round trip through our own pair, judged in Lab
    assert delta_e(color.rgb_to_lab(ours), lab).max() < 0.5
    np.testing.assert_allclose(color.lab_to_rgb(color.rgb_to_lab(rgb)), rgb, atol=2e-3)


def test_edge_cases_exact_values():
    lab = color.rgb_to_lab(EDGE_CASES)
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=0.05)
    assert np.abs(lab[8, 1:]).max() < 0.05  # grays have no chroma


def test_tf_rgb_to_lab_matches_numpy_and_scikit_image():
    import tensorflow as tf

    rgb = all_colours()
    tf_lab = color.tf_rgb_to_lab(tf.constant(rgb)).numpy()
    reference = skcolor.rgb2lab(rgb.astype(np.float64)[None])[0]
    assert delta_e(tf_lab, reference).max() < 0.5
    np.testing.assert_allclose(tf_lab, color.rgb_to_lab(rgb), atol=0.02)


def test_tf_rgb_to_lab_keeps_batch_shape():
    import tensorflow as tf

    rgb = np.random.default_rng(1).uniform(0, 1, (2, 5, 7, 3)).astype(np.float32)
    assert tuple(color.tf_rgb_to_lab(tf.constant(rgb)).shape) == (2, 5, 7, 3)


def test_scaling_maps_srgb_gamut_into_unit_range():
    lab = color.rgb_to_lab(all_colours())
    L_scaled = color.LAB_SCALING.L_to_model(lab[..., 0])
    ab_scaled = color.LAB_SCALING.ab_to_model(lab[..., 1:])
    assert L_scaled.min() >= -1.0 - 1e-6 and L_scaled.max() <= 1.0 + 1e-5
    assert np.abs(ab_scaled).max() <= 1.0
    np.testing.assert_allclose(color.LAB_SCALING.L_from_model(L_scaled), lab[..., 0], atol=1e-4)
    np.testing.assert_allclose(color.LAB_SCALING.ab_from_model(ab_scaled), lab[..., 1:], atol=1e-4)


def test_ab_gamut_bounds_every_srgb_colour():
    ab = color.rgb_to_lab(all_colours())[..., 1:]
    assert np.abs(ab).max() <= color.AB_GAMUT
    assert np.abs(ab).max() > color.AB_GAMUT - 5.0  # and is tight (b reaches about -108)


def test_lab_scaling_metadata_round_trips_through_json():
    import json

    scaling = color.LabScaling(L_scale=40.0, L_offset=1.25, ab_scale=100.0)
    metadata = json.loads(json.dumps(scaling.to_metadata()))
    assert color.LabScaling.from_metadata(metadata) == scaling
    assert metadata["L"]["formula"] == "L / 40 - 1.25" and metadata["ab"]["formula"] == "ab / 100"
    assert color.LAB_SCALING.to_metadata() == {
        "L": {"scale": 50.0, "offset": 1.0, "formula": "L / 50 - 1"},
        "ab": {"scale": 110.0, "formula": "ab / 110"},
    }
    # The conversions follow the numbers: L 60 -> 60 / 40 - 1.25 = 0.25; ab 50 -> 0.5.
    np.testing.assert_allclose(scaling.L_to_model(np.float32(60.0)), 0.25)
    np.testing.assert_allclose(scaling.ab_to_model([50.0, -20.0]), [0.5, -0.2])
    np.testing.assert_allclose(scaling.L_from_model(scaling.L_to_model([0.0, 100.0])), [0, 100])
    assert scaling.ab_from_model(np.zeros(3, np.float64)).dtype == np.float32


def test_lab_scaling_works_on_tensorflow_tensors():
    import tensorflow as tf

    L = tf.constant([[0.0, 50.0, 100.0]])
    scaled = color.LAB_SCALING.L_to_model(L)
    assert isinstance(scaled, tf.Tensor) and scaled.dtype == tf.float32
    np.testing.assert_allclose(scaled.numpy(), [[-1.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"L": {"scale": 50.0}, "ab": {"scale": 110.0}}, "expected"),
        ({"L": {"scale": 0.0, "offset": 1.0}, "ab": {"scale": 110.0}}, "L_scale 0.0"),
        ({"L": {"scale": 50.0, "offset": 1.0}, "ab": {"scale": "110"}}, "ab_scale '110'"),
        ("L / 50 - 1", "expected"),
    ],
)
def test_lab_scaling_from_bad_metadata_names_the_source(metadata, named):
    from edgecolor.errors import UsageError

    with pytest.raises(UsageError, match="model.json: scaling") as error:
        color.LabScaling.from_metadata(metadata, "model.json: scaling")
    assert named in str(error.value)


@pytest.mark.parametrize("value", [0.0, 0.003, 0.2, 0.5, 1.0])
def test_gray_luminance_matches_rgb_luminance(value):
    gray = np.full((3, 3), value, np.float32)
    expected = color.rgb_to_lab(np.stack([gray] * 3, axis=-1))[..., 0]
    np.testing.assert_allclose(color.gray_to_luminance(gray), expected, atol=1e-3)
    np.testing.assert_allclose(
        color.rgb_to_luminance(np.stack([gray] * 3, axis=-1)), expected, atol=1e-3
    )


def test_colorfulness_zero_for_gray_and_higher_for_colour():
    gray = np.full((8, 8, 3), 0.4, np.float32)
    vivid = np.zeros((8, 8, 3), np.float32)
    vivid[::2, :, 0] = 1.0
    vivid[1::2, :, 2] = 1.0
    assert color.colorfulness(gray) == pytest.approx(0.0, abs=1e-9)
    assert color.colorfulness(vivid) > 50
    assert color.colorfulness((vivid * 255).astype(np.uint8)) == pytest.approx(
        color.colorfulness(vivid)
    )
