"""``edgecolor export``: run folder -> (QAT) -> TFLite -> checks -> verification -> files.

The order is chosen so that every usage error (bad option, incomplete run folder, empty
calibration folder, checkpoint/config mismatch, bad image size) is raised before anything
is written, and an output file only ever appears complete and verified:

1. validate options against the formats table; check the run folder and photos;
2. load the generator; for int8 without ``--ptq``, quantization-aware fine-tuning;
3. convert at the export size (batch 1, static shape);
4. graph checks: op list, integer-only tensors, XNNPACK partitions, Edge TPU lint;
5. write a hidden temporary pair beside the output and run it through the device
   Colorizer on hold-out photos, next to the float Keras generator;
6. accepted (or ``--force``): rename to OUT.tflite; otherwise OUT.rejected.tflite (exit 1);
   then OUT.json (or OUT.rejected.json) with every figure; ``--edgetpu`` compiles last.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor import color
from edgecolor.color import LabScaling
from edgecolor.errors import UsageError
from edgecolor.export.formats import FORMATS, validate_options
from edgecolor.export.metadata import build_metadata, write_metadata
from edgecolor.files import atomic_write_bytes
from edgecolor.model_file import metadata_path

log = logging.getLogger(__name__)

# Calibration images for int8 conversion (representative dataset).
MAX_CALIBRATION_PHOTOS = 64
REJECTED_SUFFIX = ".rejected"


@dataclass
class ExportOptions:
    """One export, as given on the command line (None = the default)."""

    run_dir: Path
    format: str
    output: Path
    ptq: bool = False
    image_size: int | None = None
    io: str | None = None
    qat_steps: int | None = None
    edgetpu: bool = False
    calibration: Path | None = None
    force: bool = False
    threads: int = 2
    # Which checkpoint of the run: "auto" (the best by hold-out L1 when the run kept one,
    # else the newest), "best" or "latest".
    checkpoint: str = "auto"

    def given(self) -> dict[str, object]:
        """The optional options the user set, for ``validate_options``."""
        return {
            "ptq": self.ptq,
            "image_size": self.image_size,
            "io": self.io,
            "qat_steps": self.qat_steps,
            "edgetpu": self.edgetpu,
            "calibration": self.calibration,
            "force": self.force,
        }


@dataclass
class ExportResult:
    """What an export wrote and measured."""

    model_path: Path
    metadata_path: Path
    accepted: bool
    reasons: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    edgetpu_failed: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.accepted and not self.edgetpu_failed else 1


# --------------------------------------------------------------------------- checks


def check_output(output: Path) -> Path:
    """OUT must end in .tflite and must not be a folder."""
    output = Path(output).expanduser()
    if output.suffix != ".tflite":
        raise UsageError(
            f"output {output} must end in .tflite (its metadata goes to {output.stem}.json)"
        )
    if output.is_dir():
        raise UsageError(f"output {output} is a folder; give a file name ending in .tflite")
    if output.parent.exists() and not output.parent.is_dir():
        raise UsageError(f"output folder {output.parent} is not a folder")
    return output


def check_run_dir(run_dir: Path):
    """The run's config and split; UsageError naming what is missing.

    Returns:
        (RunConfig, {"train": [Path], "holdout": [Path]}).
    """
    from edgecolor.training.catalogue import load_split
    from edgecolor.training.checkpoint import checkpoint_dir, has_checkpoint, load_run_config

    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise UsageError(f"run folder not found: {run_dir}")
    config = load_run_config(run_dir)
    if not has_checkpoint(run_dir):
        raise UsageError(
            f"run folder {run_dir} has no complete checkpoint in {checkpoint_dir(run_dir)}"
        )
    split = load_split(run_dir)
    return config, split


def _existing(paths) -> list[Path]:
    return [Path(path) for path in paths if Path(path).is_file()]


def calibration_photos(options: ExportOptions, split: dict) -> tuple[list[np.ndarray], str]:
    """uint8 RGB photos for the representative dataset, and where they came from.

    Raises:
        UsageError: the calibration folder (or the run's training photos) has no photo
            that decodes.
    """
    from edgecolor.export.verify import load_photos
    from edgecolor.photos import collect_photos

    if options.calibration is not None:
        folder = Path(options.calibration).expanduser()
        paths = collect_photos([folder])  # UsageError: missing, not a folder, no image files
        source = str(folder)
    else:
        paths = _existing(split["train"])
        source = f"training photos of {options.run_dir}"
    # Spread the pick over the whole list rather than the first files (often one folder).
    step = max(1, len(paths) // MAX_CALIBRATION_PHOTOS)
    photos, _, skipped = load_photos(paths[::step], short_side=256, limit=MAX_CALIBRATION_PHOTOS)
    for line in skipped:
        log.warning("calibration: skipped unreadable photo %s", line)
    if not photos:
        raise UsageError(f"no usable photos for calibration in {source}")
    return photos, f"{source} ({len(photos)} photos)"


def verification_photos(split: dict) -> tuple[list[np.ndarray], list[str], str]:
    """The run's hold-out photos (uint8 RGB), or its training photos when it has none."""
    from edgecolor.export.verify import load_photos

    paths, source = _existing(split["holdout"]), "hold-out photos"
    if not paths:
        log.warning("the run has no hold-out photos: verifying on training photos instead")
        paths, source = _existing(split["train"]), "training photos (no hold-out photos)"
    photos, names, skipped = load_photos(paths)
    for line in skipped:
        log.warning("verification: skipped unreadable photo %s", line)
    if not photos:
        raise UsageError("no readable photos in the run's split.json to verify the export on")
    return photos, names, source


def representative_L(
    photos: list[np.ndarray], image_size: int, scaling: LabScaling
) -> list[np.ndarray]:
    """Each photo as the Colorizer feeds it: L of the whole photo at the model size, scaled.

    Args:
        scaling: the run's Lab scaling (what the device reads from the model's metadata).
    Returns:
        float32 (S, S) arrays (in [-1, 1] for L / 50 - 1).
    """
    from edgecolor.device.runtime.pixels import model_luminance

    return [scaling.L_to_model(model_luminance(photo, image_size, image_size)) for photo in photos]


# --------------------------------------------------------------------------- the export


def graph_checks(content: bytes, fmt: str, io: str, threads: int) -> tuple[dict, list[str]]:
    """Op list, integer-only rules (int8), XNNPACK partitions and the Edge TPU lint (int8).

    Returns:
        (figures for the metadata, list of failed-check messages).
    """
    from edgecolor.export import edgetpu
    from edgecolor.export.graph import check_int8_graph, inspect_graph, xnnpack_partitions

    graph = inspect_graph(content)
    failures = []
    figures: dict = {"ops": graph.op_counts()}
    if fmt == "int8":
        int8_report = check_int8_graph(graph)
        figures["int8_checks"] = int8_report.as_dict()
        failures += int8_report.problems
        lint = edgetpu.lint(graph)
        figures["edgetpu_lint"] = lint.as_dict()
        for warning in lint.warnings:
            log.info("edge tpu lint: %s", warning)
        if lint.cpu_ops:
            log.warning(
                "edge tpu lint: %d op(s) would run on the CPU: %s (first problem: %s)",
                len(lint.cpu_ops),
                ", ".join(lint.cpu_ops),
                lint.problems[0],
            )
        else:
            log.info("edge tpu lint: all %d ops map to the Edge TPU", len(lint.mapped_ops))
    partitions = xnnpack_partitions(content, threads, allow_io_conversion=io == "uint8")
    figures.update(partitions.as_dict())
    log.info("xnnpack: %s", partitions.reason)
    if not partitions.one_partition:
        failures.append(
            f"XNNPACK: {partitions.reason} (outside: {', '.join(partitions.undelegated_ops)})"
        )
    return figures, failures


def _temporary_pair(output: Path) -> Path:
    return output.with_name(f".{output.stem}.{os.getpid()}.verify.tflite")


def _remove_pair(tflite_path: Path) -> None:
    tflite_path.unlink(missing_ok=True)
    metadata_path(tflite_path).unlink(missing_ok=True)


def run_export(options: ExportOptions) -> ExportResult:
    """Do one export (see the module docstring). Raises UsageError before writing anything."""
    validate_options(options.format, options.given())
    export_format = FORMATS[options.format]
    output = check_output(options.output)
    config, split = check_run_dir(options.run_dir)
    io = options.io or export_format.default_io
    image_size = options.image_size or config.train.image_size

    from edgecolor.models import check_image_size

    check_image_size(config.generator, image_size)
    if options.format == "int8" and not options.ptq and config.scaling != color.LAB_SCALING:
        # QAT fine-tunes through the training input pipeline, which has today's scaling.
        raise UsageError(
            f"{options.run_dir}: the run's Lab scaling ({config.scaling}) "
            "is not the one this edgecolor trains with: export it with --ptq"
        )
    calibration, calibration_source = (
        calibration_photos(options, split) if options.format == "int8" else ([], None)
    )
    verify_photos, verify_names, verify_source = verification_photos(split)

    from edgecolor.export.tflite import convert_generator, strip_final_upsampling
    from edgecolor.training.checkpoint import load_generator

    full_generator, config, step = load_generator(options.run_dir, which=options.checkpoint)
    # The float reference for verification ends where the exported file ends (the
    # runtime does the final upsampling for both).
    generator, output_stride = strip_final_upsampling(full_generator)
    quantization: dict = {"method": "none", "io": io}
    to_convert = generator
    if options.format == "int8":
        quantization = {"method": "ptq" if options.ptq else "qat", "io": io}
        quantization["calibration"] = calibration_source
        if not options.ptq:
            # QAT trains the full model (its loss is at full resolution), then drops the resize.
            qat_model, qat = _quantization_aware_training(options, config, full_generator)
            to_convert, _ = strip_final_upsampling(qat_model)
            quantization.update(qat)
    if output_stride > 1:
        log.info(
            "exporting without the final x%d bilinear upsampling: ab comes out at 1/%d of the "
            "input size and the device upsamples it with the photo's full-resolution L",
            output_stride,
            output_stride,
        )
    log.info("converting to %s at %dx%d (io %s)", options.format, image_size, image_size, io)
    content = convert_generator(
        to_convert,
        options.format,
        image_size,
        representative_L(calibration, image_size, config.scaling),
        io=io,
    )
    figures, failures = graph_checks(content, options.format, io, options.threads)

    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_pair(output)

    def metadata_for(path: Path, verification: dict, edgetpu_file: str | None = None) -> dict:
        return build_metadata(
            content,
            path.name,
            options.format,
            config.generator,
            config.generator_hash(),
            step,
            scaling=config.scaling,
            quantization=quantization,
            verification=verification,
            edgetpu_model_file=edgetpu_file,
        )

    try:
        atomic_write_bytes(temporary, content)
        write_metadata(temporary, metadata_for(temporary, {}))
        from edgecolor.export.verify import verify_quality

        quality = verify_quality(
            temporary, generator, verify_photos, verify_names, threads=options.threads
        )
        if not quality.accepted:
            failures.append(
                f"PSNR {quality.psnr:.2f} dB is {quality.psnr_drop:.2f} dB below the float "
                f"generator's {quality.psnr_float:.2f} dB (limit {quality.as_dict()['max_psnr_drop']} dB)"
            )
        accepted = not failures
        final = (
            output
            if accepted or options.force
            else output.with_name(output.stem + REJECTED_SUFFIX + output.suffix)
        )
        verification = {
            **quality.as_dict(),
            "photos_source": verify_source,
            **figures,
            "size_bytes": len(content),
            "output_stride": output_stride,
            "failures": failures,
            "forced": bool(failures and options.force),
        }
        os.replace(temporary, final)
    finally:
        _remove_pair(temporary)

    result = ExportResult(
        model_path=final,
        metadata_path=metadata_path(final),
        accepted=accepted or options.force,
        reasons=failures,
    )
    edgetpu_file = None
    if options.edgetpu and result.accepted:
        edgetpu_file, compile_figures, result.edgetpu_failed = _compile_edgetpu(final)
        verification["edgetpu_compile"] = compile_figures
    result.metadata = metadata_for(final, verification, edgetpu_file)
    write_metadata(final, result.metadata)
    for reason in failures:
        log.error("export check failed: %s", reason)
    return result


def _quantization_aware_training(
    options: ExportOptions, config, float_generator
) -> tuple[object, dict]:
    """Fine-tune a QAT copy of the run's (full, float) generator; returns (qat_model, figures)."""
    import time

    from edgecolor.models.keras import keras
    from edgecolor.training.catalogue import prepare_data
    from edgecolor.training.data import training_dataset
    from edgecolor.training.qat import (
        DEFAULT_QAT_STEPS,
        QAT_LEARNING_RATE_FACTOR,
        load_discriminator,
        qat_finetune,
    )
    from edgecolor.training.rebalance import run_weights

    steps = options.qat_steps or DEFAULT_QAT_STEPS
    # A copy in memory (the checkpoint is read once): QAT freezes the copy's batch norms,
    # and the float generator stays untouched as the verification reference.
    generator = keras.models.clone_model(float_generator)
    generator.set_weights(float_generator.get_weights())
    discriminator = (
        load_discriminator(options.run_dir, config) if config.train.gan_weight > 0 else None
    )
    # The training photos only (the hold-out is not decoded): the batches, and the colours
    # a class-rebalanced run weighed its L1 by, so QAT optimises the run's own loss.
    train = config.train
    photos = prepare_data(config, options.run_dir, holdout=False).train
    dataset = training_dataset(
        photos,
        train.image_size,
        train.batch_size,
        train.seed,
        train.vertical_flip,
        train.crop_scale,
    )
    ab_weights = run_weights(train.rebalance, photos, config.generator.head)
    log.info(
        "quantization-aware training: %d steps at %d px, batch %d",
        steps,
        config.train.image_size,
        config.train.batch_size,
    )
    started = time.perf_counter()
    qat_model, history = qat_finetune(
        generator, discriminator, dataset, config, steps, ab_weights=ab_weights
    )
    seconds = time.perf_counter() - started
    return qat_model, {
        "qat_steps": steps,
        "qat_image_size": config.train.image_size,
        "qat_batch_size": config.train.batch_size,
        "qat_seconds": round(seconds, 1),
        "qat_learning_rate_factor": QAT_LEARNING_RATE_FACTOR,
        "qat_batch_norm": "frozen (trained statistics)",
        "qat_final": history[-1] if history else None,
        "adversarial": discriminator is not None,
    }


def _compile_edgetpu(final: Path) -> tuple[str | None, dict, bool]:
    """Run edgetpu_compiler on the accepted file when it is installed.

    Returns:
        (compiled file name or None, figures for the metadata, True when compiling failed).
    """
    from edgecolor.export.edgetpu import INSTALL_HINT, find_compiler

    compiler = find_compiler()
    if compiler is None:
        log.warning("%s", INSTALL_HINT)
        log.warning("the Edge TPU lint above says what the compiler is expected to map")
        return None, {"compiled": False, "reason": "edgetpu_compiler not installed"}, False
    try:
        compiled = compiler.compile(final, final.parent)
    except (RuntimeError, OSError) as error:
        log.error("%s", error)
        return None, {"compiled": False, "reason": str(error)}, True
    log.info("edge tpu: wrote %s (log %s)", compiled.model_path, compiled.log_path)
    for op, count, status in compiled.mapping:
        log.info("edge tpu: %-24s %4d  %s", op, count, status)
    return compiled.model_path.name, {"compiled": True, **compiled.as_dict()}, False
