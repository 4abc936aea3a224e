"""Back-end choice (LiteRT, Edge TPU, fallbacks), tensor adapters and the model metadata."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import types

import numpy as np
import pytest

from edgecolor.device import backends, model
from edgecolor.errors import MissingDependencyError, UsageError


def test_cpu_backend_uses_litert_with_the_requested_threads(tiny_model):
    loaded = backends.load_interpreter(tiny_model, device="cpu", threads=1)
    assert loaded.device == "cpu"
    assert loaded.backend == "litert cpu (xnnpack, 1 thread)"
    assert [int(n) for n in backends.input_detail(loaded.interpreter)["shape"]] == [1, 32, 32, 1]


def test_auto_without_edgetpu_model_uses_cpu_and_logs_it(tiny_model, caplog):
    with caplog.at_level(logging.INFO, logger="edgecolor.device.backends"):
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
        "tensorflow.lite",
    ):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgecolor\[device\]'"):
        backends.load_interpreter(tiny_model, device="cpu")


def test_edgetpu_requested_without_compiled_model_is_a_usage_error(tiny_model):
    with pytest.raises(UsageError, match="_edgetpu.tflite"):
        backends.load_interpreter(tiny_model, device="edgetpu")


def test_edgetpu_requested_without_runtime_names_libedgetpu(tiny_model, tmp_path, monkeypatch):
    compiled = tmp_path / "tiny_edgetpu.tflite"
    shutil.copy(tiny_model, compiled)

    def missing_library(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(backends.ctypes, "CDLL", missing_library)
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
    monkeypatch.setattr(backends, "_cpu_runtime", lambda: (runtime, "litert"))
    monkeypatch.setattr(backends.ctypes, "CDLL", lambda name: None)
    monkeypatch.setattr(backends.platform, "system", lambda: "Linux")
    with caplog.at_level(logging.INFO, logger="edgecolor.device.backends"):
        loaded = backends.load_interpreter(tiny_model, device="auto", edgetpu_model_path=compiled)
    assert loaded.device == "edgetpu" and loaded.model_path == compiled
    assert runtime.delegates == [("libedgetpu.so.1", {})]
    assert runtime.created == [(str(compiled), None, ["edgetpu-delegate"])]
    assert "edgetpu" in caplog.text


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
    from edgecolor.device.colorizer import Colorizer

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
