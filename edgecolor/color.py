"""sRGB <-> CIE L*a*b* (D65) and the Lab scaling between photos and models (``LabScaling``).

Shared by training (TensorFlow, in the input pipeline) and the device runtime (numpy only).
Importing this module never imports TensorFlow: the ``tf_*`` functions import it when called.

Value ranges used throughout the project:

* RGB: float32 in [0, 1], sRGB-encoded (what image files store).
* Lab: L in [0, 100], a and b roughly in [-110, 110] for sRGB colours.
* Model input  ``L_scaled  = L / 50 - 1``   in [-1, 1].
* Model output ``ab_scaled = ab / 110``     in [-1, 1] (tanh output).

The last two are ``LAB_SCALING``, recorded in every run's config.json and every exported
model's metadata (``LabScaling.to_metadata``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecolor.errors import UsageError

# D65 reference white, matching scikit-image's default illuminant and 2° observer; the
# sRGB (linear) <-> XYZ matrices. Public: the device's pixel work uses them too.
WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float32,
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ.astype(np.float64)).astype(np.float32)
_EPSILON = 216.0 / 24389.0  # (6/29)^3
_KAPPA = 24389.0 / 27.0


# sRGB colours have Lab a and b within +-110 (a in about [-86, 98], b in about [-108, 95]):
# the ab plane the colour bins of training and the distribution head cover, in Lab units.
# A property of the gamut, not of the model's scaling (which may change without moving a bin).
AB_GAMUT = 110.0


@dataclass(frozen=True)
class LabScaling:
    """How Lab maps to the model's ranges: ``L_scaled = L / L_scale - L_offset``,
    ``ab_scaled = ab / ab_scale``.

    A contract between a training run and every model exported from it: training records
    it in the run's ``config.json``, export copies the run's into the model's metadata, and
    the device runtime reads it from there (``to_metadata`` / ``from_metadata`` both ways).
    The conversions take numpy arrays (returned as float32) or TensorFlow float32 tensors
    (the input pipeline's; returned as tensors), any shape.
    """

    L_scale: float = 50.0
    L_offset: float = 1.0
    ab_scale: float = 110.0

    def __post_init__(self) -> None:
        for name in ("L_scale", "L_offset", "ab_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Lab scaling {name} {value!r}: expected a number")
            if not math.isfinite(value) or (name != "L_offset" and value <= 0):
                kind = "finite" if name == "L_offset" else "finite and > 0"
                raise ValueError(f"Lab scaling {name} {value!r}: must be {kind}")
            object.__setattr__(self, name, float(value))

    def L_to_model(self, L):
        """Lab L in [0, 100] -> the model's input (in [-1, 1] for the default scaling)."""
        return _float32(L) / self.L_scale - self.L_offset

    def L_from_model(self, L_scaled):
        """The model's input -> Lab L in [0, 100]."""
        return (_float32(L_scaled) + self.L_offset) * self.L_scale

    def ab_to_model(self, ab):
        """Lab a, b in about [-110, 110] -> the model's output range (about [-1, 1])."""
        return _float32(ab) / self.ab_scale

    def ab_from_model(self, ab_scaled):
        """The model's output -> Lab a, b."""
        return _float32(ab_scaled) * self.ab_scale

    def __str__(self) -> str:
        """The two formulas, e.g. ``L / 50 - 1, ab / 110``."""
        metadata = self.to_metadata()
        return f"{metadata['L']['formula']}, {metadata['ab']['formula']}"

    def to_metadata(self) -> dict:
        """A JSON-able dict (the ``scaling`` of config.json and of a model's metadata).

        The formulas are for people reading the file; ``from_metadata`` reads the numbers.
        """
        offset = f"- {self.L_offset:g}" if self.L_offset >= 0 else f"+ {-self.L_offset:g}"
        return {
            "L": {
                "scale": self.L_scale,
                "offset": self.L_offset,
                "formula": f"L / {self.L_scale:g} {offset}",
            },
            "ab": {"scale": self.ab_scale, "formula": f"ab / {self.ab_scale:g}"},
        }

    @classmethod
    def from_metadata(cls, data: Any, source: str = "scaling") -> LabScaling:
        """The inverse of ``to_metadata``; UsageError naming ``source`` and the bad value."""
        try:
            return cls(
                L_scale=data["L"]["scale"],
                L_offset=data["L"]["offset"],
                ab_scale=data["ab"]["scale"],
            )
        except (KeyError, TypeError):
            raise UsageError(
                f"{source}: expected {{'L': {{'scale', 'offset'}}, 'ab': {{'scale'}}}}, got {data!r}"
            ) from None
        except ValueError as error:
            raise UsageError(f"{source}: {error}") from None


def _float32(values):
    # TensorFlow tensors pass through (the input pipeline is float32 already); anything
    # else becomes a float32 numpy array, so numpy results stay float32.
    if type(values).__module__.startswith("tensorflow"):
        return values
    return np.asarray(values, dtype=np.float32)


# The scaling this version of edgecolor trains with: a new run records it in config.json.
LAB_SCALING = LabScaling()
# The scaling of runs whose config.json predates recording it (edgecolor 0.x before issue
# 18): every one of them was trained with L / 50 - 1 and ab / 110. Exporting such a run
# stamps this, never whatever LAB_SCALING is by then.
LEGACY_LAB_SCALING = LabScaling(L_scale=50.0, L_offset=1.0, ab_scale=110.0)


# --------------------------------------------------------------------------- numpy


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded float in [0, 1] -> linear light, same shape, float32."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB-encoded float32, same shape (not clipped)."""
    linear = np.asarray(linear, dtype=np.float32)
    positive = np.maximum(linear, 0.0)
    return np.where(
        linear > 0.0031308, 1.055 * positive ** (1.0 / 2.4) - 0.055, 12.92 * linear
    ).astype(np.float32)


def lab_f(t: np.ndarray) -> np.ndarray:
    """Lab's companding curve: the cube root, linear near black. float (...) -> same shape."""
    return np.where(t > _EPSILON, np.cbrt(t), (_KAPPA * t + 16.0) / 116.0)


def lab_f_inverse(f: np.ndarray) -> np.ndarray:
    """Lab's inverse companding, in place on a float32 array (returned): f^3, linear near black.

    In place because the device converts full-size scans band by band and every float
    temporary of a band costs memory.
    """
    dark = f <= np.float32(6.0 / 29.0)
    dark_values = f[dark] if dark.any() else None
    np.multiply(f, f * f, out=f)
    if dark_values is not None:
        # Below 6/29 the curve is the straight segment 3 (6/29)^2 (f - 4/29).
        f[dark] = np.float32(3.0 * (6.0 / 29.0) ** 2) * (dark_values - np.float32(4.0 / 29.0))
    return f


def luminance_from_y(y: np.ndarray) -> np.ndarray:
    """Relative luminance Y (linear light, white = 1) -> Lab L, float32 (...) in [0, 100]."""
    return (116.0 * lab_f(y) - 16.0).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB -> CIE Lab (D65).

    Args:
        rgb: float (..., 3), sRGB in [0, 1].
    Returns:
        float32 (..., 3): L in [0, 100], a and b in about [-110, 110].
    """
    xyz = srgb_to_linear(rgb) @ RGB_TO_XYZ.T / WHITE_D65
    f = lab_f(xyz)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1).astype(np.float32)


def lab_to_linear_planes(
    L: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Lab planes -> linear-light sRGB planes (not clipped) and the luminance Y.

    Args:
        L: float32 (...), in [0, 100].
        a, b: float32 (...), in about [-110, 110]; overwritten (used as scratch).
    Returns:
        ([R, G, B], Y): float32 planes of the shape of ``L``; R, G, B outside [0, 1] for
        colours outside the sRGB gamut.
    """
    fy = (L + np.float32(16.0)) * np.float32(1.0 / 116.0)
    a *= np.float32(1.0 / 500.0)
    a += fy
    x = lab_f_inverse(a)
    x *= WHITE_D65[0]
    b *= np.float32(-1.0 / 200.0)
    b += fy
    z = lab_f_inverse(b)
    z *= WHITE_D65[2]
    y = lab_f_inverse(fy)
    linear = [XYZ_TO_RGB[k, 0] * x + XYZ_TO_RGB[k, 1] * y + XYZ_TO_RGB[k, 2] * z for k in range(3)]
    return linear, y


def lab_to_rgb(lab: np.ndarray, clip: bool = True) -> np.ndarray:
    """CIE Lab (D65) -> sRGB.

    Args:
        lab: float (..., 3), L in [0, 100], a and b in about [-110, 110].
        clip: clip the result into [0, 1] (colours outside the sRGB gamut are clipped;
            :func:`lab_to_rgb_keep_luminance` maps them into the gamut instead).
    Returns:
        float32 (..., 3), sRGB in [0, 1] when ``clip``.
    """
    lab = np.array(lab, dtype=np.float32)  # a copy: the planes below are overwritten
    linear, _ = lab_to_linear_planes(lab[..., 0], lab[..., 1], lab[..., 2])
    rgb = linear_to_srgb(np.stack(linear, axis=-1))
    return np.clip(rgb, 0.0, 1.0) if clip else rgb


# Linear RGB of the neutral gray with Y = 1 under D65 (about (1, 1, 1)): a gray of
# luminance Y is Y times this vector.
GRAY_RGB = (XYZ_TO_RGB.astype(np.float64) @ WHITE_D65.astype(np.float64)).astype(np.float32)


def lab_to_rgb_keep_luminance(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Lab planes -> sRGB planes, where out-of-gamut colours lose chroma, never luminance.

    Clipping RGB would change the luminance (and the hue); instead a colour outside sRGB
    is mixed in linear light with the gray of the same luminance Y, just enough to fit.
    Y is linear in linear RGB, so the mix keeps Y, hence Lab L, exactly (and the dominant
    wavelength: the colour moves straight towards the white point).

    Args:
        L: float32 (rows, W), in [0, 100].
        a, b: float32 (rows, W), in about [-110, 110]; overwritten (used as scratch).
    Returns:
        [R, G, B]: three float32 (rows, W) planes, sRGB in [0, 1].
    """
    linear, y = lab_to_linear_planes(L, a, b)
    outside = np.zeros(y.shape, dtype=bool)
    for channel in linear:
        outside |= (channel < 0.0) | (channel > 1.0)
    if outside.any():
        # Largest s in [0, 1] with gray + s (colour - gray) inside [0, 1] in every channel.
        y_out = y[outside]
        share = np.ones(y_out.shape, np.float32)
        grays = []
        for k, channel in enumerate(linear):
            gray = np.clip(y_out * GRAY_RGB[k], 0.0, 1.0)
            value = channel[outside]
            with np.errstate(divide="ignore", invalid="ignore"):
                limit = np.where(
                    value > 1.0,
                    (1.0 - gray) / (value - gray),
                    np.where(value < 0.0, gray / (gray - value), 1.0),
                )
            np.minimum(share, np.nan_to_num(limit, nan=0.0, posinf=1.0), out=share)
            grays.append((gray, value))
        np.clip(share, 0.0, 1.0, out=share)
        for channel, (gray, value) in zip(linear, grays, strict=True):
            channel[outside] = gray + share * (value - gray)
    for channel in linear:
        np.clip(channel, 0.0, 1.0, out=channel)
    return [linear_to_srgb(channel) for channel in linear]


def rgb_to_luminance(rgb: np.ndarray) -> np.ndarray:
    """sRGB float (..., 3) in [0, 1] -> Lab L, float32 (...) in [0, 100]."""
    return luminance_from_y(srgb_to_linear(rgb) @ RGB_TO_XYZ[1])


def gray_to_luminance(gray: np.ndarray) -> np.ndarray:
    """Grayscale (R = G = B) float (...) in [0, 1] -> Lab L, float32 (...) in [0, 100].

    For a neutral gray the relative luminance Y equals the linearised value itself.
    """
    return luminance_from_y(srgb_to_linear(gray))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of an sRGB image.

    Args:
        rgb: (H, W, 3), float in [0, 1] or uint8 in [0, 255].
    Returns:
        The metric on the 0-255 scale (0 for a gray image; ~100+ for very colourful ones).
    """
    rgb = np.asarray(rgb)
    rgb255 = (
        rgb.astype(np.float64) if rgb.dtype == np.uint8 else np.asarray(rgb, np.float64) * 255.0
    )
    rg = rgb255[..., 0] - rgb255[..., 1]
    yb = 0.5 * (rgb255[..., 0] + rgb255[..., 1]) - rgb255[..., 2]
    std = np.hypot(rg.std(), yb.std())
    mean = np.hypot(rg.mean(), yb.mean())
    return float(std + 0.3 * mean)


# --------------------------------------------------------------------------- TensorFlow


def tf_rgb_to_lab(rgb):
    """TensorFlow version of :func:`rgb_to_lab` for the input pipeline.

    Args:
        rgb: tf float32 (..., 3), sRGB in [0, 1].
    Returns:
        tf float32 (..., 3): L in [0, 100], a and b in about [-110, 110].
    """
    import tensorflow as tf

    rgb = tf.convert_to_tensor(rgb, tf.float32)
    linear = tf.where(rgb > 0.04045, tf.pow((rgb + 0.055) / 1.055, 2.4), rgb / 12.92)
    xyz = tf.tensordot(linear, tf.constant(RGB_TO_XYZ.T), axes=1) / tf.constant(WHITE_D65)
    f = tf.where(
        xyz > _EPSILON, tf.pow(tf.maximum(xyz, _EPSILON), 1.0 / 3.0), (_KAPPA * xyz + 16.0) / 116.0
    )
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return tf.stack([L, a, b], axis=-1)
