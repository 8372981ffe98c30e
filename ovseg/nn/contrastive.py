"""CLIP-style image-text contrastive learning with negatives gathered from every process.

Each process scores its own B images against the texts of all W processes (and its own texts against
all images), so the negatives are the global batch. Features are gathered WITH gradient; DDP's
gradient averaging then makes the update equal to one process holding the whole global batch.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F
from torch import nn


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(features: torch.Tensor) -> torch.Tensor:
    """(B, D) per process → (W·B, D) in rank order; gradients flow back to every process."""
    _, size = world()
    if size == 1:
        return features
    return torch.cat(dist_fn.all_gather(features), dim=0)  # (W*B, D)


class LogitScale(nn.Module):
    """CLIP's learnable temperature: ``exp(log_scale)`` clamped at ``max_scale`` (100)."""

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_scale = max_scale

    def forward(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE over the global batch (images → texts and texts → images, averaged).

    Args:
        image_features: (B, D) this process's image embeddings (normalised here).
        text_features: (B, D) the matching text embeddings (normalised here).
        logit_scale: scalar multiplier of the cosine similarities.
    """
    image_features = F.normalize(image_features.float(), dim=-1)  # (B, D)
    text_features = F.normalize(text_features.float(), dim=-1)  # (B, D)
    all_images = gather_with_grad(image_features)  # (W*B, D)
    all_texts = gather_with_grad(text_features)  # (W*B, D)
    rank, _ = world()
    batch = image_features.shape[0]
    targets = torch.arange(batch, device=image_features.device) + rank * batch  # (B,)
    logits_per_image = logit_scale * image_features @ all_texts.T  # (B, W*B)
    logits_per_text = logit_scale * text_features @ all_images.T  # (B, W*B)
    return (F.cross_entropy(logits_per_image, targets) + F.cross_entropy(logits_per_text, targets)) / 2
