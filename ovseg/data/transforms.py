"""Training-time image and text transforms: crops that report their box, normalisation, tokenisation.

The crop box is always (top, left, height, width) in ORIGINAL image pixels, so anything computed on
the full image (a superpixel map, for instance) can be cut with the very same box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from ovseg.errors import UnknownNameError
from ovseg.methods.base import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

Stats = tuple[float, float, float]

NORMALIZATIONS: dict[str, tuple[Stats, Stats]] = {
    "clip": (CLIP_MEAN, CLIP_STD),
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def get_normalization(name: str) -> tuple[Stats, Stats]:
    """(mean, std) of a named preset; raises UnknownNameError listing the presets."""
    if name not in NORMALIZATIONS:
        raise UnknownNameError(f"unknown normalization '{name}'. Valid names: {', '.join(NORMALIZATIONS)}.")
    return NORMALIZATIONS[name]


class CropBox(NamedTuple):
    """A crop in original image pixels."""

    top: int
    left: int
    height: int
    width: int


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → uint8 tensor (3, H, W)."""
    array = np.asarray(image.convert("RGB"))  # (H, W, 3)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()  # (3, H, W)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images in [0, 255] or float images in [0, 1], (..., 3, H, W) → float32 (x − mean) / std."""
    if images.shape[-3] != 3:
        raise ValueError(f"normalize expects (..., 3, H, W) images, got shape {tuple(images.shape)}.")
    scaled = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()  # (..., 3, H, W)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(3, 1, 1)
    return (scaled - mean_t) / std_t  # (..., 3, H, W)


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return float(torch.empty(1).uniform_(low, high, generator=generator).item())


def _randint(high_inclusive: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(0, high_inclusive + 1, (1,), generator=generator).item())


def random_resized_box(
    width: int,
    height: int,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> CropBox:
    """A random box covering ``scale`` of the area with aspect ``ratio`` (torchvision's rule).

    Ten tries at a random area and log-uniform aspect; if none fits, the largest centred box whose
    aspect is clamped into ``ratio``.
    """
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_low, log_high, generator))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            return CropBox(_randint(height - h, generator), _randint(width - w, generator), h, w)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        w, h = round(height * max(ratio)), height
    else:
        w, h = width, height
    return CropBox((height - h) // 2, (width - w) // 2, h, w)


def center_box(width: int, height: int) -> CropBox:
    """The largest centred square."""
    side = min(width, height)
    return CropBox((height - side) // 2, (width - side) // 2, side, side)


def crop_resize(image: Image.Image, box: CropBox, size: int) -> Image.Image:
    """Cut ``box`` out of ``image`` and resize it (bicubic) to ``size`` × ``size``."""
    region = image.crop((box.left, box.top, box.left + box.width, box.top + box.height))
    return region.resize((size, size), Image.Resampling.BICUBIC)


class RandomResizedCropWithBox:
    """RandomResizedCrop (torchvision semantics, bicubic) that also returns its box.

    Args:
        size: output side S.
        scale: range of the crop's share of the image area.
        ratio: range of the crop's aspect ratio (width / height).
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        if not (0 < scale[0] <= scale[1] <= 1.0):
            raise ValueError(f"crop scale must satisfy 0 < low <= high <= 1, got {tuple(scale)}.")
        if not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"crop ratio must satisfy 0 < low <= high, got {tuple(ratio)}.")
        self.size = size
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)

    def __call__(
        self, image: Image.Image, generator: torch.Generator | None = None
    ) -> tuple[Image.Image, CropBox]:
        box = random_resized_box(image.width, image.height, self.scale, self.ratio, generator)
        return crop_resize(image, box, self.size), box


class CenterCropWithBox:
    """Deterministic evaluation crop: the largest centred square, resized (bicubic) to S."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(
        self, image: Image.Image, generator: torch.Generator | None = None
    ) -> tuple[Image.Image, CropBox]:
        box = center_box(image.width, image.height)
        return crop_resize(image, box, self.size), box


class ClipTokenizer:
    """CLIP BPE tokenisation (open_clip's bundled ``SimpleTokenizer``, works offline).

    Each text becomes ``[SOT] tokens [EOT] 0 ...``; a text too long for the context is truncated so
    that EOT is still its last token (CLIP text encoders pool at the EOT position). Picklable: the
    vocabulary is loaded lazily in each process.

    Args:
        context_length: tokens per text L (CLIP: 77; SegCLIP trains with 32).
    """

    def __init__(self, context_length: int = 77) -> None:
        if context_length < 2:
            raise ValueError(f"context_length must be at least 2 (SOT and EOT), got {context_length}.")
        self.context_length = context_length
        self._tokenizer = None

    def __getstate__(self) -> dict:
        return {"context_length": self.context_length, "_tokenizer": None}

    @property
    def tokenizer(self):
        """The underlying open_clip ``SimpleTokenizer``."""
        if self._tokenizer is None:
            from open_clip.tokenizer import SimpleTokenizer

            self._tokenizer = SimpleTokenizer()
        return self._tokenizer

    @property
    def sot_token_id(self) -> int:
        return self.tokenizer.sot_token_id

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eot_token_id

    def encode(self, text: str) -> torch.Tensor:
        """One text → int64 (L,)."""
        body = self.tokenizer.encode(text)[: self.context_length - 2]
        ids = [self.sot_token_id, *body, self.eot_token_id]
        tokens = torch.zeros(self.context_length, dtype=torch.int64)  # (L,)
        tokens[: len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return tokens

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Texts → int64 (B, L); a single string gives (1, L)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return torch.zeros(0, self.context_length, dtype=torch.int64)  # (0, L)
        return torch.stack([self.encode(text) for text in texts])  # (B, L)
