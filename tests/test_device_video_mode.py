"""The Colorizer's video mode: box-halving shrink and the NV12 join, against the exact photo mode."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab

from edgecolor.device import Colorizer, pixels
from edgecolor.device.colorizer import PreparedImage
from edgecolor.errors import UsageError

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def modes():
    """The bundled default model in video mode, and the same interpreter in photo mode."""
    video = Colorizer(device="cpu", threads=1, mode="video")
    photo = Colorizer.from_interpreter(video._loaded, video.metadata, mode="photo")
    return video, photo


def _frame(name: str = "astronaut", size=(640, 480)) -> np.ndarray:
    """A natural photo from scikit-image as an 8-bit gray video frame (H, W)."""
    image = getattr(data, name)()
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(int)


@pytest.mark.parametrize(
    "frame_size, model_size",
    [
        ((480, 640), (128, 128)),  # a VGA frame: one halving, then bilinear
        ((481, 641), (128, 128)),  # odd: the last row and column drop out of the halving
        ((720, 1280), (128, 128)),  # 16:9
        ((240, 1280), (32, 32)),  # so wide that the last step falls back to area
        ((60, 80), (128, 128)),  # smaller than the model: bilinear up
        ((128, 128), (128, 128)),  # already the model's size: returned as is
    ],
)
def test_frame_shrink_matches_the_area_resize(frame_size, model_size):
    height, width = frame_size
    gray = cv2.resize(data.camera(), (width, height), interpolation=cv2.INTER_AREA)
    small = pixels.frame_model_gray(gray, *model_size)
    assert small.shape == model_size and small.dtype == np.uint8
    shrinking = height >= model_size[0] and width >= model_size[1]
    if height >= 2 * model_size[0] and width >= 2 * model_size[1]:
        gray = gray[: height - height % 2, : width - width % 2]  # halvings drop an odd edge
    reference = cv2.resize(
        gray,
        model_size[::-1],
        interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
    ).astype(int)
    difference = np.abs(small.astype(int) - reference)
    # the camera's fine grass texture differs most; a smooth photo differs far less
    assert difference.mean() < 3.0 and np.percentile(difference, 99) < 16


def test_video_prepare_feeds_the_model_what_the_photo_mode_does(modes):
    video, photo = modes
    frame = _frame()
    prepared = video.prepare(frame)
    assert prepared.model_gray.shape == video.input_size
    assert prepared.L_scaled.dtype == np.float32
    # L of averaged gray levels vs averaged L: well under one L unit apart on average
    difference = np.abs(prepared.L_scaled - photo.prepare(frame).L_scaled) * 50.0
    assert difference.mean() < 1.5
    assert photo.prepare(frame).model_gray is None


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_nv12_join_is_close_to_the_exact_join(modes, name):
    video, photo = modes
    frame = _frame(name)
    prepared = video.prepare(frame)
    ab = video.predict_ab(prepared.L_scaled)
    fast = video.join(prepared, ab)
    exact = photo.join(photo.prepare(frame), ab)  # the same colours, joined exactly
    assert fast.shape == (480, 640, 3) and fast.dtype == np.uint8
    lab_fast, lab_exact = rgb2lab(fast), rgb2lab(exact)
    difference = deltaE_ciede2000(lab_exact, lab_fast)
    assert difference.mean() < 1.5 and np.percentile(difference, 99) < 4.0
    L_input = rgb2lab(np.dstack([frame] * 3))[..., 0]
    L_error = np.abs(lab_fast[..., 0] - L_input)
    assert L_error.mean() < 0.5 and np.percentile(L_error, 99) < 1.5
    assert np.percentile(np.abs(lab_fast[..., 1:]), 90) > 3.0  # coloured, not gray


@pytest.mark.parametrize("level", [20, 90, 128, 200, 240])
@pytest.mark.parametrize("ab", [(30.0, 0.0), (0.0, -40.0), (-25.0, 35.0), (60.0, 60.0)])
def test_a_flat_frame_gets_exactly_the_photo_colour(modes, level, ab):
    video, photo = modes
    frame = np.full((48, 64), level, np.uint8)
    prepared = video.prepare(frame)
    ab_scaled = np.broadcast_to(np.float32(ab) / 110.0, (*video.input_size, 2))
    fast = video.join(prepared, ab_scaled)
    exact = photo.join(photo.prepare(frame), ab_scaled)
    assert np.ptp(fast.reshape(-1, 3), axis=0).max() <= 1  # one colour everywhere
    # the exact join's colour, luminance included, up to NV12's 8-bit rounding
    assert np.abs(fast.astype(int) - exact).max() <= 3
    assert deltaE_ciede2000(rgb2lab(exact), rgb2lab(fast)).max() < 1.5


def test_frames_the_nv12_join_cannot_take_are_joined_as_photos(modes, monkeypatch):
    video, photo = modes
    odd = _frame(size=(161, 121))
    colour = cv2.resize(data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    sixteen = odd.astype(np.uint16) * 257
    for image in (odd, colour, sixteen):
        assert video.prepare(image).model_gray is None
        np.testing.assert_array_equal(video.colorize(image), photo.colorize(image))
    monkeypatch.setattr(pixels, "opencv_available", lambda: False)
    even = _frame(size=(160, 120))
    assert video.prepare(even).model_gray is None
    np.testing.assert_array_equal(video.colorize(even), photo.colorize(even))


def test_a_prepared_image_without_its_model_gray_is_joined_exactly(modes):
    video, photo = modes
    frame = _frame(size=(160, 120))
    prepared = video.prepare(frame)
    ab = video.predict_ab(prepared.L_scaled)
    bare = PreparedImage(frame, prepared.L_scaled)  # e.g. built by hand
    np.testing.assert_array_equal(video.join(bare, ab), photo.join(bare, ab))


def test_unknown_modes_are_usage_errors(modes):
    video, _ = modes
    with pytest.raises(UsageError, match="mode 'film'"):
        Colorizer(device="cpu", mode="film")
    with pytest.raises(UsageError, match="mode 'film'"):
        Colorizer.from_interpreter(video._loaded, video.metadata, mode="film")


def test_the_nv12_tables_reproduce_the_rgb_table():
    steps = 2 * pixels.AB_LIMIT // pixels.AB_TABLE_STEP + 1
    rgb = pixels.gray_join_table().view(np.uint8).reshape(256, steps, steps, 4)[..., :3]
    uv_table, y_table = pixels.nv12_join_tables()
    uv = uv_table.view(np.uint8).reshape(steps, 256, 256, 2)  # (ia, ib, gray)
    y_correction = y_table.reshape(steps, 256, 256).astype(float) - pixels.Y_CORRECTION_OFFSET
    rng = np.random.default_rng(4)
    level = rng.integers(0, 256, 500)
    ia, ib = rng.integers(0, steps, (2, 500))
    colours = rgb[level, ia, ib]  # (500, 3)
    # each colour back from the gray's video-range luma, the correction and the chroma,
    # through OpenCV's NV12 conversion (2x2 pixel blocks share one chroma sample)
    luma = 16 + level * 219 / 255 + y_correction[ia, ib, level]
    y_plane = np.repeat(np.clip(np.round(luma), 0, 255).astype(np.uint8), 2)[None].repeat(2, 0)
    back = cv2.cvtColorTwoPlane(y_plane, uv[ia, ib, level][None], cv2.COLOR_YUV2RGB_NV12)
    assert np.abs(back[0, ::2].astype(int) - colours).max() <= 4
