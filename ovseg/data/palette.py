"""The PASCAL VOC colour map, used to write and read palette label PNGs and to colour overlays."""

from __future__ import annotations

import numpy as np


def voc_palette(size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colours: label i's bits spread over the high bits of R, G and B."""
    palette = np.zeros((size, 3), dtype=np.uint8)
    for label in range(size):
        bits, red, green, blue = label, 0, 0, 0
        for shift in range(7, -1, -1):
            red |= (bits & 1) << shift
            green |= ((bits >> 1) & 1) << shift
            blue |= ((bits >> 2) & 1) << shift
            bits >>= 3
        palette[label] = (red, green, blue)
    return palette
