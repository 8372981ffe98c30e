"""Felzenszwalb superpixels for SegCLIP: computed at short side 224, cut with the image's crop box.

A map is computed once per image on the image resized to ``short_side`` (SegCLIP: 224, with
scale=224, sigma=0.9, min_size=224), either on the fly or read from a cache: one ``.npy`` label map
per image key under the cache folder (``{cache}/{source name}/.../{key}.npy``), written atomically,
plus ``params.json`` with the settings it was built with. At training time the map is cut with the
SAME box as the image crop and resized (nearest) to the crop's size.

``ovseg prepare superpixels --source KIND [source flags] --cache DIR`` fills a cache; it calls
``add_prepare_arguments`` and ``run_prepare`` (in ``cli``,
re-exported here).

Modules: ``compute`` (settings, maps, cropping), ``cache`` (the on-disk cache),
``superpixelizer`` (cached or on-the-fly maps for training), ``build`` (filling a cache) and
``cli`` (the ``ovseg prepare superpixels`` hooks).
"""

from __future__ import annotations

from ovseg.data.superpixels.build import build_superpixel_cache, cache_one, describe_counts, fill_cache
from ovseg.data.superpixels.cache import SuperpixelCache
from ovseg.data.superpixels.cli import add_prepare_arguments, run_prepare, source_spec_from_args
from ovseg.data.superpixels.compute import SuperpixelSettings, compute_superpixels, crop_labels, scaled_size
from ovseg.data.superpixels.superpixelizer import Superpixelizer

__all__ = [
    "SuperpixelCache",
    "SuperpixelSettings",
    "Superpixelizer",
    "add_prepare_arguments",
    "build_superpixel_cache",
    "cache_one",
    "compute_superpixels",
    "crop_labels",
    "describe_counts",
    "fill_cache",
    "run_prepare",
    "scaled_size",
    "source_spec_from_args",
]
