"""The distribution head (Zhang et al. 2016): in-gamut ab bins, soft targets, the in-graph
decode, its int8 export (one XNNPACK partition, Edge TPU ops only) and its training losses."""

from __future__ import annotations

import numpy as np
import pytest
from training_photos import tiny_config_dict, write_colour_photos

from edgecolor import color
from edgecolor.config import GeneratorConfig, RunConfig
from edgecolor.errors import UsageError
from edgecolor.models import ab_bins

DISTRIBUTION = {"name": "lite0", "frozen_blocks": 5, "decoder_width": 0.25, "head": "distribution"}


def test_bins_are_the_in_gamut_cells_of_a_10_unit_grid_with_a_neutral_bin():
    centres = ab_bins.bin_centres()
    assert centres.shape == (ab_bins.bin_count(), 2)
    assert 240 <= len(centres) <= 313  # Zhang et al.'s gamut has 313
    assert np.all(np.mod(centres, ab_bins.BIN_SIZE) == 0)
    assert any(np.array_equal(centre, [0, 0]) for centre in centres)  # gray is a bin
    # Every sRGB colour falls in a bin; the grid around the gamut is mostly empty.
    rgb = np.random.default_rng(0).uniform(0, 1, (5000, 3)).astype(np.float32)
    cells = ab_bins.grid_index(color.rgb_to_lab(rgb)[:, 1:])
    in_gamut = set(ab_bins.gamut_grid_cells())
    assert all((int(row), int(column)) in in_gamut for row, column in cells)
    assert len(centres) < 0.6 * ab_bins.GRID_SIDE**2
    # The corners of the ab square are outside sRGB.
    assert not any(np.array_equal(centre, [110, 110]) for centre in centres)


def test_soft_encoding_puts_a_colour_on_its_nearest_bins():
    import tensorflow as tf

    from edgecolor.training.losses import soft_encode

    centres = ab_bins.bin_centres()
    scaled = tf.constant(color.LAB_SCALING.ab_to_model(centres), tf.float32)
    # One colour exactly on a bin centre, one between four centres.
    on_centre = centres[100]
    between = centres[100] + 5.0
    ab = tf.constant(
        color.LAB_SCALING.ab_to_model(np.stack([on_centre, between])[None, None]), tf.float32
    )
    targets, nearest = soft_encode(ab, scaled)
    targets = targets.numpy()[0, 0]
    np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-5)
    assert int(nearest.numpy()[0, 0, 0]) == 100
    assert targets[0].argmax() == 100 and np.count_nonzero(targets[0]) == 5
    # Equidistant from 4 centres: 4 equal targets that carry almost everything.
    top = np.sort(targets[1])[::-1]
    assert top[:4] == pytest.approx([top[0]] * 4, rel=1e-4) and top[:4].sum() > 0.95


def test_untrained_head_predicts_gray():
    from edgecolor.models import build_generator

    generator = build_generator(GeneratorConfig(**DISTRIBUTION), 64)
    L = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 1)).astype(np.float32)
    ab = generator(L, training=False).numpy()
    assert ab.shape == (2, 64, 64, 2)
    assert np.abs(color.LAB_SCALING.ab_from_model(ab)).max() < 2.0  # Lab units: invisible


def _set_winning_bin(generator, winner: int) -> None:
    """Logits that make ``winner`` the surest bin everywhere, and a gain of ~1."""
    from edgecolor.models.distribution_head import GAIN, LOGITS

    logits = generator.get_layer(LOGITS)
    kernel, bias = logits.get_weights()
    bias = np.zeros_like(bias)
    bias[winner] = 12.0
    logits.set_weights([np.zeros_like(kernel), bias])
    gain = generator.get_layer(GAIN)
    kernel, bias = gain.get_weights()
    gain.set_weights([np.zeros_like(kernel), np.full_like(bias, 8.0)])


def _hue(ab: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(ab[..., 1], ab[..., 0])) % 360)


def test_decode_gives_the_winning_bins_colour_in_keras_and_in_the_int8_file():
    """The hue vector of a distribution with one sure bin points at that bin, inside the
    Keras model and inside the exported int8 file run by LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    from edgecolor.export.tflite import convert_generator, strip_final_upsampling
    from edgecolor.models import build_generator

    centres = ab_bins.bin_centres()
    green = int(np.argmin(np.hypot(centres[:, 0] + 40, centres[:, 1] - 40)))  # (-40, 40)
    generator = build_generator(GeneratorConfig(**DISTRIBUTION), 64)
    _set_winning_bin(generator, green)
    L = np.zeros((1, 64, 64, 1), np.float32)
    ab = color.LAB_SCALING.ab_from_model(generator(L, training=False).numpy()[0])
    # sigmoid(0) = 0.5 for the winner, ~0 for the rest, gain sigmoid(8) ~ 1.
    np.testing.assert_allclose(ab.mean((0, 1)), 0.5 * centres[green], atol=0.5)

    model, _ = strip_final_upsampling(generator)
    rng = np.random.default_rng(0)
    representative = [rng.uniform(-1, 1, (64, 64)).astype(np.float32) for _ in range(4)]
    content = convert_generator(model, "int8", 64, representative, io="float32")
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], L)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    decoded = color.LAB_SCALING.ab_from_model(out.mean((0, 1)))
    assert abs(_hue(decoded) - _hue(centres[green])) < 5
    assert np.hypot(*decoded) == pytest.approx(0.5 * np.hypot(*centres[green]), rel=0.1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("qat", "gain_input"),
    [(False, "concat"), (True, "concat"), (True, "add")],
    ids=["ptq", "qat", "qat-add"],
)
def test_int8_export_is_one_xnnpack_partition_of_edge_tpu_ops(qat, gain_input):
    """No SOFTMAX (4-D), DIV or L2_NORMALIZATION: XNNPACK keeps one partition and the Edge
    TPU lint maps every op, after post-training quantization and after tfmot QAT."""
    from edgecolor.export.edgetpu import lint
    from edgecolor.export.graph import check_int8_graph, inspect_graph, xnnpack_partitions
    from edgecolor.export.tflite import convert_generator, strip_final_upsampling
    from edgecolor.models import build_generator
    from edgecolor.training.qat import quantize_generator

    generator = build_generator(GeneratorConfig(**DISTRIBUTION, gain_input=gain_input), 64)
    if qat:
        generator = quantize_generator(generator)
    model, stride = strip_final_upsampling(generator)
    assert stride == 2
    rng = np.random.default_rng(0)
    representative = [rng.uniform(-1, 1, (64, 64)).astype(np.float32) for _ in range(4)]
    content = convert_generator(model, "int8", 64, representative, io="int8")
    graph = inspect_graph(content)
    assert {"REDUCE_MAX", "SUB", "LOGISTIC"} <= set(graph.op_names)
    assert not {"SOFTMAX", "DIV", "L2_NORMALIZATION", "RSQRT"} & set(graph.op_names)
    int8 = check_int8_graph(graph)
    assert int8.problems == [], int8.problems
    partitions = xnnpack_partitions(content)
    assert partitions.one_partition, partitions.reason
    edgetpu = lint(graph)
    assert edgetpu.fully_mapped and edgetpu.problems == []


def test_gain_input_add_is_the_concat_form_split_in_two():
    """A 1x1 convolution on [features, total] is one on features plus one on total: the
    "add" head computes what the "concat" head does with its kernel split in two."""
    from edgecolor.models import build_generator

    concat = build_generator(GeneratorConfig(**DISTRIBUTION), 64)
    added = build_generator(GeneratorConfig(**DISTRIBUTION, gain_input="add"), 64)
    rng = np.random.default_rng(1)
    for name in ("ab_logits", "ab_gain_mix", "ab_gain"):  # a head that is not at its start
        layer = concat.get_layer(name)
        layer.set_weights(
            [rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()]
        )
    for layer in added.layers:
        if layer.name == "ab_gain_mix":
            kernel, bias = concat.get_layer("ab_gain_mix").get_weights()
            layer.set_weights([kernel[:, :, :-1], bias])
        elif layer.name == "ab_gain_mix_total":
            layer.set_weights([concat.get_layer("ab_gain_mix").get_weights()[0][:, :, -1:]])
        elif layer.weights:
            layer.set_weights(concat.get_layer(layer.name).get_weights())
    L = rng.uniform(-1, 1, (2, 64, 64, 1)).astype(np.float32)
    expected = concat(L, training=False).numpy()
    assert np.abs(expected).max() > 0.01  # not trivially gray
    np.testing.assert_allclose(added(L, training=False).numpy(), expected, atol=1e-5)
    with pytest.raises(UsageError, match="gain_input"):
        build_generator(GeneratorConfig(**DISTRIBUTION, gain_input="stack"), 64)


def _batch(size: int = 64, count: int = 2):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, (count, size, size, 3)).astype(np.float32)
    lab = color.rgb_to_lab(rgb)
    return (
        tf.constant(color.LAB_SCALING.L_to_model(lab[..., :1]), tf.float32),
        tf.constant(color.LAB_SCALING.ab_to_model(lab[..., 1:]), tf.float32),
    )


def test_losses_train_the_distribution_by_cross_entropy_and_only_the_gain_by_l1():
    import tensorflow as tf

    from edgecolor.models import build_generator
    from edgecolor.models.distribution_head import GAIN, LOGITS, VECTOR, training_outputs
    from edgecolor.training.losses import distribution_losses

    generator = build_generator(GeneratorConfig(**DISTRIBUTION), 64)
    view = training_outputs(generator)
    L, ab = _batch()
    centres = tf.constant(color.LAB_SCALING.ab_to_model(ab_bins.bin_centres()))
    with tf.GradientTape(persistent=True) as tape:
        _, logits, gain, vector = view(L, training=True)
        cross_entropy, restrained = distribution_losses(ab, logits, gain, vector, centres, 0.38)
    logits_kernel = generator.get_layer(LOGITS).kernel
    gain_kernel = generator.get_layer(GAIN).kernel
    # The restrained L1 reaches the gain, never the distribution.
    assert tape.gradient(restrained, logits_kernel) is None
    assert float(tf.reduce_sum(tf.abs(tape.gradient(restrained, gain_kernel)))) > 0
    assert tape.gradient(cross_entropy, gain_kernel) is None
    assert float(tf.reduce_sum(tf.abs(tape.gradient(cross_entropy, logits_kernel)))) > 0
    assert not generator.get_layer(VECTOR).trainable  # the bin centres are fixed
    # Uniform logits: the cross-entropy of any target is log Q (times T = 1 here).
    uniform = tf.zeros_like(logits)
    flat, _ = distribution_losses(ab, uniform, gain, vector, centres, 1.0)
    assert float(flat) == pytest.approx(np.log(ab_bins.bin_count()), rel=1e-4)
    # Rebalancing weighs each pixel by its nearest bin's weight.
    doubled, _ = distribution_losses(
        ab, uniform, gain, vector, centres, 1.0, tf.fill((ab_bins.bin_count(),), 2.0)
    )
    assert float(doubled) == pytest.approx(2 * float(flat), rel=1e-4)
    # gain_loss "l2": the restrained term is the squared error of gain * vector at half
    # resolution, where "l1" is its absolute error.
    truth = tf.nn.avg_pool2d(ab, 2, 2, "VALID").numpy()
    error = truth - gain.numpy() * vector.numpy()
    _, absolute = distribution_losses(ab, logits, gain, vector, centres, 0.38)
    _, squared = distribution_losses(ab, logits, gain, vector, centres, 0.38, gain_loss="l2")
    assert float(absolute) == pytest.approx(np.abs(error).mean(), rel=1e-4)
    assert float(squared) == pytest.approx(np.square(error).mean(), rel=1e-4)


def test_training_steps_lower_the_cross_entropy(tmp_path):
    from edgecolor.training.train import Trainer

    photos = tmp_path / "photos"
    write_colour_photos(photos, copies=2)
    settings = tiny_config_dict(
        [str(photos)], image_size=64, learning_rate=0.02, gan_weight=0.0, rebalance=0.5
    )
    settings["generator"] = dict(DISTRIBUTION)
    config = RunConfig.from_dict(settings)
    trainer = Trainer(config, tmp_path / "run")
    from edgecolor.training import catalogue, data

    prepared = catalogue.prepare_data(config, tmp_path / "run")
    trainer.set_rebalancing(prepared.train)
    weights = trainer.ab_weights.numpy()
    assert weights.shape == (ab_bins.bin_count(),) and weights.max() > weights.min()
    batch = next(iter(data.training_dataset(prepared.train, 64, 4, 0)))
    losses = [trainer.train_step(batch, adversarial=False) for _ in range(25)]
    assert set(losses[0]) == {"g_loss", "g_adversarial", "g_l1", "g_ce", "d_loss"}
    assert np.mean([step["g_ce"] for step in losses[-3:]]) < 0.8 * losses[0]["g_ce"]
    first = losses[0]
    assert first["g_loss"] > config.train.ce_weight * first["g_ce"]  # plus the restrained L1


def test_a_distribution_head_needs_the_lite0_generator():
    from edgecolor.errors import UsageError
    from edgecolor.models import build_generator

    with pytest.raises(UsageError, match="lite0"):
        build_generator(GeneratorConfig(name="edge", head="distribution"), 32)
    with pytest.raises(UsageError, match="generator.head"):
        build_generator(GeneratorConfig(name="lite0", head="softmax"), 32)
