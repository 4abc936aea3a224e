"""edgecolor: colorize black-and-white photos and video on small devices.

Stages, one subpackage each (data flows left to right):
``edgecolor.training`` (TensorFlow) -> ``edgecolor.export`` (TFLite) -> ``edgecolor.device``
(LiteRT, no TensorFlow). Importing ``edgecolor`` imports none of them.
"""

__version__ = "0.1.0"
