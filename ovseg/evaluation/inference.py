"""Test-time inference shared by every method: resize, whole/slide windows, back to original size.

A method only provides ``segment_fn(images) -> scores`` on a batch of (normalised) images; the
scores may come out at any resolution (a patch grid, say) and are resized bilinearly here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

SegmentFn = Callable[[torch.Tensor], torch.Tensor]


def short_side_size(height: int, width: int, short_side: int, max_long_side: int = 2048) -> tuple[int, int]:
    """Output (H, W) of a keep-ratio resize to ``short_side``, long side capped at ``max_long_side``.

    Rounds like mmseg's ``Resize(keep_ratio=True)`` with ``img_scale=(max_long_side, short_side)``.
    """
    scale = min(short_side / min(height, width), max_long_side / max(height, width))
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_short_side(
    images: torch.Tensor, short_side: int | None, max_long_side: int = 2048
) -> torch.Tensor:
    """Resize (B, C, H, W) images so that the short side is ``short_side`` (bilinear, ratio kept).

    ``short_side=None`` keeps the images at their own size.
    """
    if short_side is None:
        return images
    size = short_side_size(images.shape[-2], images.shape[-1], short_side, max_long_side)
    if size == tuple(images.shape[-2:]):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)  # (B, C, h, w)


def resize_scores(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, K, h, w) scores to ``size``; a no-op when already there."""
    if tuple(scores.shape[-2:]) == tuple(size):
        return scores
    return F.interpolate(scores, size=size, mode="bilinear", align_corners=False)  # (B, K, H, W)


def whole_inference(segment_fn: SegmentFn, images: torch.Tensor) -> torch.Tensor:
    """One forward on the whole image; scores at the input size, (B, K, H, W)."""
    return resize_scores(segment_fn(images), images.shape[-2:])


def window_starts(length: int, crop: int, stride: int) -> list[int]:
    """Window offsets along one axis: every ``stride``, the last one shifted back inside the image."""
    if crop <= 0 or stride <= 0:
        raise ValueError(f"slide inference needs positive crop and stride, got crop={crop}, stride={stride}.")
    count = max(length - crop + stride - 1, 0) // stride + 1
    return [max(min(index * stride + crop, length) - crop, 0) for index in range(count)]


def slide_inference(segment_fn: SegmentFn, images: torch.Tensor, crop: int, stride: int) -> torch.Tensor:
    """Scores of overlapping ``crop``×``crop`` windows, averaged where windows overlap.

    A window never leaves the image: the last one along each axis is shifted back inside, and an
    image smaller than ``crop`` is one window of its own size. Returns (B, K, H, W).
    """
    height, width = images.shape[-2:]
    total: torch.Tensor | None = None
    count = images.new_zeros(1, 1, height, width)  # (1, 1, H, W)
    for top in window_starts(height, crop, stride):
        for left in window_starts(width, crop, stride):
            bottom, right = min(top + crop, height), min(left + crop, width)
            window = images[..., top:bottom, left:right]  # (B, C, h, w)
            scores = resize_scores(segment_fn(window), (bottom - top, right - left))  # (B, K, h, w)
            if total is None:
                total = scores.new_zeros(scores.shape[0], scores.shape[1], height, width)
            total[..., top:bottom, left:right] += scores
            count[..., top:bottom, left:right] += 1
    return total / count  # (B, K, H, W)


def infer_scores(
    segment_fn: SegmentFn,
    images: torch.Tensor,
    original_size: tuple[int, int],
    *,
    short_side: int | None,
    max_long_side: int = 2048,
    mode: str = "slide",
    crop: int = 448,
    stride: int = 224,
) -> torch.Tensor:
    """The protocol's full path: resize → whole/slide → scores at the ORIGINAL size, (B, K, H0, W0)."""
    resized = resize_short_side(images, short_side, max_long_side)  # (B, C, h, w)
    if mode == "whole":
        scores = whole_inference(segment_fn, resized)
    elif mode == "slide":
        scores = slide_inference(segment_fn, resized, crop, stride)
    else:
        raise ValueError(f"Unknown inference mode '{mode}'; use 'whole' or 'slide'.")
    return resize_scores(scores, original_size)  # (B, K, H0, W0)


def labels_from_scores(scores: torch.Tensor, bg_threshold: float | None) -> torch.Tensor:
    """Per-pixel labels from foreground class scores (B, K, H, W).

    Without background (``bg_threshold`` None) the label is the argmax, 0..K−1. With background,
    label 0 is background — a pixel whose best foreground score is below the threshold — and
    foreground class k gets label k+1. Background is never a text query.
    """
    best, index = scores.max(dim=1)  # (B, H, W) each
    if bg_threshold is None:
        return index
    return torch.where(best < bg_threshold, torch.zeros_like(index), index + 1)  # (B, H, W)
