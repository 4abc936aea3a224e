"""Generator variants for int8 export: partitions, Edge TPU lint, size and speed, side by side.

    .venv/bin/python bench/bench_export_variants.py [--size 256] [--rounds 20] [--only NAME ...]

Each variant is a change of one thing against the default edge generator (upsampling op,
skip connections, activation, widths, quantization), converted as ``edgecolor export``
converts (tfmot QAT wrapper unless "ptq"; int8 I/O; batch 1; random weights: speed does
not depend on them) and timed interleaved with the int8 peak convolution on LiteRT,
2 threads. The table is the source of docs/export-variants.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_variant(
    config,
    upsampling="bilinear",
    skip="concat",
    activation="relu",
    final_upsample=True,
    image_size=None,
):
    """The edge U-Net with one part swapped (bench only; the product builds models/edge.py)."""
    from edgecolor.models.keras import keras, layers, tf

    def act(x, name):
        if activation == "leaky_relu":
            return layers.LeakyReLU(0.2, name=name)(x)
        return layers.ReLU(name=name)(x)

    def conv_bn_act(x, filters, stride, name):
        x = layers.Conv2D(
            filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return act(x, f"{name}_act")

    def upsample(x, channels, name):
        if upsampling == "bilinear":
            return layers.UpSampling2D(2, interpolation="bilinear", name=name)(x)
        if upsampling == "nearest":
            return layers.UpSampling2D(2, interpolation="nearest", name=name)(x)
        if upsampling == "transpose_conv":
            return layers.Conv2DTranspose(channels, 3, strides=2, padding="same", name=name)(x)
        if upsampling == "depth_to_space":
            x = layers.Conv2D(4 * channels, 1, name=f"{name}_expand")(x)
            return layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), name=name)(x)
        raise ValueError(upsampling)

    filters = list(config.filters)
    inputs = keras.Input((image_size, image_size, 1), name="L")
    x, skips = inputs, []
    for level, width in enumerate(filters):
        x = conv_bn_act(x, width, 2, f"down{level + 1}")
        x = conv_bn_act(x, width, 1, f"enc{level + 1}")
        skips.append(x)
    x = skips.pop()
    for level in range(len(filters) - 1, 0, -1):
        skip_tensor = skips[level - 1]
        width = max(8, int(round(filters[level - 1] * config.decoder_width)))
        if skip == "add":
            # Project to the skip's width at low resolution, upsample, add.
            x = layers.Conv2D(filters[level - 1], 1, name=f"proj{level}")(x)
            x = upsample(x, filters[level - 1], f"up{level}")
            x = layers.Add(name=f"skip{level}")([x, skip_tensor])
        else:
            x = upsample(x, int(x.shape[-1]), f"up{level}")
            x = layers.Concatenate(name=f"skip{level}")([x, skip_tensor])
        x = conv_bn_act(x, width, 1, f"dec{level}")
    x = layers.Conv2D(2, 3, padding="same", name="ab_conv")(x)
    x = layers.Activation("tanh", name="ab_tanh")(x)
    if final_upsample:
        x = layers.UpSampling2D(2, interpolation="bilinear", name="ab")(x)
    return keras.Model(inputs, x, name="edge_variant")


def variants():
    """name -> (GeneratorConfig, builder keyword arguments, quantization).

    Every variant is exported as ``edgecolor export`` exports the default: without the
    final x2 resize (the device upsamples ab), except the row that keeps it.
    """
    from edgecolor.config import GeneratorConfig

    default = GeneratorConfig()
    exported = {"final_upsample": False}
    return {
        "default as exported (bilinear, concat, ReLU, QAT)": (default, exported, "qat"),
        "default, PTQ instead of QAT": (default, exported, "ptq"),
        "default, final x2 resize kept in the file": (default, {}, "qat"),
        "nearest-neighbour upsampling": (default, {**exported, "upsampling": "nearest"}, "qat"),
        "transposed-conv upsampling": (
            default,
            {**exported, "upsampling": "transpose_conv"},
            "qat",
        ),
        "depth-to-space upsampling": (default, {**exported, "upsampling": "depth_to_space"}, "qat"),
        "add skips (1x1 projection)": (default, {**exported, "skip": "add"}, "qat"),
        "LeakyReLU": (default, {**exported, "activation": "leaky_relu"}, "qat"),
        "decoder_width 1.0": (dataclasses.replace(default, decoder_width=1.0), exported, "qat"),
        "4 levels (16..128)": (
            dataclasses.replace(default, filters=(16, 32, 64, 128)),
            exported,
            "qat",
        ),
        "5 levels, last 128": (
            dataclasses.replace(default, filters=(16, 32, 64, 128, 128)),
            exported,
            "qat",
        ),
        "wider (32..256, 4 levels)": (
            dataclasses.replace(default, filters=(32, 64, 128, 256)),
            exported,
            "qat",
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="substrings of variant names to run")
    args = parser.parse_args(argv)

    from bench_export import _peak_conv, _representative, time_interleaved

    from edgecolor.export.edgetpu import lint
    from edgecolor.export.graph import inspect_graph, xnnpack_partitions
    from edgecolor.export.tflite import convert_generator
    from edgecolor.models.summary import count_macs
    from edgecolor.training.qat import quantize_generator

    content, macs = _peak_conv()
    models = {"int8 peak conv": {"content": content, "macs": macs}}
    notes = {}
    for name, (config, options, quantization) in variants().items():
        if args.only and not any(part in name for part in args.only):
            continue
        model = build_variant(config, **options)
        macs = count_macs(build_variant(config, **options, image_size=args.size))
        try:
            to_convert = quantize_generator(model) if quantization == "qat" else model
            content = convert_generator(
                to_convert, "int8", args.size, _representative(args.size), io="int8"
            )
        except Exception as error:  # a variant the converter refuses is a finding, not a crash
            notes[name] = f"QAT/conversion failed: {str(error).splitlines()[0][:100]}"
            continue
        graph = inspect_graph(content)
        partitions = xnnpack_partitions(content, args.threads)
        edgetpu = lint(graph)
        models[name] = {"content": content, "macs": macs}
        notes[name] = (
            f"partitions {partitions.partitions}{'' if partitions.one_partition else ' (split)'}; "
            f"Edge TPU {'all mapped' if edgetpu.fully_mapped else 'CPU from ' + edgetpu.cpu_ops[0]}; "
            f"QUANTIZE x{graph.op_names.count('QUANTIZE')}"
        )
    time_interleaved(models, args.threads, args.rounds, args.calls)
    peak = models["int8 peak conv"]
    peak_median = peak["macs"] / np.median(peak["times"])
    peak_min = peak["macs"] / np.min(peak["times"])
    print(
        f"int8 peak: {peak_median / 1e9:.0f} GMAC/s (median), {peak_min / 1e9:.0f} (min); "
        f"{args.size}x{args.size}, {args.threads} threads"
    )
    print("| variant | GMAC | KB | median ms | min ms | % peak (med / min) | notes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, model in models.items():
        if name == "int8 peak conv":
            continue
        median, fastest = np.median(model["times"]), np.min(model["times"])
        print(
            f"| {name} | {model['macs'] / 1e9:.3f} | {len(model['content']) / 1024:.0f} | "
            f"{median * 1e3:.2f} | {fastest * 1e3:.2f} | "
            f"{100 * model['macs'] / median / peak_median:.0f} / {100 * model['macs'] / fastest / peak_min:.0f} | "
            f"{notes[name]} |"
        )
    for name, note in notes.items():
        if name not in models:
            print(f"| {name} | | | | | | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
