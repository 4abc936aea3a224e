"""Edge TPU: a lint that predicts what the compiler maps, and the ``edgetpu_compiler`` wrapper.

The lint runs on every int8 export (no Coral hardware or compiler needed). It checks each
op against the Edge TPU's supported list and its constraints (static shapes, batch 1 and at
most three non-trivial dimensions, int8/uint8 tensors, resize on 3-D tensors) and the
parameter size against the ~8 MB on-chip cache, and it reports what would fall back to the
CPU: the compiler maps ops up to the first one it cannot, and everything from there on runs
on the CPU (https://coral.ai/docs/edgetpu/models-intro/).

``edgetpu_compiler`` exists only for x86-64 Debian/Ubuntu hosts; ``compile_model`` runs it
when it is on PATH. Everything about it sits behind ``EdgeTpuCompiler`` so tests use a fake.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgecolor.export.graph import Graph

# The Edge TPU's supported TFLite ops (coral.ai "TensorFlow models on the Edge TPU"),
# each with the constraint the lint can check from the file, or "" when it has none.
EDGETPU_OPS: dict[str, str] = {
    "ADD": "",
    "AVERAGE_POOL_2D": "no fused activation",
    "CONCATENATION": "no fused activation",
    "CONV_2D": "",
    "DEPTHWISE_CONV_2D": "",
    "DEQUANTIZE": "",
    "EXPAND_DIMS": "",
    "FULLY_CONNECTED": "",
    "L2_NORMALIZATION": "",
    "LOGISTIC": "",
    "MAXIMUM": "",
    "MAX_POOL_2D": "no fused activation",
    "MEAN": "reduction over height/width only",
    "MINIMUM": "",
    "MUL": "",
    "PACK": "not along the batch dimension",
    "PAD": "padding of height/width only",
    "PRELU": "alpha shared over height and width",
    "QUANTIZE": "",
    "REDUCE_MAX": "",
    "REDUCE_MIN": "",
    "RELU": "",
    "RELU6": "",
    "RELU_N1_TO_1": "",
    "RESHAPE": "large tensors may stay on the CPU",
    "RESIZE_BILINEAR": "3-D input/output; large sizes may stay on the CPU for precision",
    "RESIZE_NEAREST_NEIGHBOR": "3-D input/output; large sizes may stay on the CPU for precision",
    "RSQRT": "",
    "SLICE": "",
    "SOFTMAX": "1-D input",
    "SPACE_TO_DEPTH": "",
    "SPLIT": "",
    "SQUARED_DIFFERENCE": "",
    "SQUEEZE": "",
    "STRIDED_SLICE": "",
    "SUB": "",
    "SUM": "",
    "TANH": "",
    "TRANSPOSE_CONV": "",
}
# Ops people reach for that the Edge TPU does NOT run (named in the lint's message).
KNOWN_UNSUPPORTED = ("LEAKY_RELU", "DEPTH_TO_SPACE", "GELU", "HARD_SWISH", "TRANSPOSE", "ELU")
# On-chip memory for parameters (weights, biases); a model larger than this streams the
# rest from the host on every inference (slower, still correct).
PARAMETER_CACHE_BYTES = 8 * 1024 * 1024
EDGETPU_TENSOR_DTYPES = ("int8", "uint8", "int32")
# Coral's apt key goes into its own keyring, trusted for Coral's repository only
# ("signed-by"): apt-key, which trusted a key for every repository, is gone from current apt.
CORAL_KEYRING = "/usr/share/keyrings/coral-edgetpu-archive-keyring.gpg"
INSTALL_HINT = (
    "edgetpu_compiler is not installed (x86-64 Debian/Ubuntu only): "
    "curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | "
    f"sudo gpg --dearmor -o {CORAL_KEYRING} && "
    f'echo "deb [signed-by={CORAL_KEYRING}] https://packages.cloud.google.com/apt '
    'coral-edgetpu-stable main" | sudo tee /etc/apt/sources.list.d/coral-edgetpu.list && '
    "sudo apt-get update && sudo apt-get install edgetpu-compiler "
    "(or compile in Coral's Colab notebook); see export/README.md"
)


@dataclass
class EdgeTpuLint:
    """What the lint predicts for the Edge TPU.

    Attributes:
        mapped_ops: op names, in graph order, that the compiler should map to the Edge TPU.
        cpu_ops: ops that would run on the CPU (the first problem op and all after it).
        problems: one line per op or tensor that breaks a rule (empty = fully mappable).
        warnings: constraints the lint cannot decide (the compiler's log does).
        parameter_bytes: size of the constant tensors (weights, biases).
        fits_cache: parameter_bytes <= ~8 MB on-chip cache.
    """

    mapped_ops: list[str] = field(default_factory=list)
    cpu_ops: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parameter_bytes: int = 0
    fits_cache: bool = True

    @property
    def fully_mapped(self) -> bool:
        return not self.cpu_ops

    def as_dict(self) -> dict:
        return {
            "fully_mapped": self.fully_mapped,
            "mapped_ops": len(self.mapped_ops),
            "cpu_ops": self.cpu_ops,
            "problems": self.problems,
            "warnings": self.warnings,
            "parameter_bytes": self.parameter_bytes,
            "fits_parameter_cache": self.fits_cache,
        }


def _tensor_bytes(shape: list[int], dtype: str) -> int:
    import numpy as np

    count = 1
    for size in shape:
        count *= max(int(size), 0)
    return count * np.dtype(dtype).itemsize


def _op_problems(op, graph: Graph) -> list[str]:
    """Rule violations of one op (empty when the Edge TPU should run it)."""
    label = f"{op.name} #{op.index}"
    if op.name not in EDGETPU_OPS:
        known = " (not supported on the Edge TPU)" if op.name in KNOWN_UNSUPPORTED else ""
        return [f"{label}: op not on the Edge TPU's list{known}"]
    problems = []
    constants = graph.constants()
    for index in op.inputs + op.outputs:
        if index < 0:
            continue
        tensor = graph.tensors[index]
        if any(size < 0 for size in tensor.shape_signature):
            problems.append(f"{label}: dynamic shape {tensor.shape_signature} of {tensor.name!r}")
        if tensor.dtype not in EDGETPU_TENSOR_DTYPES:
            problems.append(f"{label}: {tensor.dtype} tensor {tensor.name!r} (must be int8/uint8)")
        if index not in constants and len(tensor.shape) > 3:
            # Only the three innermost dimensions may be larger than 1 (batch must be 1).
            if any(size > 1 for size in tensor.shape[:-3]):
                problems.append(
                    f"{label}: tensor {tensor.name!r} {tensor.shape} has more than 3 non-trivial dimensions"
                )
    if op.name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
        output = graph.tensors[op.outputs[0]]
        if len(output.shape) == 4 and output.shape[0] != 1:
            problems.append(
                f"{label}: resize of a 4-D tensor {output.shape} (must be 3-D, batch 1)"
            )
    return problems


def lint(graph: Graph) -> EdgeTpuLint:
    """Predict the Edge TPU compiler's mapping of an int8 graph.

    Args:
        graph: ``edgecolor.export.graph.inspect_graph`` of the .tflite bytes.
    """
    result = EdgeTpuLint()
    fallen_back = False
    for op in graph.ops:  # graph (execution) order
        problems = _op_problems(op, graph)
        if problems:
            result.problems.extend(problems)
            fallen_back = True
        if fallen_back:
            result.cpu_ops.append(f"{op.name} #{op.index}")
        else:
            result.mapped_ops.append(op.name)
        if op.name == "RESIZE_BILINEAR" and not problems:
            output = graph.tensors[op.outputs[0]]
            result.warnings.append(
                f"{op.name} #{op.index} to {output.shape[1:3]}: the compiler keeps a resize on "
                "the CPU when it judges int8 precision too low; check its mapping log"
            )
    for index in graph.constants():
        tensor = graph.tensors[index]
        result.parameter_bytes += _tensor_bytes(tensor.shape, tensor.dtype)
    result.fits_cache = result.parameter_bytes <= PARAMETER_CACHE_BYTES
    if not result.fits_cache:
        result.warnings.append(
            f"parameters {result.parameter_bytes / 2**20:.1f} MiB exceed the ~8 MiB on-chip cache: "
            "the rest streams from the host on every inference"
        )
    return result


# --------------------------------------------------------------------------- compiler


@dataclass
class CompileResult:
    """What ``edgetpu_compiler`` produced: the compiled file, its log, the op mapping."""

    model_path: Path
    log_path: Path | None
    log_text: str
    # (op, count, status) rows of the compiler's operation table.
    mapping: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def all_mapped(self) -> bool:
        return bool(self.mapping) and all(
            status.startswith("Mapped to Edge TPU") for _, _, status in self.mapping
        )

    def as_dict(self) -> dict:
        return {
            "model_file": self.model_path.name,
            "log_file": self.log_path.name if self.log_path else None,
            "all_mapped": self.all_mapped,
            "mapping": [
                {"op": op, "count": count, "status": status} for op, count, status in self.mapping
            ],
        }


class EdgeTpuCompiler(Protocol):
    """Something that compiles ``model_path`` into ``out_dir/<stem>_edgetpu.tflite``."""

    def compile(self, model_path: Path, out_dir: Path) -> CompileResult: ...


_MAPPING_ROW = re.compile(r"^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(\S.*)$")


def parse_mapping(log_text: str) -> list[tuple[str, int, str]]:
    """The operation table of an ``edgetpu_compiler -s`` log as (op, count, status) rows."""
    rows = []
    for line in log_text.splitlines():
        match = _MAPPING_ROW.match(line.strip())
        if match:
            rows.append((match.group(1), int(match.group(2)), match.group(3).strip()))
    return rows


class SubprocessCompiler:
    """Runs the real ``edgetpu_compiler`` (or any program with its command line)."""

    def __init__(self, executable: str):
        self.executable = executable

    def compile(self, model_path: Path, out_dir: Path) -> CompileResult:
        model_path, out_dir = Path(model_path), Path(out_dir)
        command = [self.executable, "-s", "-o", str(out_dir), str(model_path)]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
        output = completed.stdout + completed.stderr
        compiled = out_dir / f"{model_path.stem}_edgetpu.tflite"
        if completed.returncode != 0 or not compiled.is_file():
            last = (output.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(
                f"edgetpu_compiler failed (exit {completed.returncode}) on {model_path}: {last}"
            )
        log_path = out_dir / f"{model_path.stem}_edgetpu.log"
        log_text = log_path.read_text() if log_path.is_file() else output
        # The -s table is in the log file and on stdout; read it once.
        mapping = parse_mapping(log_text) or parse_mapping(output)
        return CompileResult(compiled, log_path if log_path.is_file() else None, log_text, mapping)


def find_compiler(executable: str = "edgetpu_compiler") -> SubprocessCompiler | None:
    """The installed ``edgetpu_compiler``, or None when it is not on PATH."""
    path = shutil.which(executable)
    return SubprocessCompiler(path) if path else None
