"""Hungarian matching of N predicted masks to an image's K pseudo-masks (S-Seg §3, MaskFormer's rule).

Contract: no gradients, costs in fp32, the assignment solved on the CPU with
``scipy.optimize.linear_sum_assignment``; returns, per image, (prediction indices, target indices)
of the min(N, K) matched pairs. With K < N the N − K unmatched predictions get no pair (and no loss);
an image with no targets gets empty index tensors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

Match = tuple[torch.Tensor, torch.Tensor]  # (prediction indices, target indices), int64 each


def focal_cost(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Pairwise sigmoid focal loss, mean over pixels: (..., N, P) logits × (..., K, P) → (..., N, K)."""
    prob = logits.sigmoid()  # (..., N, P)
    positive = (
        alpha * (1 - prob) ** gamma * F.softplus(-logits)
    )  # (..., N, P): the loss where the target is 1
    negative = (1 - alpha) * prob**gamma * F.softplus(logits)  # (..., N, P): the loss where the target is 0
    pairs = positive @ targets.transpose(-1, -2) + negative @ (1 - targets).transpose(-1, -2)  # (..., N, K)
    return pairs / logits.shape[-1]


def dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise dice loss 1 − (2|p∩t| + 1)/(|p| + |t| + 1): (..., N, P) × (..., K, P) → (..., N, K)."""
    prob = logits.sigmoid()  # (..., N, P)
    numerator = 2 * prob @ targets.transpose(-1, -2)  # (..., N, K)
    denominator = prob.sum(-1)[..., :, None] + targets.sum(-1)[..., None, :]  # (..., N, K)
    return 1 - (numerator + 1) / (denominator + 1)


def solve(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minimum-cost assignment of an (N, K) cost matrix: min(N, K) (row, column) pairs."""
    rows, cols = linear_sum_assignment(cost)
    return rows.astype(np.int64), cols.astype(np.int64)


class HungarianMatcher:
    """Matches predictions to pseudo-masks by ``focal_weight``·focal + ``dice_weight``·dice cost.

    Args:
        focal_weight: weight of the focal cost (the loss weight, 20, by default).
        dice_weight: weight of the dice cost.
        alpha, gamma: focal loss parameters.
        chunk: images whose costs are computed together (bounds the (chunk, N, h·w) temporaries).
    """

    def __init__(
        self,
        focal_weight: float = 20.0,
        dice_weight: float = 1.0,
        alpha: float = 0.25,
        gamma: float = 2.0,
        chunk: int = 32,
    ) -> None:
        self.focal_weight = focal_weight
        self.dice_weight = dice_weight
        self.alpha = alpha
        self.gamma = gamma
        self.chunk = chunk

    @torch.no_grad()
    def cost(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(..., N, h, w) mask logits × (..., K, h, w) binary targets → (..., N, K) fp32 matching cost."""
        with torch.autocast(logits.device.type, enabled=False):
            logits = logits.flatten(-2).float()  # (..., N, P)
            targets = targets.flatten(-2).float()  # (..., K, P)
            focal = focal_cost(logits, targets, self.alpha, self.gamma)  # (..., N, K)
            return self.focal_weight * focal + self.dice_weight * dice_cost(logits, targets)  # (..., N, K)

    @torch.no_grad()
    def __call__(self, pred_masks: torch.Tensor, targets: list[torch.Tensor]) -> list[Match]:
        """Per image: (prediction indices, target indices) of the optimal matching.

        Args:
            pred_masks: (B, N, h, w) mask logits.
            targets: B tensors (K_b, h, w) of binary pseudo-masks (K_b may be 0).
        """
        counts = [int(target.shape[0]) for target in targets]
        width = max(counts, default=0)
        batch, _, height, size = pred_masks.shape
        padded = pred_masks.new_zeros(batch, width, height, size, dtype=torch.float32)  # (B, K_max, h, w)
        for index, target in enumerate(targets):
            padded[index, : counts[index]] = target
        costs = (
            torch.cat(
                [
                    self.cost(pred_masks[i : i + self.chunk], padded[i : i + self.chunk])  # (b, N, K_max)
                    for i in range(0, batch, self.chunk)
                ]
            )
            .cpu()
            .numpy()
        )  # one device → host copy for the whole batch
        matches = []
        for index, count in enumerate(counts):
            rows, cols = solve(costs[index, :, :count]) if count else (np.zeros(0, np.int64),) * 2
            device = pred_masks.device
            matches.append((torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)))
        return matches
