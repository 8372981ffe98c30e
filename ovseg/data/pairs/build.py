"""Sources from option dicts: the kinds, their options, and building (and mixing) from specs."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from ovseg.data.pairs.base import PairSource
from ovseg.data.pairs.coco import CocoCaptionPairs
from ovseg.data.pairs.hf import HFPairs
from ovseg.data.pairs.mixing import mix_sources
from ovseg.data.pairs.synthetic import SyntheticPairs
from ovseg.data.pairs.webdataset import WebDatasetPairs
from ovseg.errors import OvsegUserError, UnknownNameError

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
