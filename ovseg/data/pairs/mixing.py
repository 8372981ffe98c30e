"""Several sources as one: concatenation of map-style sources, or weighted interleaving.

Mixing (``mix_sources``): map-style sources are CONCATENATED into one map-style source (a sampler,
Lightning's DistributedSampler under DDP, then shuffles and shards the joint index). As soon as one
source is iterable (webdataset), or weights are given, the sources are INTERLEAVED: every reader
draws its next record from a random source, with probability proportional to the source's weight,
among the sources that still have records this epoch, so each record is still read exactly once.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

from ovseg.data.pairs.base import IterablePairSource, MapPairSource, PairSource
from ovseg.data.pairs.sharding import Reader, current_reader
from ovseg.errors import OvsegUserError


class ConcatPairs(MapPairSource):
    """Map-style sources joined into one index space."""

    kind = "concat"

    def __init__(self, sources: Sequence[MapPairSource], seed: int = 0) -> None:
        super().__init__("concat", seed)
        self.sources = list(sources)
        self.ends = list(itertools.accumulate(len(source) for source in self.sources))

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def record(self, index: int) -> dict:
        which = bisect.bisect_right(self.ends, index)
        start = self.ends[which - 1] if which else 0
        return self.sources[which].record(index - start)

    def image_records(self, reader: Reader | None = None) -> Iterator[dict]:
        for source in self.sources:
            yield from source.image_records(reader)


class InterleavedPairs(IterablePairSource):
    """Sources read side by side; each reader picks the next source at random by weight."""

    kind = "interleave"

    def __init__(self, sources: Sequence[PairSource], weights: Sequence[float], seed: int = 0) -> None:
        super().__init__("interleave", seed)
        if len(weights) != len(sources) or any(w <= 0 for w in weights):
            raise OvsegUserError(
                f"mixing weights must be one positive number per source, got {list(weights)}."
            )
        self.sources = list(sources)
        self.weights = [float(w) for w in weights]

    @property
    def num_samples(self) -> int | None:
        sizes = [source.num_samples for source in self.sources]
        return None if any(size is None for size in sizes) else sum(sizes)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for source in self.sources:
            source.set_epoch(epoch)

    def records(self, epoch: int = 0, reader: Reader | None = None, shuffle: bool = False) -> Iterator[dict]:
        reader = reader or current_reader(self._dist)
        streams = [source.records(epoch, reader, shuffle) for source in self.sources]
        weights = np.array(self.weights)
        rng = np.random.default_rng([self.seed, epoch, reader.index])
        alive = list(range(len(streams)))
        while alive:
            chances = weights[alive] / weights[alive].sum()
            pick = alive[int(rng.choice(len(alive), p=chances))]
            try:
                yield next(streams[pick])
            except StopIteration:
                alive.remove(pick)

    def image_records(self, reader: Reader | None = None) -> Iterator[dict]:
        for source in self.sources:
            yield from source.image_records(reader)


def mix_sources(
    sources: Sequence[PairSource], weights: Sequence[float] | None = None, seed: int = 0
) -> PairSource:
    """One source for several: the source itself, their concatenation or their interleaving.

    Without ``weights``, interleaving weighs each source by its size when every size is known, and
    equally otherwise.
    """
    if not sources:
        raise OvsegUserError(
            "no image-text sources given; add at least one (for example {'kind': 'synthetic'})."
        )
    names = Counter(source.name for source in sources)
    clashes = [name for name, count in names.items() if count > 1]
    if clashes:
        raise OvsegUserError(
            f"several sources are named '{clashes[0]}'; give each source a distinct 'name' so that "
            "keys stay unique."
        )
    if len(sources) == 1:
        return sources[0]
    all_map = all(isinstance(source, MapPairSource) for source in sources)
    if all_map and weights is None:
        return ConcatPairs(sources, seed)
    if weights is None:
        sizes = [source.num_samples for source in sources]
        weights = [1.0] * len(sources) if any(size is None for size in sizes) else [max(s, 1) for s in sizes]
    return InterleavedPairs(sources, weights, seed)
