"""Training augmentation of an (image, label map) pair: random rescale, random crop, random flip.

mmseg's standard supervised pipeline, which S-Seg+'s UperNet is trained with: resize the image so
that its short side is ``base_size`` × a ratio drawn from ``scale_range`` (aspect kept; bilinear for
the image, nearest for the labels), pad to at least ``crop`` (image 0, labels ``ignore_index``), cut
a random ``crop`` × ``crop`` window, flip it horizontally with probability ½. (mmseg's photometric
distortion and its "at most 75 % one class" crop retry are not done.)
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


class RandomScaleCropFlip:
    """Callable: (image (H, W, 3) uint8, labels (H, W) uint8) → (image (3, S, S) uint8, labels (S, S) int64).

    Args:
        crop: output side S.
        scale_range: ratio range of the rescale.
        base_size: short side before the ratio (default: ``crop``).
        ignore_index: label of padded pixels.
        flip: random horizontal flips.
    """

    def __init__(
        self,
        crop: int,
        scale_range: tuple[float, float] = (0.5, 2.0),
        base_size: int | None = None,
        ignore_index: int = 255,
        flip: bool = True,
    ) -> None:
        low, high = scale_range
        if crop < 1 or not 0 < low <= high:
            raise ValueError(
                f"need crop ≥ 1 and 0 < scale_range[0] ≤ scale_range[1], got {crop}, {scale_range}"
            )
        self.crop = crop
        self.scale_range = (float(low), float(high))
        self.base_size = base_size or crop
        self.ignore_index = ignore_index
        self.flip = flip

    def __call__(
        self, image: np.ndarray, labels: np.ndarray, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if image.shape[:2] != labels.shape:
            raise ValueError(f"image {image.shape[:2]} and labels {labels.shape} differ in size")
        height, width = labels.shape
        low, high = self.scale_range
        ratio = low + (high - low) * float(torch.rand(1, generator=generator))
        scale = self.base_size * ratio / min(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL (W, H)
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))  # (h, w, 3)
        labels = np.asarray(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST))  # (h, w)
        pad_h, pad_w = max(self.crop - labels.shape[0], 0), max(self.crop - labels.shape[1], 0)
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)))
            labels = np.pad(labels, ((0, pad_h), (0, pad_w)), constant_values=self.ignore_index)
        top = int(torch.randint(0, labels.shape[0] - self.crop + 1, (1,), generator=generator))
        left = int(torch.randint(0, labels.shape[1] - self.crop + 1, (1,), generator=generator))
        image = image[top : top + self.crop, left : left + self.crop]  # (S, S, 3)
        labels = labels[top : top + self.crop, left : left + self.crop]  # (S, S)
        if self.flip and float(torch.rand(1, generator=generator)) < 0.5:
            image, labels = image[:, ::-1], labels[:, ::-1]
        image_tensor = torch.from_numpy(image.copy()).permute(2, 0, 1).contiguous()  # (3, S, S)
        return image_tensor, torch.from_numpy(labels.astype(np.int64))  # (S, S)
