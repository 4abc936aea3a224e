"""The export formats table: the single source of truth for what each format accepts.

``edgecolor export`` validates every option against this table before any heavy work, so
a bad combination is an exit-2 usage error naming the option, never a half-written file.
No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgecolor.errors import UsageError

# Every optional export option: attribute name on the argparse namespace -> its flag.
OPTION_FLAGS = {
    "ptq": "--ptq",
    "image_size": "--image-size",
    "io": "--io",
    "qat_steps": "--qat-steps",
    "edgetpu": "--edgetpu",
    "calibration": "--calibration",
    "force": "--force",
}


@dataclass(frozen=True)
class ExportFormat:
    """One row of the table.

    Attributes:
        name: "int8", "float16" or "float32" (also the ``format`` in the metadata).
        description: one line for --help and the docs.
        options: the optional flags (``OPTION_FLAGS`` keys) this format accepts.
        io_types: tensor types its input/output may have; the first is the default.
    """

    name: str
    description: str
    options: frozenset[str]
    io_types: tuple[str, ...]

    @property
    def flag(self) -> str:
        """The command-line switch that selects it: ``--`` and the name."""
        return f"--{self.name}"

    @property
    def default_io(self) -> str:
        return self.io_types[0]


FORMATS: dict[str, ExportFormat] = {
    "int8": ExportFormat(
        name="int8",
        description=(
            "int8 weights and activations, integer-only graph for XNNPACK and the Edge TPU; "
            "quantization-aware fine-tuning first (--ptq: post-training quantization only)"
        ),
        options=frozenset(
            {"ptq", "image_size", "io", "qat_steps", "edgetpu", "calibration", "force"}
        ),
        io_types=("int8", "uint8"),
    ),
    "float16": ExportFormat(
        name="float16",
        description="float16 weights, float32 compute and input/output (half the float32 size)",
        options=frozenset({"image_size", "force"}),
        io_types=("float32",),
    ),
    "float32": ExportFormat(
        name="float32",
        description="float32 throughout: the reference export",
        options=frozenset({"image_size", "force"}),
        io_types=("float32",),
    ),
}


def _flags(names) -> str:
    return ", ".join(OPTION_FLAGS[name] for name in sorted(names, key=list(OPTION_FLAGS).index))


def validate_options(format_name: str, given: dict[str, object]) -> None:
    """Raise UsageError when ``given`` holds an option the format does not take.

    Args:
        format_name: a key of ``FORMATS``.
        given: option name (``OPTION_FLAGS`` key) -> value, for the options the user set
            (None or False means "not given").
    """
    if format_name not in FORMATS:
        raise UsageError(f"unknown export format {format_name!r}; choose from {sorted(FORMATS)}")
    export_format = FORMATS[format_name]
    set_options = {name for name, value in given.items() if value not in (None, False)}
    unknown = set_options - set(OPTION_FLAGS)
    if unknown:
        raise ValueError(f"options missing from OPTION_FLAGS: {sorted(unknown)}")
    refused = set_options - export_format.options
    if refused:
        raise UsageError(
            f"{_flags(refused)} cannot be used with {export_format.flag} "
            f"(it takes {_flags(export_format.options)})"
        )
    if given.get("ptq") and given.get("qat_steps") is not None:
        raise UsageError(
            "--qat-steps cannot be used with --ptq (post-training quantization has no QAT)"
        )
    io = given.get("io")
    if io is not None and io not in export_format.io_types:
        raise UsageError(
            f"--io {io} is not available for {export_format.flag}: choose from "
            f"{', '.join(export_format.io_types)}"
        )
    qat_steps = given.get("qat_steps")
    if qat_steps is not None and int(qat_steps) < 1:
        raise UsageError(f"--qat-steps {qat_steps}: must be at least 1 (use --ptq to skip QAT)")
    image_size = given.get("image_size")
    if image_size is not None and int(image_size) < 1:
        raise UsageError(f"--image-size {image_size}: must be a positive number of pixels")


def format_table() -> str:
    """The table as text (for --help and docs): format, flag, options, I/O types."""
    lines = []
    for export_format in FORMATS.values():
        lines.append(
            f"{export_format.flag:10} options: {_flags(export_format.options)}; "
            f"io: {'|'.join(export_format.io_types)}"
        )
    return "\n".join(lines)
