"""Map-style training data that resumes mid-epoch: a seeded, sharded sampler and its data loader.

A plain DataLoader has no position, so a run resumed mid-epoch starts the epoch's order from the
top while Lightning counts the epoch as part done: its first batches are trained on twice and its
last ones never. ``ResumableDataLoader.position()`` says where the epoch stands: its number and how
many batches the trainer has TRAINED on (Lightning's batch progress, not what the loader or its
workers have prefetched); ``resume(position)`` makes the next pass start right after them.
``ResumableSampler`` draws each epoch's order as a permutation seeded by (seed, epoch), identical on
every process, split by rank; being a ``DistributedSampler``, Lightning keeps it as it is under DDP.
Each index comes with a per-sample seed drawn from (seed, epoch, index), so that a sample's
augmentation is the same in a resumed run, whatever the number of dataloader workers.

The position travels in the data module's ``state_dict`` (``ImageTextDataModule``), which
Lightning restores BEFORE it first builds the training loader. Lightning 2.6 also saves a loader's
own ``state_dict``, but gives it back too late whenever ``configure_optimizers`` reads
``trainer.estimated_stepping_batches`` (both methods do): the loader has been built and a batch
prefetched by then, and the saved state is silently dropped (Lightning-AI/pytorch-lightning#20550).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sized

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, DistributedSampler

from ovseg.data.pairs import distributed_info
from ovseg.data.worker_signals import sigterm_shield
from ovseg.errors import OvsegUserError

log = logging.getLogger(__name__)

SampleRef = tuple[int, int]  # (dataset index, seed of the sample's augmentation)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample ``index`` in ``epoch``."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(2, np.uint64)[0] >> 1)


class DataPositionMismatchError(OvsegUserError):
    """A mid-epoch data position saved under other data settings than this run's."""


class ResumableSampler(DistributedSampler):
    """Seeded per-epoch shuffle split by rank, yielding ``(index, sample_seed)``; resumes mid-epoch.

    Args:
        dataset: anything with a length.
        seed: shuffle and augmentation seed.
        shuffle: shuffle every epoch (False: index order).
        drop_last: drop the tail that does not split evenly over processes (else it is padded).
        num_replicas, rank: process count and rank (None: from torch.distributed).
    """

    def __init__(
        self,
        dataset: Sized,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        found_rank, found_world = distributed_info()
        super().__init__(
            dataset,
            num_replicas=found_world if num_replicas is None else num_replicas,
            rank=found_rank if rank is None else rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self.start = 0

    def resume_at(self, epoch: int, position: int) -> None:
        """Make the next pass the rest of ``epoch``, from this process's ``position``-th sample."""
        self.set_epoch(epoch)
        self.start = position

    def __iter__(self) -> Iterator[SampleRef]:
        indices = list(super().__iter__())
        start, self.start = self.start, 0
        for index in indices[start:]:
            yield index, sample_seed(self.seed, self.epoch, index)


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over a ``ResumableSampler`` that reports and resumes the epoch's position.

    Args:
        dataset: a map-style dataset whose ``__getitem__`` takes ``(index, sample_seed)``.
        *args, **kwargs: ``DataLoader`` arguments; ``sampler`` must be a ``ResumableSampler``.
        trainer_fn: returns the trainer that consumes the batches (None: not training yet).
    """

    def __init__(
        self, dataset, *args, trainer_fn: Callable[[], L.Trainer | None] | None = None, **kwargs
    ) -> None:
        kwargs.setdefault("worker_init_fn", sigterm_shield())  # SIGTERM is the main process's
        super().__init__(dataset, *args, **kwargs)
        if not isinstance(self.sampler, ResumableSampler):
            raise TypeError(
                f"ResumableDataLoader needs a ResumableSampler, got {type(self.sampler).__name__}."
            )
        if self.batch_size is None:
            raise TypeError("ResumableDataLoader needs batch_size (a position is counted in batches).")
        self.trainer_fn = trainer_fn

    def _layout(self) -> dict:
        """What a saved position depends on."""
        sampler = self.sampler
        return {
            "batch_size": self.batch_size,
            "num_replicas": sampler.num_replicas,
            "dataset_length": len(self.dataset),
            "seed": sampler.seed,
            "shuffle": sampler.shuffle,
        }

    def _batches_trained(self) -> tuple[int, bool]:
        """(batches of the current epoch the trainer has trained on, whether that is all of them)."""
        trainer = self.trainer_fn() if self.trainer_fn is not None else None
        if trainer is None:
            return 0, False
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return done, done >= min(len(self), trainer.num_training_batches)

    def position(self) -> dict:
        """Where training stands in the epoch, with the data layout the position depends on."""
        epoch = self.sampler.epoch
        done, epoch_over = self._batches_trained()
        if epoch_over:
            epoch, done = epoch + 1, 0
        return {"epoch": epoch, "batches_done": done, **self._layout()}

    def resume(self, state: dict) -> None:
        """Make the next pass continue the epoch of ``state`` (a ``position()``) after its batches."""
        done = int(state.get("batches_done", 0))
        if done:
            saved = {key: state.get(key) for key in self._layout()}
            if saved != self._layout():
                changed = ", ".join(
                    f"{key} {saved[key]} → {now}" for key, now in self._layout().items() if saved[key] != now
                )
                raise DataPositionMismatchError(
                    f"the checkpoint stopped after batch {done} of epoch {state['epoch']}, but the training "
                    f"data is laid out differently now ({changed}), so its place in the epoch is unknown. "
                    "Resume with the same data, batch size and number of processes, or from a checkpoint "
                    "written at the end of an epoch."
                )
            log.info("resuming epoch %d after its first %d batches", state["epoch"], done)
        self.sampler.resume_at(int(state["epoch"]), done * self.batch_size)
