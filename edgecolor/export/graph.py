"""What is inside an exported .tflite file: its ops and tensors, and how XNNPACK delegates it.

Everything here reads the file through LiteRT's own interpreter (``ai_edge_litert``), the
runtime the device uses, so the checks describe what a Raspberry Pi will actually run.

* ``inspect_graph``: the op list and tensor table, read with the default delegates off.
* ``check_int8_graph``: the integer-only rules for an int8 export.
* ``xnnpack_partitions``: builds the interpreter as the device does (XNNPACK on) and
  proves the whole graph is one XNNPACK partition from input to output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

# Ops that only appear when a shape was left dynamic or a cast slipped in; a static-shape
# int8 export should have none of them.
RESIDUE_OPS = ("SHAPE", "PACK", "STRIDED_SLICE", "GATHER", "CAST")
FLOAT_DTYPES = ("float32", "float16", "float64")
INTEGER_IO = ("int8", "uint8")
ONE_PARTITION = "one XNNPACK partition from input to output"
ONE_PARTITION_WITH_IO_CONVERSION = (
    "one XNNPACK partition; the uint8<->int8 QUANTIZE at input and output run outside it"
)


@dataclass
class GraphOp:
    """One op of the file: its name and the indices of its input and output tensors."""

    index: int
    name: str
    inputs: list[int]
    outputs: list[int]


@dataclass
class GraphTensor:
    """One tensor of the file."""

    index: int
    name: str
    shape: list[int]
    shape_signature: list[int]
    dtype: str
    # Per-tensor (scale, zero point); (0.0, 0) for float tensors.
    quantization: tuple[float, int]


@dataclass
class Graph:
    """The ops and tensors of a .tflite file (before delegation)."""

    ops: list[GraphOp]
    tensors: dict[int, GraphTensor]
    inputs: list[int]
    outputs: list[int]

    @property
    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]

    def op_counts(self) -> dict[str, int]:
        """{"CONV_2D": 12, ...} in order of first appearance."""
        return dict(Counter(self.op_names))

    def produced(self) -> set[int]:
        """Indices of tensors some op writes (activations); the rest are inputs or constants."""
        return {index for op in self.ops for index in op.outputs}

    def constants(self) -> set[int]:
        """Indices of tensors no op writes and that are not graph inputs: weights, biases, shapes."""
        used = {index for op in self.ops for index in op.inputs if index >= 0}
        return used - self.produced() - set(self.inputs)


def _interpreter(content: bytes, delegates: bool, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter = Interpreter(
        model_content=content, num_threads=threads, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    return interpreter


def _ops(interpreter) -> list[GraphOp]:
    # _get_ops_details is the interpreter's own node list (LiteRT has no public equivalent);
    # after delegation it also lists the DELEGATE nodes that replaced partitions.
    return [
        GraphOp(
            index=int(detail["index"]),
            name=str(detail["op_name"]),
            inputs=[int(i) for i in detail["inputs"]],
            outputs=[int(i) for i in detail["outputs"]],
        )
        for detail in interpreter._get_ops_details()
    ]


def inspect_graph(content: bytes) -> Graph:
    """The op list and tensor table of a .tflite file's bytes, with no delegate applied."""
    interpreter = _interpreter(content, delegates=False)
    tensors = {}
    for detail in interpreter.get_tensor_details():
        scale, zero_point = detail.get("quantization", (0.0, 0))
        tensors[int(detail["index"])] = GraphTensor(
            index=int(detail["index"]),
            name=str(detail["name"]),
            shape=[int(size) for size in detail["shape"]],
            shape_signature=[int(size) for size in detail.get("shape_signature", detail["shape"])],
            dtype=np.dtype(detail["dtype"]).name,
            quantization=(float(scale), int(zero_point)),
        )
    return Graph(
        ops=_ops(interpreter),
        tensors=tensors,
        inputs=[int(detail["index"]) for detail in interpreter.get_input_details()],
        outputs=[int(detail["index"]) for detail in interpreter.get_output_details()],
    )


def _unfolded_batch_norm(graph: Graph) -> list[str]:
    """MUL/ADD ops whose second operand is a constant per-channel vector: a batch norm
    that was not folded into its convolution."""
    constants = graph.constants()
    found = []
    for op in graph.ops:
        if op.name not in ("MUL", "ADD"):
            continue
        for index in op.inputs:
            tensor = graph.tensors.get(index)
            if index in constants and tensor is not None and len(tensor.shape) == 1:
                found.append(f"{op.name} #{op.index} with constant {tensor.name!r} {tensor.shape}")
                break
    return found


@dataclass
class Int8Report:
    """The integer-only checks of an int8 export; ``problems`` empty means it passed."""

    ops: dict[str, int]
    float_tensors: list[str] = field(default_factory=list)
    residue_ops: list[str] = field(default_factory=list)
    unfolded_batch_norm: list[str] = field(default_factory=list)
    io_dtypes: tuple[str, str] = ("", "")
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**asdict(self), "io_dtypes": list(self.io_dtypes)}


def check_int8_graph(graph: Graph) -> Int8Report:
    """Integer-only rules: int8/uint8 I/O, no float tensor, no residue ops, BN folded."""
    input_dtype = graph.tensors[graph.inputs[0]].dtype
    output_dtype = graph.tensors[graph.outputs[0]].dtype
    report = Int8Report(ops=graph.op_counts(), io_dtypes=(input_dtype, output_dtype))
    report.float_tensors = [
        f"{tensor.name} ({tensor.dtype})"
        for tensor in graph.tensors.values()
        if tensor.dtype in FLOAT_DTYPES
    ]
    report.residue_ops = [name for name in graph.op_names if name in RESIDUE_OPS]
    report.unfolded_batch_norm = _unfolded_batch_norm(graph)
    if input_dtype not in INTEGER_IO or output_dtype not in INTEGER_IO:
        report.problems.append(f"input/output are {input_dtype}/{output_dtype}, not int8 or uint8")
    if report.float_tensors:
        report.problems.append(
            f"{len(report.float_tensors)} float tensor(s), e.g. {report.float_tensors[0]}"
        )
    if report.residue_ops:
        report.problems.append(f"residue ops {sorted(set(report.residue_ops))}")
    if report.unfolded_batch_norm:
        report.problems.append(f"unfolded batch norm: {report.unfolded_batch_norm[0]}")
    return report


@dataclass
class PartitionReport:
    """How XNNPACK delegated the graph, read from the interpreter after delegation.

    ``one_partition`` is True when exactly one DELEGATE node exists, it reads the model's
    input (and otherwise only constants) and it writes the model's output: then no op
    outside XNNPACK can run anywhere between input and output.
    """

    partitions: int
    one_partition: bool
    undelegated_ops: list[str]
    reason: str

    def as_dict(self) -> dict:
        return {
            "xnnpack_partitions": self.partitions,
            "one_partition": self.one_partition,
            "undelegated_ops": self.undelegated_ops,
            "reason": self.reason,
        }


def xnnpack_partitions(
    content: bytes, threads: int = 2, allow_io_conversion: bool = False
) -> PartitionReport:
    """Build the interpreter with LiteRT's default XNNPACK delegate and check its partitions.

    LiteRT 2.3 does not print XNNPACK's "Replacing N of M nodes" line, so the proof is
    structural. After delegation the node list holds the original ops followed by one
    DELEGATE node per partition. One partition covers the whole graph exactly when
    (1) there is one DELEGATE node, (2) its inputs are the graph inputs plus constants,
    i.e. it consumes no tensor that another op produced (an op left outside would have to
    feed it), and (3) its outputs are the graph outputs (an op left outside after it would
    have to write them). The ops that XNNPACK left out are those whose output tensors are
    not internal to a delegate.

    With ``allow_io_conversion`` (uint8 input/output), the two QUANTIZE ops that convert
    uint8 <-> int8 at the graph's ends may stay outside: XNNPACK has no mixed
    uint8/int8 QUANTIZE, and they are one cheap pass over the input and the output.
    """
    graph = inspect_graph(content)
    interpreter = _interpreter(content, delegates=True, threads=threads)
    nodes = _ops(interpreter)
    delegates = [node for node in nodes if node.name == "DELEGATE"]
    originals = [node for node in nodes if node.name != "DELEGATE"]
    produced = {index for node in originals for index in node.outputs}
    delegated_inputs = {index for node in delegates for index in node.inputs}
    delegated_outputs = {index for node in delegates for index in node.outputs}
    # An op is outside XNNPACK when it writes a tensor a delegate reads, or writes a graph
    # output no delegate writes, or reads a tensor a delegate writes.
    undelegated = []
    for node in originals:
        writes_boundary = any(
            index in delegated_inputs or (index in graph.outputs and index not in delegated_outputs)
            for index in node.outputs
        )
        reads_delegate_output = any(index in delegated_outputs for index in node.inputs)
        if not delegates or writes_boundary or reads_delegate_output:
            undelegated.append(f"{node.name} #{node.index}")
    if not delegates:
        reason = "XNNPACK delegated nothing"
    elif len(delegates) > 1:
        reason = f"{len(delegates)} XNNPACK partitions"
    elif not set(graph.inputs) <= delegated_inputs:
        reason = "the XNNPACK partition does not start at the model input"
    elif delegated_inputs & produced:
        reason = "the XNNPACK partition reads a tensor computed outside it"
    elif delegated_outputs != set(graph.outputs):
        reason = "the XNNPACK partition does not end at the model output"
    else:
        reason = ONE_PARTITION
    if reason != ONE_PARTITION and allow_io_conversion and len(delegates) == 1:
        conversions = [
            node
            for node in originals
            if node.name == "QUANTIZE"
            and (set(node.inputs) & set(graph.inputs) or set(node.outputs) & set(graph.outputs))
        ]
        labels = {f"{node.name} #{node.index}" for node in conversions}
        if set(undelegated) == labels:
            reason = ONE_PARTITION_WITH_IO_CONVERSION
    return PartitionReport(
        partitions=len(delegates),
        one_partition=reason in (ONE_PARTITION, ONE_PARTITION_WITH_IO_CONVERSION),
        undelegated_ops=undelegated,
        reason=reason,
    )
