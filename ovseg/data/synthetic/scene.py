"""One synthetic scene: the :class:`Scene` record and :func:`render_scene`, plan to pixels."""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from ovseg.data.synthetic.captions import write_caption
from ovseg.data.synthetic.layout import SPLITS, plan_background, plan_objects, scene_rng
from ovseg.data.synthetic.raster import label_mask, paint, rasterize


@dataclass(frozen=True)
class Scene:
    """One rendered scene: image, dense mask, drawn categories (drawing order) and caption."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) uint8: 0 background, 1..8 classes, 255 ignore
    categories: tuple[int, ...]
    caption: str


def check_int(name: str, value: int, minimum: int) -> int:
    """``value`` as an int, or a clear error if it is not an integer >= ``minimum``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def render_scene(seed: int, index: int, split: str = "train", image_size: int = 64) -> Scene:
    """Render scene ``index`` of ``seed``'s ``split`` stream ("train", "eval", "tune"); deterministic."""
    seed, index = check_int("seed", seed, 0), check_int("index", index, 0)
    image_size = check_int("image_size", image_size, 32)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    rng = scene_rng(seed, split, index)
    objects = plan_objects(rng)
    background = plan_background(rng)
    caption = write_caption(objects, background, rng)
    owner = rasterize(objects, image_size)  # (H*S + 1, W*S + 1)
    image = paint(objects, background, owner, image_size)  # (H, W, 3)
    mask = label_mask(objects, owner, image_size)  # (H, W)
    return Scene(image, mask, tuple(obj.category for obj in objects), caption)
