"""Does the Edge TPU work here? ``python -m edgecolor.device.runtime.probe_edgetpu [--model FILE]``.

device/install.sh runs this after installing the Coral runtime. It is the same check
``--device auto`` makes before using the TPU (:func:`edgecolor.device.runtime.edgetpu.probe_edgetpu`):
in a child process, build a LiteRT interpreter with the Edge TPU delegate, allocate its
tensors and invoke it once; a libedgetpu that crashes takes only the child down.

Prints one ``ok:`` line and exits 0, or a ``failed:`` and a ``fix:`` line and exits 1.
The model defaults to the bundled one's ``_edgetpu.tflite`` when its metadata names one,
else the bundled model itself: not compiled for the TPU, its ops stay on the CPU, but the
delegate is still created and bound to the graph, which is where a mismatched libedgetpu
crashes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgecolor.device.runtime import backends, coral, edgetpu
from edgecolor.device.runtime.model import default_model_path, edgetpu_model_path, load_metadata
from edgecolor.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    EdgecolorError,
    MissingDependencyError,
    one_line,
)

# The fix for a probe that failed without a crash or a PCIe problem to explain it.
PLUG_IN_USB = (
    "plug the Coral into a USB 3 port (blue); log in again after joining the plugdev group; "
    "unplug and replug it after installing the runtime"
)


def default_probe_model() -> Path:
    """The bundled model's ``_edgetpu.tflite`` if its metadata names one, else the model."""
    model = default_model_path()
    compiled = edgetpu_model_path(model, load_metadata(model))
    return compiled if compiled is not None and compiled.is_file() else model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgecolor.device.runtime.probe_edgetpu",
        description="Build, allocate and run an Edge TPU interpreter once, in a child process.",
    )
    parser.add_argument("--model", metavar="FILE", help="a .tflite model (default: bundled)")
    parser.add_argument("--timeout", type=float, default=edgetpu.PROBE_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    try:
        model = Path(args.model) if args.model else default_probe_model()
        if not model.is_file():
            raise EdgecolorError(f"--model {model}: no such file")
        runtime, label = backends.cpu_runtime()
        try:
            edgetpu.edgetpu_library()
        except MissingDependencyError as error:
            print(f"failed: no Edge TPU runtime ({one_line(error.__cause__ or error)})")
            print(f"fix: {edgetpu.INSTALL_EDGETPU}")
            return EXIT_PARTIAL
        result = edgetpu.probe_edgetpu(model, runtime, label, timeout=args.timeout)
    except EdgecolorError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if result.ok:
        print(f"ok: the Edge TPU ran {model.name} ({label}, {edgetpu.edgetpu_library()})")
        return EXIT_OK
    print(f"failed: {result.reason}")
    fix = edgetpu.INSTALL_EDGETPU_REBUILD if result.crashed else coral.pcie_coral_problem()
    print(f"fix: {fix or PLUG_IN_USB}")
    return EXIT_PARTIAL


if __name__ == "__main__":
    sys.exit(main())
