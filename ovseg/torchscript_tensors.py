"""The tensors of a TorchScript archive (OpenAI's CLIP ``.pt``), read as data: none of its code runs.

A TorchScript archive is a zip. ``<top>/data.pkl`` pickles the module tree: objects of classes named
``__torch__.*`` that the archive's own ``code/`` folder defines, whose tensors point at raw storages
``<top>/data/<key>``. ``torch.jit.load`` compiles that code and runs any ``__setstate__`` it defines,
so opening a stranger's archive with it runs the stranger's TorchScript; ``torch.load`` with
``weights_only=True`` refuses archives for that reason. Here ``data.pkl`` is unpickled with an
allow-list instead: module objects become plain attribute holders, tensors are rebuilt from the raw
bytes, and any other global (``os.system``, ``builtins.eval``, ...) stops the read before it is
called. The code files are never read.

Every tensor attribute of every module is returned under its dotted path. For traced archives
(OpenAI's) these are exactly the parameters and buffers of ``state_dict()``; a scripted module's
plain tensor attributes would come too.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """A zip holding ``<top>/constants.pkl``: how torch itself recognises TorchScript archives."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(_top_level_entry(name, "constants.pkl") for name in archive.namelist())


def _top_level_entry(name: str, leaf: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == leaf


@dataclass(frozen=True)
class _StorageKind:
    dtype: torch.dtype


@dataclass(frozen=True)
class _RawStorage:
    dtype: torch.dtype
    data: bytes


class _ScriptObject:
    """Stands in for an object of an archive-defined class: keeps the state it is given, runs nothing."""

    def __setstate__(self, state: object) -> None:
        self.state = state


def _tensor_from_storage(
    storage: _RawStorage, offset: int, size: tuple, stride: tuple, *_unused: object
) -> torch.Tensor:
    """The rebuild function TorchScript pickles name (``torch._utils._rebuild_tensor_v2``), on raw bytes."""
    if not isinstance(storage, _RawStorage):
        raise pickle.UnpicklingError("a tensor in the archive does not point at a storage of raw bytes.")
    if storage.data:
        flat = torch.frombuffer(bytearray(storage.data), dtype=storage.dtype)  # (numel,)
    else:
        flat = torch.empty(0, dtype=storage.dtype)  # (0,)
    return torch.as_strided(flat, tuple(size), tuple(stride), offset).clone()


def _as_list(values: object) -> list:
    return list(values)


def _keep_value(value: object, _type_tag: object = None) -> object:
    return value


_ALLOWED_CALLABLES = {
    ("torch._utils", "_rebuild_tensor_v2"): _tensor_from_storage,
    ("torch._utils", "_rebuild_tensor"): _tensor_from_storage,
    ("collections", "OrderedDict"): dict,
    ("torch.jit._pickle", "restore_type_tag"): _keep_value,
    ("torch.jit._pickle", "build_intlist"): _as_list,
    ("torch.jit._pickle", "build_doublelist"): _as_list,
    ("torch.jit._pickle", "build_boollist"): _as_list,
    ("torch.jit._pickle", "build_tensorlist"): _as_list,
}


class _DataOnlyUnpickler(pickle.Unpickler):
    """Resolves only tensor rebuilding, storage types and archive classes; refuses every other global."""

    def __init__(self, archive: zipfile.ZipFile, top: str) -> None:
        super().__init__(io.BytesIO(archive.read(f"{top}/data.pkl")))
        self._archive = archive
        self._top = top
        self._storages: dict[str, _RawStorage] = {}

    def find_class(self, module: str, name: str) -> object:
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageKind(_STORAGE_DTYPES[name])
        if (module, name) in _ALLOWED_CALLABLES:
            return _ALLOWED_CALLABLES[(module, name)]
        raise pickle.UnpicklingError(
            f"the archive's data.pkl names GLOBAL {module}.{name}, which is not part of a module's weights."
        )

    def persistent_load(self, pid: object) -> _RawStorage:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r} in the archive's data.pkl.")
        kind, key = pid[1], str(pid[2])
        if not isinstance(kind, _StorageKind):
            raise pickle.UnpicklingError(f"storage {key} of the archive has no known tensor type.")
        if key not in self._storages:
            self._storages[key] = _RawStorage(kind.dtype, self._archive.read(f"{self._top}/data/{key}"))
        return self._storages[key]


def read_torchscript_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor attribute of a TorchScript archive's module tree, by dotted name, on the CPU.

    Raises ``pickle.UnpicklingError`` naming the global when ``data.pkl`` asks for anything but
    tensors and modules, and ``ValueError`` for an archive that is not little-endian or has no module.
    """
    with zipfile.ZipFile(Path(path)) as archive:
        names = archive.namelist()
        tops = [name.split("/")[0] for name in names if _top_level_entry(name, "data.pkl")]
        if len(tops) != 1:
            raise ValueError(f"'{path}' is not a TorchScript archive with one data.pkl.")
        top = tops[0]
        if f"{top}/byteorder" in names and archive.read(f"{top}/byteorder").strip() != b"little":
            raise ValueError(f"'{path}' stores big-endian tensors; re-save it on a little-endian machine.")
        root = _DataOnlyUnpickler(archive, top).load()
    if not isinstance(root, _ScriptObject):
        raise ValueError(f"'{path}' does not hold a TorchScript module.")
    tensors: dict[str, torch.Tensor] = {}
    _collect(root, "", tensors)
    return tensors


def _collect(node: _ScriptObject, prefix: str, out: dict[str, torch.Tensor]) -> None:
    state = getattr(node, "state", None)
    if not isinstance(state, dict):
        return
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            out[prefix + str(name)] = value
        elif isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{name}.", out)
