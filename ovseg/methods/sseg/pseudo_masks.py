"""Pseudo-masks: K-Means clusters of an image's features, one binary mask per non-empty cluster.

* ``DinoPseudoMasks`` (S-Seg §3.2): frozen DINO ViT-S/8 patch features of the image at 224 px
  (28 × 28 patches), L2-normalised, K-Means with K = 8; each patch's cluster id, reshaped to the
  patch grid, is resized (nearest) to the resolution of the predicted masks.
* ``PixelPseudoMasks``: K-Means on colour + position of a downsampled image, for data without DINO
  weights (the synthetic recipe; the paper's "raw RGB K-Means" baseline).

Both return, per image, a float tensor (K_b, h, w) of the K_b ≤ K non-empty masks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ovseg.methods.base import IMAGENET_MEAN, IMAGENET_STD
from ovseg.methods.sseg.kmeans import kmeans
from ovseg.nn.dino import DINO_MODEL, DinoFeatures

PSEUDO_MASK_SOURCES = ("dino", "pixel")


def labels_to_masks(labels: torch.Tensor, k: int, size: tuple[int, int]) -> list[torch.Tensor]:
    """Cluster ids (B, h, w) → per image the non-empty binary masks (K_b, H, W) at ``size`` (nearest)."""
    resized = F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()  # (B, H, W)
    ids = torch.arange(k, device=labels.device)[None, :, None, None]  # (1, K, 1, 1)
    one_hot = resized[:, None] == ids  # (B, K, H, W)
    present = one_hot.flatten(2).any(-1)  # (B, K)
    return [masks[keep].float() for masks, keep in zip(one_hot, present, strict=True)]


class DinoPseudoMasks(nn.Module):
    """DINO patch features → K-Means → masks.

    Args:
        k: clusters per image (S-Seg: 8).
        feature: "tokens" (last block's output) or "keys" (last block's attention keys).
        backend: K-Means backend (auto, torch, faiss).
        iters: K-Means rounds.
        input_size: side the (square) training crop is resized to for DINO (224 → 28 × 28 patches).
        model_name: timm DINO model.
        weights: local DINO weights file (None: download by name).
        pretrained: load weights at all (False: random, for tests).
        normalize: L2-normalise the features before clustering.
        seed: K-Means seeding.
    """

    def __init__(
        self,
        k: int = 8,
        feature: str = "tokens",
        backend: str = "auto",
        iters: int = 20,
        input_size: int | None = 224,
        model_name: str = DINO_MODEL,
        weights: str | None = None,
        pretrained: bool = True,
        normalize: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.k = k
        self.backend = backend
        self.iters = iters
        self.input_size = input_size
        self.normalize = normalize
        self.seed = seed
        self.dino = DinoFeatures(model_name, weights, pretrained, feature)

    @torch.no_grad()
    def cluster(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised images (B, 3, H, W) → cluster ids (B, h, w) on DINO's patch grid."""
        if self.input_size is not None and images.shape[-2:] != (self.input_size, self.input_size):
            size = (self.input_size, self.input_size)
            images = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False)
        features = self.dino(images).float()  # (B, h, w, C)
        batch, height, width, dim = features.shape
        points = features.reshape(batch, height * width, dim)  # (B, h*w, C)
        if self.normalize:
            points = F.normalize(points, dim=-1)
        labels = kmeans(points, self.k, self.iters, self.backend, self.seed).labels  # (B, h*w)
        return labels.view(batch, height, width)

    def forward(self, images: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """Images (B, 3, H, W) → per image the non-empty masks (K_b, *size)."""
        return labels_to_masks(self.cluster(images), self.k, size)


class PixelPseudoMasks(nn.Module):
    """K-Means on (r, g, b, w·y, w·x) of a ``grid`` × ``grid`` downsampled image.

    Args:
        k: clusters per image.
        grid: side of the downsampled image (its pixels are the points).
        position_weight: w, the weight of the (0..1) coordinates against the (0..1) colours.
        mean, std: the statistics the images were normalised with.
        backend, iters, seed: K-Means settings.
    """

    def __init__(
        self,
        k: int = 4,
        grid: int = 16,
        position_weight: float = 0.5,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        backend: str = "auto",
        iters: int = 20,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.k = k
        self.grid = grid
        self.position_weight = position_weight
        self.backend = backend
        self.iters = iters
        self.seed = seed
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def cluster(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images (B, 3, H, W) → cluster ids (B, grid, grid)."""
        colours = images.float() * self.std + self.mean  # (B, 3, H, W) in 0..1
        colours = F.adaptive_avg_pool2d(colours, self.grid)  # (B, 3, g, g)
        batch = colours.shape[0]
        axis = (torch.arange(self.grid, device=images.device, dtype=torch.float32) + 0.5) / self.grid  # (g,)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")  # (g, g) each
        position = self.position_weight * torch.stack([ys, xs])[None].expand(
            batch, -1, -1, -1
        )  # (B, 2, g, g)
        points = torch.cat([colours, position], dim=1).flatten(2).transpose(1, 2)  # (B, g*g, 5)
        labels = kmeans(points.contiguous(), self.k, self.iters, self.backend, self.seed).labels  # (B, g*g)
        return labels.view(batch, self.grid, self.grid)

    def forward(self, images: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
        """Images (B, 3, H, W) → per image the non-empty masks (K_b, *size)."""
        return labels_to_masks(self.cluster(images), self.k, size)
