"""Readers and how records are shared among them, plus a seeded shuffle buffer for streams.

Sharding: a READER is one dataloader worker of one process; reader ``rank * num_workers + worker``
of ``world_size * num_workers``. ``records(epoch, reader)`` yields only that reader's share, and the
shares of all readers cover every record exactly once per epoch.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import get_worker_info


@dataclass(frozen=True)
class Reader:
    """One reader's place among all readers of an epoch: ``index`` in ``[0, count)``."""

    index: int = 0
    count: int = 1


def distributed_info(fallback: tuple[int, int] | None = None) -> tuple[int, int]:
    """(rank, world size): torch.distributed, else ``fallback``, else RANK/WORLD_SIZE, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    if fallback is not None:
        return fallback
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


def current_reader(fallback: tuple[int, int] | None = None) -> Reader:
    """The reader this code runs as: ``rank * num_workers + worker`` of ``world * num_workers``."""
    rank, world = distributed_info(fallback)
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return Reader(rank * workers + worker, world * workers)


def buffer_shuffle(items: Iterable, size: int, rng: random.Random) -> Iterator:
    """Shuffle a stream through a buffer of ``size`` items."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        index = rng.randrange(size)
        yield buffer[index]
        buffer[index] = item
    rng.shuffle(buffer)
    yield from buffer
