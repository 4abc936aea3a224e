"""Back-end choice (LiteRT, Edge TPU, fallbacks), tensor adapters and the model metadata."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edgecolor.device.runtime import backends, coral, edgetpu, model
from edgecolor.errors import MissingDependencyError, UsageError


def test_cpu_backend_uses_litert_with_the_requested_threads(tiny_model):
    loaded = backends.load_interpreter(tiny_model, device="cpu", threads=1)
    assert loaded.device == "cpu"
    assert loaded.backend == "litert cpu (xnnpack, 1 thread)"
    assert [int(n) for n in backends.input_detail(loaded.interpreter)["shape"]] == [1, 32, 32, 1]


def test_auto_without_edgetpu_model_uses_cpu_and_logs_it(tiny_model, caplog):
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime.backends"):
        loaded = backends.load_interpreter(tiny_model, device="auto")
    assert loaded.device == "cpu"
    assert "back-end: litert cpu" in caplog.text


def test_missing_runtime_names_the_install_command(tiny_model, monkeypatch):
    for module in (
        "ai_edge_litert",
        "ai_edge_litert.interpreter",
        "tflite_runtime",
        "tflite_runtime.interpreter",
        "tensorflow",
    ):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(
        MissingDependencyError, match=r"pip install ai-edge-litert .*pip install '\.\[device\]'"
    ):
        backends.load_interpreter(tiny_model, device="cpu")


def test_edgetpu_requested_without_compiled_model_is_a_usage_error(tiny_model):
    with pytest.raises(UsageError, match="_edgetpu.tflite"):
        backends.load_interpreter(tiny_model, device="edgetpu")


def test_edgetpu_requested_without_runtime_names_libedgetpu(tiny_model, tmp_path, monkeypatch):
    compiled = tmp_path / "tiny_edgetpu.tflite"
    shutil.copy(tiny_model, compiled)

    def missing_library(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(edgetpu.ctypes, "CDLL", missing_library)
    with pytest.raises(MissingDependencyError, match="libedgetpu1-std"):
        backends.load_interpreter(tiny_model, device="edgetpu", edgetpu_model_path=compiled)
    # auto falls back to the CPU instead
    loaded = backends.load_interpreter(tiny_model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "cpu" and loaded.model_path == tiny_model


class _FakeRuntime(types.SimpleNamespace):
    """A stand-in for the LiteRT module: records which file and delegates it was given."""

    def __init__(self):
        super().__init__(created=[], delegates=[])
        runtime = self

        class Interpreter:
            def __init__(self, model_path, num_threads=None, experimental_delegates=None):
                runtime.created.append((model_path, num_threads, experimental_delegates))

            def allocate_tensors(self):
                pass

        self.Interpreter = Interpreter

    def load_delegate(self, library, options):
        self.delegates.append((library, options))
        return "edgetpu-delegate"


def test_auto_picks_the_edgetpu_when_it_loads(tiny_model, tmp_path, monkeypatch, caplog):
    compiled = tmp_path / "tiny_edgetpu.tflite"
    shutil.copy(tiny_model, compiled)
    runtime = _FakeRuntime()
    probed = []
    monkeypatch.setattr(backends, "cpu_runtime", lambda: (runtime, "litert"))
    monkeypatch.setattr(edgetpu.ctypes, "CDLL", lambda name: None)
    monkeypatch.setattr(edgetpu.platform, "system", lambda: "Linux")
    monkeypatch.setattr(
        edgetpu,
        "probe_edgetpu",
        lambda path, *args: probed.append(path) or edgetpu.EdgeTpuProbe(True),
    )
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime.backends"):
        loaded = backends.load_interpreter(tiny_model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "edgetpu" and loaded.model_path == compiled
    assert runtime.delegates == [("libedgetpu.so.1", {})]
    assert runtime.created == [(str(compiled), None, ["edgetpu-delegate"])]
    assert probed == [compiled]  # built in this process only after the child's probe
    assert "edgetpu" in caplog.text


# ----------------------------------------------------- a libedgetpu that crashes (real LiteRT)


def _model_with_edgetpu_copy(tiny_model, folder):
    """A copy of the tiny model whose metadata names an ``_edgetpu.tflite`` beside it.

    The "compiled" file is the CPU model itself: a delegate that takes no op leaves it all
    on the CPU, which is enough for the delegate and the interpreter to be built and run.
    """
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "tiny.tflite"
    shutil.copy(tiny_model, model)
    shutil.copy(tiny_model, folder / "tiny_edgetpu.tflite")
    metadata = json.loads(tiny_model.with_suffix(".json").read_text())
    metadata["model_file"] = "tiny.tflite"
    metadata["edgetpu_model_file"] = "tiny_edgetpu.tflite"
    model.with_suffix(".json").write_text(json.dumps(metadata))
    return model


@pytest.fixture
def fake_edgetpu_here(fake_libedgetpu, tmp_path, monkeypatch):
    """The stand-in libedgetpu for this process (absolute path) and its probe children.

    Returns the log file that counts delegate creations.
    """
    library_folder = str(fake_libedgetpu.parent)
    monkeypatch.setenv(
        "LD_LIBRARY_PATH",
        os.pathsep.join(filter(None, [library_folder, os.environ.get("LD_LIBRARY_PATH")])),
    )
    monkeypatch.setitem(edgetpu.EDGETPU_SHARED_LIBRARY, "Linux", str(fake_libedgetpu))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(edgetpu, "_PROBE_RESULTS", {})
    # No Coral is attached here: skip the /dev + USB check so the probe child runs.
    monkeypatch.setenv(coral.EDGETPU_CHECK_ENV, "0")
    log = tmp_path / "delegate-creations.log"
    monkeypatch.setenv("FAKE_EDGETPU_LOG", str(log))
    return log


def _creations(log) -> int:
    return log.read_text().splitlines().count("create") if log.exists() else 0


def test_a_libedgetpu_crashing_in_the_interpreter_falls_back_to_the_cpu_once_probed(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, caplog
):
    # LiteRT binds the delegate inside Interpreter(...): that is where it crashes.
    monkeypatch.setenv("FAKE_EDGETPU", "crash-in-interpreter")
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime.backends"):
        loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "cpu" and loaded.model_path == model  # and this process lives
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "SIGSEGV" in warnings[0].getMessage()
    assert edgetpu.LIBEDGETPU_REBUILD_DEB in warnings[0].getMessage()
    assert _creations(fake_edgetpu_here) == 1
    # the result is cached: in this process, and on disk for the next one
    with pytest.raises(UsageError, match="SIGSEGV.*feranick"):
        backends.load_interpreter(model, device="edgetpu", edgetpu_model_path=compiled)
    monkeypatch.setattr(edgetpu, "_PROBE_RESULTS", {})
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).crashed
    assert _creations(fake_edgetpu_here) == 1
    assert edgetpu.probe_cache_path().is_file()


def test_a_probe_runs_again_when_the_library_changes(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, fake_libedgetpu
):
    monkeypatch.setenv("FAKE_EDGETPU", "crash")
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()).crashed
    monkeypatch.setattr(edgetpu, "_PROBE_RESULTS", {})
    os.utime(fake_libedgetpu)  # "another libedgetpu installed": its file changed
    monkeypatch.setenv("FAKE_EDGETPU", "ok")
    assert edgetpu.probe_edgetpu(compiled, *backends.cpu_runtime()) == edgetpu.EdgeTpuProbe(True)
    assert _creations(fake_edgetpu_here) == 2


def test_a_working_delegate_is_used_and_a_missing_tpu_falls_back_with_one_warning(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, caplog
):
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    monkeypatch.setenv("FAKE_EDGETPU", "ok")
    loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "edgetpu" and loaded.model_path == compiled
    loaded.interpreter.invoke()  # the real LiteRT interpreter with the (empty) delegate runs
    monkeypatch.setattr(edgetpu, "_PROBE_RESULTS", {})
    monkeypatch.setenv("FAKE_EDGETPU", "absent")
    other = model.with_name("other_edgetpu.tflite")  # another file: not in the disk cache
    shutil.copy(compiled, other)
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime.backends"):
        loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=other)
    assert loaded.device == "cpu"
    warnings = [
        record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1 and "Failed to open any Edge TPU (fake)" in warnings[0]
    assert not edgetpu.probe_edgetpu(other, *backends.cpu_runtime()).ok
    assert (
        edgetpu._read_probe_cache(  # "no TPU" is not kept on disk: plug it in, it is used
            edgetpu._probe_key(other, *backends.cpu_runtime(), None)
        )
        is None
    )


def _fake_sysfs(root: Path, usb_ids: list[tuple[str, str]], apex: bool = False):
    """A /dev and /sys/bus/usb/devices with these USB devices (and a hub's port without IDs)."""
    dev, usb = root / "dev", root / "usb"
    dev.mkdir(parents=True)
    (usb / "1-1:1.0").mkdir(parents=True)  # an interface: no idVendor
    for number, (vendor, product) in enumerate(usb_ids):
        device = usb / f"1-{number + 2}"
        device.mkdir()
        (device / "idVendor").write_text(vendor + "\n")
        (device / "idProduct").write_text(product + "\n")
    if apex:
        (dev / "apex_0").touch()
    return dev, usb


@pytest.mark.parametrize(
    ("usb_ids", "apex", "attached"),
    [
        ([("1d6b", "0002"), ("046d", "0825")], False, False),  # a hub and a webcam
        ([("1d6b", "0002"), ("1a6e", "089a")], False, True),  # USB Accelerator, no firmware
        ([("18d1", "9302")], False, True),  # USB Accelerator after libedgetpu's firmware
        ([("18d1", "4ee7")], False, False),  # another Google device (a phone)
        ([], True, True),  # M.2 / PCIe card
    ],
)
def test_a_coral_is_found_on_the_usb_bus_or_as_an_apex_device(
    tmp_path, monkeypatch, usb_ids, apex, attached
):
    if platform.system() != "Linux":
        pytest.skip("the /dev + sysfs check is Linux's")
    dev, usb = _fake_sysfs(tmp_path, usb_ids, apex)
    monkeypatch.setattr(coral, "DEV_DIR", dev)
    monkeypatch.setattr(coral, "USB_DEVICES_DIR", usb)
    monkeypatch.delenv(coral.EDGETPU_CHECK_ENV, raising=False)
    assert coral.edgetpu_attached() is attached
    monkeypatch.setenv(coral.EDGETPU_CHECK_ENV, "0")
    assert coral.edgetpu_attached() is None  # "probe and see"
    monkeypatch.setattr(coral, "USB_DEVICES_DIR", tmp_path / "no-sysfs")
    monkeypatch.delenv(coral.EDGETPU_CHECK_ENV)
    assert coral.edgetpu_attached() is None  # a container without the USB bus in sysfs


def test_an_unplugged_coral_starts_no_probe_child(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, caplog
):
    if platform.system() != "Linux":
        pytest.skip("the /dev + sysfs check is Linux's")
    dev, usb = _fake_sysfs(tmp_path / "sys", [("1d6b", "0002")])
    monkeypatch.setattr(coral, "DEV_DIR", dev)
    monkeypatch.setattr(coral, "USB_DEVICES_DIR", usb)
    monkeypatch.delenv(coral.EDGETPU_CHECK_ENV)
    monkeypatch.setenv("FAKE_EDGETPU", "ok")  # the library would work, were a TPU there
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime.backends"):
        loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "cpu"
    assert _creations(fake_edgetpu_here) == 0  # no child, no delegate
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no Coral found" in warnings[0]
    with pytest.raises(UsageError, match="no Coral found"):
        backends.load_interpreter(model, device="edgetpu", edgetpu_model_path=compiled)
    # plugged in later: not remembered on disk, so the next process probes and uses it
    monkeypatch.setattr(edgetpu, "_PROBE_RESULTS", {})
    (usb / "1-9").mkdir()
    (usb / "1-9" / "idVendor").write_text("18d1\n")
    (usb / "1-9" / "idProduct").write_text("9302\n")
    loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "edgetpu" and _creations(fake_edgetpu_here) >= 1


def _fake_pci(root: Path, ids: list[tuple[str, str]]) -> Path:
    """A /sys/bus/pci/devices with these (vendor, device) ids, as sysfs writes them."""
    pci = root / "pci"
    pci.mkdir(parents=True)
    for number, (vendor, device) in enumerate(ids):
        folder = pci / f"0000:0{number + 1}:00.0"
        folder.mkdir()
        (folder / "vendor").write_text(vendor + "\n")
        (folder / "device").write_text(device + "\n")
    return pci


# The service user and its own group (ids nobody here has); /dev/apex_0 is root:apex 0660.
SERVICE_USER = (54321, {54321})


def test_an_apex_device_the_user_cannot_open_names_the_apex_group(
    tiny_model, tmp_path, monkeypatch, fake_edgetpu_here, caplog
):
    """gasket-dkms makes /dev/apex_0 root:apex 0660; a user outside apex got "is the Coral
    plugged in?" (issue 17 item 4). libedgetpu then fails to open it: no delegate."""
    if platform.system() != "Linux":
        pytest.skip("/dev and sysfs are Linux's")
    dev, usb = _fake_sysfs(tmp_path / "sys", [("1d6b", "0002")], apex=True)
    apex = dev / "apex_0"
    if os.geteuid() == 0:
        os.chown(apex, 0, 996)  # as udev makes it: root:apex
    apex.chmod(0o660)
    apex_group = apex.stat().st_gid
    monkeypatch.setattr(coral, "DEV_DIR", dev)
    monkeypatch.setattr(coral, "USB_DEVICES_DIR", usb)
    monkeypatch.setattr(
        coral, "PCI_DEVICES_DIR", _fake_pci(tmp_path / "sys", [("0x1ac1", "0x089a")])
    )
    monkeypatch.setattr(coral, "_page_size", lambda: 4096)
    monkeypatch.setattr(coral, "_process_identity", lambda: SERVICE_USER)
    monkeypatch.delenv(coral.EDGETPU_CHECK_ENV)
    monkeypatch.setenv("FAKE_EDGETPU", "absent")  # libedgetpu: "Failed to open any Edge TPU"
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    compiled = model.with_name("tiny_edgetpu.tflite")
    with caplog.at_level(logging.INFO, logger="edgecolor.device.runtime"):
        loaded = backends.load_interpreter(model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "cpu"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"permission denied on {apex}: add the user to the apex group" in warning
    assert "plugged in" not in warning
    with pytest.raises(UsageError, match="permission denied on .*apex_0.*apex group"):
        backends.load_interpreter(model, device="edgetpu", edgetpu_model_path=compiled)
    # in the group (or the device's owner): nothing to say
    assert coral.pcie_coral_problem((54321, {54321, apex_group})) is None
    assert coral.pcie_coral_problem((0, {0})) is None


@pytest.mark.parametrize(
    ("page_size", "apex", "expected"),
    [
        (16384, False, "16 KiB memory pages .* kernel=kernel8.img .* reboot"),
        (16384, True, "16 KiB memory pages"),
        (4096, False, "no /dev/apex_0: the gasket / apex driver is not loaded"),
        (4096, True, None),  # a working PCIe Coral (the user may open it)
    ],
)
def test_a_pcie_coral_on_a_16k_page_kernel_or_without_its_driver_is_named(
    tmp_path, monkeypatch, page_size, apex, expected
):
    dev, usb = _fake_sysfs(tmp_path / "sys", [], apex=apex)
    if apex:
        (dev / "apex_0").chmod(0o666)
    monkeypatch.setattr(coral, "DEV_DIR", dev)
    monkeypatch.setattr(coral, "USB_DEVICES_DIR", usb)
    pci = _fake_pci(tmp_path / "sys", [("0x14e4", "0x2712"), ("0x1ac1", "0x089a")])
    monkeypatch.setattr(coral, "PCI_DEVICES_DIR", pci)
    monkeypatch.setattr(coral, "_page_size", lambda: page_size)
    problem = coral.pcie_coral_problem(SERVICE_USER)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and re.search(expected, problem), problem
    monkeypatch.delenv(coral.EDGETPU_CHECK_ENV, raising=False)
    assert coral.edgetpu_attached() is True  # on the PCI bus: probed, then explained
    # no Coral on the bus and no apex device: nothing about PCIe, whatever the page size
    monkeypatch.setattr(coral, "PCI_DEVICES_DIR", _fake_pci(tmp_path / "other", []))
    if not apex:
        assert coral.pcie_coral_problem(SERVICE_USER) is None
        assert coral.edgetpu_attached() is False


def test_colorize_survives_a_crashing_libedgetpu_on_the_library_path(
    tiny_model, tmp_path, fake_libedgetpu
):
    """The reported case: `edgecolor colorize` (device auto) died with exit 139."""
    from PIL import Image

    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))).save(photo)
    log = tmp_path / "delegate-creations.log"
    environment = {
        **os.environ,
        "LD_LIBRARY_PATH": str(fake_libedgetpu.parent),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "FAKE_EDGETPU": "crash",
        "FAKE_EDGETPU_LOG": str(log),
        coral.EDGETPU_CHECK_ENV: "0",  # reach the probe child although no Coral is here
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(backends.__file__).parents[3]), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [sys.executable, "-m", "edgecolor.cli", "colorize", str(photo), "--model", str(model)]
    for run in range(2):
        finished = subprocess.run(
            [*command, "-o", str(tmp_path / f"out{run}")],
            capture_output=True,
            text=True,
            timeout=300,
            env=environment,
        )
        assert finished.returncode == 0, finished.stderr
        assert (tmp_path / f"out{run}" / "photo.png").is_file()
        warnings = [
            line for line in finished.stderr.splitlines() if "Edge TPU does not work" in line
        ]
        assert len(warnings) == 1 and "SIGSEGV" in warnings[0], finished.stderr
    assert _creations(log) == 1  # the second run took the crash from the cache


def test_tf_lite_fallback_runs_a_model(tiny_model, monkeypatch):
    """Without LiteRT and tflite_runtime, TensorFlow's tf.lite (the dev venv has it) runs."""
    for module in (
        "ai_edge_litert",
        "ai_edge_litert.interpreter",
        "tflite_runtime",
        "tflite_runtime.interpreter",
    ):
        monkeypatch.setitem(sys.modules, module, None)
    from edgecolor.device.runtime.colorizer import Colorizer

    colorizer = Colorizer(tiny_model, device="cpu", threads=1)
    assert colorizer.backend_name.startswith("tf.lite cpu")
    colour = colorizer.colorize(np.full((20, 30), 128, np.uint8))
    assert colour.shape == (20, 30, 3) and colour.dtype == np.uint8


@pytest.mark.hardware
def test_edgetpu_runs_a_compiled_model_on_a_real_coral():
    pytest.skip(
        "needs a Coral Edge TPU (USB or PCIe) with libedgetpu and an *_edgetpu.tflite model"
    )


def test_bad_arguments_are_usage_errors(tiny_model, tmp_path):
    with pytest.raises(UsageError, match="unknown device 'gpu'"):
        backends.load_interpreter(tiny_model, device="gpu")
    with pytest.raises(UsageError, match="--threads 0"):
        backends.load_interpreter(tiny_model, threads=0)
    with pytest.raises(UsageError, match="model file not found"):
        backends.load_interpreter(tmp_path / "nope.tflite")
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer at all" * 10)
    with pytest.raises(UsageError, match="not a TFLite model"):
        backends.load_interpreter(garbage)


def test_quantize_round_trips_within_half_a_step():
    detail = {"dtype": np.int8, "quantization": (2.0 / 255.0, -1)}
    values = np.linspace(-1.0, 1.0, 101, dtype=np.float32)
    quantized = backends.quantize(values, detail)
    assert quantized.dtype == np.int8
    back = backends.dequantize(quantized, detail)
    assert np.abs(back - values).max() <= 1.0 / 255.0 + 1e-6
    # out-of-range values saturate instead of wrapping around
    assert backends.quantize(np.array([5.0, -5.0], np.float32), detail).tolist() == [127, -128]
    float_detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert backends.quantize(values, float_detail).dtype == np.float32


# --------------------------------------------------------------------------- metadata


def _copy_model(tiny_model, tmp_path, edit=None):
    target = tmp_path / "copy.tflite"
    shutil.copy(tiny_model, target)
    metadata = json.loads(tiny_model.with_suffix(".json").read_text())
    if edit:
        edit(metadata)
    target.with_suffix(".json").write_text(json.dumps(metadata))
    return target


def test_load_metadata_reads_the_exporters_file(tiny_model):
    metadata = model.load_metadata(tiny_model)
    assert metadata["schema"] == "edgecolor.model/1"
    assert metadata["input"]["shape"] == [1, 32, 32, 1]


def test_unknown_schema_missing_file_and_bad_json_are_refused(tiny_model, tmp_path):
    future = _copy_model(tiny_model, tmp_path, lambda m: m.update(schema="edgecolor.model/2"))
    with pytest.raises(UsageError, match="unknown schema 'edgecolor.model/2'"):
        model.load_metadata(future)
    future.with_suffix(".json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        model.load_metadata(future)
    future.with_suffix(".json").unlink()
    with pytest.raises(UsageError, match="metadata not found"):
        model.load_metadata(future)


def test_metadata_that_describes_another_model_is_refused(tiny_model, tmp_path):
    from edgecolor.device.runtime.colorizer import Colorizer

    def other_shape(metadata):
        metadata["input"]["shape"] = [1, 64, 64, 1]

    with pytest.raises(UsageError, match="belongs to another model"):
        Colorizer(_copy_model(tiny_model, tmp_path, other_shape), device="cpu")

    def other_scale(metadata):
        metadata["output"]["scale"] = 0.5

    with pytest.raises(UsageError, match="output quantization"):
        Colorizer(_copy_model(tiny_model, tmp_path, other_scale), device="cpu")


def test_missing_bundled_model_says_pass_model(monkeypatch, tmp_path):
    monkeypatch.setattr(model, "__file__", str(tmp_path / "device" / "model.py"))
    with pytest.raises(UsageError, match="pass --model"):
        model.default_model_path()


@pytest.mark.parametrize(
    ("behaviour", "exit_status", "expected"),
    [
        ("crash-in-interpreter", 1, ["failed: libedgetpu crashed (SIGSEGV)", "16.0tf2.19.1"]),
        ("absent", 1, ["failed: ", "Failed to open any Edge TPU (fake)", "plug the Coral"]),
        ("ok", 0, ["ok: the Edge TPU ran tiny_edgetpu.tflite"]),
    ],
)
def test_the_installers_probe_says_what_to_install(
    tiny_model, tmp_path, fake_libedgetpu, behaviour, exit_status, expected
):
    """device/install.sh runs `python -m edgecolor.device.runtime.probe_edgetpu` after --coral."""
    model = _model_with_edgetpu_copy(tiny_model, tmp_path / "model")
    environment = {
        **os.environ,
        "LD_LIBRARY_PATH": str(fake_libedgetpu.parent),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "FAKE_EDGETPU": behaviour,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(backends.__file__).parents[3]), os.environ.get("PYTHONPATH")])
        ),
    }
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecolor.device.runtime.probe_edgetpu",
            "--model",
            str(model.with_name("tiny_edgetpu.tflite")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert finished.returncode == exit_status, finished.stderr
    for text in expected:
        assert text in finished.stdout, finished.stdout
