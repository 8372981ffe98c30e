"""Pseudo-mask oracles of the synthetic benchmark, printed beside the methods as upper bounds.

Each source's class-agnostic masks take their majority ground-truth label (``ovseg.oracle``) on the
same evaluation images the methods were scored on: the mIoU a method built on those masks would
reach if it named every mask perfectly. ``pixel`` uses the tiny S-Seg recipe's own pseudo-mask
settings; ``felzenszwalb`` is SegCLIP's superpixel algorithm at its release settings. The hue
oracle (``ovseg.bench.hue_oracle``) keeps the true masks and names each object by its colour alone.
The report's last oracle row, the ground-truth oracle, is a trained run
(``ovseg.bench.ground_truth_oracle``); its name and note live here with the others'.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ovseg.bench.ground_truth_oracle import KEY as GROUND_TRUTH
from ovseg.bench.hue_oracle import KEY as HUE
from ovseg.bench.hue_oracle import hue_oracle_miou
from ovseg.data.synthetic import SyntheticSegDataset
from ovseg.oracle import oracle_miou
from ovseg.oracle.sources import MaskSettings, build_mask_source

ORACLE_NAMES = {
    "pixel": "oracle: S-Seg's pixel K-Means pseudo-masks",
    "felzenszwalb": "oracle: Felzenszwalb superpixels",
    HUE: "oracle: true masks, each object named by its hue",
    GROUND_TRUTH: "oracle: S-Seg+'s recipe on ground-truth labels",  # a trained run (see above)
}

MASK_ORACLE_NOTE = (
    "Pseudo-mask oracles label every mask of their source with its majority ground-truth class: the "
    "ceiling of a method that draws those masks and names each one perfectly."
)
HUE_NOTE = (
    "The hue oracle keeps the true masks and background and names each object by its colour alone "
    "(the most likely category for its hue; the categories' hue ranges overlap by design): the "
    "ceiling of a method that tells the categories apart by colour, never by shape."
)
GROUND_TRUTH_NOTE = (
    "The ground-truth oracle trains S-Seg+'s recipe (same steps and seed) on the ground-truth masks "
    "of S-Seg's training scenes instead of S-Seg's labels: S-Seg+'s ceiling, and what full "
    "supervision reaches at that budget."
)


def oracle_note(report: dict) -> str:
    """What the report's oracle rows mean (empty when it has none)."""
    keys = {key for levels in (report.get("oracle") or {}).values() for key in levels}
    notes = [MASK_ORACLE_NOTE] if keys - {HUE, GROUND_TRUTH} else []
    notes += [HUE_NOTE] if HUE in keys else []
    return " ".join(notes + ([GROUND_TRUTH_NOTE] if GROUND_TRUTH in keys else []))


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
    """Oracle mIoU per mask source, and the hue oracle's, on the first ``images`` synthetic
    evaluation images of ``seed``."""
    data = SyntheticSegDataset(length=images, image_size=image_size, seed=seed)
    sources = {"felzenszwalb": build_mask_source("felzenszwalb")}
    if sseg_recipe is not None:
        sources = {"pixel": build_mask_source("pixel", pixel_settings(sseg_recipe)), **sources}
    levels = {name: oracle_miou(source, data)["metrics"]["mIoU"] for name, source in sources.items()}
    return {**levels, HUE: hue_oracle_miou(images, image_size, seed)}
