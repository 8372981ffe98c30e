"""Pseudo-mask oracles of the synthetic benchmark, printed beside the methods as upper bounds.

Each source's class-agnostic masks take their majority ground-truth label (``ovseg.oracle``) on the
same evaluation images the methods were scored on: the mIoU a method built on those masks would
reach if it named every mask perfectly. ``pixel`` uses the tiny S-Seg recipe's own pseudo-mask
settings; ``felzenszwalb`` is SegCLIP's superpixel algorithm at its release settings.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ovseg.data.synthetic import SyntheticSegDataset
from ovseg.oracle import oracle_miou
from ovseg.oracle.sources import MaskSettings, build_mask_source

ORACLE_NAMES = {
    "pixel": "oracle: S-Seg's pixel K-Means pseudo-masks",
    "felzenszwalb": "oracle: Felzenszwalb superpixels",
}


def pixel_settings(sseg_recipe: Path) -> MaskSettings:
    """The pixel source's settings of an S-Seg recipe (K, grid, position weight, rounds)."""
    args = yaml.safe_load(sseg_recipe.read_text())["model"]["init_args"]
    defaults = MaskSettings()
    return MaskSettings(
        k=args.get("pseudo_mask_k", defaults.k),
        grid=args.get("pixel_grid", defaults.grid),
        position_weight=args.get("pixel_position_weight", defaults.position_weight),
        kmeans_iters=args.get("kmeans_iters", defaults.kmeans_iters),
    )


def synthetic_oracles(images: int, image_size: int, seed: int, sseg_recipe: Path | None) -> dict[str, float]:
    """Oracle mIoU per source on the first ``images`` synthetic evaluation images of ``seed``."""
    data = SyntheticSegDataset(length=images, image_size=image_size, seed=seed)
    sources = {"felzenszwalb": build_mask_source("felzenszwalb")}
    if sseg_recipe is not None:
        sources = {"pixel": build_mask_source("pixel", pixel_settings(sseg_recipe)), **sources}
    return {name: oracle_miou(source, data)["metrics"]["mIoU"] for name, source in sources.items()}
