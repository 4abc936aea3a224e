"""Interpreter back-ends: LiteRT on the CPU (XNNPACK) or on a Coral Edge TPU.

One small function, :func:`make_interpreter`, hides the hardware (pycoral's habit). The
CPU runtime is the first of these that imports:

1. LiteRT, ``ai_edge_litert.interpreter`` (``pip install ai-edge-litert``; a Pi 5 and Python
   3.11+ have wheels),
2. ``tflite_runtime.interpreter`` (the older stand-alone runtime),
3. ``tensorflow.lite`` (a last resort on a development machine: it imports TensorFlow).

XNNPACK is LiteRT's default CPU delegate; ``threads`` sets its thread pool (default: every
core this process may use). The Edge TPU runs through ``load_delegate("libedgetpu.so.1")``
on the ``*_edgetpu.tflite`` file that ``edgetpu_compiler`` wrote.

Nothing here imports a runtime at module load, so the module imports on any machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecolor.errors import MissingDependencyError, UsageError

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "edgetpu")
INSTALL_LITERT = "pip install 'edgecolor[device]'  (or: pip install ai-edge-litert)"
INSTALL_EDGETPU = (
    "sudo apt-get install libedgetpu1-std  (from Coral's apt repository; see device/README.md)"
)

# The Edge TPU runtime's shared library on each platform (as in pycoral).
EDGETPU_SHARED_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}

# CPU runtimes in order of preference: (module, label). The first that imports is used.
CPU_RUNTIMES = (
    ("ai_edge_litert.interpreter", "litert"),
    ("tflite_runtime.interpreter", "tflite_runtime"),
    ("tensorflow.lite", "tf.lite"),
)


class Interpreter(Protocol):
    """The part of a TFLite interpreter the device runtime uses (LiteRT, tflite_runtime, fakes).

    Tensor details are dicts with at least ``index``, ``shape`` (numpy int array),
    ``dtype`` (numpy type) and ``quantization`` (``(scale, zero_point)``, ``(0.0, 0)`` for float).
    """

    def allocate_tensors(self) -> None: ...

    def get_input_details(self) -> list[dict[str, Any]]: ...

    def get_output_details(self) -> list[dict[str, Any]]: ...

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def get_tensor(self, tensor_index: int) -> np.ndarray: ...


@dataclass
class LoadedInterpreter:
    """An interpreter with its tensors allocated, and what runs it.

    Attributes:
        interpreter: the interpreter, ready to ``invoke``.
        backend: a human-readable name, e.g. ``"litert cpu (xnnpack, 4 threads)"``.
        model_path: the .tflite file actually loaded (the ``_edgetpu`` one on a Coral).
        device: ``"cpu"`` or ``"edgetpu"``.
    """

    interpreter: Interpreter
    backend: str
    model_path: Path
    device: str


def default_threads() -> int:
    """Every core this process may run on (respects taskset/cgroups where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _cpu_runtime() -> tuple[Any, str]:
    """The first importable CPU runtime module and its label; MissingDependencyError if none."""
    for module_name, label in CPU_RUNTIMES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if label == "tf.lite":
            logger.warning(
                "using tf.lite from TensorFlow: neither LiteRT nor tflite_runtime is installed (%s)",
                INSTALL_LITERT,
            )
        return module, label
    raise MissingDependencyError("LiteRT (ai-edge-litert)", INSTALL_LITERT)


def _load_delegate_function(runtime: Any, label: str):
    if label == "tf.lite":
        return runtime.experimental.load_delegate
    return runtime.load_delegate


def load_edgetpu_delegate(runtime: Any, label: str, device_name: str | None = None):
    """Load the Edge TPU delegate, or raise MissingDependencyError naming the install command.

    Args:
        runtime: the runtime module from :func:`_cpu_runtime`.
        label: its label.
        device_name: ``None`` (the first TPU), ``"usb"``, ``"pci"``, ``"usb:0"`` ... (pycoral's names).
    """
    library = EDGETPU_SHARED_LIBRARY.get(platform.system())
    if library is None:
        raise MissingDependencyError(
            f"the Edge TPU runtime for {platform.system()}", INSTALL_EDGETPU
        )
    options = {"device": device_name} if device_name else {}
    try:
        # Open the library ourselves first: LiteRT's Delegate prints a spurious traceback
        # from its destructor when the library is missing.
        ctypes.CDLL(library)
        return _load_delegate_function(runtime, label)(library, options)
    except (ValueError, OSError, RuntimeError) as error:
        # LiteRT raises ValueError("Failed to load delegate from libedgetpu.so.1") both when
        # the library is missing and when no TPU is plugged in.
        raise MissingDependencyError(
            f"the Edge TPU ({library}: {error}; is the Coral plugged in?)", INSTALL_EDGETPU
        ) from error


def make_interpreter(
    model_path: str | Path,
    device: str = "auto",
    threads: int | None = None,
    edgetpu_model_path: str | Path | None = None,
) -> Interpreter:
    """A ready interpreter for ``model_path`` on ``device`` (pycoral-style); see :func:`load_interpreter`."""
    return load_interpreter(model_path, device, threads, edgetpu_model_path).interpreter


def load_interpreter(
    model_path: str | Path,
    device: str = "auto",
    threads: int | None = None,
    edgetpu_model_path: str | Path | None = None,
) -> LoadedInterpreter:
    """Load a .tflite model on the CPU or the Edge TPU and allocate its tensors.

    Args:
        model_path: the CPU .tflite file.
        device: ``"cpu"``; ``"edgetpu"`` (fails when there is no Edge TPU or no compiled
            model); ``"auto"`` (the Edge TPU when both the TPU and ``edgetpu_model_path`` are
            there, else the CPU). The choice is logged.
        threads: XNNPACK threads on the CPU; None = every core.
        edgetpu_model_path: the ``*_edgetpu.tflite`` file compiled from the same model.
    Raises:
        UsageError: unknown device, bad thread count, a model file that is missing or not a
            TFLite model.
        MissingDependencyError: no runtime, or ``device="edgetpu"`` without a TPU.
    """
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: must be at least 1")
    model_path = Path(model_path)
    if not model_path.is_file():
        raise UsageError(f"model file not found: {model_path}")
    runtime, label = _cpu_runtime()

    if device in ("edgetpu", "auto"):
        loaded = _try_edgetpu(runtime, label, device, edgetpu_model_path)
        if loaded is not None:
            return loaded

    thread_count = threads or default_threads()
    try:
        with _native_log_filtered():
            interpreter = runtime.Interpreter(model_path=str(model_path), num_threads=thread_count)
            interpreter.allocate_tensors()
    except ValueError as error:
        raise UsageError(f"{model_path} is not a TFLite model LiteRT can load: {error}") from None
    backend = f"{label} cpu (xnnpack, {thread_count} thread{'s' if thread_count > 1 else ''})"
    logger.info("back-end: %s, model %s", backend, model_path.name)
    return LoadedInterpreter(interpreter, backend, model_path, "cpu")


def _try_edgetpu(
    runtime: Any, label: str, device: str, edgetpu_model_path: str | Path | None
) -> LoadedInterpreter | None:
    """The Edge TPU interpreter, None when ``auto`` should fall back to the CPU."""
    if edgetpu_model_path is None or not Path(edgetpu_model_path).is_file():
        if device == "edgetpu":
            raise UsageError(
                "--device edgetpu needs a model compiled for the Edge TPU (*_edgetpu.tflite "
                f"named in the model's metadata); found {edgetpu_model_path or 'none'}: "
                "run `edgecolor export ... --edgetpu`"
            )
        logger.debug("auto: no *_edgetpu.tflite model, using the CPU")
        return None
    try:
        delegate = load_edgetpu_delegate(runtime, label)
    except MissingDependencyError:
        if device == "edgetpu":
            raise
        logger.info("auto: no Edge TPU found, using the CPU")
        return None
    edgetpu_model_path = Path(edgetpu_model_path)
    interpreter = runtime.Interpreter(
        model_path=str(edgetpu_model_path), experimental_delegates=[delegate]
    )
    interpreter.allocate_tensors()
    backend = f"{label} edgetpu ({EDGETPU_SHARED_LIBRARY[platform.system()]})"
    logger.info("back-end: %s, model %s", backend, edgetpu_model_path.name)
    return LoadedInterpreter(interpreter, backend, edgetpu_model_path, "edgetpu")


@contextlib.contextmanager
def _native_log_filtered():
    """Drop the runtime's own "Created TensorFlow Lite XNNPACK delegate" line from stderr.

    The C++ runtime prints it on every load; edgecolor logs the back-end itself. Anything
    else the runtime prints (warnings, errors) is passed through unchanged.
    """
    try:
        stderr_descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded, some test runners)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(stderr_descriptor)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), stderr_descriptor)
        try:
            yield
        finally:
            os.dup2(saved, stderr_descriptor)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if "Created TensorFlow Lite XNNPACK delegate" not in line:
                    sys.stderr.write(line)


# --------------------------------------------------------------------------- tensor adapters


def input_detail(interpreter: Interpreter) -> dict[str, Any]:
    """The single input tensor's detail dict (the model has exactly one input)."""
    details = interpreter.get_input_details()
    if len(details) != 1:
        raise UsageError(f"expected a model with one input tensor, found {len(details)}")
    return details[0]


def output_detail(interpreter: Interpreter) -> dict[str, Any]:
    """The single output tensor's detail dict (the model has exactly one output)."""
    details = interpreter.get_output_details()
    if len(details) != 1:
        raise UsageError(f"expected a model with one output tensor, found {len(details)}")
    return details[0]


def quantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Real values -> the tensor's dtype: ``round(v / scale + zero_point)`` clipped, or a cast for float.

    Args:
        values: float32 array in the tensor's real-valued range.
        detail: the tensor's detail dict.
    Returns:
        The array in ``detail["dtype"]`` (int8/uint8 quantized, or float32).
    """
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if dtype.kind == "f" or not scale:
        return np.asarray(values, dtype=dtype)
    info = np.iinfo(dtype)
    quantized = np.rint(np.asarray(values, np.float32) * np.float32(1.0 / scale) + zero_point)
    return np.clip(quantized, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """The tensor's values -> float32 real values: ``(q - zero_point) * scale``, or a cast for float."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if np.dtype(detail["dtype"]).kind == "f" or not scale:
        return np.asarray(values, dtype=np.float32)
    return (np.asarray(values, np.float32) - np.float32(zero_point)) * np.float32(scale)
