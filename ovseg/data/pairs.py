"""Image-text pair sources: where training pairs come from, how they are sharded, how several mix.

A source yields RAW records ``{"key", "image_key", "image", "caption"}`` whose image is still cheap
(encoded bytes, a path or an already generated PIL image); ``decode_record`` turns a record into a
SAMPLE ``{"image": PIL RGB, "caption": str, "key": str, "image_key": str}`` or raises ``BadSample``.
Bad data never stops training: unreadable images, empty captions and unreadable tar shards are
skipped and counted under ``SKIP_REASONS``. Grey, CMYK, palette and alpha images become RGB.

Keys are ``"{name}/..."`` with ``name`` the source's name (default: its kind), so keys of mixed
sources never collide; ``image_key`` is shared by samples that show the same image (COCO's five
captions) and names the image's superpixel map in a cache.

Sharding: a READER is one dataloader worker of one process; reader ``rank * num_workers + worker``
of ``world_size * num_workers``. ``records(epoch, reader)`` yields only that reader's share, and the
shares of all readers cover every record exactly once per epoch.

Mixing (``mix_sources``): map-style sources are CONCATENATED into one map-style source (a sampler,
Lightning's DistributedSampler under DDP, then shuffles and shards the joint index). As soon as one
source is iterable (webdataset), or weights are given, the sources are INTERLEAVED: every reader
draws its next record from a random source, with probability proportional to the source's weight,
among the sources that still have records this epoch, so each record is still read exactly once.
"""

from __future__ import annotations

import bisect
import inspect
import io
import itertools
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ovseg.data.segmentation import MissingDatasetError
from ovseg.errors import OvsegUserError, UnknownNameError

SKIP_REASONS = ("unreadable_image", "empty_caption", "unreadable_shard")


class BadSample(Exception):
    """A record that cannot become a training pair; ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, reason: str, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.key = key
        self.detail = detail


def skip_record(reason: str, key: str, detail: str = "") -> dict:
    """A record that stands for unusable data (a broken shard), so that it is counted once."""
    return {"skip": reason, "key": key, "detail": detail}


# ----- decoding --------------------------------------------------------------------------------
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode → RGB; transparent pixels are laid over white."""
    if image.mode == "RGB":
        return image
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def open_rgb(image: Any, key: str = "?") -> Image.Image:
    """Encoded bytes, a path, a ``{"bytes", "path"}`` dict or a PIL image → a loaded RGB image.

    Raises:
        BadSample: ``unreadable_image`` for a missing, truncated or undecodable image.
    """
    try:
        if isinstance(image, dict):
            image = image.get("bytes") or image.get("path")
        if isinstance(image, (str, os.PathLike)):
            image = Path(image).read_bytes()
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = Image.open(io.BytesIO(image))
        if not isinstance(image, Image.Image):
            raise TypeError(f"no image data (got {type(image).__name__})")
        image.load()
        return to_rgb(image)
    except Exception as error:
        raise BadSample("unreadable_image", key, f"{type(error).__name__}: {error}") from error


def decode_caption(caption: Any) -> str:
    """Caption bytes or text → stripped text ('' when there is none)."""
    if caption is None:
        return ""
    if isinstance(caption, (bytes, bytearray)):
        caption = bytes(caption).decode("utf-8", errors="replace")
    return str(caption).strip()


def decode_record(record: dict) -> dict:
    """Raw record → sample; the caption is checked first, so an image is only decoded when needed.

    Raises:
        BadSample: for a skip marker, an empty caption or an unreadable image.
    """
    key = record["key"]
    if "skip" in record:
        raise BadSample(record["skip"], key, record.get("detail", ""))
    caption = decode_caption(record.get("caption"))
    if not caption:
        raise BadSample("empty_caption", key)
    image = open_rgb(record.get("image"), key)
    return {"image": image, "caption": caption, "key": key, "image_key": record.get("image_key", key)}


# ----- readers ---------------------------------------------------------------------------------
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


# ----- sources ---------------------------------------------------------------------------------
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


class SyntheticPairs(MapPairSource):
    """The built-in generated pairs (``ovseg.data.synthetic.SyntheticPairDataset``).

    Args:
        length: number of pairs.
        image_size: side of the generated images.
        seed: generator seed (also the shuffle seed).
        name: key prefix.
    """

    kind = "synthetic"

    def __init__(
        self, length: int = 4096, image_size: int = 64, seed: int = 0, name: str | None = None
    ) -> None:
        super().__init__(name, seed)
        from ovseg.data.synthetic import SyntheticPairDataset

        self.dataset = SyntheticPairDataset(length=length, image_size=image_size, seed=seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def record(self, index: int) -> dict:
        item = self.dataset[index]
        key = f"{self.name}/{item['key']}"
        return {"key": key, "image_key": key, "image": item["image"], "caption": item["caption"]}


class CocoCaptionPairs(MapPairSource):
    """COCO Captions: every caption is its own sample (SegCLIP's recipe), five per image.

    Args:
        root: COCO folder holding ``{split}/`` and ``annotations/captions_{split}.json``.
        split: image split (train2017, val2017, train2014, ...).
        images: image folder, overriding ``root/split``.
        annotations: captions JSON, overriding ``root/annotations/captions_{split}.json``.
        name: key prefix.
        seed: shuffle seed.
    """

    kind = "coco-captions"

    def __init__(
        self,
        root: str = "data/coco",
        split: str = "train2017",
        images: str | None = None,
        annotations: str | None = None,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(name, seed)
        self.image_dir = Path(images) if images else Path(root) / split
        self.annotation_path = (
            Path(annotations) if annotations else Path(root) / "annotations" / f"captions_{split}.json"
        )
        layout = (
            "Expected COCO Captions as the COCO site ships them:\n"
            f"  {self.annotation_path}   (from annotations_trainval2017.zip)\n"
            f"  {self.image_dir}/*.jpg    (from {split}.zip)\n"
            "Point 'root' at the COCO folder, or give 'images' and 'annotations' explicitly."
        )
        for path, is_ok in ((self.annotation_path, Path.is_file), (self.image_dir, Path.is_dir)):
            if not is_ok(path):
                raise MissingDatasetError(f"coco-captions source: '{path}' does not exist.\n{layout}")
        data = json.loads(self.annotation_path.read_text())
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise OvsegUserError(
                f"'{self.annotation_path}' is not a COCO captions file: it needs 'images' and "
                "'annotations' lists (use captions_*.json, not instances_*.json)."
            )
        file_of = {image["id"]: image["file_name"] for image in data["images"]}
        annotations_ = sorted(
            (a for a in data["annotations"] if a["image_id"] in file_of),
            key=lambda a: (a["image_id"], a["id"]),
        )
        if not annotations_:
            raise OvsegUserError(
                f"'{self.annotation_path}' has no captions of listed images; nothing to train on."
            )
        self.file_names = [file_of[a["image_id"]] for a in annotations_]
        self.captions = [a["caption"] for a in annotations_]
        self.annotation_ids = [a["id"] for a in annotations_]
        first = self.image_dir / self.file_names[0]
        if not first.is_file():
            raise MissingDatasetError(f"coco-captions source: image '{first}' does not exist.\n{layout}")

    def __len__(self) -> int:
        return len(self.captions)

    def record(self, index: int) -> dict:
        file_name = self.file_names[index]
        image_key = f"{self.name}/{Path(file_name).stem}"
        return {
            "key": f"{image_key}/{self.annotation_ids[index]}",
            "image_key": image_key,
            "image": self.image_dir / file_name,
            "caption": self.captions[index],
        }

    def image_records(self, reader: Reader | None = None) -> Iterator[dict]:
        reader = reader or current_reader(self._dist)
        firsts = [i for i in range(len(self)) if i == 0 or self.file_names[i] != self.file_names[i - 1]]
        for index in firsts[reader.index :: reader.count]:
            yield self.record(index)


_HF_FILE_BUILDERS = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".arrow": "arrow",
}
_HF_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


class HFPairs(MapPairSource):
    """A Hugging Face ``datasets`` dataset with an image column and a text column.

    Args:
        path: a local dataset: a ``save_to_disk`` folder, a folder of data files or one data file
            (parquet, json, jsonl, csv, arrow).
        hub: a hub dataset name instead (needs network access or a filled HF cache).
        split: split to read when the dataset has several.
        image_column: column of images (``datasets.Image``, encoded bytes or paths).
        text_column: column of captions.
        key_column: column of unique sample ids (default: the row number).
        name: key prefix.
        seed: shuffle seed.
    """

    kind = "hf"

    def __init__(
        self,
        path: str | None = None,
        hub: str | None = None,
        split: str = "train",
        image_column: str = "image",
        text_column: str = "text",
        key_column: str | None = None,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(name, seed)
        if (path is None) == (hub is None):
            raise OvsegUserError(
                "hf source: give exactly one of 'path' (a local dataset) or 'hub' (a hub name)."
            )
        import datasets

        dataset = self._load(path, hub, split)
        columns = [image_column, text_column] + ([key_column] if key_column else [])
        missing = [c for c in columns if c not in dataset.column_names]
        if missing:
            raise OvsegUserError(
                f"hf source '{path or hub}' has no column {', '.join(map(repr, missing))}; its columns are "
                f"{', '.join(dataset.column_names)}. Set 'image_column' / 'text_column' to the right names."
            )
        dataset = dataset.select_columns(columns)
        if isinstance(dataset.features[image_column], datasets.Image):
            dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
        self.dataset = dataset
        self.image_column = image_column
        self.text_column = text_column
        self.key_column = key_column
        self.base_dir = Path(path) if path is not None and Path(path).is_dir() else Path.cwd()

    @staticmethod
    def _load(path: str | None, hub: str | None, split: str):
        import datasets

        if hub is not None:
            try:
                loaded = datasets.load_dataset(hub, split=split)
            except Exception as error:
                raise OvsegUserError(
                    f"hf source: could not load hub dataset '{hub}' ({type(error).__name__}: {error}). "
                    "Without network access, save it once with save_to_disk and pass 'path' instead."
                ) from error
            return loaded
        local = Path(path)
        layout = (
            "Expected one of: a folder written by datasets' save_to_disk (with dataset_info.json and "
            "state.json, or dataset_dict.json), a folder of data files, or one .parquet/.json/.jsonl/"
            ".csv/.arrow file, with an image column and a text column."
        )
        if not local.exists():
            raise MissingDatasetError(f"hf source: '{local}' does not exist.\n{layout}")
        if local.is_dir() and any((local / marker).is_file() for marker in _HF_DISK_MARKERS):
            loaded = datasets.load_from_disk(str(local))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise OvsegUserError(
                        f"hf source '{local}' has no split '{split}'; its splits are {', '.join(loaded)}."
                    )
                loaded = loaded[split]
            return loaded
        if local.is_dir():
            return datasets.load_dataset(str(local), split=split)
        builder = _HF_FILE_BUILDERS.get(local.suffix.lower())
        if builder is None:
            raise OvsegUserError(f"hf source: cannot read '{local}' (unknown file type).\n{layout}")
        return datasets.load_dataset(builder, data_files=str(local), split="train")

    def __len__(self) -> int:
        return len(self.dataset)

    def record(self, index: int) -> dict:
        row = self.dataset[index]
        image = row[self.image_column]
        if isinstance(image, dict) and not image.get("bytes") and image.get("path"):
            image = self.base_dir / image["path"]
        elif isinstance(image, str):
            image = self.base_dir / image
        raw_key = row[self.key_column] if self.key_column else f"{index:09d}"
        key = f"{self.name}/{raw_key}"
        return {"key": key, "image_key": key, "image": image, "caption": row[self.text_column]}


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


# ----- mixing ----------------------------------------------------------------------------------
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


# ----- building from options -------------------------------------------------------------------
SOURCE_KINDS: dict[str, type[PairSource]] = {
    cls.kind: cls for cls in (SyntheticPairs, WebDatasetPairs, CocoCaptionPairs, HFPairs)
}


def source_options(kind: str) -> list[str]:
    """The options a source kind takes."""
    return [name for name in inspect.signature(SOURCE_KINDS[kind].__init__).parameters if name != "self"]


def check_source_spec(spec: dict) -> None:
    """Fail on an unknown kind or option, naming the valid ones."""
    kind = spec.get("kind") if isinstance(spec, dict) else spec
    if kind not in SOURCE_KINDS:
        raise UnknownNameError(
            f"unknown image-text source kind {kind!r}. Valid kinds: {', '.join(SOURCE_KINDS)} "
            "(each source is a dict such as {'kind': 'webdataset', 'urls': 'shards/{00000..00009}.tar'})."
        )
    accepted = source_options(kind)
    unknown = [name for name in spec if name not in (*accepted, "kind", "weight")]
    if unknown:
        raise OvsegUserError(
            f"source '{kind}' does not take {', '.join(map(repr, unknown))}; it takes: "
            f"{', '.join(accepted)} (and 'weight' for mixing)."
        )


def build_source(spec: dict, defaults: dict | None = None) -> tuple[PairSource, float | None]:
    """``{"kind": ..., "weight": ..., **options}`` → (source, weight or None).

    ``defaults`` fill options the spec leaves out, where the kind takes them (seed, ...).
    """
    check_source_spec(spec)
    options = dict(spec)
    kind = options.pop("kind")
    weight = options.pop("weight", None)
    accepted = source_options(kind)
    for name, value in (defaults or {}).items():
        if name in accepted and name not in options:
            options[name] = value
    return SOURCE_KINDS[kind](**options), weight


def build_sources(specs: Sequence[dict], defaults: dict | None = None, seed: int = 0) -> PairSource:
    """Source specs → one (mixed) source."""
    built = [build_source(spec, defaults) for spec in specs]
    weights = [weight for _, weight in built]
    if all(weight is None for weight in weights):
        return mix_sources([source for source, _ in built], None, seed)
    return mix_sources([source for source, _ in built], [1.0 if w is None else w for w in weights], seed)
