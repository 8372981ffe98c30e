"""Filling a superpixel cache from a pair source or from records, resumably, in worker processes."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator

from torch.utils.data import DataLoader, IterableDataset

from ovseg.data.pairs import BadSample, PairSource, current_reader, open_rgb
from ovseg.data.superpixels.cache import SuperpixelCache
from ovseg.data.superpixels.compute import SuperpixelSettings, compute_superpixels

log = logging.getLogger(__name__)


def cache_one(record: dict, cache: SuperpixelCache, settings: SuperpixelSettings) -> str:
    """Compute and store one image's map: 'written', 'exists' or the reason it was skipped."""
    if "skip" in record:
        return record["skip"]
    image_key = record.get("image_key") or record["key"]
    if image_key in cache:
        return "exists"
    try:
        image = open_rgb(record.get("image"), image_key)
    except BadSample as bad:
        return bad.reason
    cache.save(image_key, compute_superpixels(image, settings))
    return "written"


class _CacheStream(IterableDataset):
    """Each dataloader worker caches its share of a source's images and yields the outcomes."""

    def __init__(self, source: PairSource, cache: SuperpixelCache, settings: SuperpixelSettings) -> None:
        self.source = source
        self.cache = cache
        self.settings = settings

    def __iter__(self) -> Iterator[str]:
        for record in self.source.image_records(current_reader()):
            yield cache_one(record, self.cache, self.settings)


def fill_cache(
    samples: Iterable[dict],
    cache_dir: str | os.PathLike,
    settings: SuperpixelSettings,
    *,
    progress: bool = True,
    num_workers: int = 0,
) -> Counter[str]:
    """``build_superpixel_cache`` returning every outcome's count (written, exists, skip reasons)."""
    cache = SuperpixelCache(cache_dir)
    cache.claim(settings)
    total = None
    if isinstance(samples, PairSource):
        if num_workers > 0:
            outcomes: Iterable[str] = DataLoader(
                _CacheStream(samples, cache, settings), batch_size=None, num_workers=num_workers
            )
        else:
            outcomes = (cache_one(record, cache, settings) for record in samples.image_records())
    else:
        total = len(samples) if hasattr(samples, "__len__") else None
        outcomes = (cache_one(record, cache, settings) for record in samples)
    from tqdm import tqdm  # not tqdm.auto: its asyncio variant calls iter() twice (two worker pools)

    counts: Counter[str] = Counter()
    for outcome in tqdm(outcomes, total=total, disable=not progress, desc="superpixels", unit="img"):
        counts[outcome] += 1
    return counts


def build_superpixel_cache(
    samples: Iterable[dict],
    cache_dir: str | os.PathLike,
    *,
    short_side: int = 224,
    scale: float = 224.0,
    sigma: float = 0.9,
    min_size: int = 224,
    progress: bool = True,
    num_workers: int = 0,
) -> int:
    """Fill a superpixel cache; resumable (images already cached are skipped). Returns maps written.

    Args:
        samples: records or samples with "key" (or "image_key") and "image" (PIL, bytes or path);
            a ``PairSource`` is read one record per distinct image, by ``num_workers`` processes.
        cache_dir: the cache folder.
        short_side, scale, sigma, min_size: Felzenszwalb settings (SegCLIP's defaults).
        progress: show a progress bar.
        num_workers: worker processes when ``samples`` is a PairSource (0: this process).
    """
    settings = SuperpixelSettings(short_side, scale, sigma, min_size)
    counts = fill_cache(samples, cache_dir, settings, progress=progress, num_workers=num_workers)
    log.info("superpixel cache %s: %s", cache_dir, describe_counts(counts))
    return counts["written"]


def describe_counts(counts: Counter[str]) -> str:
    """'3 written, 2 already there, 1 skipped (unreadable_image: 1)'."""
    skipped = {k: v for k, v in sorted(counts.items()) if k not in ("written", "exists")}
    text = f"{counts['written']} written, {counts['exists']} already there, {sum(skipped.values())} skipped"
    return text + (" (" + ", ".join(f"{k}: {v}" for k, v in skipped.items()) + ")" if skipped else "")
