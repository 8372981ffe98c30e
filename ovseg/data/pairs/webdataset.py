"""The webdataset source: img2dataset tar shards, split among readers and shuffled per epoch."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ovseg.data.pairs.base import IterablePairSource
from ovseg.data.pairs.decode import skip_record
from ovseg.data.pairs.sharding import Reader, buffer_shuffle, current_reader
from ovseg.data.segmentation import MissingDatasetError
from ovseg.errors import OvsegUserError, UnknownNameError

_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
_SHARDINGS = ("auto", "shards", "samples")


def _shard_stem(url: str) -> str:
    last = url.strip().split()[-1].split("?")[0].rstrip("/").split("/")[-1]
    return re.sub(r"\.(tar|tgz|tar\.gz)$", "", last) or "shard"


def _is_local(url: str) -> bool:
    return "://" not in url and not url.startswith("pipe:")


class WebDatasetPairs(IterablePairSource):
    """Tar shards as img2dataset writes them: ``{key}.jpg`` + ``{key}.txt`` (+ ``{key}.json``).

    Args:
        urls: shard paths or URLs, brace patterns allowed (``shards/{00000..00009}.tar``); a list of
            patterns is joined.
        shuffle: shuffle-buffer size in samples; > 0 also shuffles the shard order. Both are seeded
            by (seed, epoch), so every epoch has its own order. 0 reads in shard order.
        sharding: how readers split the data. "shards": each reader reads whole shards (readers may
            differ by one shard); "samples": every reader reads every shard and keeps every
            count-th sample (exact balance, count× the reading); "auto": shards when there are at
            least as many shards as readers, else samples.
        length: number of samples, when known (for mixing weights and epoch lengths).
        name: key prefix; keys are ``{name}/{shard}/{sample key}``.
        seed: shuffle seed.
    """

    kind = "webdataset"

    def __init__(
        self,
        urls: str | Sequence[str],
        shuffle: int = 1000,
        sharding: str = "auto",
        length: int | None = None,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(name, seed)
        from webdataset.shardlists import expand_urls

        patterns = [urls] if isinstance(urls, str) else list(urls)
        self.urls = [url for pattern in patterns for url in expand_urls(pattern)]
        if not self.urls:
            raise OvsegUserError(
                "webdataset source: 'urls' is empty; give shard paths such as 'shards/{00000..00009}.tar'."
            )
        if sharding not in _SHARDINGS:
            raise UnknownNameError(f"unknown sharding '{sharding}'. Valid values: {', '.join(_SHARDINGS)}.")
        if shuffle < 0:
            raise OvsegUserError(f"webdataset source: shuffle must be >= 0 (0 turns it off), got {shuffle}.")
        self.shuffle = shuffle
        self.sharding = sharding
        self.length = length
        missing = [
            url for url in self.urls if _is_local(url) and not Path(url.removeprefix("file:")).is_file()
        ]
        if missing:
            raise MissingDatasetError(
                f"webdataset source: {len(missing)} of {len(self.urls)} shards do not exist "
                f"(first: '{missing[0]}').\nExpected tar shards as img2dataset writes them "
                "(--output_format webdataset), each holding {key}.jpg, {key}.txt and optionally "
                "{key}.json; give 'urls' as a brace pattern such as 'shards/{00000..00009}.tar'."
            )

    @property
    def num_samples(self) -> int | None:
        return self.length

    def _read_shard(self, url: str) -> Iterator[dict]:
        from webdataset.tariterators import tarfile_samples

        errors: list[Exception] = []

        def keep_going(error: Exception) -> bool:
            errors.append(error)
            return True

        stem = _shard_stem(url)
        for sample in tarfile_samples([{"url": url}], handler=keep_going):
            key = f"{self.name}/{stem}/{sample['__key__'].split('/')[-1]}"
            image = next((sample[ext] for ext in _IMAGE_EXTENSIONS if ext in sample), None)
            caption = sample.get("txt")
            if caption is None and "json" in sample:
                try:
                    caption = json.loads(sample["json"]).get("caption")
                except (ValueError, AttributeError):
                    caption = None
            yield {"key": key, "image_key": key, "image": image, "caption": caption}
        if errors:
            yield skip_record("unreadable_shard", f"{self.name}/{stem}", f"{url}: {errors[0]}")

    def _read(self, urls: Iterable[str]) -> Iterator[dict]:
        for url in urls:
            yield from self._read_shard(url)

    def records(self, epoch: int = 0, reader: Reader | None = None, shuffle: bool = False) -> Iterator[dict]:
        reader = reader or current_reader(self._dist)
        shuffle = shuffle and self.shuffle > 0
        urls = list(self.urls)
        if shuffle:
            random.Random(f"{self.seed}/{epoch}").shuffle(urls)  # the same order on every reader
        by_shards = self.sharding == "shards" or (self.sharding == "auto" and len(urls) >= reader.count)
        if by_shards:
            stream = self._read(urls[reader.index :: reader.count])
        else:
            stream = itertools.islice(self._read(urls), reader.index, None, reader.count)
        if shuffle:
            stream = buffer_shuffle(
                stream, self.shuffle, random.Random(f"{self.seed}/{epoch}/{reader.index}")
            )
        yield from stream
