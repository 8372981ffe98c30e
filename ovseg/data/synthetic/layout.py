"""Scene planning of the synthetic benchmark: objects, their placement and the background.

Everything here is independent of the rendered image size. Positions and radii are fractions of the
image size; occlusion is tracked on a fixed :data:`_LAYOUT_GRID` so that the same plan renders at any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic.geometry import bbox, inside
from ovseg.data.synthetic.shapes import draw_angle, draw_params

# split name -> SeedSequence stream id: training pairs, evaluation images, and a tuning stream of
# evaluation-like images to choose recipes on, so that the evaluation split is never tuned on
SPLITS: dict[str, int] = {"train": 0, "eval": 1, "tune": 2}

# Typical hue range of each category in degrees (read modulo 360). Neighbouring ranges overlap by
# 30–50 degrees, so a hue never identifies the category on its own.
CATEGORY_HUES: dict[str, tuple[float, float]] = {
    "ball": (320.0, 390.0),  # pink-red, red (overlaps heart and box)
    "box": (-5.0, 70.0),  # red-orange, orange, brown, yellow
    "star": (25.0, 100.0),  # orange, yellow, lime
    "ring": (60.0, 150.0),  # yellow, lime, green
    "cross": (110.0, 200.0),  # green, teal, cyan
    "moon": (165.0, 245.0),  # cyan, sky, blue
    "heart": (270.0, 350.0),  # purple, magenta, pink
    "arrow": (205.0, 295.0),  # blue, indigo, purple
}

REFERENCE_SIZE = 64  # object radii are given in pixels at this image size and scale with it
_RADIUS_RANGE = (10.0, 20.0)  # object radius in pixels at the reference size
_LAYOUT_GRID = 64  # resolution of the occlusion bookkeeping (independent of the rendered size)
_MIN_VISIBLE = 0.7  # fraction of its in-frame area that every object keeps visible
_PLACEMENT_TRIES = 12
_OBJECT_COUNTS = (1, 2, 3, 4)
_OBJECT_COUNT_P = (0.25, 0.3, 0.25, 0.2)
_TEXTURES = ("plain", "noise", "stripes", "spots", "shaded")
_PATTERNS = ("plain", "noise", "stripes", "blotches")


@dataclass
class Object:
    """A placed object; positions and radius are fractions of the image size."""

    category: int
    cx: float
    cy: float
    radius: float
    angle: float  # radians
    params: tuple[float, ...]  # family-specific proportions
    hue: float  # degrees in [0, 360)
    sat: float
    val: float
    texture: str
    amplitude: float  # strength of the texture's brightness modulation
    texture_params: dict = field(default_factory=dict)


@dataclass
class Background:
    """Background appearance; all fields are independent of the rendered size."""

    val: float
    tint_hue: float
    tint_sat: float
    gradient_angle: float
    gradient_amp: float
    pattern: str
    pattern_params: dict
    grain_seed: int


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The scene's generator: stream (seed, split id, index)."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index]))


def _draw_texture(rng: np.random.Generator) -> tuple[str, float, dict]:
    """Texture kind, brightness amplitude and its parameters (in the object frame)."""
    texture = str(rng.choice(_TEXTURES))
    amplitude = rng.uniform(0.15, 0.35)
    params: dict = {}
    if texture == "noise":
        params["grid"] = rng.uniform(-1.0, 1.0, size=(5, 5))
    elif texture == "stripes":
        params.update(freq=rng.uniform(0.9, 1.6), angle=rng.uniform(0, math.pi), phase=rng.uniform(0, 1))
    elif texture == "spots":
        count = int(rng.integers(3, 7))
        rho, phi = np.sqrt(rng.uniform(0, 0.8, count)), rng.uniform(0, 2 * math.pi, count)
        params.update(centres=np.stack([rho * np.cos(phi), rho * np.sin(phi)], 1))  # (K, 2)
        params.update(radius=rng.uniform(0.2, 0.3), sign=float(rng.choice([-1.0, 1.0])))
    elif texture == "shaded":
        params["angle"] = rng.uniform(0, 2 * math.pi)
    return texture, amplitude, params


def _draw_object(category: int, radius: float, rng: np.random.Generator) -> Object:
    """An object of one category with its shape, colour and texture; placed at the centre."""
    name = SYNTHETIC_CLASSES[category]
    params, angle = draw_params(name, rng), draw_angle(name, rng)
    hue = rng.uniform(*CATEGORY_HUES[name]) % 360.0
    sat, val = rng.uniform(0.4, 0.95), rng.uniform(0.45, 1.0)
    texture, amplitude, texture_params = _draw_texture(rng)
    return Object(
        category=category,
        cx=0.5,
        cy=0.5,
        radius=radius,
        angle=angle,
        params=params,
        hue=hue,
        sat=sat,
        val=val,
        texture=texture,
        amplitude=amplitude,
        texture_params=texture_params,
    )


def _try_place(obj: Object, owner: np.ndarray, visible: list[int], totals: list[int]) -> bool:
    """Commit ``obj`` to the layout grid unless it would hide too much of an earlier object."""
    box = bbox(obj, _LAYOUT_GRID)
    covered = inside(obj, box, _LAYOUT_GRID, lattice=False)  # (h, w) one sample per layout cell
    region = owner[box[0] : box[1], box[2] : box[3]]  # (h, w) view
    lost = np.bincount(region[covered].astype(np.int64) + 1, minlength=len(visible) + 1)[1:]
    if any(vis - lo < _MIN_VISIBLE * tot for vis, lo, tot in zip(visible, lost, totals, strict=True)):
        return False
    region[covered] = len(visible)
    visible[:] = [vis - int(lo) for vis, lo in zip(visible, lost, strict=True)]
    count = int(covered.sum())
    visible.append(count)
    totals.append(count)
    return True


def plan_objects(rng: np.random.Generator) -> list[Object]:
    """1–4 objects in drawing order; candidates that would occlude too much are moved or dropped."""
    count = int(rng.choice(_OBJECT_COUNTS, p=_OBJECT_COUNT_P))
    high = _RADIUS_RANGE[1] - 2.0 * (count - 1)  # more objects, smaller objects
    owner = np.full((_LAYOUT_GRID, _LAYOUT_GRID), -1, dtype=np.int8)  # (G, G) top object per cell
    visible: list[int] = []
    totals: list[int] = []
    objects: list[Object] = []
    for _ in range(count):
        if objects and rng.random() < 0.25:
            category = objects[int(rng.integers(len(objects)))].category  # repeats give counts
        else:
            category = int(rng.integers(len(SYNTHETIC_CLASSES)))
        radius = rng.uniform(_RADIUS_RANGE[0], high) / REFERENCE_SIZE
        obj = _draw_object(category, radius, rng)
        margin = 0.7 * radius
        for _ in range(_PLACEMENT_TRIES):
            obj.cx, obj.cy = (float(c) for c in rng.uniform(margin, 1.0 - margin, size=2))
            if _try_place(obj, owner, visible, totals):
                objects.append(obj)
                break
    return objects


def plan_background(rng: np.random.Generator) -> Background:
    """A desaturated background: base grey, faint tint, gradient and one pattern."""
    pattern = str(rng.choice(_PATTERNS))
    params: dict = {}
    if pattern == "noise":
        params.update(grid=rng.uniform(-1, 1, size=(7, 7)), amp=rng.uniform(0.06, 0.14))
    elif pattern == "stripes":
        params.update(freq=rng.uniform(3, 8), angle=rng.uniform(0, math.pi), amp=rng.uniform(0.04, 0.1))
    elif pattern == "blotches":
        params.update(grid=rng.uniform(-1, 1, size=(3, 3)), amp=rng.uniform(0.1, 0.2))
        params.update(fine=rng.uniform(-1, 1, size=(12, 12)), fine_amp=rng.uniform(0.03, 0.06))
    return Background(
        val=rng.uniform(0.3, 0.85),
        tint_hue=rng.uniform(0, 360),
        tint_sat=rng.uniform(0, 0.12),
        gradient_angle=rng.uniform(0, 2 * math.pi),
        gradient_amp=rng.uniform(0, 0.15),
        pattern=pattern,
        pattern_params=params,
        grain_seed=int(rng.integers(2**31)),
    )
