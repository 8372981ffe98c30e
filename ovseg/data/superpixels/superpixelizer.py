"""Per-sample superpixels at training time: a cached map when there is one, else computed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ovseg.data.superpixels.cache import SuperpixelCache
from ovseg.data.superpixels.compute import SuperpixelSettings, compute_superpixels, crop_labels, scaled_size
from ovseg.data.transforms import CropBox
from ovseg.errors import OvsegUserError


class Superpixelizer:
    """Per-sample superpixels for a crop: from the cache when there, else computed on the fly."""

    def __init__(
        self,
        settings: SuperpixelSettings = SuperpixelSettings(),  # noqa: B008 (a frozen dataclass)
        cache_dir: str | None = None,
    ) -> None:
        self.settings = settings
        self.cache = SuperpixelCache(cache_dir) if cache_dir else None

    def full_map(self, image: Image.Image, image_key: str) -> np.ndarray:
        """(h, w) labels of the whole image at the settings' short side."""
        expected = scaled_size(*image.size, self.settings.short_side)
        labels = self.cache.load(image_key) if self.cache is not None else None
        if labels is None:
            return compute_superpixels(image, self.settings)
        if labels.shape != (expected[1], expected[0]):
            raise OvsegUserError(
                f"superpixel cache map '{self.cache.path(image_key)}' is {labels.shape} but image "
                f"'{image_key}' at short side {self.settings.short_side} is {(expected[1], expected[0])}: "
                "the cache was built from other images or another short side; rebuild it with "
                "`ovseg prepare superpixels`."
            )
        return labels

    def __call__(self, image: Image.Image, image_key: str, box: CropBox, size: int) -> np.ndarray:
        """int64 (S, S) superpixels of the crop ``box`` of ``image``."""
        return crop_labels(self.full_map(image, image_key), box, image.size, size)
