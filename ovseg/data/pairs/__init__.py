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

Mixing (``mix_sources``): map-style sources are CONCATENATED into one map-style source (the training
sampler, ``ovseg.data.resumable_loader``, then shuffles and shards the joint index). As soon as one
source is iterable (webdataset), or weights are given, the sources are INTERLEAVED: every reader
draws its next record from a random source, with probability proportional to the source's weight,
among the sources that still have records this epoch, so each record is still read exactly once.

Modules: ``decode`` (records → samples, skip reasons), ``sharding`` (readers, shuffle buffer),
``base`` (source classes), ``synthetic``, ``webdataset``, ``coco``, ``hf`` (the sources), ``mixing``
and ``build`` (sources from option dicts).
"""

from __future__ import annotations

from ovseg.data.pairs.base import IterablePairSource, MapPairSource, PairSource
from ovseg.data.pairs.build import (
    SOURCE_KINDS,
    build_source,
    build_sources,
    check_source_spec,
    source_options,
)
from ovseg.data.pairs.coco import CocoCaptionPairs
from ovseg.data.pairs.decode import (
    SKIP_REASONS,
    BadSample,
    decode_caption,
    decode_record,
    open_rgb,
    skip_record,
    to_rgb,
)
from ovseg.data.pairs.hf import HFPairs
from ovseg.data.pairs.mixing import ConcatPairs, InterleavedPairs, mix_sources
from ovseg.data.pairs.sharding import Reader, buffer_shuffle, current_reader, distributed_info
from ovseg.data.pairs.synthetic import SyntheticPairs
from ovseg.data.pairs.webdataset import WebDatasetPairs

__all__ = [
    "SKIP_REASONS",
    "SOURCE_KINDS",
    "BadSample",
    "CocoCaptionPairs",
    "ConcatPairs",
    "HFPairs",
    "InterleavedPairs",
    "IterablePairSource",
    "MapPairSource",
    "PairSource",
    "Reader",
    "SyntheticPairs",
    "WebDatasetPairs",
    "buffer_shuffle",
    "build_source",
    "build_sources",
    "check_source_spec",
    "current_reader",
    "decode_caption",
    "decode_record",
    "distributed_info",
    "mix_sources",
    "open_rgb",
    "skip_record",
    "source_options",
    "to_rgb",
]
