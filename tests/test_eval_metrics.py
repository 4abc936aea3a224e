"""Quality metrics (edgecolor.evaluation.metrics): gray conversion, PSNR, CIEDE2000, colourfulness."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.color
import skimage.data
from PIL import Image

from edgecolor.evaluation import metrics


def _small(image: np.ndarray, size: int = 64) -> np.ndarray:
    picture = Image.fromarray(image)
    picture.thumbnail((size, size))
    return np.asarray(picture.convert("RGB"), dtype=np.uint8)


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return _small(skimage.data.coffee())


def test_to_grayscale_keeps_the_originals_lightness(coffee):
    gray = metrics.to_grayscale(coffee)
    assert gray.dtype == np.uint8 and gray.shape == coffee.shape[:2]
    lightness_original = skimage.color.rgb2lab(coffee)[..., 0]
    lightness_gray = skimage.color.rgb2lab(metrics.gray_to_rgb(gray))[..., 0]
    # 8-bit rounding of the gray costs at most ~0.4 L* in the darkest tones.
    assert np.abs(lightness_gray - lightness_original).max() < 0.6


def test_to_grayscale_of_a_gray_image_is_the_same_gray():
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :], 4, axis=0)
    assert np.array_equal(metrics.to_grayscale(metrics.gray_to_rgb(ramp)), ramp)


def test_psnr_matches_a_direct_computation(coffee):
    output = metrics.gray_to_rgb(metrics.to_grayscale(coffee))
    mse = np.mean((coffee.astype(np.float64) - output.astype(np.float64)) ** 2)
    assert metrics.psnr(coffee, output) == pytest.approx(10 * np.log10(255.0**2 / mse), rel=1e-9)


def test_psnr_is_infinite_for_identical_images(coffee):
    assert metrics.psnr(coffee, coffee) == float("inf")


def test_delta_e2000_zero_for_identical_and_positive_for_gray(coffee):
    assert metrics.mean_delta_e2000(coffee, coffee) == pytest.approx(0.0, abs=1e-9)
    gray = metrics.gray_to_rgb(metrics.to_grayscale(coffee))
    difference = metrics.mean_delta_e2000(coffee, gray)
    expected = skimage.color.deltaE_ciede2000(
        skimage.color.rgb2lab(coffee), skimage.color.rgb2lab(gray)
    ).mean()
    assert difference == pytest.approx(expected) and difference > 1.0


def test_colorfulness_ratio_zero_for_gray_and_one_for_the_original(coffee):
    gray = metrics.gray_to_rgb(metrics.to_grayscale(coffee))
    assert metrics.colorfulness_ratio(coffee, gray) == 0.0
    assert metrics.colorfulness_ratio(coffee, coffee) == pytest.approx(1.0)


def test_colorfulness_ratio_refuses_a_gray_original(coffee):
    gray = metrics.gray_to_rgb(metrics.to_grayscale(coffee))
    with pytest.raises(ValueError, match="no colour"):
        metrics.colorfulness_ratio(gray, coffee)


def test_is_color_photo(coffee):
    assert metrics.is_color_photo(coffee)
    assert not metrics.is_color_photo(metrics.gray_to_rgb(metrics.to_grayscale(coffee)))


def test_compare_and_mean_scores(coffee):
    gray = metrics.gray_to_rgb(metrics.to_grayscale(coffee))
    first = metrics.compare(coffee, gray)
    second = metrics.compare(coffee, coffee[::-1].copy())
    mean = metrics.mean_scores([first, second])
    assert mean.psnr == pytest.approx((first.psnr + second.psnr) / 2)
    assert mean.delta_e2000 == pytest.approx((first.delta_e2000 + second.delta_e2000) / 2)
    assert set(first.as_dict()) == {
        "psnr",
        "delta_e2000",
        "colorfulness_ratio",
        "hue_hit",
        "sepia_share",
        "neutral_chroma",
        "hue_counts",
    }
    assert mean.hue == first.hue + second.hue


def test_metrics_reject_float_images(coffee):
    with pytest.raises(ValueError, match="uint8"):
        metrics.psnr(coffee.astype(np.float32) / 255, coffee)


@pytest.mark.parametrize("metric", [metrics.psnr, metrics.mean_delta_e2000, metrics.compare])
def test_metrics_reject_images_of_two_sizes(coffee, metric):
    with pytest.raises(ValueError, match="differ in size"):
        metric(coffee, coffee[:-2])


# --------------------------------------------------------------------------- hue figures


def _patch(rgb: tuple[int, int, int], size: int = 16) -> np.ndarray:
    return np.full((size, size, 3), rgb, np.uint8)


def _family_of(rgb: tuple[int, int, int]) -> str:
    lab = skimage.color.rgb2lab(np.array([[rgb]], np.uint8))[0, 0]
    hue = np.degrees(np.arctan2(lab[2], lab[1])) % 360
    for name, (start, end) in metrics.HUE_FAMILIES.items():
        if (start <= hue < end) if start < end else (hue >= start or hue < end):
            return name
    raise AssertionError(hue)


def test_hue_families_name_the_colours_a_user_would():
    assert _family_of((40, 160, 40)) == "green"  # grass
    assert _family_of((200, 30, 30)) == "red"
    assert _family_of((40, 90, 200)) == "blue"  # sky
    assert _family_of((230, 210, 40)) == "yellow"
    assert _family_of((220, 160, 120)) == "orange_skin"


def test_identical_output_hits_every_hue_and_gray_output_scores_zero(coffee):
    same = metrics.hue_counts(coffee, coffee).figures()
    assert same["hue_hit"]["all"] == 1.0 and same["sepia_share"] == 0.0
    # The original's own near-neutral pixels (C*ab < 5) keep their faint chroma.
    assert 0.0 < same["neutral_chroma"] < metrics.NEUTRAL_CHROMA
    gray = metrics.gray_to_rgb(metrics.to_grayscale(coffee))
    figures = metrics.hue_counts(coffee, gray).figures()
    assert figures["hue_hit"]["all"] == 0.0 and figures["sepia_share"] == 0.0
    assert all(value in (0.0, None) for value in figures["hue_hit"].values())


def test_brown_grass_is_a_sepia_miss_and_a_tinted_gray_is_counted():
    green, brown, gray = (50, 150, 50), (150, 110, 60), (128, 128, 128)
    original = np.concatenate([_patch(green), _patch(gray)], axis=1)  # 256 px each
    output = np.concatenate([_patch(brown), _patch((140, 125, 110))], axis=1)
    counts = metrics.hue_counts(original, output)
    figures = counts.figures()
    assert counts.family_pixels["green"] == 256 and counts.family_hits["green"] == 0
    assert figures["hue_hit"]["green"] == 0.0 and figures["sepia_share"] == 1.0
    tint = skimage.color.rgb2lab(np.array([[(140, 125, 110)]], np.uint8))[0, 0, 1:]
    assert figures["neutral_chroma"] == pytest.approx(np.hypot(*tint), rel=1e-3)
    # The right green, even much paler, is a hit; under 0.3 of the chroma is not.
    assert (
        metrics.hue_counts(
            original, np.concatenate([_patch((90, 140, 90)), _patch(gray)], 1)
        ).family_hits["green"]
        == 256
    )
    assert (
        metrics.hue_counts(
            original, np.concatenate([_patch((120, 130, 120)), _patch(gray)], 1)
        ).family_hits["green"]
        == 0
    )


def test_small_families_are_left_out_and_pooling_weighs_photos_by_pixels():
    red = (200, 30, 30)
    small = _patch(red, size=7)  # 49 pixels: under MIN_FAMILY_PIXELS
    assert metrics.hue_counts(small, small).family_pixels["red"] == 0
    big_hit = metrics.hue_counts(_patch(red, 20), _patch(red, 20))  # 400 red, all right
    small_miss = metrics.hue_counts(_patch(red, 10), _patch((128, 128, 128), 10))  # 100, none
    pooled = metrics.sum_hue_counts([big_hit, small_miss]).figures()
    assert pooled["hue_hit"]["red"] == pytest.approx(400 / 500)
    scores = metrics.mean_scores(
        [metrics.Scores(20.0, 10.0, 1.0, big_hit), metrics.Scores(10.0, 20.0, 0.0, small_miss)]
    )
    assert scores.psnr == 15.0 and scores.hue.figures()["hue_hit"]["red"] == pytest.approx(0.8)
    round_trip = metrics.Scores.from_dict(scores.as_dict())
    assert round_trip.hue == scores.hue and round_trip.as_dict()["hue_hit"]["red"] == pytest.approx(
        0.8
    )
