"""``ovseg prepare superpixels --source KIND [source flags] --cache DIR``: its flags and its run.

``ovseg.prepare_cli`` loads these hooks from ``ovseg.data.superpixels``, which re-exports them.
"""

from __future__ import annotations

import argparse
import os

from ovseg.data.pairs import SOURCE_KINDS, build_source
from ovseg.data.superpixels.build import describe_counts, fill_cache
from ovseg.data.superpixels.compute import SuperpixelSettings
from ovseg.errors import OvsegUserError

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
