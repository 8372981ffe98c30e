"""``ovseg prepare pseudo-masks``: DINO + K-Means cluster maps of every training image, cached.

Each distinct image of a pair source is resized to ``--short-side`` (aspect kept), run through the
frozen DINO ViT, clustered (K-Means, K clusters) and saved as its patch-grid cluster ids under the
image's key. Resumable: images already in the cache are skipped (checked before decoding), every
file is written atomically. Decoding runs in ``--workers`` processes; DINO and K-Means run here, in
batches of same-sized images, on ``--device``.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Iterator

import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset

from ovseg.data.pairs import BadSample, PairSource, build_source, current_reader, open_rgb
from ovseg.data.superpixels import describe_counts, scaled_size, source_spec_from_args
from ovseg.data.transforms import normalize, pil_to_tensor
from ovseg.methods.base import IMAGENET_MEAN, IMAGENET_STD
from ovseg.methods.sseg.cache import PseudoMaskCache, PseudoMaskSettings
from ovseg.methods.sseg.kmeans import KMEANS_BACKENDS
from ovseg.methods.sseg.pseudo_masks import DinoPseudoMasks
from ovseg.nn.dino import DINO_FEATURES, DINO_MODEL


class _ImageStream(IterableDataset):
    """Each dataloader worker decodes its share of the images not yet cached."""

    def __init__(self, source: PairSource, cache: PseudoMaskCache, short_side: int) -> None:
        self.source = source
        self.cache = cache
        self.short_side = short_side

    def __iter__(self) -> Iterator[dict]:
        for record in self.source.image_records(current_reader()):
            if "skip" in record:
                yield {"outcome": record["skip"]}
                continue
            image_key = record.get("image_key") or record["key"]
            if image_key in self.cache:
                yield {"outcome": "exists"}
                continue
            try:
                image = open_rgb(record.get("image"), image_key)
            except BadSample as bad:
                yield {"outcome": bad.reason}
                continue
            resized = image.resize(scaled_size(*image.size, self.short_side), Image.Resampling.BICUBIC)
            pixels = normalize(pil_to_tensor(resized), IMAGENET_MEAN, IMAGENET_STD)  # (3, h, w)
            yield {"key": image_key, "image": pixels, "size": image.size}


def fill_pseudo_mask_cache(
    source: PairSource,
    cache_dir: str | os.PathLike,
    generator: DinoPseudoMasks,
    settings: PseudoMaskSettings,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
) -> Counter[str]:
    """Cluster every uncached image of ``source`` and save its map; returns the outcomes' counts."""
    cache = PseudoMaskCache(cache_dir)
    cache.claim(settings)
    stream = DataLoader(
        _ImageStream(source, cache, settings.short_side),
        batch_size=None,
        num_workers=num_workers,
    )
    device = next(generator.parameters()).device
    pending: dict[tuple[int, int], list[dict]] = {}
    counts: Counter[str] = Counter()

    def flush(items: list[dict]) -> None:
        images = torch.stack([item["image"] for item in items]).to(device)  # (b, 3, h, w)
        labels = generator.cluster(images).cpu().numpy()  # (b, h/8, w/8)
        for item, label_map in zip(items, labels, strict=True):
            cache.save(item["key"], label_map, item["size"])
        counts["written"] += len(items)

    from tqdm import tqdm

    for item in tqdm(stream, disable=not progress, desc="pseudo-masks", unit="img"):
        if "outcome" in item:
            counts[item["outcome"]] += 1
            continue
        group = pending.setdefault(tuple(item["image"].shape[-2:]), [])
        group.append(item)
        if len(group) == batch_size:
            flush(pending.pop(tuple(item["image"].shape[-2:])))
    for group in pending.values():
        flush(group)
    return counts


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ovseg prepare pseudo-masks`` (the source flags are those of ``superpixels``)."""
    from ovseg.data.superpixels import add_prepare_arguments as add_superpixel_arguments

    scratch = argparse.ArgumentParser(add_help=False)
    add_superpixel_arguments(scratch)
    for action in scratch._actions:  # the source and cache flags, not the Felzenszwalb ones
        if action.dest in ("short_side", "scale", "sigma", "min_size", "workers", "no_progress"):
            continue
        kwargs = {"dest": action.dest, "default": action.default, "help": action.help}
        if action.option_strings and action.nargs == 0:
            parser.add_argument(*action.option_strings, action="store_true", **kwargs)
            continue
        kwargs.update(type=action.type, choices=action.choices, required=action.required)
        parser.add_argument(*action.option_strings, **kwargs)
    dino = parser.add_argument_group("DINO + K-Means settings (S-Seg's defaults)")
    dino.add_argument("--dino-weights", help="local DINO weights file (default: download --dino-model)")
    dino.add_argument("--dino-model", default=DINO_MODEL, help="timm model name (default: %(default)s)")
    dino.add_argument(
        "--feature", choices=DINO_FEATURES, default="tokens", help="tokens or keys of the last block"
    )
    dino.add_argument("--k", type=int, default=8, help="clusters per image (default: 8)")
    dino.add_argument("--short-side", type=int, default=224, help="side DINO sees (default: 224)")
    dino.add_argument("--iters", type=int, default=20, help="K-Means rounds (default: 20)")
    dino.add_argument("--kmeans-backend", choices=KMEANS_BACKENDS, default="auto")
    dino.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    dino.add_argument("--batch-size", type=int, default=64, help="images per DINO batch")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="decoding processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_prepare(args: argparse.Namespace) -> None:
    """Build the pseudo-mask cache that the parsed flags describe, and print a summary."""
    source, _ = build_source(source_spec_from_args(args))
    settings = PseudoMaskSettings(args.dino_model, args.feature, args.k, args.short_side, args.iters)
    generator = DinoPseudoMasks(
        args.k, args.feature, args.kmeans_backend, args.iters, None, args.dino_model, args.dino_weights
    ).to(args.device)
    counts = fill_pseudo_mask_cache(
        source,
        args.cache,
        generator,
        settings,
        batch_size=args.batch_size,
        num_workers=args.workers,
        progress=not args.no_progress,
    )
    print(f"pseudo-masks for source '{source.name}' in '{args.cache}': {describe_counts(counts)}")
