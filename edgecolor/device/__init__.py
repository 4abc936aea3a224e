"""Device runtime: NO TensorFlow. Interpreter back-ends, Colorizer, frame sources, sinks.

``from edgecolor.device import Colorizer`` (photos, ``edgecolor.device.runtime.colorizer``) and
``FrameColorizer`` (video frames, ``edgecolor.device.frames.frame_colorizer``) are the Python API. Attributes load lazily so that ``import edgecolor.device``
(and ``edgecolor --help``) stays instant and imports no runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgecolor.device.frames.frame_colorizer import FrameColorizer
    from edgecolor.device.runtime.colorizer import Colorizer

__all__ = ["Colorizer", "FrameColorizer"]


def __getattr__(name: str):
    if name == "Colorizer":
        from edgecolor.device.runtime.colorizer import Colorizer

        return Colorizer
    if name == "FrameColorizer":
        from edgecolor.device.frames.frame_colorizer import FrameColorizer

        return FrameColorizer
    raise AttributeError(f"module 'edgecolor.device' has no attribute {name!r}")
