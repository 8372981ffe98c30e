"""Evaluation under DDP: every image scored exactly once, on exactly one process.

Lightning's default for evaluation loaders is ``DistributedSampler``, which pads an uneven split with
repeated images so every process gets the same count: 5 images on 2 processes become 6, the first
one scored twice, and the dataset-level mIoU changes. ``ShardSampler`` splits without padding (the
processes' counts differ by at most one). Uneven counts are safe in evaluation: nothing collective
runs per batch (in ``fit``'s validation DDP broadcasts buffers only on the first no-grad forward,
which every process makes); the metric states are summed once, at the end of the epoch. A process
with no image at all would skip the epoch's end, so fewer images than processes is refused.

It subclasses ``DistributedSampler`` so that Lightning keeps it instead of injecting its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch.distributed as dist
from torch.utils.data import DistributedSampler

from ovseg.errors import OvsegUserError


class ShardSampler(DistributedSampler):
    """Indices ``rank, rank + W, rank + 2W, ...`` of a sized dataset, in order, none repeated.

    Args:
        dataset: the evaluation dataset.
        num_replicas, rank: the process group's size and this process's rank (default: the
            initialised default group's).
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(self.rank, len(dataset), self.num_replicas))
        self.total_size = len(dataset)
        if 0 < self.total_size < self.num_replicas:
            raise OvsegUserError(
                f"{self.total_size} evaluation images cannot be split over {self.num_replicas} processes: "
                "a process without images skips the epoch's end and leaves the others waiting at the "
                f"metric's sync. Evaluate with --trainer.devices {self.total_size} (or fewer), "
                "or more images."
            )

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def eval_sampler(dataset: Sized) -> ShardSampler | None:
    """A ``ShardSampler`` when a process group of more than one process is running, else None."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return ShardSampler(dataset)
    return None
