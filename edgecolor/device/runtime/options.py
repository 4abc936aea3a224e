"""The runtime options, defined once: ``--model``, ``--device``, ``--threads``, ``--saturation``.

Every command that runs a model (colorize, scan, live, bench, demo, eval) declares them with
:func:`add_runtime_options` and turns them into one :class:`RuntimeOptions`, checked once,
which :class:`~edgecolor.device.runtime.colorizer.Colorizer` takes (``Colorizer.from_options``).
Light: importing this loads no runtime.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from edgecolor.errors import UsageError

DEVICES = ("auto", "cpu", "edgetpu")
SATURATION_RANGE = (0.0, 5.0)


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    return device


def check_threads(threads: int | None) -> int | None:
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    return threads


def check_saturation(saturation: float) -> float:
    low, high = SATURATION_RANGE
    if not low <= saturation <= high:
        raise UsageError(f"--saturation {saturation}: must be between {low:g} and {high:g}")
    return float(saturation)


@dataclass(frozen=True)
class RuntimeOptions:
    """What runs the model, checked on construction (UsageError names the bad value).

    Attributes:
        model: the .tflite file (its .json beside it); None = the bundled model.
        device: ``auto`` (the Edge TPU when present, else the CPU), ``cpu`` or ``edgetpu``.
        threads: CPU threads for XNNPACK; None = every core.
        saturation: factor on the predicted colour (1 as predicted, 0 gray), 0 to 5.
    """

    model: Path | None = None
    device: str = "auto"
    threads: int | None = None
    saturation: float = 1.0

    def __post_init__(self):
        check_device(self.device)
        check_threads(self.threads)
        check_saturation(self.saturation)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RuntimeOptions:
        """The options of a parsed command line, the model file found now (exit 2 early,
        not after reading inputs)."""
        from edgecolor.device.runtime.model import resolve_model_path

        options = cls(None, args.device, args.threads, getattr(args, "saturation", 1.0))
        return replace(options, model=resolve_model_path(args.model))


def add_runtime_options(
    parser: argparse.ArgumentParser, model: bool = True, saturation: bool = True
) -> None:
    """``--model``, ``--device``, ``--threads`` and ``--saturation`` in one argument group
    (``model=False``: a command with its own ``--model``, e.g. eval's repeatable one)."""
    group = parser.add_argument_group("model and runtime")
    if model:
        group.add_argument(
            "--model",
            metavar="FILE",
            help="exported .tflite model (its .json beside it); default: the bundled model",
        )
    group.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto: the Coral Edge TPU when present, else the CPU (default: auto)",
    )
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: every core)")
    if saturation:
        group.add_argument(
            "--saturation",
            type=float,
            default=1.0,
            metavar="X",
            help="colour strength: 1 as predicted, 0 gray, 1.3 stronger (default: 1)",
        )


def add_output_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``-o/--output DIR``, every command's output folder (required without a default).

    With a default (demo, eval) the old spelling ``--out`` is accepted too, hidden, for a
    release.
    """
    help_text = "output folder" + (f" (default {default})" if default else "")
    parser.add_argument(
        "-o",
        "--output",
        required=default is None,
        default=default,
        metavar="OUT_DIR",
        help=help_text,
    )
    if default is not None:
        parser.add_argument(
            "--out", dest="output", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )


def add_serve_option(
    parser: argparse.ArgumentParser, what: str, required: bool = False, more: str = ""
) -> None:
    """``--serve [HOST:]PORT`` (scan, live, gallery): ``what`` served at http://HOST:PORT/,
    ``more`` appended to the help; parsed by :func:`edgecolor.device.web.parse_bind`."""
    parser.add_argument(
        "--serve",
        required=required,
        metavar="[HOST:]PORT",
        help=f"{what} at http://HOST:PORT/ (HOST default 127.0.0.1; 0.0.0.0 for the network)"
        + more,
    )
