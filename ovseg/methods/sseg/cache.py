"""The pseudo-mask cache written by ``ovseg prepare pseudo-masks`` and read at training time.

One ``.npz`` per image key under the cache folder (``{cache}/{source name}/.../{key}.npz``, the
layout of the superpixel cache), written atomically: the cluster ids on DINO's patch grid of the
WHOLE image at ``short_side`` (uint8, (h, w)) and the original image size. ``params.json`` records
how the cache was built. At training time each map is cut with the crop's box (the same box as the
image) and resized (nearest) to the predicted masks' resolution.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ovseg.data.cache_settings import claim_settings, read_settings
from ovseg.data.superpixels import SuperpixelCache, crop_labels
from ovseg.data.transforms import CropBox
from ovseg.errors import OvsegUserError
from ovseg.methods.sseg.pseudo_masks import labels_to_masks
from ovseg.nn.dino import DINO_MODEL


@dataclass(frozen=True)
class PseudoMaskSettings:
    """How a cache's maps were made."""

    model: str = DINO_MODEL
    feature: str = "tokens"
    k: int = 8
    short_side: int = 224
    iters: int = 20
    normalize: bool = True


class PseudoMaskCache:
    """Cluster-id maps per image key, plus ``params.json``."""

    PARAMS_FILE = "params.json"

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self._paths = SuperpixelCache(directory)  # the same key → file rule

    def path(self, image_key: str) -> Path:
        return self._paths.path(image_key).with_suffix(".npz")

    def __contains__(self, image_key: str) -> bool:
        return self.path(image_key).is_file()

    def save(self, image_key: str, labels: np.ndarray, image_size: tuple[int, int]) -> None:
        """Write (h, w) cluster ids and the original (width, height) atomically."""
        path = self.path(image_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as handle:
                np.savez(handle, labels=labels.astype(np.uint8), image_size=np.asarray(image_size, np.int64))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def load(self, key: str) -> tuple[np.ndarray, tuple[int, int]] | None:
        """(labels (h, w), (width, height)) of a sample key, None when absent.

        A sample key whose own file is missing falls back to its parent key: COCO caption samples
        are keyed ``{image_key}/{caption id}`` and share their image's map.
        """
        for candidate in (key, key.rsplit("/", 1)[0] if "/" in key else None):
            if candidate and candidate in self:
                with np.load(self.path(candidate)) as data:
                    return data["labels"], tuple(int(v) for v in data["image_size"])
        return None

    def read_settings(self) -> PseudoMaskSettings | None:
        return read_settings(self.directory, self.PARAMS_FILE, PseudoMaskSettings)

    def claim(self, settings: PseudoMaskSettings) -> None:
        """Record the settings of a new cache, or check they match an existing one's."""
        claim_settings(self.directory, self.PARAMS_FILE, settings, "pseudo-mask")


class CachedPseudoMasks:
    """Pseudo-masks of training crops from a cache: each map cut with its crop box.

    Args:
        directory: the cache folder.
        k: the K the model expects (checked against the cache's settings).
    """

    def __init__(self, directory: str, k: int | None = None) -> None:
        self.cache = PseudoMaskCache(directory)
        if not self.cache.directory.is_dir():
            raise OvsegUserError(
                f"pseudo-mask cache '{directory}' does not exist. Build it with `ovseg prepare pseudo-masks "
                f"--source KIND [source flags] --cache {directory} --dino-weights FILE`, or leave "
                "pseudo_mask_cache unset to compute pseudo-masks online."
            )
        settings = self.cache.read_settings()
        self.k = settings.k if settings is not None else k
        if k is not None and settings is not None and settings.k != k:
            raise OvsegUserError(
                f"pseudo-mask cache '{directory}' holds K={settings.k} clusters but the model asks for "
                f"pseudo_mask_k={k}; set --model.pseudo_mask_k {settings.k} or rebuild the cache."
            )

    def labels(self, keys: list[str], boxes: torch.Tensor, size: int) -> torch.Tensor:
        """Cluster ids (B, size, size) of the crops ``boxes`` (top, left, height, width) of ``keys``."""
        maps = []
        for key, box in zip(keys, boxes.tolist(), strict=True):
            found = self.cache.load(key)
            if found is None:
                raise OvsegUserError(
                    f"no pseudo-mask for sample '{key}' in cache '{self.cache.directory}' (expected "
                    f"{self.cache.path(key)}); the cache was built from other data — rerun `ovseg prepare "
                    "pseudo-masks` with the training sources (it resumes)."
                )
            labels, image_size = found
            maps.append(torch.from_numpy(crop_labels(labels, CropBox(*box), image_size, size)))
        return torch.stack(maps)  # (B, S, S)

    def __call__(self, keys: list[str], boxes: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """Per sample the non-empty masks (K_b, *size) of its crop."""
        labels = self.labels(keys, boxes, max(size)).to(boxes.device)  # (B, S, S)
        return labels_to_masks(labels, self.k, size)
