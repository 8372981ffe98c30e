"""The oracle's labelling: every class-agnostic mask takes its majority ground-truth label."""

from __future__ import annotations

import torch

from ovseg.evaluation.metrics import IGNORE_INDEX


def majority_labels(
    segments: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Paint each segment with the most frequent ground-truth label among its pixels.

    Pixels whose ground truth is ``ignore_index`` or outside ``[0, num_classes)`` never vote; a
    segment of such pixels only gets label 0 (they are not scored). Ties go to the lower label.

    Args:
        segments: (H, W) integer segment ids (any non-negative values).
        target: (H, W) ground-truth labels.
        num_classes: labels the metric scores.
        ignore_index: the ground truth's ignore label.

    Returns:
        (H, W) int64 labels.
    """
    if segments.shape != target.shape:
        raise ValueError(f"segments {tuple(segments.shape)} and target {tuple(target.shape)} differ in size.")
    _, ids = torch.unique(segments.reshape(-1), return_inverse=True)  # (H*W,) in 0..S-1
    count = int(ids.max()) + 1 if ids.numel() else 0
    target = target.reshape(-1).long()  # (H*W,)
    valid = (target >= 0) & (target < num_classes) & (target != ignore_index)
    votes = torch.bincount(ids[valid] * num_classes + target[valid], minlength=count * num_classes)
    winners = votes.reshape(count, num_classes).argmax(dim=1)  # (S,) first maximum: the lower label
    return winners[ids].reshape(segments.shape)
