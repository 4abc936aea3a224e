"""The Colorizer: any image in, same size out, luminance and alpha kept; the join's pixel maths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.color import deltaE_cie76, rgb2lab

from edgecolor import color
from edgecolor.device import Colorizer
from edgecolor.device.runtime import backends, pixels
from edgecolor.errors import UsageError


@pytest.fixture(scope="module")
def colorizer(tiny_model):
    return Colorizer(tiny_model, device="cpu", threads=1)


def _L(image: np.ndarray) -> np.ndarray:
    return pixels.luminance(np.asarray(image))


def _astronaut_gray(size=(96, 128)) -> np.ndarray:
    from PIL import Image

    gray = Image.fromarray(data.astronaut()).convert("L").resize(size[::-1])
    return np.asarray(gray)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (33, 65), (96, 128)])
def test_gray_uint8_keeps_size_and_luminance(colorizer, shape):
    gray = np.asarray(np.random.default_rng(1).integers(0, 256, shape), dtype=np.uint8)
    output = colorizer.colorize(gray)
    assert output.shape == (*shape, 3) and output.dtype == np.uint8
    # uint8 rounding of R, G, B moves L by well under one unit
    assert np.abs(_L(output) - _L(gray)).max() < 0.6


def test_output_is_coloured_not_gray(colorizer):
    output = colorizer.colorize(_astronaut_gray())
    assert color.colorfulness(output) > 1.0


def test_colour_rgba_16bit_and_float_inputs(colorizer):
    rgb = data.astronaut()[::4, ::4]  # (128, 128, 3) uint8
    out = colorizer.colorize(rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(_L(out) - _L(rgb)).max() < 0.6

    alpha = np.random.default_rng(2).integers(0, 256, rgb.shape[:2]).astype(np.uint8)
    rgba = np.dstack([rgb, alpha])
    out = colorizer.colorize(rgba)
    assert out.shape == (128, 128, 4)
    np.testing.assert_array_equal(out[..., 3], alpha)  # kept, never composited

    rgb16 = rgb.astype(np.uint16) * 257
    out16 = colorizer.colorize(rgb16)
    assert out16.dtype == np.uint16
    assert np.abs(_L(out16) - _L(rgb16)).max() < 0.01

    rgb_float = rgb.astype(np.float32) / 255.0
    out_float = colorizer.colorize(rgb_float)
    assert out_float.dtype == np.float32 and 0.0 <= out_float.min() and out_float.max() <= 1.0
    assert np.abs(color.rgb_to_luminance(out_float) - _L(rgb)).max() < 0.01

    gray_with_channel = rgb[..., :1]
    assert colorizer.colorize(gray_with_channel).shape == (128, 128, 3)


def test_16_bit_detail_below_8_bits_survives(colorizer):
    # A ramp over 256 sixteen-bit levels is one 8-bit level: clipping to 8 bits would flatten it.
    ramp = (30000 + np.arange(256, dtype=np.uint16)).reshape(16, 16)
    output = colorizer.colorize(ramp)
    L_out = _L(output).ravel()
    assert len(np.unique(output[..., 1])) > 100
    assert np.corrcoef(L_out, _L(ramp).ravel())[0, 1] > 0.999


def test_predict_ab_is_one_model_call(colorizer):
    L_scaled = np.linspace(-1, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    ab = colorizer.predict_ab(L_scaled)
    assert ab.shape == (32, 32, 2) and ab.dtype == np.float32
    assert np.abs(ab).max() <= 1.0
    with pytest.raises(UsageError, match="the model takes"):
        colorizer.predict_ab(np.zeros((16, 16), np.float32))
    assert colorizer.input_size == (32, 32)
    assert "litert" in colorizer.backend_name


def test_bad_images_are_usage_errors(colorizer):
    with pytest.raises(UsageError, match="empty"):
        colorizer.colorize(np.zeros((0, 5), np.uint8))
    with pytest.raises(UsageError, match=r"expected \(H, W\) gray"):
        colorizer.colorize(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(UsageError, match="unsupported image dtype int32"):
        colorizer.colorize(np.zeros((4, 4), np.int32))
    with pytest.raises(UsageError, match="saturation"):
        Colorizer.from_interpreter(colorizer._loaded, colorizer.metadata, saturation=-1)


class _ConstantInterpreter:
    """A fake interpreter (the Interpreter protocol) that predicts one colour everywhere."""

    def __init__(self, ab_scaled, size=8):
        self._input = {
            "index": 0,
            "shape": np.array([1, size, size, 1]),
            "dtype": np.float32,
            "quantization": (0.0, 0),
        }
        self._output = {
            "index": 1,
            "shape": np.array([1, size, size, 2]),
            "dtype": np.float32,
            "quantization": (0.0, 0),
        }
        self._ab = np.broadcast_to(np.float32(ab_scaled), (1, size, size, 2)).copy()
        self.calls = 0

    def allocate_tensors(self):
        pass

    def get_input_details(self):
        return [self._input]

    def get_output_details(self):
        return [self._output]

    def set_tensor(self, index, value):
        assert index == 0 and value.shape == (1, 8, 8, 1) and value.dtype == np.float32

    def invoke(self):
        self.calls += 1

    def get_tensor(self, index):
        return self._ab


def _fake_colorizer(ab_scaled, saturation=1.0):
    interpreter = _ConstantInterpreter(ab_scaled)
    metadata = {
        "input": {"shape": [1, 8, 8, 1], "dtype": "float32", "scale": None, "zero_point": None},
        "output": {"shape": [1, 8, 8, 2], "dtype": "float32", "scale": None, "zero_point": None},
        "scaling": color.LAB_SCALING.to_metadata(),
    }
    loaded = backends.LoadedInterpreter(interpreter, "fake", Path("fake"), "cpu")
    return Colorizer.from_interpreter(loaded, metadata, saturation=saturation), interpreter


def test_fake_interpreter_colour_lands_where_predicted():
    gray = np.full((20, 30), 128, np.uint8)
    colorizer, interpreter = _fake_colorizer([0.3, 0.0])  # a = +33: towards red/magenta
    red = colorizer.colorize(gray)
    assert interpreter.calls == 1
    assert (red[..., 0] > red[..., 1]).all()
    lab = color.rgb_to_lab(red / 255.0)
    assert abs(lab[..., 1].mean() - 33.0) < 1.5 and abs(lab[..., 2].mean()) < 1.5
    gray_out = _fake_colorizer([0.3, 0.0], saturation=0.0)[0].colorize(gray)
    assert np.abs(gray_out.astype(int) - 128).max() <= 1


def test_out_of_gamut_colour_keeps_luminance_and_hue():
    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (8, 1))
    colorizer, _ = _fake_colorizer([0.0, 1.0], saturation=2.0)  # b = +220: far outside sRGB
    for image in (ramp, np.dstack([ramp] * 3)):  # the table path and the exact path
        out = colorizer.colorize(image)
        assert np.abs(_L(out) - _L(ramp)).max() < 0.6
        lab = color.rgb_to_lab(out[:, 8:-8] / 255.0)
        assert (lab[..., 2] > 5).all()  # still yellow, not clipped to another hue
        assert (np.abs(lab[..., 1]) < lab[..., 2]).all()


def test_gray_table_join_matches_the_exact_join(colorizer):
    gray = _astronaut_gray()
    prepared = colorizer.prepare(gray)
    ab = colorizer.predict_ab(prepared.L_scaled) * 2.0  # strong colours, some out of gamut
    fast = colorizer.join(prepared, ab)
    exact = colorizer.join(colorizer.prepare(np.dstack([gray] * 3)), ab)
    difference = deltaE_cie76(rgb2lab(fast), rgb2lab(exact))
    # The table rounds a and b to a grid of 2 (at most 1.41 Delta E by construction); both
    # outputs are also rounded to 8 bits.
    assert difference.mean() < 1.0 and np.percentile(difference, 99) < 2.0
    assert difference.max() < 3.0


def test_buffered_frame_join_matches_the_banded_table_join(colorizer, monkeypatch):
    pytest.importorskip("cv2")
    gray = _astronaut_gray((120, 160))
    prepared = colorizer.prepare(gray)
    ab = colorizer.predict_ab(prepared.L_scaled) * 3.0
    frame_join = colorizer.join(prepared, ab)
    frame_join_again = colorizer.join(prepared, ab)  # buffers reused: same result
    monkeypatch.setattr(pixels, "WHOLE_FRAME_PIXELS", 0)
    banded = colorizer.join(prepared, ab)
    np.testing.assert_array_equal(frame_join, frame_join_again)
    monkeypatch.undo()  # whole again, after other sizes and an RGB image used the kept arrays
    colorizer.colorize(_astronaut_gray((64, 96)))
    colorizer.colorize(np.dstack([gray] * 3))
    np.testing.assert_array_equal(colorizer.join(prepared, ab), frame_join)
    difference = np.abs(frame_join.astype(int) - banded)
    # both use the same table; only an ab exactly half-way between grid points may round apart
    assert (difference.max(axis=-1) == 0).mean() > 0.99


def test_bands_join_without_seams(colorizer, monkeypatch):
    image = data.astronaut()[::2, ::2]  # (256, 256, 3)
    whole = colorizer.colorize(image)
    monkeypatch.setattr(pixels, "WHOLE_FRAME_PIXELS", 0)
    monkeypatch.setattr(pixels, "BAND_PIXELS", 256 * 7)  # 7-row bands
    banded = colorizer.colorize(image)
    assert np.abs(banded.astype(int) - whole).max() <= 1


def test_upsample_matches_opencv_and_model_luminance_matches_pillow():
    cv2 = pytest.importorskip("cv2")
    small = np.random.default_rng(3).random((9, 13, 2), dtype=np.float32)
    wide = pixels.widen_planes(small, 101)  # the banded upsample, all rows as one band
    np.testing.assert_allclose(
        np.moveaxis(pixels.upsample_band(wide, 70, 0, 70), 0, -1),
        cv2.resize(small, (101, 70), interpolation=cv2.INTER_LINEAR),
        atol=1e-5,
    )
    image = data.camera()  # (512, 512) uint8
    L_full = pixels.luminance(image)
    expected = cv2.resize(L_full, (32, 24), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(pixels.model_luminance(image, 24, 32), expected, atol=1e-3)
