"""Shape families of the synthetic benchmark: one inside test per category, with its random proportions.

Every test takes object-frame coordinates ``(u, v)`` in radii (the shape lies within radius ~1, always
within :data:`EXTENT`) and returns a bool array of the broadcast shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

EXTENT = 1.25  # every shape lies within this many radii of its centre

# ---------------------------------------------------------------------------------------------------
# Shape families: inside tests in the object frame, where the shape lies within radius ~1.


def _ball(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Filled ellipse with semi-axes 1 and ``aspect``."""
    (aspect,) = p
    return u * u + (v / aspect) ** 2 <= 1.0


def _box(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Rectangle with half sizes 0.8 × ``half_h`` and corner radius ``corner``."""
    half_h, corner = p
    qx = np.abs(u) - (0.8 - corner)
    qy = np.abs(v) - (half_h - corner)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) <= corner


def _star(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Star polygon with ``points`` tips at radius 1 and inner vertices at radius ``inner``."""
    points, inner = p
    period = 2.0 * math.pi / points
    rho = np.hypot(u, v)
    beta = np.abs(np.mod(np.arctan2(v, u) + period / 2, period) - period / 2)  # angle to nearest tip
    px, py = rho * np.cos(beta), rho * np.sin(beta)
    ix, iy = inner * math.cos(period / 2), inner * math.sin(period / 2)
    return (ix - 1.0) * py - iy * (px - 1.0) >= 0.0  # origin side of the tip-to-inner-vertex edge


def _ring(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Annulus between radii ``inner`` and 1."""
    (inner,) = p
    rr = u * u + v * v
    return (rr <= 1.0) & (rr >= inner * inner)


def _cross(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Plus sign with arms of length 1 and half width ``arm``."""
    (arm,) = p
    au, av = np.abs(u), np.abs(v)
    return ((au <= arm) & (av <= 1.0)) | ((av <= arm) & (au <= 1.0))


def _moon(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Crescent: the unit disc minus a disc of radius ``bite`` centred at (``offset``, 0)."""
    offset, bite = p
    return (u * u + v * v <= 1.0) & ((u - offset) ** 2 + v * v > bite * bite)


def _heart(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Heart curve (x² + y² − 1)³ ≤ x² y³, lobes up, scaled into radius ~1."""
    (width,) = p
    x = u * 1.15 / width
    y = 0.125 - v * 1.15  # image rows grow downwards
    xx, r = x * x, x * x + y * y - 1.0
    return r * r * r <= xx * y * y * y


def _arrow(u: np.ndarray, v: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
    """Arrow along +u from -1 to 1: a shaft of half width ``shaft`` and a head of ``head`` × ``length``."""
    shaft, head, length = p
    base = 1.0 - length
    in_shaft = (u >= -1.0) & (u <= base) & (np.abs(v) <= shaft)
    in_head = (u >= base) & (np.abs(v) <= head * (1.0 - u) / length)
    return in_shaft | in_head


SHAPES: dict[str, Callable[[np.ndarray, np.ndarray, tuple[float, ...]], np.ndarray]] = {
    "ball": _ball,
    "box": _box,
    "star": _star,
    "ring": _ring,
    "cross": _cross,
    "moon": _moon,
    "heart": _heart,
    "arrow": _arrow,
}


def draw_params(name: str, rng: np.random.Generator) -> tuple[float, ...]:
    """Random proportions of one shape family."""
    if name == "ball":
        return (rng.uniform(0.7, 1.0),)
    if name == "box":
        return (rng.uniform(0.5, 0.8), rng.uniform(0.0, 0.3))
    if name == "star":
        return (float(rng.integers(5, 7)), rng.uniform(0.4, 0.52))
    if name == "ring":
        return (rng.uniform(0.45, 0.62),)
    if name == "cross":
        return (rng.uniform(0.26, 0.36),)
    if name == "moon":
        return (rng.uniform(0.35, 0.55), rng.uniform(0.75, 0.9))
    if name == "heart":
        return (rng.uniform(0.9, 1.05),)
    return (rng.uniform(0.2, 0.3), rng.uniform(0.55, 0.75), rng.uniform(0.7, 0.9))  # arrow


def draw_angle(name: str, rng: np.random.Generator) -> float:
    """Rotation in radians; hearts stay roughly upright, rings and balls turn freely."""
    if name == "heart":
        return rng.uniform(-0.6, 0.6)
    return rng.uniform(0.0, 2.0 * math.pi)
