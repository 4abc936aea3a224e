#!/usr/bin/env python3
"""Border-band check of exported models: the fringe gate of the model selection rule.

    python tools/fringe_check.py MODEL.tflite [MODEL.tflite ...]

For each int8 model, colorizes scikit-image's plain grass and gravel textures through the
device runtime (LiteRT on the CPU, as a user's `colorize` does) and prints the chroma of
the middle and of a 16-pixel strip along each border. A model passes when no strip carries
more than the middle + 4 (the bundled-model test's limit, edgecolor/evaluation/fringe.py).
Exit 0 when every model passes, 1 when one fails, 2 when a model cannot be loaded.
"""

from __future__ import annotations

import argparse
import sys

from edgecolor.device import Colorizer
from edgecolor.errors import EdgecolorError
from edgecolor.evaluation.fringe import BAND_MARGIN, SIDES, texture_bands


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="MODEL")
    args = parser.parse_args()
    print("| model | texture | middle | " + " | ".join(SIDES) + " | passes |")
    print("| --- " * (4 + len(SIDES)) + "|")
    failed = False
    for model in args.models:
        try:
            colorizer = Colorizer(model, device="cpu", threads=2)
        except EdgecolorError as error:
            print(f"edgecolor: {model}: {error}", file=sys.stderr)
            return 2
        for bands in texture_bands(colorizer.colorize):
            strips = " | ".join(f"{bands.strips[side]:.1f}" for side in SIDES)
            verdict = "yes" if bands.passes() else f"no (> middle + {BAND_MARGIN:g})"
            failed |= not bands.passes()
            print(f"| {model} | {bands.texture} | {bands.interior:.1f} | {strips} | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
