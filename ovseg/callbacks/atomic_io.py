"""Checkpoint files that are either complete or absent: write a temporary file beside, then rename.

Lightning 2.6's ``TorchCheckpointIO`` serialises into memory and writes through an fsspec
transaction: for a local path that is a temporary file made by ``tempfile.mkstemp()`` in the
system temp folder, then ``shutil.move``. When that folder is on another file system than the
run (a node-local /tmp and a shared run folder, the usual cluster set-up), the move is a copy, and
a job killed during the copy leaves a truncated ``last.ckpt`` that the next ``--ckpt_path last``
loads. Nothing is fsynced either, so a node crash can leave an empty file after the rename.

``AtomicCheckpointIO`` writes local checkpoints to ``.NAME.partial`` in the checkpoint's own
folder, fsyncs it, renames it over ``NAME`` with ``os.replace`` (atomic on POSIX within one file
system) and fsyncs the folder. A kill at any moment leaves either the old or the new checkpoint,
plus at most a ``.partial`` file, which no checkpoint lookup matches and the next save replaces.
Remote paths (``s3://`` ...) keep Lightning's own writer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.plugins.io import TorchCheckpointIO


def partial_path(path: str | os.PathLike) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def save_atomically(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` so that readers only ever see a whole file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        with open(partial, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves are atomic (see the module docstring)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(str(path)):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        save_atomically(checkpoint, str(path).removeprefix("file://"))
