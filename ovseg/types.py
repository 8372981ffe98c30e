"""The batches that flow between data modules and methods; tensor shapes are written here once.

B = batch size, S = training crop size, L = caption tokens, H × W = an evaluation image's ORIGINAL
size (evaluation batches hold one image each, as sizes differ).
"""

from __future__ import annotations

from typing import TypedDict

import torch


class EvalBatch(TypedDict):
    """An evaluation batch from ``SegDataModule``."""

    image: torch.Tensor  # (B, 3, H, W) uint8 RGB at the original size
    label: torch.Tensor  # (B, H, W) int64: class ids, 255 ignore (after reduce_zero_label if any)
    name: list[str]  # image ids


class _PairBatchRequired(TypedDict):
    image: torch.Tensor  # (B, 3, S, S) float, normalised with the method's statistics
    text: torch.Tensor  # (B, L) int64 caption tokens
    caption: list[str]  # the raw captions
    crop_box: torch.Tensor  # (B, 4) int64: top, left, height, width of the crop in the original image
    key: list[str]  # sample keys


class PairBatch(_PairBatchRequired, total=False):
    """A training batch of image-text pairs from ``ImageTextDataModule``."""

    superpixels: torch.Tensor  # (B, S, S) int64 superpixel ids, cropped with the image
