"""The frame path (FrameColorizer: box-halving shrink, the 4:2:0 join, smoothing) against the
exact photo path, its tables and warm-up, and the Y'CbCr 4:2:0 pictures the live loop carries."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab

from edgecolor.device import Colorizer
from edgecolor.device.frames.frame_colorizer import (
    ColourSmoother,
    FrameColorizer,
    PreparedFrame,
    frame_model_gray,
)
from edgecolor.device.frames.preview import encode_jpeg
from edgecolor.device.frames.yuv import Yuv420Picture
from edgecolor.device.runtime.colorizer import PreparedImage
from edgecolor.device.runtime.join_tables import AB_LIMIT, AB_TABLE_STEP, JoinTables
from edgecolor.errors import UsageError

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def modes():
    """The bundled default model's frame path (no smoothing), and its photo path."""
    photo = Colorizer(device="cpu", threads=1)
    return FrameColorizer(photo, smoothing=0), photo


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
    small = frame_model_gray(gray, *model_size)
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


def test_the_frame_prepare_feeds_the_model_what_the_photo_path_does(modes):
    video, photo = modes
    frame = _frame()
    prepared = video.prepare(frame)
    assert prepared.model_gray.shape == video.input_size
    assert prepared.L_scaled.dtype == np.float32
    # L of averaged gray levels vs averaged L: well under one L unit apart on average
    difference = np.abs(prepared.L_scaled - photo.prepare(frame).L_scaled) * 50.0
    assert difference.mean() < 1.5


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_the_video_join_is_close_to_the_exact_join(modes, name):
    video, photo = modes
    frame = _frame(name)
    prepared = video.prepare(frame)
    ab = photo.predict_ab(prepared.L_scaled)
    planes = video.join(prepared, ab)
    assert planes.y is frame  # the frame's own luma, not even copied
    assert planes.cb.shape == planes.cr.shape == (240, 320)
    np.testing.assert_array_equal(video.process(frame).cb, planes.cb)  # the whole frame path
    fast = planes.to_rgb()
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
    fast = video.join(prepared, ab_scaled).to_rgb()
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
    assert video.prepare(odd).model_gray is None
    planes = video.process(odd)  # the exact join, as planes
    assert planes.shape == (121, 161) and planes.cb.shape == (61, 81)
    exact = photo.colorize(odd)
    np.testing.assert_array_equal(planes.to_rgb(), Yuv420Picture.from_rgb(exact).to_rgb())
    # 4:2:0 loses chroma detail only: small on average, larger at a few sharp colour edges
    # (how large depends on how strong the model's colours are there)
    loss = np.abs(planes.to_rgb().astype(int) - exact)
    assert loss.mean() <= 2.0 and np.percentile(loss, 99.9) <= 12


def test_a_prepared_frame_without_its_model_gray_is_joined_exactly(modes):
    video, photo = modes
    frame = _frame(size=(160, 120))
    prepared = video.prepare(frame)
    ab = photo.predict_ab(prepared.L_scaled)
    bare = PreparedFrame(frame, prepared.L_scaled)  # e.g. built by hand
    exact = photo.join(PreparedImage(frame, prepared.L_scaled), ab)
    np.testing.assert_array_equal(video.join(bare, ab).cr, Yuv420Picture.from_rgb(exact).cr)


def test_the_lores_stream_feeds_the_model(modes):
    video, _ = modes
    frame = _frame(size=(640, 480))
    lores = _frame("coffee", size=(320, 240))
    prepared = video.prepare(frame, lores)
    np.testing.assert_array_equal(prepared.model_gray, frame_model_gray(lores, *video.input_size))
    assert not np.array_equal(prepared.L_scaled, video.prepare(frame).L_scaled)
    picture = video.process(frame, lores)
    assert picture.y is frame and picture.shape == (480, 640)  # the colour joins the main frame


def test_every_frame_takes_the_table_join_from_the_first_on(tiny_model):
    """No background build: the first frame after start-up is joined as every later one."""
    frames = FrameColorizer(Colorizer(tiny_model, device="cpu", threads=1), smoothing=0)
    frame = _frame(size=(160, 96))
    first = frames.process(frame)  # warms up by itself
    assert frames.warm_up() == 0.0  # done once, by the first frame
    assert first.y is frame  # the 4:2:0 join, not the exact join's planes
    for _ in range(3):
        again = frames.process(frame)
        np.testing.assert_array_equal(again.cb, first.cb)
        np.testing.assert_array_equal(again.cr, first.cr)
    assert set(frames.stage_seconds) == {"prepare", "invoke", "join"}
    assert all(seconds > 0 for seconds in frames.stage_seconds.values())
    explicit = FrameColorizer(Colorizer(tiny_model, device="cpu", threads=1), smoothing=0)
    assert explicit.warm_up() > 0.0
    np.testing.assert_array_equal(explicit.process(frame).cb, first.cb)


def test_smoothing_blends_colour_and_restarts_at_a_scene_cut():
    smoother = ColourSmoother(previous_weight=0.5, cut_threshold=0.15)
    L = np.zeros((4, 4), np.float32)
    red, blue = np.full((4, 4, 2), 0.4, np.float32), np.full((4, 4, 2), -0.4, np.float32)
    np.testing.assert_allclose(smoother.update(L, red), 0.4)
    np.testing.assert_allclose(smoother.update(L + 0.01, blue), 0.0, atol=1e-6)  # blended
    np.testing.assert_allclose(smoother.update(L + 0.9, blue), -0.4)  # a cut: no memory
    assert smoother.cuts == 1
    off = ColourSmoother(previous_weight=0.0)
    off.update(L, red)
    np.testing.assert_allclose(off.update(L, blue), -0.4)


def test_the_chroma_table_holds_the_rgb_tables_colours():
    steps = 2 * AB_LIMIT // AB_TABLE_STEP + 1
    tables = JoinTables()
    rgb = tables.rgb().view(np.uint8).reshape(256, steps, steps, 4)[..., :3]
    chroma = tables.chroma().view(np.uint8).reshape(steps, 256, 256, 2)  # (ib, ia, g)
    rng = np.random.default_rng(4)
    level = rng.integers(0, 256, 500)
    ia, ib = rng.integers(0, steps, (2, 500))
    colours = rgb[level, ia, ib].astype(np.float32)
    expected = cv2.cvtColor(colours[None].astype(np.uint8), cv2.COLOR_RGB2YCrCb)[0]
    found = chroma[ib, ia, level].astype(int)  # (Cb, Cr)
    assert np.abs(found[:, 0] - expected[:, 2]).max() <= 1
    assert np.abs(found[:, 1] - expected[:, 1]).max() <= 1


@pytest.mark.parametrize("size", [(48, 64), (47, 63)])
def test_yuv420_pictures_round_trip_rgb(size):
    rgb = cv2.resize(data.astronaut(), size[::-1], interpolation=cv2.INTER_AREA)
    picture = Yuv420Picture.from_rgb(rgb)
    assert picture.shape == size and picture.cb.shape == ((size[0] + 1) // 2, (size[1] + 1) // 2)
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    assert np.abs(picture.y.astype(int) - luma).max() <= 1
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
    from edgecolor.device.frames import preview

    for size in ((48, 64), (47, 63)):  # simplejpeg takes odd sizes too
        picture = Yuv420Picture.from_rgb(cv2.resize(data.astronaut(), size[::-1]))
        with_planes = encode_jpeg(picture)
        with monkeypatch.context() as patch:
            patch.setattr(
                preview.optional, "simplejpeg", lambda: None
            )  # as if it were not installed
            through_rgb = encode_jpeg(picture)
        assert with_planes != through_rgb  # two encoders...
        decoded = [
            cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            for jpeg in (with_planes, through_rgb)
        ]
        assert decoded[0].shape == (*size, 3)
        assert np.abs(decoded[0].astype(int) - decoded[1]).mean() < 4.0  # ...one picture


def test_the_frame_path_wants_8_bit_gray_frames(modes):
    video, _ = modes
    frame = _frame(size=(64, 48))
    colour = cv2.resize(data.astronaut(), (64, 48))
    for bad in (frame.astype(np.uint16) * 257, colour, frame[:0]):
        with pytest.raises(UsageError, match="8-bit gray"):
            video.process(bad)
    with pytest.raises(UsageError, match="lores .*8-bit gray"):
        video.process(frame, lores=colour)
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
            assert frame_model_gray(frame, 128, 128).max() > 0, (axis, position)
