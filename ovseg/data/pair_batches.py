"""Turning pair records into training batches: transform, collate, and the two loading paths.

Two paths (see ``ovseg.data.pairs`` for the mixing rule):
* map-style sources (synthetic, coco-captions, hf) form one index space: a shuffled DataLoader,
  sharded by rank, that resumes mid-epoch and seeds each crop by (seed, epoch, index)
  (``ovseg.data.resumable_loader``). A bad sample is replaced
  by the next index (so batches stay full) and counted.
* with an iterable source (webdataset), every dataloader worker reads its own share of the data,
  shuffled per epoch, and makes whole batches itself; the counts of bad samples ride on the batches,
  the last batch of a worker carrying whatever was skipped after the previous one. With
  drop_last, a worker's last partial batch is dropped (its skip counts are kept).

Skip counts are summed on each process and logged at the end of every epoch (one line per rank).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ovseg.data.pairs import (
    SKIP_REASONS,
    BadSample,
    MapPairSource,
    PairSource,
    current_reader,
    decode_record,
    distributed_info,
)
from ovseg.data.superpixels import Superpixelizer
from ovseg.data.transforms import (
    NORMALIZATIONS,
    ClipTokenizer,
    RandomResizedCropWithBox,
    Stats,
    get_normalization,
    normalize,
    pil_to_tensor,
)
from ovseg.errors import OvsegUserError

log = logging.getLogger(__name__)

MAX_REPLACEMENTS = 64


def normalization_stats(normalization: str, module: object | None = None) -> tuple[Stats, Stats]:
    """(mean, std): a named preset, or with "auto" the model's ``image_mean`` / ``image_std``."""
    if normalization != "auto":
        return get_normalization(normalization)
    mean, std = getattr(module, "image_mean", None), getattr(module, "image_std", None)
    if mean is None or std is None:
        log.warning(
            "normalization='auto' but no model with image_mean/image_std is attached; using CLIP statistics "
            "(set normalization to one of %s to choose).",
            ", ".join(NORMALIZATIONS),
        )
        return get_normalization("clip")
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def check_grayscale_prob(grayscale_prob: float) -> float:
    """``grayscale_prob`` when it is a chance in [0, 1]; an OvsegUserError otherwise."""
    if not 0.0 <= grayscale_prob <= 1.0:
        raise OvsegUserError(f"grayscale_prob must lie in [0, 1] (a chance per crop): {grayscale_prob}.")
    return grayscale_prob


def to_grayscale(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (3, H, W) → uint8 (3, H, W) holding its luma (ITU-R 601) in all three channels."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    luma = (pixels.float() * weights).sum(dim=0, keepdim=True).round().clamp(0, 255)  # (1, H, W)
    return luma.to(torch.uint8).expand(3, -1, -1).contiguous()  # (3, H, W)


class PairTransform:
    """Decoded sample → training tensors: crop with box, normalise, tokenise, superpixels."""

    def __init__(
        self,
        image_size: int,
        crop_scale: tuple[float, float],
        mean: Stats,
        std: Stats,
        context_length: int,
        superpixelizer: Superpixelizer | None = None,
        grayscale_prob: float = 0.0,
    ) -> None:
        self.image_size = image_size
        self.grayscale_prob = check_grayscale_prob(grayscale_prob)
        self.crop = RandomResizedCropWithBox(image_size, crop_scale)
        self.mean = mean
        self.std = std
        self.tokenizer = ClipTokenizer(context_length)
        _ = self.tokenizer.tokenizer  # load now, so that forked dataloader workers inherit it
        self.superpixelizer = superpixelizer

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        """``generator`` draws the crop (None: torch's global generator)."""
        crop, box = self.crop(sample["image"], generator)
        pixels = pil_to_tensor(crop)  # (3, S, S) uint8
        if self.grayscale_prob > 0 and float(torch.rand((), generator=generator)) < self.grayscale_prob:
            pixels = to_grayscale(pixels)
        out = {
            "image": normalize(pixels, self.mean, self.std),  # (3, S, S)
            "text": self.tokenizer.encode(sample["caption"]),  # (L,)
            "caption": sample["caption"],
            "crop_box": torch.tensor(box, dtype=torch.int64),  # (4,)
            "key": sample["key"],
        }
        if self.superpixelizer is not None:
            labels = self.superpixelizer(sample["image"], sample["image_key"], box, self.image_size)
            out["superpixels"] = torch.from_numpy(labels)  # (S, S)
        return out


def collate_pairs(samples: list[dict], skipped: Counter | None = None) -> dict:
    """Transformed samples → a training batch; ``skipped`` adds counts met outside these samples."""
    counts = Counter(skipped or {})
    for sample in samples:
        counts.update(sample.get("skipped", {}))
    batch = {
        "image": torch.stack([s["image"] for s in samples]),  # (B, 3, S, S)
        "text": torch.stack([s["text"] for s in samples]),  # (B, L)
        "caption": [s["caption"] for s in samples],
        "crop_box": torch.stack([s["crop_box"] for s in samples]),  # (B, 4)
        "key": [s["key"] for s in samples],
    }
    if "superpixels" in samples[0]:
        batch["superpixels"] = torch.stack([s["superpixels"] for s in samples])  # (B, S, S)
    batch["skipped"] = {reason: int(counts.get(reason, 0)) for reason in (*SKIP_REASONS, *sorted(counts))}
    return batch


class MapPairTrainSet(Dataset):
    """Map-style training set: a bad sample is replaced by the next good index.

    A bad index is counted once, when the sampler asks for it, so the counts of an epoch are the
    number of bad samples in it, however often they were stepped over as replacements.
    """

    def __init__(self, pairs: MapPairSource, transform: PairTransform) -> None:
        self.pairs = pairs
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        """``item``: an index, or ``(index, seed)`` from ``ResumableSampler`` to seed the crop with."""
        index, seed = item if isinstance(item, tuple) else (item, None)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        skipped: dict[str, int] = {}
        reasons = []
        for attempt in range(MAX_REPLACEMENTS):
            try:
                sample = decode_record(self.pairs.record((index + attempt) % len(self.pairs)))
            except BadSample as bad:
                reasons.append(bad.reason)
                if attempt == 0:  # a replacement is counted when its own index comes up
                    skipped = {bad.reason: 1}
                continue
            out = self.transform(sample, generator)
            out["skipped"] = skipped
            return out
        raise OvsegUserError(
            f"{MAX_REPLACEMENTS} samples in a row from index {index} are unusable "
            f"({dict(Counter(reasons))}); the data is broken or misconfigured — check the source's "
            "paths and columns."
        )


class StreamPairTrainSet(IterableDataset):
    """Iterable training set: each reader batches its own share of the shuffled records.

    Args:
        pairs: the (mixed) source.
        transform: per-sample transform.
        batch_size: samples per batch.
        drop_last: drop each reader's last partial batch.
        num_workers: dataloader workers per process (for ``len``).
    """

    def __init__(
        self, pairs: PairSource, transform: PairTransform, batch_size: int, drop_last: bool, num_workers: int
    ) -> None:
        self.pairs = pairs
        self.transform = transform
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.epoch = 0
        self._dist: tuple[int, int] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_dist"] = distributed_info(self._dist)
        return state

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle the next pass uses."""
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches this process yields per epoch, exact for map-style sources (with no bad samples)."""
        sources = getattr(self.pairs, "sources", [self.pairs])
        if not all(isinstance(source, MapPairSource) for source in sources):
            raise TypeError("the number of batches of a streamed (webdataset) source is unknown")
        rank, world = distributed_info(self._dist)
        workers = max(1, self.num_workers)
        count = world * workers
        total = 0
        for worker in range(workers):
            index = rank * workers + worker
            samples = sum(len(range(index, len(source), count)) for source in sources)
            total += samples // self.batch_size if self.drop_last else math.ceil(samples / self.batch_size)
        return total

    def __iter__(self) -> Iterator[dict]:
        reader = current_reader(self._dist)
        skipped: Counter[str] = Counter()
        pending: list[dict] | None = None
        samples: list[dict] = []
        for record in self.pairs.records(self.epoch, reader, shuffle=True):
            try:
                sample = decode_record(record)
            except BadSample as bad:
                skipped[bad.reason] += 1
                continue
            samples.append(self.transform(sample))
            if len(samples) == self.batch_size:
                if pending is not None:
                    yield self._batch(pending, skipped)
                pending, samples = samples, []
        if samples and not self.drop_last:
            if pending is not None:
                yield self._batch(pending, skipped)
            pending = samples
        if pending is not None:
            yield self._batch(pending, skipped)
        elif skipped:
            log.warning(
                "reader %d/%d made no batch, so its skip counts %s are not in the epoch totals.",
                reader.index,
                reader.count,
                dict(skipped),
            )

    @staticmethod
    def _batch(samples: list[dict], skipped: Counter) -> dict:
        batch = collate_pairs(samples, skipped)
        skipped.clear()
        return batch


class EpochDataLoader(DataLoader):
    """A DataLoader that tells its dataset the epoch before every pass (per-epoch shuffles)."""

    def __init__(self, dataset, *args, epoch_fn: Callable[[], int | None] | None = None, **kwargs) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.epoch_fn = epoch_fn
        self.passes = 0

    def __iter__(self):
        epoch = self.epoch_fn() if self.epoch_fn is not None else None
        self.dataset.set_epoch(self.passes if epoch is None else epoch)
        self.passes += 1
        return super().__iter__()
