"""ovseg's embedded synthetic benchmark: procedural shape scenes with captions and dense ground truth.

Nothing is downloaded or shipped. Every scene is a pure function of ``(seed, split, index)``: the
layout, colours, textures and caption come from one ``numpy`` generator seeded with
``SeedSequence([seed, split_id, index])`` (split_id 0 for "train", 1 for "eval", 2 for "tune"), so
train pairs, evaluation images and tuning images come from disjoint streams. "tune" is drawn like
"eval" and is the one to choose recipes on; the evaluation split is for reporting only. Layout and
caption do not depend on the image size; the same scene can be rendered at 64 or 96 px.

Each of the 8 categories of :data:`SYNTHETIC_CLASSES` is one shape family (ball = disc/ellipse,
box = rounded rectangle, star, ring = annulus, cross = plus, moon = crescent, heart, arrow). A scene
holds 1–4 objects of random size, rotation and position drawn over a textured, low-saturation
background; later objects occlude earlier ones, but every object keeps a large visible part. Each
category has a typical hue range (:data:`CATEGORY_HUES`) that overlaps its neighbours' ranges, so
colour is a cue but never decides the category.

Objects are supersampled on a lattice of ``SUPERSAMPLE`` steps per pixel whose edge samples are shared by
neighbouring pixels, and blended by (trapezoid-rule) coverage at their edges. Mask values: 0 background,
``i + 1`` for category ``i``, :data:`IGNORE_INDEX` where a pixel is not covered by one single layer
(anti-aliased borders, also between two objects). Because edge samples are shared, two neighbouring
pixels never carry two different non-ignore labels: every border is ignored.

Modules: ``shapes`` (shape families), ``geometry`` (pixel grids, object frames), ``layout`` (scene
planning, seeding), ``raster`` (coverage, colours, image and mask), ``captions``, ``scene``
(:func:`render_scene`) and ``datasets``. This package exports the public API only.
"""

from __future__ import annotations

from ovseg.data.synthetic.datasets import SyntheticPairDataset, SyntheticSegDataset
from ovseg.data.synthetic.geometry import SUPERSAMPLE
from ovseg.data.synthetic.layout import CATEGORY_HUES, SPLITS
from ovseg.data.synthetic.raster import IGNORE_INDEX
from ovseg.data.synthetic.scene import Scene, render_scene

__all__ = [
    "CATEGORY_HUES",
    "IGNORE_INDEX",
    "SPLITS",
    "SUPERSAMPLE",
    "Scene",
    "SyntheticPairDataset",
    "SyntheticSegDataset",
    "render_scene",
]
