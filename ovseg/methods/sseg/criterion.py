"""S-Seg's mask loss: matched predictions vs pseudo-masks, L_mask = λ_dice·dice + λ_focal·focal.

The criterion owns its weights (paper: λ_dice = 1.0, λ_focal = 20.0). Each decoder layer's masks
(the final and every auxiliary one) are matched to the pseudo-masks on their own and add their loss.
Both terms are summed over the matched masks and divided by the number of pseudo-masks in the
GLOBAL batch (averaged over processes), so the DDP-averaged gradient equals one process holding
every image. Unmatched predictions are not in the loss at all.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ovseg.methods.sseg.matcher import HungarianMatcher, Match
from ovseg.nn.contrastive import world


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Σ over masks of 1 − (2 Σ σ(x)·t + 1)/(Σ σ(x) + Σ t + 1), divided by ``num_masks``; (M, P) inputs."""
    prob = logits.sigmoid()  # (M, P)
    numerator = 2 * (prob * targets).sum(-1)  # (M,)
    denominator = prob.sum(-1) + targets.sum(-1)  # (M,)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, num_masks: float, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) averaged over pixels, summed over masks, divided by ``num_masks``."""
    prob = logits.sigmoid()  # (M, P)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (M, P)
    p_t = prob * targets + (1 - prob) * (1 - targets)  # (M, P)
    loss = ce * (1 - p_t) ** gamma  # (M, P)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss  # (M, P)
    return loss.mean(-1).sum() / num_masks


def global_mask_count(targets: list[torch.Tensor], device: torch.device) -> float:
    """Pseudo-masks per process in the global batch: Σ over processes / world size, at least 1."""
    count = torch.tensor(float(sum(t.shape[0] for t in targets)), device=device)
    _, size = world()
    if size > 1:
        dist.all_reduce(count)
    return max(count.item() / size, 1.0)


class MaskCriterion(nn.Module):
    """Matched dice + focal loss on the final and auxiliary mask predictions.

    Args:
        matcher: the Hungarian matcher (its costs need not equal the loss weights).
        dice_weight: λ_dice.
        focal_weight: λ_focal.
        alpha, gamma: focal loss parameters.
        aux_loss: add the loss of every auxiliary decoder layer.
    """

    def __init__(
        self,
        matcher: HungarianMatcher | None = None,
        dice_weight: float = 1.0,
        focal_weight: float = 20.0,
        alpha: float = 0.25,
        gamma: float = 2.0,
        aux_loss: bool = True,
    ) -> None:
        super().__init__()
        self.matcher = matcher or HungarianMatcher(focal_weight, dice_weight, alpha, gamma)
        self.dice_weight = dice_weight
        self.focal_weight = focal_weight
        self.alpha = alpha
        self.gamma = gamma
        self.aux_loss = aux_loss

    def layer_loss(
        self, pred_masks: torch.Tensor, targets: list[torch.Tensor], matches: list[Match], num_masks: float
    ) -> dict[str, torch.Tensor]:
        """Dice and focal loss of one layer's (B, N, h, w) logits under the given matches."""
        sources = [logits[rows] for logits, (rows, _) in zip(pred_masks, matches, strict=True)]
        chosen = [target[cols] for target, (_, cols) in zip(targets, matches, strict=True)]
        logits = torch.cat(sources).flatten(1).float()  # (M, P)
        target = torch.cat(chosen).flatten(1).float()  # (M, P)
        keep_graph = pred_masks.sum() * 0.0  # every prediction stays in the graph (DDP), zero gradient
        if logits.shape[0] == 0:
            return {"dice": keep_graph, "focal": keep_graph}
        return {
            "dice": dice_loss(logits, target, num_masks) + keep_graph,
            "focal": sigmoid_focal_loss(logits, target, num_masks, self.alpha, self.gamma) + keep_graph,
        }

    def forward(
        self, pred_masks: torch.Tensor, aux_masks: list[torch.Tensor], targets: list[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Losses of the final layer ("dice", "focal"), of each auxiliary layer i ("dice_i", "focal_i"),
        and their weighted total ("mask").

        Args:
            pred_masks: (B, N, h, w) final mask logits.
            aux_masks: (B, N, h, w) mask logits of the earlier decoder layers.
            targets: B tensors (K_b, h, w) of binary pseudo-masks (empty masks already removed).
        """
        with torch.autocast(pred_masks.device.type, enabled=False):
            num_masks = global_mask_count(targets, pred_masks.device)
            layers = [("", pred_masks)]
            if self.aux_loss:
                layers += [(f"_{index}", masks) for index, masks in enumerate(aux_masks)]
            losses: dict[str, torch.Tensor] = {}
            total = pred_masks.new_zeros((), dtype=torch.float32)
            for suffix, masks in layers:
                matches = self.matcher(masks, targets)
                layer = self.layer_loss(masks, targets, matches, num_masks)
                losses[f"dice{suffix}"] = layer["dice"]
                losses[f"focal{suffix}"] = layer["focal"]
                total = total + self.dice_weight * layer["dice"] + self.focal_weight * layer["focal"]
            losses["mask"] = total
            losses["num_masks"] = torch.tensor(num_masks)
            return losses
