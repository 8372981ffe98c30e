"""Felzenszwalb superpixels for SegCLIP: computed at short side 224, cut with the image's crop box.

A map is computed once per image on the image resized to ``short_side`` (SegCLIP: 224, with
scale=224, sigma=0.9, min_size=224), either on the fly or read from a cache: one ``.npy`` label map
per image key under the cache folder (``{cache}/{source name}/.../{key}.npy``), written atomically,
plus ``params.json`` with the settings it was built with. At training time the map is cut with the
SAME box as the image crop and resized (nearest) to the crop's size.

``ovseg prepare superpixels --source KIND [source flags] --cache DIR`` fills a cache; it calls
``add_prepare_arguments`` and ``run_prepare`` below.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset

from ovseg.data.pairs import SOURCE_KINDS, BadSample, PairSource, build_source, current_reader, open_rgb
from ovseg.data.segmentation import MissingDatasetError
from ovseg.data.transforms import CropBox
from ovseg.errors import OvsegUserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuperpixelSettings:
    """Felzenszwalb settings and the short side the map is computed at."""

    short_side: int = 224
    scale: float = 224.0
    sigma: float = 0.9
    min_size: int = 224


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side resized to ``short_side``, aspect kept."""
    factor = short_side / min(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def compute_superpixels(
    image: Image.Image, settings: SuperpixelSettings = SuperpixelSettings()
) -> np.ndarray:
    """RGB image → int32 label map (h, w) at short side ``settings.short_side``."""
    from skimage.segmentation import felzenszwalb

    resized = image.convert("RGB").resize(
        scaled_size(*image.size, settings.short_side), Image.Resampling.BILINEAR
    )
    labels = felzenszwalb(
        np.asarray(resized), scale=settings.scale, sigma=settings.sigma, min_size=settings.min_size
    )  # (h, w)
    return labels.astype(np.int32)


def crop_labels(labels: np.ndarray, box: CropBox, original_size: tuple[int, int], size: int) -> np.ndarray:
    """Cut a label map with a box given in ORIGINAL pixels and resize it (nearest) to size × size.

    Every output pixel takes the label under its centre, mapped through the crop and the map's own
    scale. Labels are renumbered 0..K-1 in the crop.

    Args:
        labels: (h, w) map of the whole image at any scale.
        box: (top, left, height, width) in original pixels.
        original_size: (width, height) of the original image.
        size: output side S.

    Returns:
        int64 (S, S).
    """
    map_height, map_width = labels.shape
    width, height = original_size
    centres = (np.arange(size) + 0.5) / size  # (S,)
    rows = np.floor((box.top + centres * box.height) * map_height / height).astype(np.int64)  # (S,)
    cols = np.floor((box.left + centres * box.width) * map_width / width).astype(np.int64)  # (S,)
    rows = np.clip(rows, 0, map_height - 1)
    cols = np.clip(cols, 0, map_width - 1)
    crop = labels[rows[:, None], cols[None, :]].astype(np.int64)  # (S, S)
    present = np.bincount(crop.ravel()) > 0  # labels are small non-negative ints
    return (np.cumsum(present) - 1)[crop]  # (S, S)


# ----- the cache ---------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SuperpixelCache:
    """One ``.npy`` label map per image key under ``directory``, plus ``params.json``."""

    PARAMS_FILE = "params.json"

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, image_key: str) -> Path:
        """The map's file: each '/'-separated part of the key is one folder level, made file-safe."""
        parts = [_UNSAFE.sub("_", part) for part in image_key.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            raise ValueError(f"image key {image_key!r} cannot name a cache file.")
        return self.directory.joinpath(*parts[:-1], parts[-1] + ".npy")

    def __contains__(self, image_key: str) -> bool:
        return self.path(image_key).is_file()

    def load(self, image_key: str) -> np.ndarray | None:
        """The cached map, None when there is none."""
        path = self.path(image_key)
        return np.load(path) if path.is_file() else None

    def save(self, image_key: str, labels: np.ndarray) -> None:
        """Write atomically: a temporary file in the same folder, then ``os.replace``."""
        path = self.path(image_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        dtype = np.uint16 if labels.size and labels.max() < np.iinfo(np.uint16).max else np.int32
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as handle:
                np.save(handle, labels.astype(dtype))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def read_settings(self) -> SuperpixelSettings | None:
        path = self.directory / self.PARAMS_FILE
        return SuperpixelSettings(**json.loads(path.read_text())) if path.is_file() else None

    def claim(self, settings: SuperpixelSettings) -> None:
        """Record the settings of a new cache, or check they match an existing one's."""
        existing = self.read_settings()
        if existing is not None and existing != settings:
            raise OvsegUserError(
                f"superpixel cache '{self.directory}' was built with {asdict(existing)}, not "
                f"{asdict(settings)}; use the same settings or another cache folder."
            )
        if existing is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".{self.PARAMS_FILE}.{uuid.uuid4().hex}.tmp"
            temporary.write_text(json.dumps(asdict(settings), indent=2) + "\n")
            os.replace(temporary, self.directory / self.PARAMS_FILE)

    def check(self, settings: SuperpixelSettings) -> None:
        """For training: the cache exists and was built with ``settings``."""
        if not self.directory.is_dir():
            raise MissingDatasetError(
                f"superpixel cache '{self.directory}' does not exist. Build it with `ovseg prepare "
                f"superpixels --source KIND [source flags] --cache {self.directory}`, or leave "
                "superpixel_cache unset to compute superpixels on the fly."
            )
        existing = self.read_settings()
        if existing is not None and existing != settings:
            raise OvsegUserError(
                f"superpixel cache '{self.directory}' was built with {asdict(existing)} but training asks "
                f"for {asdict(settings)}; match the superpixel_* options or rebuild the cache."
            )


class Superpixelizer:
    """Per-sample superpixels for a crop: from the cache when there, else computed on the fly."""

    def __init__(
        self, settings: SuperpixelSettings = SuperpixelSettings(), cache_dir: str | None = None
    ) -> None:
        self.settings = settings
        self.cache = SuperpixelCache(cache_dir) if cache_dir else None

    def full_map(self, image: Image.Image, image_key: str) -> np.ndarray:
        """(h, w) labels of the whole image at the settings' short side."""
        expected = scaled_size(*image.size, self.settings.short_side)
        labels = self.cache.load(image_key) if self.cache is not None else None
        if labels is None:
            return compute_superpixels(image, self.settings)
        if labels.shape != (expected[1], expected[0]):
            raise OvsegUserError(
                f"superpixel cache map '{self.cache.path(image_key)}' is {labels.shape} but image "
                f"'{image_key}' at short side {self.settings.short_side} is {(expected[1], expected[0])}: "
                "the cache was built from other images or another short side; rebuild it with "
                "`ovseg prepare superpixels`."
            )
        return labels

    def __call__(self, image: Image.Image, image_key: str, box: CropBox, size: int) -> np.ndarray:
        """int64 (S, S) superpixels of the crop ``box`` of ``image``."""
        return crop_labels(self.full_map(image, image_key), box, image.size, size)


# ----- building a cache ------------------------------------------------------------------------
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


# ----- `ovseg prepare superpixels` -------------------------------------------------------------
_SOURCE_FLAGS = {
    "synthetic": ("length", "image_size", "seed"),
    "webdataset": ("urls",),
    "coco-captions": ("root", "split", "images", "annotations"),
    "hf": ("path", "hub", "split", "image_column", "text_column", "key_column"),
}


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ovseg prepare superpixels``."""
    parser.add_argument(
        "--source", required=True, choices=list(SOURCE_KINDS), help="kind of image-text source"
    )
    parser.add_argument("--cache", required=True, help="cache folder to fill (resumable)")
    parser.add_argument("--name", help="the source's name, the first part of its keys (default: its kind)")
    group = parser.add_argument_group("source flags (each applies to the kinds in brackets)")
    group.add_argument(
        "--urls", help="[webdataset] shards, brace patterns allowed: 'shards/{00000..00009}.tar'"
    )
    group.add_argument("--root", help="[coco-captions] COCO folder with {split}/ and annotations/")
    group.add_argument("--split", help="[coco-captions, hf] split (train2017 / train)")
    group.add_argument("--images", help="[coco-captions] image folder (overrides root/split)")
    group.add_argument("--annotations", help="[coco-captions] captions_*.json (overrides root)")
    group.add_argument("--path", help="[hf] local dataset folder or data file")
    group.add_argument("--hub", help="[hf] hub dataset name")
    group.add_argument("--image-column", help="[hf] image column (default: image)")
    group.add_argument("--text-column", help="[hf] text column (default: text)")
    group.add_argument("--key-column", help="[hf] column of unique ids (default: row number)")
    group.add_argument("--length", type=int, help="[synthetic] number of pairs")
    group.add_argument("--image-size", type=int, help="[synthetic] image side")
    group.add_argument("--seed", type=int, help="[synthetic] generator seed")
    felz = parser.add_argument_group("Felzenszwalb settings (SegCLIP's defaults)")
    felz.add_argument("--short-side", type=int, default=224, help="short side the map is computed at")
    felz.add_argument("--scale", type=float, default=224.0)
    felz.add_argument("--sigma", type=float, default=0.9)
    felz.add_argument("--min-size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def source_spec_from_args(args: argparse.Namespace) -> dict:
    """The source dict that the flags describe; flags of other kinds are an error."""
    spec: dict = {"kind": args.source}
    if args.name:
        spec["name"] = args.name
    allowed = _SOURCE_FLAGS[args.source]
    for flags in _SOURCE_FLAGS.values():
        for flag in flags:
            value = getattr(args, flag, None)
            if value is None or flag in spec:
                continue
            if flag not in allowed:
                raise OvsegUserError(
                    f"--{flag.replace('_', '-')} does not apply to --source {args.source}; its flags are "
                    + ", ".join("--" + f.replace("_", "-") for f in allowed)
                    + "."
                )
            spec[flag] = value
    if args.source == "webdataset":
        if "urls" not in spec:
            raise OvsegUserError("--source webdataset needs --urls, such as 'shards/{00000..00009}.tar'.")
        spec["shuffle"] = 0
    return spec


def run_prepare(args: argparse.Namespace) -> None:
    """Build the superpixel cache that the parsed flags describe, and print a summary."""
    source, _ = build_source(source_spec_from_args(args))
    settings = SuperpixelSettings(args.short_side, args.scale, args.sigma, args.min_size)
    counts = fill_cache(source, args.cache, settings, progress=not args.no_progress, num_workers=args.workers)
    print(f"superpixels for source '{source.name}' in '{args.cache}': {describe_counts(counts)}")
