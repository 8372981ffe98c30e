"""The source base classes: ``PairSource`` and its map-style and iterable flavours.

Keys are ``"{name}/..."`` with ``name`` the source's name (default: its kind), so keys of mixed
sources never collide; ``image_key`` is shared by samples that show the same image (COCO's five
captions) and names the image's superpixel map in a cache.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import ClassVar

import numpy as np
from torch.utils.data import Dataset, IterableDataset

from ovseg.data.pairs.decode import BadSample, decode_record
from ovseg.data.pairs.sharding import Reader, current_reader, distributed_info
from ovseg.errors import OvsegUserError

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class PairSource:
    """What every source has: a name, a seed, ``records`` and, when known, ``num_samples``.

    The process's distributed rank is recorded when a source is pickled into a spawned dataloader
    worker, where torch.distributed is not initialised.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: str | None = None, seed: int = 0) -> None:
        self.name = name or self.kind
        if not _NAME.match(self.name) or self.name in (".", ".."):
            raise OvsegUserError(
                f"source name '{self.name}' must be a single word of letters, digits, '.', '_' or '-'."
            )
        self.seed = seed
        self.epoch = 0
        self.skipped: Counter[str] = Counter()
        self._dist: tuple[int, int] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_dist"] = distributed_info(self._dist)
        return state

    @property
    def num_samples(self) -> int | None:
        """Number of records per epoch, None when unknown."""
        return None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle the next pass uses."""
        self.epoch = epoch

    def records(self, epoch: int = 0, reader: Reader | None = None, shuffle: bool = False) -> Iterator[dict]:
        """This reader's share of the raw records (reader None: the current process and worker)."""
        raise NotImplementedError

    def image_records(self, reader: Reader | None = None) -> Iterator[dict]:
        """One record per distinct image, in order (for building per-image caches)."""
        return self.records(0, reader, shuffle=False)

    def decoded(self, records: Iterable[dict]) -> Iterator[dict]:
        """Decode records, counting the bad ones in ``self.skipped``."""
        for record in records:
            try:
                yield decode_record(record)
            except BadSample as bad:
                self.skipped[bad.reason] += 1


class MapPairSource(PairSource, Dataset):
    """A source with random access: ``record(i)`` is cheap, ``source[i]`` decodes (or raises)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def record(self, index: int) -> dict:
        raise NotImplementedError

    @property
    def num_samples(self) -> int:
        return len(self)

    def __getitem__(self, index: int) -> dict:
        return decode_record(self.record(index))

    def __iter__(self) -> Iterator[dict]:
        """Every good sample in index order (unsharded, as a plain sequence)."""
        return self.decoded(self.record(index) for index in range(len(self)))

    def records(self, epoch: int = 0, reader: Reader | None = None, shuffle: bool = False) -> Iterator[dict]:
        reader = reader or current_reader(self._dist)
        order = (
            np.random.default_rng([self.seed, epoch]).permutation(len(self)) if shuffle else range(len(self))
        )
        for index in order[reader.index :: reader.count]:
            yield self.record(int(index))


class IterablePairSource(PairSource, IterableDataset):
    """A streamed source; iterating it yields this reader's decoded samples for ``self.epoch``."""

    def __iter__(self) -> Iterator[dict]:
        return self.decoded(self.records(self.epoch, None, shuffle=True))
