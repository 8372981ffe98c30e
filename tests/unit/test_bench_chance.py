"""Chance levels against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from ovseg.bench.chance import chance_levels


def test_all_background_is_the_background_iou_over_the_class_count():
    label = torch.tensor([[0, 0, 0, 1], [2, 255, 0, 0]])  # 5 background of 7 scored pixels
    levels = chance_levels([label], num_classes=3)
    assert levels["all_background"] == pytest.approx(100 * (5 / 7) / 3)


def test_uniform_guessing_scores_about_one_over_k_squared_for_balanced_classes():
    generator = torch.Generator().manual_seed(123)  # not the guesses' seed
    labels = [torch.randint(0, 4, (64, 64), generator=generator) for _ in range(4)]
    # Balanced classes, uniform guesses: I = n/16, P = G = n/4 per class → IoU = 1/7.
    assert chance_levels(labels, num_classes=4)["uniform"] == pytest.approx(100 / 7, abs=0.5)
