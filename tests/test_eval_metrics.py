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
    assert set(first.as_dict()) == {"psnr", "delta_e2000", "colorfulness_ratio"}


def test_metrics_reject_float_images(coffee):
    with pytest.raises(ValueError, match="uint8"):
        metrics.psnr(coffee.astype(np.float32) / 255, coffee)
