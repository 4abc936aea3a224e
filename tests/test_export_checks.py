"""Export checks that need no trained run: formats table, op checks, XNNPACK partitions,
Edge TPU lint and compiler wrapper, metadata writer."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecolor.errors import UsageError
from edgecolor.export.formats import FORMATS, OPTION_FLAGS, validate_options

# --------------------------------------------------------------------------- formats table


def test_every_format_takes_only_known_options_and_has_a_default_io():
    for export_format in FORMATS.values():
        assert export_format.options <= set(OPTION_FLAGS)
        assert export_format.default_io in ("int8", "uint8", "float32")
    assert FORMATS["int8"].default_io == "int8"  # int8 input and output by default


@pytest.mark.parametrize(
    "format_name, given, message",
    [
        ("float16", {"edgetpu": True}, "--edgetpu cannot be used with --float16"),
        ("float32", {"ptq": True}, "--ptq cannot be used with --float32"),
        ("float32", {"qat_steps": 5}, "--qat-steps cannot be used with --float32"),
        ("float16", {"calibration": "photos"}, "--calibration cannot be used with --float16"),
        ("float32", {"io": "uint8"}, "--io cannot be used with --float32"),
        ("int8", {"ptq": True, "qat_steps": 10}, "--qat-steps cannot be used with --ptq"),
        ("int8", {"io": "float32"}, "--io float32 is not available for --int8"),
        ("int8", {"qat_steps": 0}, "--qat-steps 0"),
        ("int8", {"image_size": -32}, "--image-size -32"),
    ],
)
def test_bad_combinations_are_usage_errors(format_name, given, message):
    with pytest.raises(UsageError, match=message):
        validate_options(format_name, given)


def test_allowed_combinations_pass():
    validate_options("int8", {"ptq": True, "io": "uint8", "edgetpu": True, "force": True})
    validate_options("int8", {"qat_steps": 20, "image_size": 64, "calibration": "dir"})
    validate_options("float16", {"image_size": 64, "force": True, "ptq": False, "io": None})


def test_cli_rejects_bad_combinations_with_exit_2_and_writes_nothing(tmp_path, capsys):
    from edgecolor.cli import main

    out = tmp_path / "out" / "model.tflite"
    for argv in (
        ["export", str(tmp_path), "--float16", "--edgetpu", "-o", str(out)],
        ["export", str(tmp_path), "--int8", "--ptq", "--qat-steps", "5", "-o", str(out)],
        ["export", str(tmp_path), "--float32", "--io", "uint8", "-o", str(out)],
    ):
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and "error" in error
    for argv in (  # argparse's own errors: two formats at once, an unknown --io
        ["export", str(tmp_path), "--int8", "--float16", "-o", str(out)],
        ["export", str(tmp_path), "--int8", "--io", "float32", "-o", str(out)],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert not (tmp_path / "out").exists()


def test_cli_missing_or_incomplete_run_folder_is_exit_2(tmp_path, capsys):
    from edgecolor.cli import main

    out = tmp_path / "model.tflite"
    assert main(["export", str(tmp_path / "nope"), "--int8", "-o", str(out)]) == 2
    assert "run folder not found" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    assert main(["export", str(run), "--float32", "-o", str(out)]) == 2
    assert "config.json" in capsys.readouterr().err
    (run / "config.json").write_text(json.dumps({"generator": {"filters": [4, 8]}}))
    assert main(["export", str(run), "--float32", "-o", str(out)]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
    assert main(["export", str(run), "--float32", "-o", str(tmp_path / "model.onnx")]) == 2
    assert "must end in .tflite" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]


# --------------------------------------------------------------------------- graph checks


def _small_model(tail: str):
    """A 16x16 model: conv, then ``tail`` (an upsampling or activation), conv tanh."""
    from edgecolor.models.keras import keras, layers

    inputs = keras.Input((None, None, 1))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    if tail == "bilinear":
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    elif tail == "nearest":
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
    elif tail == "leaky_relu":
        x = layers.LeakyReLU(0.2)(x)
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.Conv2D(2, 3, padding="same", activation="tanh")(x)
    if tail == "gelu_last":
        x = layers.Activation("gelu")(x)
    return keras.Model(inputs, x)


def _convert(tail: str, io: str = "int8", fmt: str = "int8") -> bytes:
    from edgecolor.export.tflite import convert_generator

    rng = np.random.default_rng(0)
    samples = [rng.uniform(-1, 1, (16, 16)).astype(np.float32) for _ in range(3)]
    return convert_generator(_small_model(tail), fmt, 16, samples, io=io)


def test_one_partition_on_the_tiny_int8_model(tiny_model):
    from edgecolor.export.graph import check_int8_graph, inspect_graph, xnnpack_partitions

    content = tiny_model.read_bytes()
    report = xnnpack_partitions(content)
    assert report.partitions == 1 and report.one_partition, report
    assert report.undelegated_ops == []
    graph = inspect_graph(content)
    int8 = check_int8_graph(graph)
    assert int8.problems == [] and int8.float_tensors == [] and int8.io_dtypes == ("int8", "int8")
    assert set(graph.op_names) <= {
        "CONV_2D",
        "RESIZE_BILINEAR",
        "CONCATENATION",
        "TANH",
        "QUANTIZE",
    }


def test_partition_check_fails_on_a_non_delegable_op_in_the_middle():
    from edgecolor.export.graph import xnnpack_partitions

    # int8 RESIZE_NEAREST_NEIGHBOR is not delegated by XNNPACK in LiteRT 2.3: two partitions.
    report = xnnpack_partitions(_convert("nearest"))
    assert report.partitions == 2
    assert not report.one_partition
    assert report.undelegated_ops == ["RESIZE_NEAREST_NEIGHBOR #1"]
    assert _convert("bilinear") and xnnpack_partitions(_convert("bilinear")).one_partition


def test_partition_check_fails_when_an_op_after_the_partition_writes_the_output():
    from edgecolor.export.graph import xnnpack_partitions

    # One DELEGATE node only, but GELU (not in XNNPACK) computes the model output after it:
    # counting DELEGATE nodes alone would wrongly pass this graph.
    report = xnnpack_partitions(_convert("gelu_last"))
    assert report.partitions == 1
    assert not report.one_partition
    assert "does not end at the model output" in report.reason
    assert report.undelegated_ops == ["GELU #3"]


def test_uint8_io_conversions_are_the_only_ops_outside_when_allowed():
    from edgecolor.export.graph import check_int8_graph, inspect_graph, xnnpack_partitions

    content = _convert("bilinear", io="uint8")
    strict = xnnpack_partitions(content)
    assert not strict.one_partition and strict.undelegated_ops == ["QUANTIZE #0", "QUANTIZE #5"]
    allowed = xnnpack_partitions(content, allow_io_conversion=True)
    assert allowed.one_partition and "uint8<->int8" in allowed.reason
    assert not xnnpack_partitions(
        _convert("nearest", io="uint8"), allow_io_conversion=True
    ).one_partition
    assert check_int8_graph(inspect_graph(content)).io_dtypes == ("uint8", "uint8")


def test_int8_checks_flag_a_float_model(tiny_float_model):
    from edgecolor.export.graph import check_int8_graph, inspect_graph

    report = check_int8_graph(inspect_graph(tiny_float_model.read_bytes()))
    assert report.float_tensors
    assert any("float32/float32" in problem for problem in report.problems)


def test_int8_checks_flag_unfolded_batch_norm_and_residue_ops():
    from edgecolor.export.graph import Graph, GraphOp, GraphTensor, check_int8_graph

    def tensor(index, name, shape, dtype="int8"):
        return GraphTensor(index, name, shape, shape, dtype, (0.1, 0))

    tensors = {
        0: tensor(0, "input", [1, 8, 8, 4]),
        1: tensor(1, "bn_scale", [4]),
        2: tensor(2, "scaled", [1, 8, 8, 4]),
        3: tensor(3, "shape", [4], "int32"),
        4: tensor(4, "output", [1, 8, 8, 4]),
    }
    ops = [
        GraphOp(0, "MUL", [0, 1], [2]),
        GraphOp(1, "SHAPE", [2], [3]),
        GraphOp(2, "RELU", [2], [4]),
    ]
    report = check_int8_graph(Graph(ops, tensors, [0], [4]))
    assert report.residue_ops == ["SHAPE"]
    assert report.unfolded_batch_norm and "bn_scale" in report.unfolded_batch_norm[0]
    assert len(report.problems) == 2


# --------------------------------------------------------------------------- Edge TPU


def test_edgetpu_lint_maps_the_tiny_model_fully(tiny_model):
    from edgecolor.export.edgetpu import lint
    from edgecolor.export.graph import inspect_graph

    result = lint(inspect_graph(tiny_model.read_bytes()))
    assert result.fully_mapped and result.problems == [] and result.cpu_ops == []
    assert result.fits_cache and 0 < result.parameter_bytes < 100_000
    # Large bilinear resizes are the compiler's call: the lint says so, it does not guess.
    assert any("RESIZE_BILINEAR" in warning for warning in result.warnings)


def test_edgetpu_lint_reports_cpu_fallback_from_the_first_unsupported_op():
    from edgecolor.export.edgetpu import lint
    from edgecolor.export.graph import inspect_graph

    graph = inspect_graph(_convert("leaky_relu"))
    assert graph.op_names == ["CONV_2D", "LEAKY_RELU", "RESIZE_BILINEAR", "CONV_2D", "TANH"]
    result = lint(graph)
    assert not result.fully_mapped
    assert "LEAKY_RELU #1: op not on the Edge TPU's list" in result.problems[0]
    # Everything from the first unsupported op on runs on the CPU, even supported ops.
    assert result.cpu_ops == ["LEAKY_RELU #1", "RESIZE_BILINEAR #2", "CONV_2D #3", "TANH #4"]
    assert result.mapped_ops == ["CONV_2D"]


def test_edgetpu_lint_flags_float_tensors_dynamic_shapes_and_big_parameters():
    from edgecolor.export.edgetpu import PARAMETER_CACHE_BYTES, lint
    from edgecolor.export.graph import Graph, GraphOp, GraphTensor

    big = int(PARAMETER_CACHE_BYTES**0.5) + 64
    tensors = {
        0: GraphTensor(0, "input", [1, 8, 8, 1], [1, -1, -1, 1], "int8", (0.1, 0)),
        1: GraphTensor(1, "weights", [big, 1, 1, big], [big, 1, 1, big], "int8", (0.1, 0)),
        2: GraphTensor(2, "conv", [1, 8, 8, 4], [1, 8, 8, 4], "float32", (0.0, 0)),
    }
    result = lint(Graph([GraphOp(0, "CONV_2D", [0, 1], [2])], tensors, [0], [2]))
    assert any("dynamic shape" in problem for problem in result.problems)
    assert any("float32 tensor" in problem for problem in result.problems)
    assert not result.fits_cache and result.parameter_bytes > PARAMETER_CACHE_BYTES
    assert any("on-chip cache" in warning for warning in result.warnings)


FAKE_COMPILER = """#!{python}
# A stand-in for edgetpu_compiler with its command line: -s -o OUT_DIR MODEL.
import pathlib, sys
arguments = sys.argv[1:]
out_dir = pathlib.Path(arguments[arguments.index("-o") + 1])
model = pathlib.Path(arguments[-1])
compiled = out_dir / (model.stem + "_edgetpu.tflite")
compiled.write_bytes(model.read_bytes())
table = '''Edge TPU Compiler version 16.0.384591198
Model compiled successfully in 20 ms.

Operator                       Count      Status

CONV_2D                        6          Mapped to Edge TPU
RESIZE_BILINEAR                2          Mapped to Edge TPU
TANH                           1          Mapped to Edge TPU
'''
(out_dir / (model.stem + "_edgetpu.log")).write_text(table)
print(table)
"""


def test_compiler_wrapper_runs_a_program_with_the_compilers_command_line(tmp_path, tiny_model):
    from edgecolor.export.edgetpu import find_compiler

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "edgetpu_compiler"
    program.write_text(FAKE_COMPILER.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    model = tmp_path / "model.tflite"
    model.write_bytes(tiny_model.read_bytes())
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old_path}"
    try:
        compiler = find_compiler()
        assert compiler is not None
        result = compiler.compile(model, tmp_path)
    finally:
        os.environ["PATH"] = old_path
    assert result.model_path == tmp_path / "model_edgetpu.tflite" and result.model_path.is_file()
    assert result.mapping == [
        ("CONV_2D", 6, "Mapped to Edge TPU"),
        ("RESIZE_BILINEAR", 2, "Mapped to Edge TPU"),
        ("TANH", 1, "Mapped to Edge TPU"),
    ]
    assert result.all_mapped


def test_compiler_not_installed_is_reported_as_none(tmp_path):
    from edgecolor.export.edgetpu import INSTALL_HINT, find_compiler

    assert find_compiler(str(tmp_path / "no-such-edgetpu_compiler")) is None
    assert "apt-get install edgetpu-compiler" in INSTALL_HINT


def test_compiler_install_hint_works_with_current_apt():
    """apt-key is gone from current apt: the key goes into a keyring the source names."""
    import re

    from edgecolor.export.edgetpu import INSTALL_HINT

    assert "apt-key add" not in INSTALL_HINT
    (keyring,) = re.findall(r"gpg --dearmor -o (\S+)", INSTALL_HINT)
    assert f"deb [signed-by={keyring}] " in INSTALL_HINT
    for document in ("export/README.md", "device/README.md", "README.md"):
        text = (Path(__file__).resolve().parents[1] / document).read_text()
        assert "apt-key add" not in text, document


@pytest.mark.hardware
@pytest.mark.skip(
    reason="needs the real edgetpu_compiler (x86-64 Debian/Ubuntu) and a Coral device"
)
def test_real_compiler_maps_the_tiny_model_fully(tiny_model, tmp_path):
    from edgecolor.export.edgetpu import find_compiler

    compiler = find_compiler()
    result = compiler.compile(tiny_model, tmp_path)
    assert result.all_mapped


# --------------------------------------------------------------------------- metadata


def test_metadata_writer_refuses_an_incomplete_dict_and_writes_atomically(tmp_path, tiny_model):
    from edgecolor.device.runtime.model import load_metadata
    from edgecolor.export.metadata import write_metadata

    metadata = load_metadata(tiny_model)
    target = tmp_path / "copy.tflite"
    with pytest.raises(ValueError, match="lacks 'verification'"):
        write_metadata(
            target, {key: value for key, value in metadata.items() if key != "verification"}
        )
    with pytest.raises(ValueError, match="schema"):
        write_metadata(target, {**metadata, "schema": "edgecolor.model/0"})
    assert list(tmp_path.iterdir()) == []
    path = write_metadata(target, {**metadata, "model_file": target.name})
    assert path == tmp_path / "copy.json"
    assert json.loads(path.read_text())["input"]["dtype"] == "int8"
    assert [item.name for item in tmp_path.iterdir()] == ["copy.json"]  # no temporary left


def test_device_reads_the_scaling_through_lab_scaling(tmp_path, tiny_model):
    import shutil

    from edgecolor.color import LAB_SCALING, LabScaling
    from edgecolor.device.runtime.model import load_metadata

    metadata = load_metadata(tiny_model)
    assert LabScaling.from_metadata(metadata["scaling"]) == LAB_SCALING
    copy = tmp_path / "copy.tflite"
    shutil.copyfile(tiny_model, copy)
    # A scaling without its formulas (as written by hand) reads; a broken one is refused.
    bare = {"L": {"scale": 40, "offset": 1.25}, "ab": {"scale": 100}}
    (tmp_path / "copy.json").write_text(json.dumps({**metadata, "scaling": bare}))
    assert load_metadata(copy)["scaling"]["L"]["formula"] == "L / 40 - 1.25"
    broken = {"L": {"scale": -50.0, "offset": 1.0}, "ab": {"scale": 110.0}}
    (tmp_path / "copy.json").write_text(json.dumps({**metadata, "scaling": broken}))
    with pytest.raises(UsageError, match=r"copy\.json: scaling: .*L_scale -50"):
        load_metadata(copy)


def test_writer_and_reader_share_one_model_file_contract():
    """export writes and the device reads the schema defined once in edgecolor.model_file."""
    from edgecolor import model_file
    from edgecolor.device.runtime import model as reader
    from edgecolor.export import metadata as writer

    assert writer.SCHEMA is reader.SCHEMA is model_file.SCHEMA
    assert writer.metadata_path is reader.metadata_path is model_file.metadata_path
    # everything the device needs is something export must write
    assert writer.EXPORT_KEYS is model_file.EXPORT_KEYS
    assert set(reader.REQUIRED_KEYS) <= set(model_file.EXPORT_KEYS)
