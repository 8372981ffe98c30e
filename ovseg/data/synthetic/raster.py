"""Rendering of a planned scene: supersampled coverage, colours and textures, the image and the mask.

Objects are supersampled on the lattice of :mod:`ovseg.data.synthetic.geometry` (``SUPERSAMPLE`` steps
per pixel, edge samples shared by neighbouring pixels) and blended by (trapezoid-rule) coverage at their
edges. Mask values: 0 background, ``i + 1`` for category ``i``, :data:`IGNORE_INDEX` where a pixel is not
covered by one single layer.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ovseg.data.synthetic.geometry import SUPERSAMPLE, bbox, centres, frame, inside
from ovseg.data.synthetic.layout import Background, Object
from ovseg.data.synthetic.shapes import EXTENT

IGNORE_INDEX = 255
# Trapezoid-rule weights (doubled to stay integer) of the SUPERSAMPLE + 1 lattice samples along one axis
# of a pixel; the two edge samples are shared with the neighbouring pixel.
_WEIGHTS = (1,) + (2,) * (SUPERSAMPLE - 1) + (1,)
_FULL = (2 * SUPERSAMPLE) ** 2  # coverage of a pixel that one layer covers completely

# ---------------------------------------------------------------------------------------------------
# Appearance.


def _hsv_to_rgb(hue: np.ndarray | float, sat: np.ndarray | float, val: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] from hue in degrees and saturation, value in [0, 1]."""
    h = np.mod(hue, 360.0) / 60.0
    channels = [val - val * sat * np.clip(np.minimum((n + h) % 6, 4 - (n + h) % 6), 0, 1) for n in (5, 3, 1)]
    return np.stack(channels, axis=-1)


def _value_noise(grid: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Smooth noise: ``grid`` interpolated (smoothstep) at coordinates in [0, 1] (clipped)."""
    g = grid.shape[0] - 1
    gy, gx = np.clip(ys, 0, 1) * g, np.clip(xs, 0, 1) * g
    iy, ix = np.minimum(gy.astype(np.int64), g - 1), np.minimum(gx.astype(np.int64), g - 1)
    fy, fx = gy - iy, gx - ix
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = grid[iy, ix] * (1 - fx) + grid[iy, ix + 1] * fx
    bottom = grid[iy + 1, ix] * (1 - fx) + grid[iy + 1, ix + 1] * fx
    return top * (1 - fy) + bottom * fy


def _texture(obj: Object, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Texture signal in about [-1, 1] at object-frame points."""
    p = obj.texture_params
    if obj.texture == "noise":
        return _value_noise(p["grid"], (v + EXTENT) / (2 * EXTENT), (u + EXTENT) / (2 * EXTENT))
    if obj.texture == "stripes":
        along = u * math.cos(p["angle"]) + v * math.sin(p["angle"])
        return np.tanh(3.0 * np.sin(2 * math.pi * (p["freq"] * along + p["phase"])))
    if obj.texture == "spots":
        spots = p["centres"]  # (K, 2)
        dist = np.hypot(u[..., None] - spots[:, 0], v[..., None] - spots[:, 1]).min(-1)
        return p["sign"] * np.clip((p["radius"] - dist) / 0.06, 0, 1)
    if obj.texture == "shaded":
        return np.clip(u * math.cos(p["angle"]) + v * math.sin(p["angle"]), -1, 1)
    return np.zeros(np.broadcast_shapes(u.shape, v.shape))


def _object_colours(obj: Object, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """(h, w, 3) colour of the object's surface at the pixel centres of its box."""
    y0, y1, x0, x1 = box
    u, v = frame(obj, centres(y0, y1, size)[:, None], centres(x0, x1, size)[None, :])
    shade = obj.amplitude * _texture(obj, u, v)  # (h, w) in about [-amplitude, amplitude]
    light = np.maximum(shade, 0.0)  # lighten towards white (visible even for bright colours)
    val = obj.val * (1.0 + np.minimum(shade, 0.0))  # darken
    return _hsv_to_rgb(obj.hue, obj.sat * (1.0 - light), val + (1.0 - val) * light)


def _background_colours(bg: Background, size: int) -> np.ndarray:
    """(size, size, 3) background colour at the pixel centres."""
    ys, xs = centres(0, size, size)[:, None], centres(0, size, size)[None, :]
    c, s = math.cos(bg.gradient_angle), math.sin(bg.gradient_angle)
    val = bg.val + bg.gradient_amp * ((xs - 0.5) * c + (ys - 0.5) * s) * 2  # (size, size)
    p = bg.pattern_params
    if bg.pattern in ("noise", "blotches"):
        val = val + p["amp"] * _value_noise(p["grid"], ys, xs)
    if bg.pattern == "blotches":
        val = val + p["fine_amp"] * _value_noise(p["fine"], ys, xs)
    if bg.pattern == "stripes":
        c, s = math.cos(p["angle"]), math.sin(p["angle"])
        val = val + p["amp"] * np.sin(2 * math.pi * p["freq"] * (xs * c + ys * s))
    grain = np.random.default_rng(bg.grain_seed).normal(0.0, 0.015, size=(size, size))
    return _hsv_to_rgb(bg.tint_hue, bg.tint_sat, np.clip(val + grain, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------------
# Rendering.


def rasterize(objects: list[Object], size: int) -> np.ndarray:
    """(size*S + 1, size*S + 1) int8: top-most object at each lattice sample, -1 for background."""
    ss = SUPERSAMPLE
    owner = np.full((size * ss + 1, size * ss + 1), -1, dtype=np.int8)
    for k, obj in enumerate(objects):
        y0, y1, x0, x1 = box = bbox(obj, size)
        covered = inside(obj, box, size, lattice=True)  # (h*S + 1, w*S + 1)
        owner[y0 * ss : y1 * ss + 1, x0 * ss : x1 * ss + 1][covered] = k
    return owner


def _region(owner: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The lattice samples of the pixels in ``box`` (neighbouring boxes share their edge samples)."""
    y0, y1, x0, x1 = box
    ss = SUPERSAMPLE
    return owner[y0 * ss : y1 * ss + 1, x0 * ss : x1 * ss + 1]


def _coverage(owner: np.ndarray, layer: int) -> np.ndarray:
    """(h, w) uint8 trapezoid-rule coverage of each pixel by ``layer``, :data:`_FULL` when complete."""
    ss = SUPERSAMPLE
    hits = (owner == layer).view(np.uint8)  # (h*S + 1, w*S + 1)
    h, w = (hits.shape[0] - 1) // ss, (hits.shape[1] - 1) // ss
    cols = functools.reduce(np.add, [wt * hits[:, j : j + ss * w : ss] for j, wt in enumerate(_WEIGHTS)])
    return functools.reduce(np.add, [wt * cols[i : i + ss * h : ss] for i, wt in enumerate(_WEIGHTS)])


def paint(objects: list[Object], bg: Background, owner: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 image: layer colours weighted by their coverage of each pixel."""
    full = np.float32(_FULL)
    image = _background_colours(bg, size) * (_coverage(owner, -1) / full)[..., None]  # (H, W, 3)
    for k, obj in enumerate(objects):
        y0, y1, x0, x1 = box = bbox(obj, size)
        weight = _coverage(_region(owner, box), k) / full  # (h, w)
        image[y0:y1, x0:x1] += weight[..., None] * _object_colours(obj, box, size)
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def label_mask(objects: list[Object], owner: np.ndarray, size: int) -> np.ndarray:
    """(H, W) uint8 labels: the class of the one layer covering a whole pixel, else IGNORE_INDEX."""
    mask = np.full((size, size), IGNORE_INDEX, dtype=np.uint8)
    mask[_coverage(owner, -1) == _FULL] = 0
    for k, obj in enumerate(objects):
        y0, y1, x0, x1 = box = bbox(obj, size)
        region = mask[y0:y1, x0:x1]  # (h, w) view
        region[_coverage(_region(owner, box), k) == _FULL] = obj.category + 1
    return mask
