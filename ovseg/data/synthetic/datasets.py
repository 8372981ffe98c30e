"""Torch datasets over the synthetic benchmark: training pairs ("train") and segmentation GT ("eval",
or the "tune" stream to choose recipes on)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic.raster import IGNORE_INDEX
from ovseg.data.synthetic.scene import check_int, render_scene


def _item_index(index: int, length: int) -> int:
    """Validate a dataset index (negative counts from the end); IndexError when out of range."""
    index = check_int("index", index, -length)
    if index >= length:
        raise IndexError(f"index {index} out of range for a dataset of length {length}")
    return index % length


class _SyntheticDataset(Dataset):
    """Shared argument checks of the synthetic datasets."""

    class_names: tuple[str, ...] = SYNTHETIC_CLASSES
    ignore_index: int = IGNORE_INDEX

    def __init__(self, length: int, image_size: int, seed: int) -> None:
        self.length = check_int("length", length, 1)
        self.image_size = check_int("image_size", image_size, 32)
        self.seed = check_int("seed", seed, 0)

    def __len__(self) -> int:
        return self.length

    def _checked(self, index: int) -> int:
        try:
            return _item_index(index, self.length)
        except ValueError:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}") from None


class SyntheticPairDataset(_SyntheticDataset):
    """Image-text training pairs: ``{"image": PIL RGB, "caption": str, "key": str}``."""

    def __init__(self, length: int = 4096, image_size: int = 64, seed: int = 0) -> None:
        super().__init__(length, image_size, seed)

    def __getitem__(self, index: int) -> dict:
        index = self._checked(index)
        scene = render_scene(self.seed, index, "train", self.image_size)
        return {
            "image": Image.fromarray(scene.image),
            "caption": scene.caption,
            "key": f"synthetic-{self.seed}-{index:08d}",
        }


SEG_SPLITS = ("eval", "tune")


class SyntheticSegDataset(_SyntheticDataset):
    """Images with dense GT: the evaluation split ("eval") or the tuning stream ("tune").

    Items: ``{"image": (3, H, W) uint8, "label": (H, W) int64, "name": str}``; label 0 is background,
    ``i + 1`` is ``SYNTHETIC_CLASSES[i]`` and 255 is ignored.
    """

    def __init__(self, length: int = 256, image_size: int = 64, seed: int = 0, split: str = "eval") -> None:
        super().__init__(length, image_size, seed)
        if split not in SEG_SPLITS:
            raise ValueError(f"split must be one of {', '.join(SEG_SPLITS)}, got {split!r}")
        self.split = split

    def __getitem__(self, index: int) -> dict:
        index = self._checked(index)
        scene = render_scene(self.seed, index, self.split, self.image_size)
        return {
            "image": torch.from_numpy(scene.image).permute(2, 0, 1).contiguous(),  # (3, H, W)
            "label": torch.from_numpy(scene.mask.astype(np.int64)),  # (H, W)
            "name": f"synthetic-{self.split}-{index:06d}",
        }
