"""MaskFormer's pixel decoder: an FPN over the backbone maps → per-pixel mask embeddings.

Top-down: the coarsest map goes through a 3×3 conv; each finer map gets a 1×1 lateral conv, the
upsampled coarser output is added, and a 3×3 conv follows (GroupNorm + ReLU). The finest output
(stride 4) becomes the per-pixel embeddings (``mask_dim`` channels); the coarser outputs feed the
transformer decoder, coarsest first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_norm_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """Conv (no bias) → GroupNorm(32 groups, fewer for narrow layers) → ReLU."""
    groups = next(g for g in (32, 16, 8, 4, 2, 1) if out_channels % g == 0)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


class FPNPixelDecoder(nn.Module):
    """FPN pixel decoder.

    Args:
        in_channels: channels of the backbone maps, finest first.
        conv_dim: FPN width.
        mask_dim: per-pixel embedding width.
        num_outputs: coarse maps handed to the transformer decoder (the deepest ones).
    """

    def __init__(
        self, in_channels: list[int], conv_dim: int = 256, mask_dim: int = 256, num_outputs: int = 3
    ) -> None:
        super().__init__()
        if num_outputs > len(in_channels) - 1:
            raise ValueError(f"num_outputs={num_outputs} needs more than {len(in_channels)} backbone levels.")
        self.num_outputs = num_outputs
        coarse, *finer = in_channels[::-1]
        self.top = conv_norm_relu(coarse, conv_dim, 3)
        self.laterals = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, conv_dim, 1, bias=False), nn.GroupNorm(self.top[1].num_groups, conv_dim)
            )
            for c in finer
        )
        self.outputs = nn.ModuleList(conv_norm_relu(conv_dim, conv_dim, 3) for _ in finer)
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Backbone maps (finest first) → (per-pixel embeddings (B, mask_dim, H/4, W/4),
        ``num_outputs`` maps (B, conv_dim, h_i, w_i) for the transformer decoder, coarsest first)."""
        coarse, *finer = features[::-1]
        y = self.top(coarse)  # (B, E, H/32, W/32)
        outputs = [y]
        for lateral, output, feature in zip(self.laterals, self.outputs, finer, strict=True):
            y = lateral(feature) + F.interpolate(y, size=feature.shape[-2:], mode="nearest")  # (B, E, h, w)
            y = output(y)  # (B, E, h, w)
            outputs.append(y)
        return self.mask_features(y), outputs[: self.num_outputs]  # (B, M, H/4, W/4), coarsest first
