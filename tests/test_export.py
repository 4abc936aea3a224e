"""``edgecolor export`` end to end on a tiny trained run: QAT, int8, checks, the device Colorizer.

The first test follows tensorflow-model-optimization's end-to-end template, one numbered
step at a time; the others drive the command line on the same run folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys

import numpy as np
import pytest
from training_photos import tiny_config_dict, write_colour_photos, write_corrupt_files

from edgecolor.color import LAB_SCALING, LabScaling

pytestmark = pytest.mark.slow

TINY_STEPS = 6


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A trained tiny run folder (edge (4, 8) at 32 px, PatchGAN 4): config, checkpoint, split."""
    from edgecolor.cli import main

    root = tmp_path_factory.mktemp("export_run")
    photos = root / "photos"
    write_colour_photos(photos, copies=2)
    config = root / "tiny.json"
    config.write_text(
        json.dumps(tiny_config_dict([str(photos)], steps=TINY_STEPS, pretrain_steps=2))
    )
    run = root / "run"
    assert main(["train", "--config", str(config), "--out", str(run)]) == 0
    return run


def best_step(run) -> int:
    """The step of the run's best checkpoint (its number: checkpoints are numbered by step)."""
    from edgecolor.training.checkpoint import latest_checkpoint

    return int(latest_checkpoint(run, "best").rsplit("-", 1)[1])


def _export(run, out, *flags) -> int:
    from edgecolor.cli import main

    return main(["export", str(run), *flags, "-o", str(out)])


def test_tiny_generator_train_qat_int8_through_the_device_colorizer(tiny_run, tmp_path):
    from edgecolor.device import Colorizer
    from edgecolor.export.edgetpu import lint
    from edgecolor.export.graph import check_int8_graph, inspect_graph, xnnpack_partitions
    from edgecolor.export.metadata import build_metadata, write_metadata
    from edgecolor.export.pipeline import representative_L
    from edgecolor.export.tflite import convert_generator, strip_final_upsampling
    from edgecolor.files import atomic_write_bytes
    from edgecolor.training.catalogue import prepare_data
    from edgecolor.training.checkpoint import load_generator
    from edgecolor.training.data import training_dataset
    from edgecolor.training.qat import load_discriminator, qat_finetune

    # 1. The trained tiny generator (the best by hold-out L1, what export takes) and its frozen
    #    discriminator, from the run folder.
    generator, config, step = load_generator(tiny_run)
    assert step == best_step(tiny_run) and 0 < step <= TINY_STEPS
    discriminator = load_discriminator(tiny_run, config)
    frozen = {weight.name: weight.numpy().copy() for weight in discriminator.trainable_weights}

    # 2. Quantization-aware fine-tuning, a few steps of the run's own objective.
    train = config.train
    photos = prepare_data(config, tiny_run, holdout=False).train
    dataset = training_dataset(photos, train.image_size, train.batch_size, train.seed)
    qat_model, history = qat_finetune(
        generator, discriminator, dataset, config, steps=3, log_every=1
    )
    assert [entry["step"] for entry in history] == [1, 2, 3]
    assert all(np.isfinite(entry["g_loss"]) and entry["g_adversarial"] > 0 for entry in history)
    assert any("quant" in layer.name for layer in qat_model.layers)
    # The generator's batch norms keep their trained statistics; the convolutions adapt.
    np.testing.assert_array_equal(
        qat_model.get_layer("quant_enc1_bn").layer.moving_variance.numpy(),
        generator.get_layer("enc1_bn").moving_variance.numpy(),
    )
    qat_kernel = next(w for w in qat_model.weights if "enc1_conv" in w.name and "kernel" in w.name)
    assert not np.array_equal(qat_kernel.numpy(), generator.get_layer("enc1_conv").kernel.numpy())
    # The discriminator is frozen: its weights never move (its batch-norm averages may).
    for weight in discriminator.trainable_weights:
        assert np.array_equal(frozen[weight.name], weight.numpy()), weight.name

    # 3. Full-integer conversion at 32x32 with int8 input and output, without the final
    #    x2 resize (the device upsamples ab itself).
    qat_model, stride = strip_final_upsampling(qat_model)
    assert stride == 2 and qat_model.output_shape == (None, None, None, 2)
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    content = convert_generator(
        qat_model, "int8", 32, representative_L(photos, 32, config.scaling), io="int8"
    )

    # 4. The op list, integer-only tensors, one XNNPACK partition, the Edge TPU lint.
    graph = inspect_graph(content)
    assert set(graph.op_names) <= {
        "CONV_2D",
        "QUANTIZE",
        "RESIZE_BILINEAR",
        "CONCATENATION",
        "TANH",
    }
    assert graph.op_names.count("CONV_2D") == 6 and graph.op_names[-1] == "TANH"
    assert graph.op_names.count("RESIZE_BILINEAR") == 1  # the decoder's; the final x2 is gone
    int8 = check_int8_graph(graph)
    assert int8.problems == [] and int8.float_tensors == [] and int8.io_dtypes == ("int8", "int8")
    partitions = xnnpack_partitions(content)
    assert partitions.partitions == 1 and partitions.one_partition, partitions.reason
    edgetpu = lint(graph)
    assert edgetpu.fully_mapped and edgetpu.problems == []

    # 5. Through the device Colorizer, against the Keras QAT model on the same input.
    model_path = tmp_path / "tiny.tflite"
    atomic_write_bytes(model_path, content)
    write_metadata(
        model_path,
        build_metadata(
            content,
            model_path.name,
            "int8",
            config.generator,
            config.generator_hash(),
            step,
            scaling=config.scaling,
        ),
    )
    colorizer = Colorizer(model_path, device="cpu", threads=2)
    assert colorizer.input_size == (32, 32)
    from skimage import data

    for photo in (data.astronaut(), data.coffee()):
        gray = np.asarray(np.mean(photo, axis=-1), dtype=np.uint8)
        prepared = colorizer.prepare(gray)
        ab_device = colorizer.predict_ab(prepared.L_scaled)
        assert ab_device.shape == (16, 16, 2)
        ab_keras = qat_model(prepared.L_scaled[None, :, :, None], training=False)[0].numpy()
        difference = np.abs(ab_device - ab_keras)
        output_step = colorizer.metadata["output"]["scale"]
        # The int8 file reproduces the fake-quantized Keras model to within a few output
        # steps (the converter's requantization rounds differently from TensorFlow's fake
        # quantization); a wrong scale, zero point or op would be off by tens of steps.
        assert difference.mean() < 2 * output_step, difference.mean()
        assert np.percentile(difference, 99) < 10 * output_step
        colour = colorizer.colorize(gray)
        assert colour.shape == photo.shape and colour.dtype == np.uint8


def test_cli_int8_export_writes_a_verified_pair(tiny_run, tmp_path, capsys, monkeypatch):
    from collections import Counter

    from edgecolor import photos
    from edgecolor.device.runtime.model import load_metadata
    from edgecolor.training import catalogue, checkpoint

    # The export reads the checkpoint once and decodes each hold-out photo once (QAT
    # takes an in-memory copy of the generator and decodes only the training photos).
    loads, decodes = Counter(), Counter()

    def counted_load(*args, **kwargs):
        loads["generator"] += 1
        return load_generator(*args, **kwargs)

    def counted_read(path, *args, **kwargs):
        decodes[str(path)] += 1
        return read_rgb(path, *args, **kwargs)

    load_generator, read_rgb = checkpoint.load_generator, photos.read_rgb
    monkeypatch.setattr(checkpoint, "load_generator", counted_load)
    monkeypatch.setattr(photos, "read_rgb", counted_read)
    monkeypatch.setattr(catalogue, "read_rgb", counted_read)

    out = tmp_path / "models" / "tiny.tflite"
    assert _export(tiny_run, out, "--int8", "--qat-steps", "2") == 0
    assert loads["generator"] == 1
    holdout = catalogue.load_split(tiny_run)["holdout"]
    assert holdout and all(decodes[str(path)] == 1 for path in holdout)
    assert sorted(path.name for path in out.parent.iterdir()) == ["tiny.json", "tiny.tflite"]
    metadata = load_metadata(out)  # the device runtime's own reader accepts it
    assert metadata["format"] == "int8" and metadata["model_file"] == "tiny.tflite"
    assert metadata["input"]["shape"] == [1, 32, 32, 1] and metadata["input"]["dtype"] == "int8"
    assert metadata["output"]["shape"] == [1, 16, 16, 2] and metadata["output"]["dtype"] == "int8"
    assert metadata["training_step"] == best_step(tiny_run)
    assert metadata["generator"]["filters"] == [4, 8]
    assert (
        metadata["quantization"]["method"] == "qat" and metadata["quantization"]["qat_steps"] == 2
    )
    verification = metadata["verification"]
    assert verification["accepted"] and verification["failures"] == []
    assert verification["xnnpack_partitions"] == 1 and verification["one_partition"]
    assert verification["edgetpu_lint"]["fully_mapped"]
    assert verification["int8_checks"]["float_tensors"] == []
    assert verification["photos"] >= 1 and np.isfinite(verification["psnr"])
    assert verification["psnr_drop"] <= 0.5 and verification["output_stride"] == 2
    summary = json.loads(capsys.readouterr().out)
    assert summary["accepted"] and summary["model"] == str(out)


def test_cli_ptq_and_float_exports(tiny_run, tmp_path):
    from edgecolor.device.runtime.model import load_metadata

    assert _export(tiny_run, tmp_path / "ptq.tflite", "--int8", "--ptq", "--image-size", "64") == 0
    ptq = load_metadata(tmp_path / "ptq.tflite")
    assert ptq["quantization"]["method"] == "ptq" and ptq["input"]["shape"] == [1, 64, 64, 1]
    assert _export(tiny_run, tmp_path / "half.tflite", "--float16") == 0
    half = load_metadata(tmp_path / "half.tflite")
    assert half["format"] == "float16" and half["input"]["dtype"] == "float32"
    assert half["input"]["scale"] is None and half["verification"]["one_partition"]
    # float16 weights: only a rounding away from the float generator.
    assert half["verification"]["ab_max_error"] < 0.01
    assert half["training_step"] == best_step(tiny_run)  # auto: the best checkpoint
    # --checkpoint latest takes the newest checkpoint instead of the best; hue figures
    # come with every verification.
    assert _export(tiny_run, tmp_path / "last.tflite", "--float16", "--checkpoint", "latest") == 0
    last = load_metadata(tmp_path / "last.tflite")
    assert last["training_step"] == TINY_STEPS
    assert set(last["verification"]["hue"]) == {"hue_hit", "sepia_share", "neutral_chroma"}


def test_cli_uint8_io_passes_with_its_boundary_conversions(tiny_run, tmp_path):
    from edgecolor.device.runtime.model import load_metadata

    out = tmp_path / "u8.tflite"
    assert _export(tiny_run, out, "--int8", "--ptq", "--io", "uint8") == 0
    verification = load_metadata(out)["verification"]
    assert load_metadata(out)["input"]["dtype"] == "uint8"
    assert "uint8<->int8" in verification["reason"]


def test_failed_verification_keeps_the_file_as_rejected(tiny_run, tmp_path, monkeypatch):
    from edgecolor.device.runtime.model import load_metadata
    from edgecolor.export import verify

    # No real file can gain 100 dB over its float generator: every export now fails.
    monkeypatch.setattr(verify, "MAX_PSNR_DROP_DB", -100.0)
    out = tmp_path / "model.tflite"
    assert _export(tiny_run, out, "--int8", "--ptq") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model.rejected.json",
        "model.rejected.tflite",
    ]
    rejected = load_metadata(tmp_path / "model.rejected.tflite")
    assert rejected["model_file"] == "model.rejected.tflite"
    assert not rejected["verification"]["accepted"]
    assert "below the float generator" in rejected["verification"]["failures"][0]
    # --force keeps it under the requested name, and says so in the metadata.
    assert _export(tiny_run, out, "--int8", "--ptq", "--force") == 0
    forced = load_metadata(out)
    assert forced["verification"]["forced"] and forced["verification"]["failures"]


def test_checkpoint_that_does_not_match_the_config_is_exit_2(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    config["generator"]["filters"] = [8, 16]
    (run / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out" / "model.tflite"
    assert _export(run, out, "--float32") == 2
    assert "does not match" in capsys.readouterr().err
    assert not out.parent.exists() or not any(out.parent.iterdir())


def _run_with_scaling(tiny_run, tmp_path, scaling):
    """A copy of the tiny run whose config.json has ``scaling`` (a dict) or none (None)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    assert config["scaling"] == LAB_SCALING.to_metadata()  # training recorded it
    if scaling is None:
        del config["scaling"]
    else:
        config["scaling"] = scaling
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_export_stamps_the_runs_own_scaling(tiny_run, tmp_path, capsys):
    from edgecolor.device import Colorizer
    from edgecolor.device.runtime.model import load_metadata

    other = LabScaling(L_scale=60.0, L_offset=0.75, ab_scale=120.0)
    run = _run_with_scaling(tiny_run, tmp_path, other.to_metadata())
    out = tmp_path / "model.tflite"
    assert _export(run, out, "--float32") == 0
    assert LabScaling.from_metadata(load_metadata(out)["scaling"]) == other
    # The device runtime takes the model's scaling from there: L 30 -> 30 / 60 - 0.75.
    colorizer = Colorizer(out, device="cpu", threads=1)
    np.testing.assert_allclose(colorizer.scale_L(np.float32([30.0])), [-0.25])
    # QAT fine-tunes through today's input pipeline: such a run exports with --ptq only.
    capsys.readouterr()
    assert _export(run, tmp_path / "qat.tflite", "--int8") == 2
    assert "--ptq" in capsys.readouterr().err
    assert not (tmp_path / "qat.tflite").exists()


def test_old_run_without_scaling_exports_the_legacy_scaling(tiny_run, tmp_path, monkeypatch):
    from edgecolor import color
    from edgecolor.device.runtime.model import load_metadata

    run = _run_with_scaling(tiny_run, tmp_path, None)
    # Even were today's default another, the old run was trained with the legacy one.
    monkeypatch.setattr(color, "LAB_SCALING", LabScaling(40.0, 1.25, 100.0))
    out = tmp_path / "old.tflite"
    assert _export(run, out, "--float32") == 0
    assert load_metadata(out)["scaling"] == color.LEGACY_LAB_SCALING.to_metadata()


def test_calibration_folder_without_usable_photos_is_exit_2(tiny_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    write_corrupt_files(corrupt)
    out = tmp_path / "out" / "model.tflite"
    assert _export(tiny_run, out, "--int8", "--calibration", str(empty)) == 2
    assert "has no images" in capsys.readouterr().err
    assert _export(tiny_run, out, "--int8", "--calibration", str(corrupt)) == 2
    assert f"no usable photos for calibration in {corrupt}" in capsys.readouterr().err
    assert _export(tiny_run, out, "--int8", "--image-size", "30") == 2
    assert "not a multiple of 4" in capsys.readouterr().err
    assert not out.parent.exists()


FAKE_COMPILER = """#!{python}
import pathlib, sys
arguments = sys.argv[1:]
out_dir, model = pathlib.Path(arguments[arguments.index("-o") + 1]), pathlib.Path(arguments[-1])
(out_dir / (model.stem + "_edgetpu.tflite")).write_bytes(model.read_bytes())
(out_dir / (model.stem + "_edgetpu.log")).write_text("CONV_2D  6  Mapped to Edge TPU\\n")
"""


def test_edgetpu_flag_compiles_when_installed_and_explains_when_not(tiny_run, tmp_path, caplog):
    from edgecolor.device.runtime.model import load_metadata

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    old_path = os.environ["PATH"]
    try:
        # Not installed: a PATH with no edgetpu_compiler on it.
        os.environ["PATH"] = str(bin_dir)
        out = tmp_path / "plain" / "model.tflite"
        assert _export(tiny_run, out, "--int8", "--ptq", "--edgetpu") == 0
        assert "apt-get install edgetpu-compiler" in caplog.text
        assert load_metadata(out)["edgetpu_model_file"] is None
        # Installed (a stand-in with the compiler's command line).
        program = bin_dir / "edgetpu_compiler"
        program.write_text(FAKE_COMPILER.format(python=sys.executable))
        program.chmod(program.stat().st_mode | stat.S_IEXEC)
        out = tmp_path / "tpu" / "model.tflite"
        assert _export(tiny_run, out, "--int8", "--ptq", "--edgetpu") == 0
    finally:
        os.environ["PATH"] = old_path
    metadata = load_metadata(out)
    assert metadata["edgetpu_model_file"] == "model_edgetpu.tflite"
    assert (out.parent / "model_edgetpu.tflite").is_file()
    assert metadata["verification"]["edgetpu_compile"]["mapping"][0]["op"] == "CONV_2D"


def test_stripping_the_final_upsampling_keeps_the_colours(tiny_run):
    from edgecolor.export.tflite import strip_final_upsampling
    from edgecolor.models import build_generator
    from edgecolor.models.keras import layers
    from edgecolor.training.checkpoint import load_generator
    from edgecolor.training.qat import quantize_generator

    generator, config, _ = load_generator(tiny_run)
    stripped, stride = strip_final_upsampling(generator)
    sample = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    half = stripped(sample, training=False)
    assert stride == 2 and half.shape == (2, 16, 16, 2)
    # The removed layer is a weightless bilinear x2: resizing the half-size output gives
    # back exactly the full model's output.
    upsampled = layers.UpSampling2D(2, interpolation="bilinear")(half).numpy()
    np.testing.assert_allclose(upsampled, generator(sample, training=False).numpy(), atol=1e-6)
    assert strip_final_upsampling(quantize_generator(generator))[1] == 2
    pix2pix = build_generator(type(config.generator)(name="pix2pix"), 256)
    assert strip_final_upsampling(pix2pix) == (pix2pix, 1)


def test_qat_model_saves_and_loads_inside_quantize_scope(tiny_run, tmp_path):
    from edgecolor.training.checkpoint import load_generator
    from edgecolor.training.qat import load_qat_model, quantize_generator, save_qat_model

    generator, _, _ = load_generator(tiny_run)
    qat_model = quantize_generator(generator)
    sample = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32)
    expected = qat_model(sample, training=False).numpy()
    path = save_qat_model(qat_model, tmp_path / "qat.h5")
    with pytest.raises(ValueError):  # tfmot's wrappers are unknown outside quantize_scope
        from edgecolor.models.keras import keras

        keras.models.load_model(path, compile=False)
    loaded = load_qat_model(path)
    np.testing.assert_allclose(loaded(sample, training=False).numpy(), expected, atol=1e-6)
