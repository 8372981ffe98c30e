"""Pixel grids and placed-object geometry shared by layout planning and rasterization.

Positions are fractions of the image size. A ``size`` grid has pixel centres at ``(i + 0.5) / size``;
its coverage lattice has :data:`SUPERSAMPLE` steps per pixel and includes both edges of every pixel, so
neighbouring pixels share their edge samples.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic.shapes import EXTENT, SHAPES

if TYPE_CHECKING:
    from ovseg.data.synthetic.layout import Object

SUPERSAMPLE = 4  # coverage lattice steps per pixel along each axis


def frame(obj: Object, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object-frame coordinates (in radii) of image points given as fractions of the image size."""
    dx, dy = xs - obj.cx, ys - obj.cy
    c, s = math.cos(obj.angle), math.sin(obj.angle)
    return (c * dx + s * dy) / obj.radius, (c * dy - s * dx) / obj.radius


def bbox(obj: Object, size: int) -> tuple[int, int, int, int]:
    """Pixel box (y0, y1, x0, x1) on a ``size`` grid that holds the whole in-frame shape."""
    reach = obj.radius * EXTENT
    y0, y1 = math.floor((obj.cy - reach) * size), math.ceil((obj.cy + reach) * size)
    x0, x1 = math.floor((obj.cx - reach) * size), math.ceil((obj.cx + reach) * size)
    return max(y0, 0), min(y1, size), max(x0, 0), min(x1, size)


def centres(lo: int, hi: int, size: int) -> np.ndarray:
    """Centres of pixels lo..hi-1 as fractions of the image size."""
    return (np.arange(lo, hi, dtype=np.float32) + 0.5) / np.float32(size)


def _lattice(lo: int, hi: int, size: int) -> np.ndarray:
    """Sample positions over pixels lo..hi-1: SUPERSAMPLE steps per pixel, both pixel edges included."""
    steps = np.arange(lo * SUPERSAMPLE, hi * SUPERSAMPLE + 1, dtype=np.float32)
    return steps / np.float32(size * SUPERSAMPLE)


def inside(obj: Object, box: tuple[int, int, int, int], size: int, lattice: bool) -> np.ndarray:
    """Bool inside test at the box's pixel centres (h, w) or lattice samples (h*S + 1, w*S + 1)."""
    y0, y1, x0, x1 = box
    axes = _lattice if lattice else centres
    u, v = frame(obj, axes(y0, y1, size)[:, None], axes(x0, x1, size)[None, :])
    return SHAPES[SYNTHETIC_CLASSES[obj.category]](u, v, obj.params)
