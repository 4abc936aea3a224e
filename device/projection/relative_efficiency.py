"""How fast the edge generator runs per MAC, relative to MobileNetV2 and ResNet-50, measured here.

docs/pi-projection.md projects Raspberry Pi frame rates by scaling published int8 latencies
of reference networks by MACs. That assumes our network reaches the same MACs per second
as the reference. This script measures that ratio side by side on this machine, with the
same runtime the Pi uses (LiteRT, XNNPACK, int8 in and out), so the projection can correct
for it. Random weights throughout: speed does not depend on them.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python device/projection/relative_efficiency.py \
        --cache /tmp/edgecolor-projection --threads 1 --seconds 3

Prints one row per model: MACs, median latency, GMAC/s, and efficiency relative to each
reference (1.0 = as many MACs per second as the reference).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

EDGE_SIZES = (128, 192, 256)
LITE0_SIZES = (128, 192, 224)
CALIBRATION_SAMPLES = 4


def _convert_int8(model, input_shape: tuple[int, ...]) -> bytes:
    """Full-integer int8 conversion (int8 input and output) with random calibration data."""
    import tensorflow as tf

    generator = np.random.default_rng(0)

    def representative():
        for _ in range(CALIBRATION_SAMPLES):
            yield [generator.uniform(-1.0, 1.0, (1, *input_shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def build_models(cache: Path) -> list[tuple[str, Path, int]]:
    """(name, .tflite path, MACs) for the edge generator at each size and the two references."""
    from edgecolor.config import GeneratorConfig
    from edgecolor.export.tflite import strip_final_upsampling
    from edgecolor.models.edge import build_edge_generator
    from edgecolor.models.keras import keras
    from edgecolor.models.lite0 import build_lite0_generator
    from edgecolor.models.summary import count_macs

    def lite0(size: int, head: str = "regression"):
        """The lite0 generator as exported (its final x2 resize left to the device)."""
        config = GeneratorConfig(name="lite0", frozen_blocks=5, decoder_width=1.0, head=head)
        return strip_final_upsampling(build_lite0_generator(config, size))[0]

    cache.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    builders = [
        (f"edge {size}x{size}", lambda size=size: build_edge_generator(GeneratorConfig(), size))
        for size in EDGE_SIZES
    ]
    builders += [
        (f"lite0 {size}x{size}", lambda size=size: lite0(size)) for size in LITE0_SIZES
    ]
    # Issue 16's distribution head: 261 bin logits at half resolution, decoded in the graph.
    builders += [("lite0 distribution 128x128", lambda: lite0(128, "distribution"))]
    builders += [
        ("MobileNetV2 224", lambda: keras.applications.MobileNetV2(weights=None)),
        ("ResNet-50 224", lambda: keras.applications.ResNet50(weights=None)),
    ]
    models = []
    for name, build in builders:
        path = cache / (name.replace(" ", "_") + "_int8.tflite")
        macs_path = path.with_suffix(".macs")
        if not path.exists() or not macs_path.exists():
            model = build()
            macs_path.write_text(str(count_macs(model)))
            path.write_bytes(_convert_int8(model, tuple(model.input_shape[1:])))
        models.append((name, path, int(macs_path.read_text())))
    return models


def measure(models: list[tuple[str, Path, int]], threads: int, seconds: float) -> dict[str, float]:
    """Median invoke time (seconds) of each model, rounds interleaved so load drifts hit all."""
    from ai_edge_litert.interpreter import Interpreter

    interpreters = {}
    for name, path, _ in models:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(
            detail["index"],
            np.random.default_rng(1).integers(-128, 128, detail["shape"], dtype=np.int8),
        )
        for _ in range(3):  # warm-up: XNNPACK packs weights on the first invoke
            interpreter.invoke()
        interpreters[name] = interpreter
    samples: dict[str, list[float]] = {name: [] for name in interpreters}
    rounds = 5
    for _ in range(rounds):
        for name, interpreter in interpreters.items():
            deadline = time.perf_counter() + seconds / rounds
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                interpreter.invoke()
                samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(times)) for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/edgecolor-projection"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per model")
    arguments = parser.parse_args()

    models = build_models(arguments.cache)
    medians = measure(models, arguments.threads, arguments.seconds)
    rates = {name: macs / medians[name] / 1e9 for name, _, macs in models}
    import ai_edge_litert

    print(f"{platform.processor() or platform.machine()}, LiteRT "
          f"{getattr(ai_edge_litert, '__version__', '?')}, {arguments.threads} thread(s), int8")
    print(f"{'model':<18}{'GMAC':>8}{'ms':>9}{'GMAC/s':>9}{'vs MNv2':>9}{'vs RN50':>9}")
    for name, _, macs in models:
        print(f"{name:<18}{macs / 1e9:>8.3f}{medians[name] * 1e3:>9.2f}{rates[name]:>9.1f}"
              f"{rates[name] / rates['MobileNetV2 224']:>9.2f}{rates[name] / rates['ResNet-50 224']:>9.2f}")


if __name__ == "__main__":
    main()
