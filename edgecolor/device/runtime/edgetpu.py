"""The Coral Edge TPU: is one attached, its runtime (libedgetpu) and delegate, and a probe
that builds and runs an Edge TPU interpreter once in a child process.

LiteRT creates the delegate in ``load_delegate`` but binds it to the graph inside
``Interpreter(...)``, and a ``libedgetpu`` built against another TensorFlow version
(Coral's own apt package is built against TF 2.5) has been reported to crash there with a
segmentation fault: the probe (:func:`probe_edgetpu`) takes the crash in a child. Its
result is cached in this process, and on disk when it does not depend on the accelerator
being plugged in. :mod:`edgecolor.device.runtime.backends` uses it for ``--device auto``
and ``edgetpu``; nothing here imports a runtime.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import platform
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecolor.device.runtime import coral
from edgecolor.errors import MissingDependencyError, one_line

logger = logging.getLogger(__name__)

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

# The Edge TPU runtime's shared library on each platform (as in pycoral).
EDGETPU_SHARED_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}


def edgetpu_library() -> str:
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
        runtime: the runtime module from :func:`~edgecolor.device.runtime.backends.cpu_runtime`.
        label: its label.
        device_name: ``None`` (the first TPU), ``"usb"``, ``"pci"``, ``"usb:0"`` ... (pycoral's names).
    """
    library = edgetpu_library()
    options = {"device": device_name} if device_name else {}
    load_delegate = (
        runtime.experimental.load_delegate if label == "tf.lite" else runtime.load_delegate
    )
    try:
        return load_delegate(library, options)
    except (ValueError, OSError, RuntimeError) as error:
        # LiteRT raises ValueError("Failed to load delegate from libedgetpu.so.1") when
        # libedgetpu finds no TPU (tflite_plugin_create_delegate returns NULL).
        hint = coral.pcie_coral_problem() or "is the Coral plugged in?"
        raise MissingDependencyError(
            f"the Edge TPU ({library}: {one_line(error)}; {hint})", INSTALL_EDGETPU
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


def edgetpu_fix(probe: EdgeTpuProbe) -> str:
    """What to do about a failed probe, one line: the rebuild, the PCIe fix or a plug check."""
    if probe.crashed:
        return INSTALL_EDGETPU_REBUILD
    return coral.pcie_coral_problem() or f"is the Coral plugged in? ({INSTALL_EDGETPU})"


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


def _stored_probes() -> dict[str, Any]:
    """The probe cache file's results by key; {} when it is missing or unreadable."""
    try:
        stored = json.loads(probe_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _read_probe_cache(key: str) -> EdgeTpuProbe | None:
    """A stored probe result; a success only while it is from this boot and this attachment.

    A crash depends on the library and the runtime only, so it is kept for good. A success
    says the TPU answered *then*: a USB Accelerator that has locked up since would hang this
    process when the interpreter is built in it, so after a reboot or a re-enumeration the
    child process (with its time limit) probes again.
    """
    stored = _stored_probes().get(key)
    if not isinstance(stored, dict):
        return None
    result = EdgeTpuProbe(
        bool(stored.get("ok")), str(stored.get("reason", "")), bool(stored.get("crashed"))
    )
    if result.ok and (
        _REPROBE
        or stored.get("boot") != coral.boot_id()
        or stored.get("devices") != coral.coral_enumeration()
    ):
        logger.debug("the stored Edge TPU probe is from another boot or attachment: probing")
        return None
    return result


def _write_probe_cache(key: str, result: EdgeTpuProbe) -> None:
    from edgecolor.files import atomic_write_text

    path = probe_cache_path()
    stored = _stored_probes()
    stored[key] = {"ok": result.ok, "reason": result.reason, "crashed": result.crashed}
    if result.ok:  # valid while the boot and the attachment stay the same
        stored[key].update(boot=coral.boot_id(), devices=coral.coral_enumeration())
    try:
        atomic_write_text(path, json.dumps(stored, indent=1) + "\n")
    except OSError as error:  # a read-only home: the probe just runs again next time
        logger.debug("cannot write %s: %s", path, error)


def probe_edgetpu(
    model_path: str | Path,
    runtime: Any,
    label: str,
    device_name: str | None = None,
    timeout: float | None = None,
) -> EdgeTpuProbe:
    """Build an Edge TPU interpreter on ``model_path``, allocate and invoke it once, in a child.

    The child process does exactly what ``backends.load_interpreter`` would do here, so a
    libedgetpu that crashes (SIGSEGV) takes the child down, not this process. The result
    is cached in this process, and on disk (:func:`probe_cache_path`) when it does not
    depend on the accelerator being plugged in (success, or a crash): the key is the
    library file, the runtime and the model file, so installing another libedgetpu or
    runtime probes again.

    Args:
        model_path: the ``*_edgetpu.tflite`` model (any .tflite works: ops the compiler did
            not map run on the CPU).
        runtime, label: the runtime from :func:`~edgecolor.device.runtime.backends.cpu_runtime`.
        device_name: the delegate's ``device`` option (None: the first TPU).
        timeout: seconds before a hung child is killed (reported as a failure); None:
            :data:`PROBE_TIMEOUT_SECONDS`.
    Returns:
        An :class:`EdgeTpuProbe`.
    """
    global _REPROBE
    model_path = Path(model_path)
    try:
        library = edgetpu_library()
    except MissingDependencyError as error:
        return EdgeTpuProbe(False, str(error))
    key = _probe_key(model_path, runtime, label, device_name)
    if key in _PROBE_RESULTS:
        return _PROBE_RESULTS[key]
    # Without the library's file in the key a stored crash would outlive a fixed library.
    use_disk = _loaded_library_file(library) is not None
    result = _read_probe_cache(key) if use_disk else None
    if result is None and coral.edgetpu_attached() is False:
        # Nothing to probe: not kept on disk either, so plugging one in is seen next run.
        result = EdgeTpuProbe(False, coral.NO_CORAL_FOUND)
    if result is None:
        if timeout is None:
            timeout = PROBE_TIMEOUT_SECONDS  # read now: a test shortens it
        result = _run_probe_child(model_path, label, device_name, timeout)
        _REPROBE = False  # probed in a child again: a stored success may do from now on
        if use_disk and (result.ok or result.crashed):
            _write_probe_cache(key, result)
    _PROBE_RESULTS[key] = result
    return result


# Set by forget_edgetpu_probes: the next probe runs its child even where a stored success
# would do (the TPU failed in this process since).
_REPROBE = False


def forget_edgetpu_probes() -> None:
    """Drop what this process knows of the Edge TPU, so the next load probes it in a child.

    For a TPU that failed mid-run (an invoke raised): building its interpreter again in this
    process on the strength of an earlier success could hang on a locked-up accelerator.
    """
    global _REPROBE
    _PROBE_RESULTS.clear()
    _REPROBE = True


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
        "from edgecolor.device.runtime.backends import probe_child; probe_child()",
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
