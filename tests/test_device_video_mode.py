"""The Colorizer's video mode (box-halving shrink, the 4:2:0 join) against the exact photo mode,
and the Y'CbCr 4:2:0 pictures the live loop carries."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab

from edgecolor.device import Colorizer, pixels
from edgecolor.device.colorizer import PreparedImage
from edgecolor.device.web import encode_jpeg
from edgecolor.device.yuv import Yuv420Picture
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
def test_the_video_join_is_close_to_the_exact_join(modes, name):
    video, photo = modes
    frame = _frame(name)
    prepared = video.prepare(frame)
    ab = video.predict_ab(prepared.L_scaled)
    planes = video.join_yuv420(prepared, ab)
    assert planes.y is frame  # the frame's own luma, not even copied
    assert planes.cb.shape == planes.cr.shape == (240, 320)
    fast = video.join(prepared, ab)  # the same, as RGB
    np.testing.assert_array_equal(fast, planes.to_rgb())
    exact = photo.join(photo.prepare(frame), ab)  # the same colours, joined exactly
    assert fast.shape == (480, 640, 3) and fast.dtype == np.uint8
    lab_fast, lab_exact = rgb2lab(fast), rgb2lab(exact)
    difference = deltaE_ciede2000(lab_exact, lab_fast)
    assert difference.mean() < 1.5 and np.percentile(difference, 99) < 4.0
    L_input = rgb2lab(np.dstack([frame] * 3))[..., 0]
    L_error = np.abs(lab_fast[..., 0] - L_input)
    assert L_error.mean() < 0.8 and np.percentile(L_error, 99) < 3.0
    # the output's luma is the frame's gray but where a colour meets the gamut's edge
    assert (np.abs(_luma(fast) - frame) <= 1).mean() > 0.99
    assert np.percentile(np.abs(lab_fast[..., 1:]), 90) > 3.0  # coloured, not gray


@pytest.mark.parametrize("level", [20, 90, 128, 200, 240])
@pytest.mark.parametrize("ab", [(30.0, 0.0), (0.0, -40.0), (-25.0, 35.0), (60.0, 60.0)])
def test_a_flat_frame_gets_the_photo_colour_at_its_own_luma(modes, level, ab):
    video, photo = modes
    frame = np.full((48, 64), level, np.uint8)
    prepared = video.prepare(frame)
    ab_scaled = np.broadcast_to(np.float32(ab) / 110.0, (*video.input_size, 2))
    fast = video.join(prepared, ab_scaled)
    exact = photo.join(photo.prepare(frame), ab_scaled)
    assert np.ptp(fast.reshape(-1, 3), axis=0).max() <= 1  # one colour everywhere
    # the exact join's chroma on the frame's luma, which is the exact colour moved
    # along the gray axis by the gap between its luma and the gray's
    gap = level - _luma(exact[:1, :1])[0, 0]
    unclipped = np.clip(exact[0, 0].astype(int) + gap, 0, 255)
    assert np.abs(fast[0, 0].astype(int) - unclipped).max() <= 3 or (exact[0, 0] + gap > 255).any()
    if (exact[0, 0].astype(int) + gap).max() <= 255 and (exact[0, 0].astype(int) + gap).min() >= 0:
        assert np.abs(_luma(fast) - level).max() <= 1  # the frame's own luma
    difference = deltaE_ciede2000(rgb2lab(exact), rgb2lab(fast))
    assert difference.max() < 7.0  # lighter, not another colour: strong colours differ most


def test_frames_the_fast_join_cannot_take_are_joined_as_photos(modes, monkeypatch):
    video, photo = modes
    odd = _frame(size=(161, 121))
    colour = cv2.resize(data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    sixteen = odd.astype(np.uint16) * 257
    for image in (odd, colour, sixteen):
        assert video.prepare(image).model_gray is None
        np.testing.assert_array_equal(video.colorize(image), photo.colorize(image))
    prepared = video.prepare(odd)
    ab = video.predict_ab(prepared.L_scaled)
    planes = video.join_yuv420(prepared, ab)  # the exact join, as planes
    assert planes.shape == (121, 161) and planes.cb.shape == (61, 81)
    assert np.abs(planes.to_rgb().astype(int) - photo.join(prepared, ab)).max() <= 12
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


def test_the_chroma_table_holds_the_rgb_tables_colours():
    steps = 2 * pixels.AB_LIMIT // pixels.AB_TABLE_STEP + 1
    rgb = pixels.gray_join_table().view(np.uint8).reshape(256, steps, steps, 4)[..., :3]
    chroma = pixels.chroma_join_table().view(np.uint8).reshape(steps, 256, 256, 2)  # (ib, ia, g)
    rng = np.random.default_rng(4)
    level = rng.integers(0, 256, 500)
    ia, ib = rng.integers(0, steps, (2, 500))
    colours = rgb[level, ia, ib].astype(np.float32)
    expected = cv2.cvtColor(colours[None].astype(np.uint8), cv2.COLOR_RGB2YCrCb)[0]
    found = chroma[ib, ia, level].astype(int)  # (Cb, Cr)
    assert np.abs(found[:, 0] - expected[:, 2]).max() <= 1
    assert np.abs(found[:, 1] - expected[:, 1]).max() <= 1


@pytest.mark.parametrize("opencv", [True, False])
@pytest.mark.parametrize("size", [(48, 64), (47, 63)])
def test_yuv420_pictures_round_trip_rgb(monkeypatch, opencv, size):
    if not opencv:
        monkeypatch.setattr("edgecolor.device.yuv.opencv_available", lambda: False)
    rgb = cv2.resize(data.astronaut(), size[::-1], interpolation=cv2.INTER_AREA)
    picture = Yuv420Picture.from_rgb(rgb)
    assert picture.shape == size and picture.cb.shape == ((size[0] + 1) // 2, (size[1] + 1) // 2)
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    assert np.abs(picture.y.astype(int) - luma).max() <= 1  # numpy and OpenCV round alike
    back = picture.to_rgb()
    assert back.shape == rgb.shape and back.dtype == np.uint8
    # chroma at half resolution blurs colour edges; flat colour comes back within rounding
    difference = deltaE_ciede2000(rgb2lab(rgb), rgb2lab(back))
    assert difference.mean() < 2.5 and np.median(difference) < 1.5
    flat = np.broadcast_to(np.uint8([200, 120, 40]), (*size, 3)).copy()
    assert np.abs(Yuv420Picture.from_rgb(flat).to_rgb().astype(int) - flat).max() <= 2


def test_yuv420_side_by_side_label_and_jpeg():
    gray = _frame(size=(64, 48))
    colour = Yuv420Picture.from_rgb(cv2.resize(data.astronaut(), (64, 48)))
    left = Yuv420Picture.from_gray(gray)
    both = Yuv420Picture.side_by_side(left, colour)
    assert both.shape == (48, 128)
    rgb = both.to_rgb()
    # gray stays gray, within the one level of OpenCV's video-range 4:2:0 conversion
    assert np.abs(rgb[:, :64].astype(int) - gray[..., None]).max() <= 1
    assert np.ptp(rgb[:, :64].astype(int), axis=-1).max() == 0
    assert np.abs(rgb[:, 64:].astype(int) - colour.to_rgb()).max() == 0
    both.draw_label("12.5 fps")
    assert left.y is gray and (gray == _frame(size=(64, 48))).all()  # the frame untouched
    labelled = both.to_rgb()
    assert labelled[2, 2].max() <= 1 and (labelled[:20, :40] > 200).any()  # black box, white text
    assert np.abs(labelled[:20, :40].astype(int).max(-1) - labelled[:20, :40].min(-1)).max() <= 2
    with pytest.raises(ValueError, match="equal shapes"):
        Yuv420Picture.side_by_side(left, Yuv420Picture.from_gray(gray[:, :32]))
    odd = Yuv420Picture.from_gray(gray[:, :63])
    assert Yuv420Picture.side_by_side(odd, odd).shape == (48, 126)

    def decode(jpeg: bytes) -> np.ndarray:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(int)

    from_planes, from_rgb = decode(encode_jpeg(both)), decode(encode_jpeg(labelled))
    assert from_planes.shape == (48, 128, 3)
    # JPEG's own loss only: the planes go in as they are, as close as encoding the RGB
    assert np.abs(from_planes - labelled).mean() <= np.abs(from_rgb - labelled).mean() + 1.0


def test_planes_are_encoded_through_rgb_without_simplejpeg(monkeypatch):
    from edgecolor.device import web

    for size in ((48, 64), (47, 63)):  # simplejpeg takes odd sizes too
        picture = Yuv420Picture.from_rgb(cv2.resize(data.astronaut(), size[::-1]))
        with_planes = encode_jpeg(picture)
        with monkeypatch.context() as patch:
            patch.setattr(web, "_simplejpeg", lambda: None)  # as if it were not installed
            through_rgb = encode_jpeg(picture)
        assert with_planes != through_rgb  # two encoders...
        decoded = [
            cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            for jpeg in (with_planes, through_rgb)
        ]
        assert decoded[0].shape == (*size, 3)
        assert np.abs(decoded[0].astype(int) - decoded[1]).mean() < 4.0  # ...one picture


def test_join_yuv420_wants_8_bit_images(modes):
    video, _ = modes
    sixteen = _frame(size=(64, 48)).astype(np.uint16) * 257
    prepared = video.prepare(sixteen)
    with pytest.raises(UsageError, match="8-bit"):
        video.join_yuv420(prepared, video.predict_ab(prepared.L_scaled))
    with pytest.raises(ValueError, match="RGB uint8"):
        Yuv420Picture.from_rgb(np.zeros((4, 4, 3), np.uint16))


@pytest.mark.parametrize("size", [(480, 640), (240, 320), (720, 1280)])
def test_the_frame_shrink_skips_no_row_or_column(size):
    height, width = size
    for axis, length in ((1, width), (0, height)):
        for position in range(0, length, 7):
            frame = np.zeros(size, np.uint8)
            if axis:
                frame[:, position] = 255
            else:
                frame[position] = 255
            assert pixels.frame_model_gray(frame, 128, 128).max() > 0, (axis, position)
