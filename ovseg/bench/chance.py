"""Chance levels of a benchmark split, printed beside the methods' results."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ovseg.evaluation.metrics import SemSegIoU


def chance_levels(labels: Iterable[torch.Tensor], num_classes: int, seed: int = 0) -> dict[str, float]:
    """mIoU of predicting background everywhere, and of a uniformly random label per pixel.

    Args:
        labels: (H, W) ground-truth maps of the split (255 ignored).
        num_classes: labels scored, background (0) included.
        seed: seed of the uniform predictions.
    """
    background, uniform = SemSegIoU(num_classes), SemSegIoU(num_classes)
    generator = torch.Generator().manual_seed(seed)
    for label in labels:
        target = label[None]  # (1, H, W)
        background.update(torch.zeros_like(target), target)
        guess = torch.randint(0, num_classes, target.shape, generator=generator)  # (1, H, W)
        uniform.update(guess, target)
    return {"all_background": background.compute()["mIoU"], "uniform": uniform.compute()["mIoU"]}


def split_chance(datamodule, num_classes: int, seed: int = 0) -> dict[str, float]:
    """``chance_levels`` of the ground truth in ``datamodule``'s test split (batches of (B, H, W))."""
    labels = (label for batch in datamodule.test_dataloader() for label in batch["label"])
    return chance_levels(labels, num_classes, seed)
