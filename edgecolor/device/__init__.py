"""Device runtime: NO TensorFlow. Interpreter back-ends, Colorizer, frame sources, sinks.

``from edgecolor.device import Colorizer`` is the Python API (see
``edgecolor.device.colorizer``). Attributes load lazily so that ``import edgecolor.device``
(and ``edgecolor --help``) stays instant and imports no runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgecolor.device.colorizer import Colorizer

__all__ = ["Colorizer"]


def __getattr__(name: str):
    if name == "Colorizer":
        from edgecolor.device.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module 'edgecolor.device' has no attribute {name!r}")
