"""Felzenszwalb label maps at a fixed short side, and cutting them with an image crop's box.

A map is computed once per image on the image resized to ``short_side`` (SegCLIP: 224, with
scale=224, sigma=0.9, min_size=224). At training time the map is cut with the SAME box as the image
crop and resized (nearest) to the crop's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ovseg.data.transforms import CropBox


@dataclass(frozen=True)
class SuperpixelSettings:
    """Felzenszwalb settings and the short side the map is computed at."""

    short_side: int = 224
    scale: float = 224.0
    sigma: float = 0.9
    min_size: int = 224


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side resized to ``short_side``, aspect kept."""
    factor = short_side / min(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def compute_superpixels(
    image: Image.Image, settings: SuperpixelSettings = SuperpixelSettings()
) -> np.ndarray:
    """RGB image → int32 label map (h, w) at short side ``settings.short_side``."""
    from skimage.segmentation import felzenszwalb

    resized = image.convert("RGB").resize(
        scaled_size(*image.size, settings.short_side), Image.Resampling.BILINEAR
    )
    labels = felzenszwalb(
        np.asarray(resized), scale=settings.scale, sigma=settings.sigma, min_size=settings.min_size
    )  # (h, w)
    return labels.astype(np.int32)


def crop_labels(labels: np.ndarray, box: CropBox, original_size: tuple[int, int], size: int) -> np.ndarray:
    """Cut a label map with a box given in ORIGINAL pixels and resize it (nearest) to size × size.

    Every output pixel takes the label under its centre, mapped through the crop and the map's own
    scale. Labels are renumbered 0..K-1 in the crop.

    Args:
        labels: (h, w) map of the whole image at any scale.
        box: (top, left, height, width) in original pixels.
        original_size: (width, height) of the original image.
        size: output side S.

    Returns:
        int64 (S, S).
    """
    map_height, map_width = labels.shape
    width, height = original_size
    centres = (np.arange(size) + 0.5) / size  # (S,)
    rows = np.floor((box.top + centres * box.height) * map_height / height).astype(np.int64)  # (S,)
    cols = np.floor((box.left + centres * box.width) * map_width / width).astype(np.int64)  # (S,)
    rows = np.clip(rows, 0, map_height - 1)
    cols = np.clip(cols, 0, map_width - 1)
    crop = labels[rows[:, None], cols[None, :]].astype(np.int64)  # (S, S)
    present = np.bincount(crop.ravel()) > 0  # labels are small non-negative ints
    return (np.cumsum(present) - 1)[crop]  # (S, S)
