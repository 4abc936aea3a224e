"""Interpreter back-ends: LiteRT on the CPU (XNNPACK) or on a Coral Edge TPU.

One small function, :func:`make_interpreter`, hides the hardware (pycoral's habit). The
CPU runtime is the first of these that imports:

1. LiteRT, ``ai_edge_litert.interpreter`` (``pip install ai-edge-litert``; a Pi 5 and Python
   3.11+ have wheels),
2. ``tflite_runtime.interpreter`` (the older stand-alone runtime),
3. TensorFlow's ``tf.lite`` (a last resort on a development machine: it imports TensorFlow).

XNNPACK is LiteRT's default CPU delegate; ``threads`` sets its thread pool (default: every
core this process may use). The Edge TPU runs through ``load_delegate("libedgetpu.so.1")``
on the ``*_edgetpu.tflite`` file that ``edgetpu_compiler`` wrote.

The Edge TPU is tried in a child process first (:func:`probe_edgetpu`): LiteRT creates the
delegate in ``load_delegate`` but binds it to the graph inside ``Interpreter(...)``, and a
``libedgetpu`` built against another TensorFlow version (Coral's own apt package is built
against TF 2.5) has been reported to crash there with a segmentation fault. A crash in
the child costs nothing; ``auto`` then runs on the CPU with one warning line.

Nothing here imports a runtime at module load, so the module imports on any machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecolor.device.runtime.options import check_device, check_threads
from edgecolor.errors import INSTALL_DEVICE, MissingDependencyError, UsageError, one_line

logger = logging.getLogger(__name__)

INSTALL_LITERT = INSTALL_DEVICE
INSTALL_EDGETPU = "sudo device/install.sh --coral  (Coral's libedgetpu1-std; see device/README.md)"
# The libedgetpu to install when Coral's own (built against TF 2.5) crashes or refuses to
# bind with this runtime: a rebuild against a recent TensorFlow. Raspberry Pi OS Bookworm
# 64-bit is arm64 on both a Pi 4 and a Pi 5, so both take the same package.
LIBEDGETPU_REBUILD_TAG = "16.0TF2.19.1-1"
LIBEDGETPU_REBUILD_DEB = "libedgetpu1-std_16.0tf2.19.1-1.bookworm_arm64.deb"
INSTALL_EDGETPU_REBUILD = (
    f"install feranick's libedgetpu rebuilt for current TensorFlow (Pi 4 and Pi 5, 64-bit "
    f"Bookworm: {LIBEDGETPU_REBUILD_DEB} from "
    f"github.com/feranick/libedgetpu/releases/tag/{LIBEDGETPU_REBUILD_TAG}) with "
    "`sudo device/install.sh --coral --libedgetpu-deb FILE`, or use --device cpu"
)
# Seconds the child-process probe may take: the first call after plugging a USB
# accelerator in uploads its firmware, a few seconds.
PROBE_TIMEOUT_SECONDS = 60.0

# Where a Coral shows up on Linux, without loading libedgetpu: the M.2 / mini-PCIe card's
# driver (gasket + apex) makes /dev/apex_N; the USB Accelerator enumerates as 1a6e:089a
# until libedgetpu uploads its firmware, then as 18d1:9302 (libedgetpu's udev rules).
DEV_DIR = Path("/dev")
USB_DEVICES_DIR = Path("/sys/bus/usb/devices")
CORAL_USB_IDS = frozenset({("1a6e", "089a"), ("18d1", "9302")})
# Set to 0 to skip that check and always probe (a Coral attached in a way it cannot see).
EDGETPU_CHECK_ENV = "EDGECOLOR_EDGETPU_CHECK"

# The Edge TPU runtime's shared library on each platform (as in pycoral).
EDGETPU_SHARED_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}

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


def _cpu_runtime(only: str | None = None) -> tuple[Any, str]:
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
                INSTALL_LITERT,
            )
        return module, label
    raise MissingDependencyError("LiteRT (ai-edge-litert)", INSTALL_LITERT)


def _load_delegate_function(runtime: Any, label: str):
    if label == "tf.lite":
        return runtime.experimental.load_delegate
    return runtime.load_delegate


def _edgetpu_library() -> str:
    """Open the Edge TPU's shared library (no delegate yet) and return its name.

    Opening it is harmless (libedgetpu does its work when a delegate is created); it tells
    a missing runtime apart from one that does not work, and LiteRT's Delegate prints a
    spurious traceback from its destructor when the library is missing.

    Raises:
        MissingDependencyError: no libedgetpu on this system.
    """
    library = EDGETPU_SHARED_LIBRARY.get(platform.system())
    if library is None:
        raise MissingDependencyError(
            f"the Edge TPU runtime for {platform.system()}", INSTALL_EDGETPU
        )
    try:
        ctypes.CDLL(library)
    except OSError as error:
        raise MissingDependencyError(
            f"the Edge TPU runtime ({library}: {error})", INSTALL_EDGETPU
        ) from error
    return library


def load_edgetpu_delegate(runtime: Any, label: str, device_name: str | None = None):
    """Load the Edge TPU delegate, or raise MissingDependencyError naming the install command.

    This creates the delegate only; it is bound to a model (and may crash, see
    :func:`probe_edgetpu`) when an Interpreter is built with it.

    Args:
        runtime: the runtime module from :func:`_cpu_runtime`.
        label: its label.
        device_name: ``None`` (the first TPU), ``"usb"``, ``"pci"``, ``"usb:0"`` ... (pycoral's names).
    """
    library = _edgetpu_library()
    options = {"device": device_name} if device_name else {}
    try:
        return _load_delegate_function(runtime, label)(library, options)
    except (ValueError, OSError, RuntimeError) as error:
        # LiteRT raises ValueError("Failed to load delegate from libedgetpu.so.1") when
        # libedgetpu finds no TPU (tflite_plugin_create_delegate returns NULL).
        raise MissingDependencyError(
            f"the Edge TPU ({library}: {one_line(error)}; is the Coral plugged in?)",
            INSTALL_EDGETPU,
        ) from error


# --------------------------------------------------------------------------- the probe


@dataclass(frozen=True)
class EdgeTpuProbe:
    """What happened when an Edge TPU interpreter was built and run once in a child process.

    Attributes:
        ok: the interpreter was built, allocated and invoked, and the child exited cleanly.
        reason: why not (one line), empty when ``ok``.
        crashed: the child died from a signal (e.g. SIGSEGV): this libedgetpu does not
            match the runtime, and building the interpreter here would kill this process.
    """

    ok: bool
    reason: str = ""
    crashed: bool = False


def edgetpu_attached() -> bool | None:
    """Whether a Coral is attached: True, False, or None when this system cannot tell.

    A cheap look at /dev and the USB bus in sysfs, so that a Pi with libedgetpu installed
    and the accelerator unplugged does not start a probe child on every run. None (not
    Linux, no sysfs USB bus as in some containers, or ``EDGECOLOR_EDGETPU_CHECK=0``) means
    "probe and see".
    """
    if os.environ.get(EDGETPU_CHECK_ENV, "1") == "0":
        return None
    if platform.system() != "Linux" or not USB_DEVICES_DIR.is_dir():
        return None
    if any(DEV_DIR.glob("apex_*")):
        return True
    for device in USB_DEVICES_DIR.iterdir():
        try:
            ids = tuple(
                (device / name).read_text(encoding="ascii").strip().lower()
                for name in ("idVendor", "idProduct")
            )
        except (OSError, UnicodeDecodeError):  # interfaces and hubs' ports have no IDs
            continue
        if ids in CORAL_USB_IDS:
            return True
    return False


NO_CORAL_FOUND = (
    "no Coral found (no /dev/apex_* and no USB device "
    + " or ".join(sorted(f"{vendor}:{product}" for vendor, product in CORAL_USB_IDS))
    + ")"
)

# In-process cache of probe results: key -> result (see _probe_key).
_PROBE_RESULTS: dict[str, EdgeTpuProbe] = {}


def probe_cache_path() -> Path:
    """``$XDG_CACHE_HOME/edgecolor/edgetpu-probe.json`` (``~/.cache`` without XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgecolor" / "edgetpu-probe.json"


def _loaded_library_file(library: str) -> Path | None:
    """The file this process mapped for ``library`` (Linux: from /proc/self/maps), or None."""
    stem = Path(library).name.split(".")[0]
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and Path(fields[5]).name.startswith(stem):
            return Path(fields[5])
    return None


def _file_identity(path: Path | str | None) -> list:
    if path is None:
        return [None]
    try:
        status = Path(path).stat()
    except OSError:
        return [str(path), None]
    return [str(Path(path).resolve()), status.st_size, status.st_mtime_ns]


def _probe_key(model_path: Path, runtime: Any, label: str, device_name: str | None) -> str:
    """What a probe result depends on: the library file, the runtime, the model, the device."""
    library = EDGETPU_SHARED_LIBRARY.get(platform.system(), "")
    return json.dumps(
        [
            _file_identity(_loaded_library_file(library)),
            label,
            _file_identity(getattr(runtime, "__file__", None)),
            _file_identity(model_path),
            device_name,
        ]
    )


def _read_probe_cache(key: str) -> EdgeTpuProbe | None:
    try:
        stored = json.loads(probe_cache_path().read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(stored, dict):
        return None
    return EdgeTpuProbe(
        bool(stored.get("ok")), str(stored.get("reason", "")), bool(stored.get("crashed"))
    )


def _write_probe_cache(key: str, result: EdgeTpuProbe) -> None:
    from edgecolor.files import atomic_write_text

    path = probe_cache_path()
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stored, dict):
            stored = {}
    except (OSError, ValueError):
        stored = {}
    stored[key] = {"ok": result.ok, "reason": result.reason, "crashed": result.crashed}
    try:
        atomic_write_text(path, json.dumps(stored, indent=1) + "\n")
    except OSError as error:  # a read-only home: the probe just runs again next time
        logger.debug("cannot write %s: %s", path, error)


def probe_edgetpu(
    model_path: str | Path,
    runtime: Any = None,
    label: str | None = None,
    device_name: str | None = None,
    timeout: float = PROBE_TIMEOUT_SECONDS,
) -> EdgeTpuProbe:
    """Build an Edge TPU interpreter on ``model_path``, allocate and invoke it once, in a child.

    The child process does exactly what :func:`load_interpreter` would do here, so a
    libedgetpu that crashes (SIGSEGV) takes the child down, not this process. The result
    is cached in this process, and on disk (:func:`probe_cache_path`) when it does not
    depend on the accelerator being plugged in (success, or a crash): the key is the
    library file, the runtime and the model file, so installing another libedgetpu or
    runtime probes again.

    Args:
        model_path: the ``*_edgetpu.tflite`` model (any .tflite works: ops the compiler did
            not map run on the CPU).
        runtime, label: the runtime from :func:`_cpu_runtime` (default: the first found).
        device_name: the delegate's ``device`` option (None: the first TPU).
        timeout: seconds before a hung child is killed (reported as a failure).
    Returns:
        An :class:`EdgeTpuProbe`.
    """
    if runtime is None or label is None:
        runtime, label = _cpu_runtime()
    model_path = Path(model_path)
    try:
        _edgetpu_library()
    except MissingDependencyError as error:
        return EdgeTpuProbe(False, str(error))
    key = _probe_key(model_path, runtime, label, device_name)
    if key in _PROBE_RESULTS:
        return _PROBE_RESULTS[key]
    # Without the library's file in the key a stored crash would outlive a fixed library.
    library = EDGETPU_SHARED_LIBRARY.get(platform.system(), "")
    use_disk = _loaded_library_file(library) is not None
    result = _read_probe_cache(key) if use_disk else None
    if result is None and edgetpu_attached() is False:
        # Nothing to probe: not kept on disk either, so plugging one in is seen next run.
        result = EdgeTpuProbe(False, NO_CORAL_FOUND)
    if result is None:
        result = _run_probe_child(model_path, label, device_name, timeout)
        if use_disk and (result.ok or result.crashed):
            _write_probe_cache(key, result)
    _PROBE_RESULTS[key] = result
    return result


def _run_probe_child(
    model_path: Path, label: str, device_name: str | None, timeout: float
) -> EdgeTpuProbe:
    package_root = str(Path(__file__).resolve().parents[3])
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [package_root, *filter(None, [environment.get("PYTHONPATH")])]
    )
    command = [
        sys.executable,
        "-c",
        "from edgecolor.device.runtime.backends import _probe_child; _probe_child()",
        str(model_path),
        label,
        device_name or "",
    ]
    logger.debug("probing the Edge TPU in a child process: %s", " ".join(command))
    try:
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment
        )
    except subprocess.TimeoutExpired:
        return EdgeTpuProbe(False, f"the Edge TPU did not answer within {timeout:.0f} s")
    answer: dict = {}
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                answer = json.loads(line)
            break
    if finished.returncode < 0:
        try:
            name = signal.Signals(-finished.returncode).name
        except ValueError:
            name = f"signal {-finished.returncode}"
        stage = "at exit" if answer.get("ok") else "building or running the interpreter"
        return EdgeTpuProbe(
            False,
            f"libedgetpu crashed ({name}) {stage} on {model_path.name}: it was built "
            f"against another TensorFlow version than {label}",
            crashed=True,
        )
    if finished.returncode == 0 and answer.get("ok"):
        return EdgeTpuProbe(True)
    reason = answer.get("reason") or one_line(
        (finished.stderr.strip().splitlines() or [f"exit status {finished.returncode}"])[-1]
    )
    return EdgeTpuProbe(False, reason)


def _probe_child() -> None:
    """The child of :func:`probe_edgetpu`: argv = MODEL LABEL DEVICE; one JSON line on stdout."""
    model_path, label, device_name = sys.argv[1:4]
    try:
        runtime, label = _cpu_runtime(only=label)
        delegate = load_edgetpu_delegate(runtime, label, device_name or None)
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
    check_device(device)
    check_threads(threads)
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
        library = _edgetpu_library()
    except MissingDependencyError:
        if device == "edgetpu":
            raise
        logger.info("auto: no Edge TPU runtime (libedgetpu) installed, using the CPU")
        return None
    edgetpu_model_path = Path(edgetpu_model_path)
    probe = probe_edgetpu(edgetpu_model_path, runtime, label)
    if probe.ok:
        try:
            delegate = load_edgetpu_delegate(runtime, label)
            with _native_log_filtered():
                interpreter = runtime.Interpreter(
                    model_path=str(edgetpu_model_path), experimental_delegates=[delegate]
                )
                interpreter.allocate_tensors()
        except (MissingDependencyError, ValueError, RuntimeError, OSError) as error:
            probe = EdgeTpuProbe(False, one_line(error))
        else:
            backend = f"{label} edgetpu ({library})"
            logger.info("back-end: %s, model %s", backend, edgetpu_model_path.name)
            return LoadedInterpreter(interpreter, backend, edgetpu_model_path, "edgetpu")
    fix = (
        INSTALL_EDGETPU_REBUILD
        if probe.crashed
        else f"is the Coral plugged in? ({INSTALL_EDGETPU})"
    )
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
