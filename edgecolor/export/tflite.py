"""Keras generator -> TFLite flatbuffer bytes (int8, float16 or float32).

The converted graph always has batch 1 and a fixed square input: XNNPACK and the Edge TPU
both need static shapes, and a fixed shape lets the converter drop the SHAPE/PACK/
STRIDED_SLICE bookkeeping that a dynamic ``UpSampling2D`` would otherwise leave behind.

TensorFlow is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from edgecolor.errors import UsageError

FORMATS_CONVERTIBLE = ("int8", "float16", "float32")
IO_TYPES = ("int8", "uint8", "float32")
# How many calibration images the converter sees at most: enough to settle the activation
# ranges of a small generator, few enough that calibration takes seconds.
MAX_REPRESENTATIVE_SAMPLES = 64


def _resize_L(L_scaled: np.ndarray, image_size: int) -> np.ndarray:
    """float32 (H, W) L/50-1 -> float32 (1, S, S, 1), bilinear when the size differs."""
    L_scaled = np.asarray(L_scaled, dtype=np.float32)
    if L_scaled.ndim == 3 and L_scaled.shape[-1] == 1:
        L_scaled = L_scaled[..., 0]
    if L_scaled.ndim != 2:
        raise ValueError(f"representative L must be (H, W), got shape {L_scaled.shape}")
    if L_scaled.shape != (image_size, image_size):
        from PIL import Image

        L_scaled = np.asarray(
            Image.fromarray(L_scaled, mode="F").resize((image_size, image_size), Image.BILINEAR),
            dtype=np.float32,
        )
    return np.clip(L_scaled, -1.0, 1.0)[None, :, :, None]


def _representative_dataset(
    representative_L: Iterable[np.ndarray], image_size: int
) -> tuple[list[np.ndarray], int]:
    samples = []
    for L_scaled in representative_L:
        samples.append(_resize_L(L_scaled, image_size))
        if len(samples) >= MAX_REPRESENTATIVE_SAMPLES:
            break
    return samples, len(samples)


def strip_final_upsampling(model):
    """Drop a generator's last layer when it is a bilinear ``UpSampling2D`` (also QAT-wrapped).

    The edge generator ends in tanh at half resolution followed by a bilinear x2 that has
    no weights. On the device that last resize is wasted work: the runtime upsamples ab to
    the photo's full resolution anyway (``Colorizer.join``), so exporting the model without
    it gives the same colours, saves the most memory-bound op of the graph (~10-15% of the
    edge generator's time at 256x256, docs/export-variants.md) and removes the Edge TPU's
    largest resize. The trained weights are untouched.

    Args:
        model: (N, H, W, 1) -> (N, H, W, 2) ``tf_keras`` functional model, float or QAT.
    Returns:
        (model, factor): the model ending before the resize, (N, H, W, 1) ->
        (N, H / factor, W / factor, 2), and the factor; (model, 1) when there is none.
    """
    from edgecolor.models.keras import keras, layers

    last = model.layers[-1]
    inner = getattr(last, "layer", last)  # tfmot's QuantizeWrapper keeps the layer in .layer
    if (
        len(model.outputs) != 1
        or not isinstance(inner, layers.UpSampling2D)
        or inner.interpolation != "bilinear"
        or inner.size[0] != inner.size[1]
    ):
        return model, 1
    return keras.Model(model.inputs, last.input, name=model.name), int(inner.size[0])


def convert_generator(
    model,
    fmt: str,
    image_size: int,
    representative_L: Iterable[np.ndarray] | None = None,
    io: str = "int8",
) -> bytes:
    """Convert a generator (float or QAT-wrapped ``tf_keras`` model) to a TFLite flatbuffer.

    Args:
        model: (N, H, W, 1) L/50-1 -> (N, H, W, 2) ab/110; a float model or the output of
            ``tfmot.quantization.keras.quantize_model`` (then the int8 graph uses the
            fake-quant ranges learned in QAT; otherwise it is post-training quantization).
        fmt: "int8" (integer weights and activations), "float16" (half weights) or "float32".
        image_size: the fixed square input side of the converted graph (batch 1).
        representative_L: for int8, calibration images, float32 (H, W) L/50-1 in [-1, 1]
            (resized to ``image_size`` when they differ). Ignored for float formats.
        io: input/output tensor type: "int8" or "uint8" for int8 models, "float32" for
            float models (an int8 model with "float32" I/O gets QUANTIZE/DEQUANTIZE at the ends).

    Returns:
        The .tflite file's bytes. Input (1, S, S, 1); output (1, S, S, 2), or smaller when
        the model ends below full resolution (see ``strip_final_upsampling``).
    """
    from edgecolor.models.keras import tf

    if fmt not in FORMATS_CONVERTIBLE:
        raise UsageError(f"unknown format {fmt!r}; choose from {list(FORMATS_CONVERTIBLE)}")
    if io not in IO_TYPES:
        raise UsageError(f"unknown I/O type {io!r}; choose from {list(IO_TYPES)}")
    if fmt != "int8" and io != "float32":
        raise UsageError(f"--io {io} needs --int8; {fmt} models have float32 input and output")

    @tf.function(input_signature=[tf.TensorSpec((1, image_size, image_size, 1), tf.float32)])
    def serve(L_scaled):
        return model(L_scaled, training=False)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], model
    )
    if fmt == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "int8":
        samples, count = _representative_dataset(representative_L or [], image_size)
        if not count:
            raise UsageError("int8 conversion needs at least one representative image")

        def representative() -> Iterator[list[np.ndarray]]:
            for sample in samples:
                yield [sample]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        # Integer-only kernels: conversion fails rather than leaving a float op behind.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_dtype = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[io]
        converter.inference_input_type = io_dtype
        converter.inference_output_type = io_dtype
    return bytes(converter.convert())


def synthetic_representative_L(size: int, count: int = 8) -> list[np.ndarray]:
    """float32 (size, size) L/50-1 calibration images in [-1, 1]: gradients plus noise.

    For models that are not exported from a training run (untrained stand-ins for tests,
    timing benchmarks and device checks): no photos needed, the same images every time.
    """
    generator = np.random.default_rng(0)
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    images = []
    for index in range(count):
        gradient = ramp[None, :] if index % 2 else ramp[:, None]
        noise = generator.normal(0.0, 0.3, (size, size))
        images.append(np.clip(gradient + noise, -1.0, 1.0).astype(np.float32))
    return images


def export_untrained(run_config, fmt: str, image_size: int, path, note: str | None = None):
    """Export ``run_config``'s generator with fixed random weights to ``path`` (+ its .json).

    For tests, timing benchmarks and the emulated device check: the file has the real
    architecture and the real metadata, and colours that mean nothing. int8 files have
    int8 input/output, the others float32.

    Returns:
        The .tflite path (written atomically, its metadata beside it).
    """
    from pathlib import Path

    from edgecolor.export.metadata import build_metadata, write_metadata
    from edgecolor.files import atomic_write_bytes
    from edgecolor.models import build_generator
    from edgecolor.models.keras import keras

    path = Path(path)
    keras.utils.set_random_seed(0)
    model = build_generator(run_config.generator)
    io = "int8" if fmt == "int8" else "float32"
    representative = synthetic_representative_L(image_size)
    content = convert_generator(model, fmt, image_size, representative, io=io)
    atomic_write_bytes(path, content)
    quantization = {"method": "ptq" if fmt == "int8" else "none", "io": io}
    if note:
        quantization["note"] = note
    metadata = build_metadata(
        content,
        path.name,
        fmt,
        run_config.generator,
        run_config.generator_hash(),
        training_step=0,
        scaling=run_config.scaling,
        quantization=quantization,
    )
    write_metadata(path, metadata)
    return path
