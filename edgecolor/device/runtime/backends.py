"""Interpreter back-ends: LiteRT on the CPU (XNNPACK) or on a Coral Edge TPU.

:func:`load_interpreter` hides the hardware (pycoral's habit). The CPU runtime is the first
of these that imports:

1. LiteRT, ``ai_edge_litert.interpreter`` (``pip install ai-edge-litert``; a Pi 5 and Python
   3.11+ have wheels),
2. ``tflite_runtime.interpreter`` (the older stand-alone runtime),
3. TensorFlow's ``tf.lite`` (a last resort on a development machine: it imports TensorFlow).

XNNPACK is LiteRT's default CPU delegate; ``threads`` sets its thread pool (default: every
core this process may use). The Edge TPU runs through ``load_delegate("libedgetpu.so.1")``
on the ``*_edgetpu.tflite`` file that ``edgetpu_compiler`` wrote.

The Edge TPU is tried in a child process first
(:func:`~edgecolor.device.runtime.edgetpu.probe_edgetpu`): LiteRT creates the
delegate in ``load_delegate`` but binds it to the graph inside ``Interpreter(...)``, and a
``libedgetpu`` built against another TensorFlow version (Coral's own apt package is built
against TF 2.5) has been reported to crash there with a segmentation fault. A crash in
the child costs nothing; ``auto`` then runs on the CPU with one warning line.

Nothing here imports a runtime at module load, so the module imports on any machine.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecolor.device.runtime import edgetpu
from edgecolor.device.runtime.options import check_device, check_threads
from edgecolor.errors import INSTALL_DEVICE, MissingDependencyError, UsageError, one_line

logger = logging.getLogger(__name__)

# CPU runtimes in order of preference: (module, label). The first that imports is used.
# TensorFlow's API is the attribute ``tensorflow.lite``: importing the *module*
# "tensorflow.lite" gives the package directory tensorflow/lite/, which has no Interpreter.
CPU_RUNTIMES = (
    ("ai_edge_litert.interpreter", "litert"),
    ("tflite_runtime.interpreter", "tflite_runtime"),
    ("tensorflow", "tf.lite"),
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


def cpu_runtime(only: str | None = None) -> tuple[Any, str]:
    """The first importable CPU runtime (module with ``Interpreter``) and its label.

    Args:
        only: a label from CPU_RUNTIMES to use that runtime and no other (the probe's
            child process runs the parent's runtime).
    Raises:
        MissingDependencyError: no runtime imports.
    """
    for module_name, label in CPU_RUNTIMES:
        if only is not None and label != only:
            continue
        try:
            module = importlib.import_module(module_name)
            if label == "tf.lite":
                module = module.lite
        except (ImportError, AttributeError):
            continue
        if label == "tf.lite" and only is None:
            logger.warning(
                "using tf.lite from TensorFlow: neither LiteRT nor tflite_runtime is installed (%s)",
                INSTALL_DEVICE,
            )
        return module, label
    raise MissingDependencyError("LiteRT (ai-edge-litert)", INSTALL_DEVICE)


def probe_child() -> None:
    """The child of :func:`~edgecolor.device.runtime.edgetpu.probe_edgetpu`: argv = MODEL LABEL DEVICE; one JSON line on stdout."""
    model_path, label, device_name = sys.argv[1:4]
    try:
        runtime, label = cpu_runtime(only=label)
        delegate = edgetpu.load_edgetpu_delegate(runtime, label, device_name or None)
        interpreter = runtime.Interpreter(model_path=model_path, experimental_delegates=[delegate])
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except (MissingDependencyError, ValueError, RuntimeError, OSError) as error:
        # The runtime's own words ("Failed to load delegate from libedgetpu.so.1 ..."), not
        # the install advice wrapped around them: the parent adds its own.
        cause = error.__cause__ if isinstance(error, MissingDependencyError) else None
        print(json.dumps({"ok": False, "reason": one_line(cause or error)}), flush=True)
        sys.exit(3)
    print(json.dumps({"ok": True}), flush=True)
    # Interpreter and delegate are destroyed at exit: a crash there is reported too.


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
    check_device(device)
    check_threads(threads)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise UsageError(f"model file not found: {model_path}")
    runtime, label = cpu_runtime()

    if device in ("edgetpu", "auto"):
        loaded = _try_edgetpu(runtime, label, device, edgetpu_model_path)
        if loaded is not None:
            return loaded

    thread_count = threads or default_threads()
    try:
        with _native_log_filtered():
            interpreter = runtime.Interpreter(model_path=str(model_path), num_threads=thread_count)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise UsageError(
            f"{model_path} is not a TFLite model {label} can load: {one_line(error)}"
        ) from None
    backend = f"{label} cpu (xnnpack, {thread_count} thread{'s' if thread_count > 1 else ''})"
    logger.info("back-end: %s, model %s", backend, model_path.name)
    return LoadedInterpreter(interpreter, backend, model_path, "cpu")


def _try_edgetpu(
    runtime: Any, label: str, device: str, edgetpu_model_path: str | Path | None
) -> LoadedInterpreter | None:
    """The Edge TPU interpreter, None when ``auto`` should fall back to the CPU.

    ``auto`` falls back silently when there is no compiled model or no libedgetpu, and
    with one warning line when libedgetpu is there but does not work (no TPU plugged in,
    a crash in the probe, an error building the interpreter). ``edgetpu`` raises instead.
    """
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
        library = edgetpu.edgetpu_library()
    except MissingDependencyError:
        if device == "edgetpu":
            raise
        logger.info("auto: no Edge TPU runtime (libedgetpu) installed, using the CPU")
        return None
    edgetpu_model_path = Path(edgetpu_model_path)
    probe = edgetpu.probe_edgetpu(edgetpu_model_path, runtime, label)
    if probe.ok:
        try:
            delegate = edgetpu.load_edgetpu_delegate(runtime, label)
            with _native_log_filtered():
                interpreter = runtime.Interpreter(
                    model_path=str(edgetpu_model_path), experimental_delegates=[delegate]
                )
                interpreter.allocate_tensors()
        except (MissingDependencyError, ValueError, RuntimeError, OSError) as error:
            probe = edgetpu.EdgeTpuProbe(False, one_line(error))
        else:
            backend = f"{label} edgetpu ({library})"
            logger.info("back-end: %s, model %s", backend, edgetpu_model_path.name)
            return LoadedInterpreter(interpreter, backend, edgetpu_model_path, "edgetpu")
    fix = edgetpu.edgetpu_fix(probe)
    if device == "edgetpu":
        raise UsageError(f"--device edgetpu: the Edge TPU does not work: {probe.reason}; {fix}")
    logger.warning("auto: the Edge TPU does not work (%s), using the CPU; %s", probe.reason, fix)
    return None


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
