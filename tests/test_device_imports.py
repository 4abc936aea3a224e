"""edgecolor.device never imports TensorFlow, and no module imports a hardware library at load."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import edgecolor.device

FORBIDDEN = ("tensorflow", "tf_keras", "keras")
NOT_AT_LOAD = (
    "cv2",
    "picamera2",
    "libcamera",
    "pycoral",
    "tflite_runtime",
    "ai_edge_litert",
    "av",
    "simplejpeg",
    "ray",
)


def _device_modules() -> list[str]:
    names = [
        info.name for info in pkgutil.walk_packages(edgecolor.device.__path__, "edgecolor.device.")
    ]
    assert (
        "edgecolor.device.runtime.colorizer" in names
        and "edgecolor.device.runtime.backends" in names
    )
    return ["edgecolor.device", *sorted(names)]


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_every_device_module_imports_without_tensorflow_or_hardware_libraries():
    modules = _device_modules()
    for module in modules:
        loaded = _top_level(_modules_loaded_by(f"import {module}"))
        assert not loaded & set(FORBIDDEN), f"{module} imports {loaded & set(FORBIDDEN)}"
        assert not loaded & set(NOT_AT_LOAD), (
            f"{module} imports {loaded & set(NOT_AT_LOAD)} at load"
        )


def test_colorizing_through_litert_never_imports_tensorflow(tiny_model):
    statement = (
        "import numpy as np\n"
        "from edgecolor.device import Colorizer\n"
        f"Colorizer({str(tiny_model)!r}, device='cpu').colorize(np.zeros((20, 30), np.uint8))"
    )
    loaded = _top_level(_modules_loaded_by(statement))
    assert "ai_edge_litert" in loaded  # the runtime really ran
    assert not loaded & set(FORBIDDEN)


def test_command_line_parser_imports_nothing_heavy():
    loaded = _top_level(
        _modules_loaded_by("from edgecolor.cli import build_parser; build_parser()")
    )
    assert not loaded & set(FORBIDDEN + NOT_AT_LOAD)
