"""Pictures as full-range Y'CbCr 4:2:0 planes: the live loop's frame format.

JPEG (JFIF) and the Pi camera's sYCC streams hold pictures this way: luma Y' at full
resolution, chroma Cb and Cr at half resolution in each direction, all three full range
(0..255, BT.601 matrix). The frame path joins the model's colour straight into these planes
(:class:`~edgecolor.device.frames.frame_colorizer.FrameColorizer`), the live loop composes the preview in them and
JPEG-encodes them without any colour conversion (``simplejpeg``, which picamera2 uses
too); RGB is made only for the sinks that need it (a recording, a window).

The frame path needs OpenCV (``'.[camera]'``, with PyAV for video files): its SIMD NV12
conversion for :meth:`Yuv420Picture.to_rgb`, its resizes and text. Photos do not (Pillow
and numpy). Nothing here imports OpenCV at module load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecolor.optional import require_cv2

NEUTRAL = 128  # chroma of every gray
FRAMES_NEED = "OpenCV (for video frames: live, bench, demo, video files)"
# OpenCV's 4:2:0 conversions use video range (Y' 16..235, chroma 16..240 around 128).
_VIDEO_Y_GAIN, _VIDEO_Y_BLACK = 219.0 / 255.0, 16.0
_VIDEO_C_GAIN = 224.0 / 255.0


def chroma_size(height: int, width: int) -> tuple[int, int]:
    """(rows, columns) of the Cb and Cr planes of an (height, width) picture."""
    return (height + 1) // 2, (width + 1) // 2


@dataclass
class Yuv420Picture:
    """A picture as full-range Y'CbCr 4:2:0 planes (JFIF).

    Attributes:
        y: uint8 (H, W), luma.
        cb, cr: uint8 (ceil(H/2), ceil(W/2)), chroma; 128 is neutral. Each sample covers a
            2x2 block of luma, centred on it (JPEG's siting).
        owns_luma: False when ``y`` is somebody else's array (a frame's gray, shared to
            save a copy): :meth:`draw_label` copies it before drawing.
    """

    y: np.ndarray
    cb: np.ndarray
    cr: np.ndarray
    owns_luma: bool = True

    def __post_init__(self):
        if any(plane.dtype != np.uint8 for plane in (self.y, self.cb, self.cr)) or self.y.ndim != 2:
            raise ValueError(f"luma must be uint8 (H, W), got {self.y.dtype} {self.y.shape}")
        expected = chroma_size(*self.y.shape)
        if self.cb.shape != expected or self.cr.shape != expected:
            raise ValueError(
                f"chroma planes {self.cb.shape}, {self.cr.shape}: expected {expected} "
                f"for luma {self.y.shape}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.y.shape

    # ------------------------------------------------------------------ making one

    @classmethod
    def from_gray(cls, gray: np.ndarray) -> Yuv420Picture:
        """A gray uint8 (H, W) picture: its own luma (not copied), neutral chroma."""
        neutral = np.full(chroma_size(*gray.shape), NEUTRAL, np.uint8)
        return cls(gray, neutral, neutral.copy(), owns_luma=False)

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> Yuv420Picture:
        """RGB uint8 (H, W, 3) (alpha, if any, ignored) -> planes; chroma area-averaged."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] < 3:
            raise ValueError(f"expected RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
        rgb = np.ascontiguousarray(rgb[..., :3])
        height, width = rgb.shape[:2]
        size = chroma_size(height, width)
        cv2 = require_cv2(FRAMES_NEED)
        y, cr, cb = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb))
        cb, cr = (_half(plane, size, cv2) for plane in (cb, cr))
        return cls(y, cb, cr)

    # ------------------------------------------------------------------ using one

    def to_rgb(self) -> np.ndarray:
        """The picture as RGB uint8 (H, W, 3); chroma upsampled by repeating each sample.

        With OpenCV the conversion goes through its SIMD NV12 path, which works in video
        range: values may differ by one level from the exact full-range conversion.
        """
        height, width = self.shape
        cv2 = require_cv2(FRAMES_NEED)
        y = self.y
        if height % 2 or width % 2:  # NV12 wants even sizes: repeat the last row/column
            y = cv2.copyMakeBorder(y, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        # full range -> the video range OpenCV's 4:2:0 conversion expects, exactly
        y = cv2.convertScaleAbs(y, alpha=_VIDEO_Y_GAIN, beta=_VIDEO_Y_BLACK)
        uv = cv2.convertScaleAbs(
            cv2.merge([self.cb, self.cr]),
            alpha=_VIDEO_C_GAIN,
            beta=NEUTRAL * (1.0 - _VIDEO_C_GAIN),
        )
        rgb = cv2.cvtColorTwoPlane(y, uv, cv2.COLOR_YUV2RGB_NV12)
        return rgb[:height, :width] if rgb.shape[:2] != (height, width) else rgb

    @staticmethod
    def side_by_side(left: Yuv420Picture, right: Yuv420Picture) -> Yuv420Picture:
        """left | right, both (H, W) -> (H, 2W)."""
        if left.shape != right.shape:
            raise ValueError(f"side by side needs equal shapes: {left.shape}, {right.shape}")
        if left.shape[1] % 2:  # chroma samples would straddle the seam: recompose in RGB
            return Yuv420Picture.from_rgb(np.hstack([left.to_rgb(), right.to_rgb()]))
        planes = [
            np.hstack([a, b])
            for a, b in zip((left.y, left.cb, left.cr), (right.y, right.cb, right.cr), strict=True)
        ]
        return Yuv420Picture(*planes)

    def draw_label(self, text: str) -> Yuv420Picture:
        """Write ``text`` (e.g. "12.5 fps") white on black in the top-left corner, in place."""
        if not self.owns_luma:
            self.y = self.y.copy()
            self.owns_luma = True
        height = self.shape[0]
        scale = max(0.4, height / 600.0)
        cv2 = require_cv2(FRAMES_NEED)
        thickness = max(1, int(round(scale * 2)))
        (width, text_height), baseline = cv2.getTextSize(
            text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness
        )
        box = (width + 12, text_height + baseline + 10)
        cv2.rectangle(self.y, (0, 0), box, 0, -1)
        cv2.putText(
            self.y,
            text,
            (6, text_height + 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            255,
            thickness,
            cv2.LINE_AA,
        )
        rows, columns = (box[1] + 2) // 2, (box[0] + 2) // 2  # the box's chroma samples
        self.cb[:rows, :columns] = NEUTRAL
        self.cr[:rows, :columns] = NEUTRAL
        return self


def _half(plane: np.ndarray, size: tuple[int, int], cv2) -> np.ndarray:
    """A full-size uint8 plane -> its (rows, columns) chroma size, 2x2 box averages."""
    if plane.shape[0] % 2 or plane.shape[1] % 2:
        plane = cv2.copyMakeBorder(
            plane, 0, plane.shape[0] % 2, 0, plane.shape[1] % 2, cv2.BORDER_REPLICATE
        )
    return cv2.resize(plane, (size[1], size[0]), interpolation=cv2.INTER_AREA)
