"""Read a legacy (pre-1.6) PyTorch ``.pth`` state dict with ``pickle`` and numpy, no torch.

The legacy format is five things written one after the other in a single file:

1. three small pickles: a magic number, the protocol version, a dict of system info
   (byte order, type sizes);
2. the state dict, pickled with *persistent ids* standing for the tensor storages:
   ``("storage", "FloatStorage", key, location, element_count, view_metadata)``; each
   tensor is rebuilt by ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``;
3. a pickled list of the storage keys, in the order their data follows;
4. for each key: an 8-byte little-endian element count, then the raw elements.

Only what a plain weights file needs is understood (OrderedDict, the tensor rebuilder and
the numeric storage types); any other class in the pickle is refused, so a file cannot
make this reader construct arbitrary objects.
"""

from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchPickleError(ValueError):
    """The file is not a legacy PyTorch state dict this reader understands."""


class _Storage:
    """One storage: filled with its elements after the state dict is unpickled."""

    def __init__(self, dtype: type, count: int):
        self.dtype = np.dtype(dtype)
        self.count = count
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor waiting for its storage's data: (storage, offset, size, stride)."""

    def __init__(self, storage: _Storage, offset: int, size, stride, *_):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if not self.size:
            return np.array(data[self.offset])
        itemsize = data.dtype.itemsize
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if last >= data.size:
            raise TorchPickleError("a tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
            writeable=False,
        )
        return np.array(view, order="C")  # a C-contiguous, writeable copy


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, stream):
        super().__init__(stream)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _TensorRef
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise TorchPickleError(f"unexpected class {module}.{name} in a weights file")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise TorchPickleError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, count = pid[:5]
        if storage_type not in STORAGE_DTYPES:
            raise TorchPickleError(f"unsupported storage type {storage_type}")
        return self.storages.setdefault(key, _Storage(STORAGE_DTYPES[storage_type], int(count)))


def load_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a legacy PyTorch state dict into numpy arrays.

    Args:
        path: a ``.pth`` written by ``torch.save`` before PyTorch 1.6 (not a zip file).
    Returns:
        {parameter name: array in PyTorch's layout, e.g. conv weights (out, in, kh, kw)},
        in the file's order.
    Raises:
        TorchPickleError: not a legacy state dict (zip format, wrong magic, truncated).
    """
    with open(path, "rb") as stream:
        if stream.read(2) == b"PK":
            raise TorchPickleError(f"{path} is a zip-format PyTorch file, not the legacy format")
        stream.seek(0)
        try:
            magic = pickle.load(stream)
            if magic != LEGACY_MAGIC:
                raise TorchPickleError(f"{path}: not a legacy PyTorch file (magic {magic!r})")
            pickle.load(stream)  # protocol version
            system = pickle.load(stream)
            if not system.get("little_endian", True):
                raise TorchPickleError(f"{path}: big-endian files are not supported")
            unpickler = _StateDictUnpickler(stream)
            state = unpickler.load()
            keys = pickle.load(stream)
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as error:
            raise TorchPickleError(f"{path}: {error}") from error
        for key in keys:
            storage = unpickler.storages[key]
            header = stream.read(8)
            if len(header) != 8:
                raise TorchPickleError(f"{path}: truncated before storage {key}")
            (count,) = struct.unpack("<q", header)
            raw = stream.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise TorchPickleError(f"{path}: truncated in storage {key}")
            storage.data = np.frombuffer(raw, storage.dtype)
    return {name: tensor.to_numpy() for name, tensor in state.items()}
