"""UperNet on a plain ViT: a 4-scale neck from one-scale tokens, then PPM + FPN fusion (mmseg's UPerHead).

Neck (BEiT/MAE segmentation): the four chosen blocks' maps, all at stride p, become strides p/4,
p/2, p, 2p by two 2× deconvolutions, one, none, and a 2× max-pool. Head (Xiao et al., UperNet,
ECCV 2018, as mmseg's ``UPerHead``): a pyramid pooling module (scales 1, 2, 3, 6) on the coarsest
level, lateral 1×1 convs and a top-down path on the others, 3×3 convs, every level upsampled to the
finest and fused by a 3×3 conv, dropout, a 1×1 classifier. ``FCNHead`` is mmseg's auxiliary head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) → BatchNorm → ReLU, 'same' padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def _upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ViTMultiScaleNeck(nn.Module):
    """Four same-stride ViT maps (B, D, h, w) → strides ×4, ×2, ×1, ×½ of the map: (B, D, 4h, 4w) ...
    (B, D, h/2, w/2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.up4 = nn.Sequential(
            nn.ConvTranspose2d(dim, dim, 2, stride=2),
            nn.BatchNorm2d(dim),
            nn.GELU(),
            nn.ConvTranspose2d(dim, dim, 2, stride=2),
        )
        self.up2 = nn.ConvTranspose2d(dim, dim, 2, stride=2)
        self.same = nn.Identity()
        self.down2 = nn.MaxPool2d(2, stride=2)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != 4:
            raise ValueError(f"the neck takes the maps of 4 blocks, got {len(features)}")
        ops = (self.up4, self.up2, self.same, self.down2)
        return [op(x) for op, x in zip(ops, features, strict=True)]  # (B, D, h_i, w_i), finest first


class PyramidPooling(nn.Module):
    """PSPNet's PPM: average-pool to each scale, 1×1 conv, upsample back; (B, C, h, w) → list."""

    def __init__(self, in_channels: int, channels: int, scales: tuple[int, ...]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(scale), ConvBNReLU(in_channels, channels, 1))
            for scale in scales
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [_upsample(stage(x), x.shape[-2:]) for stage in self.stages]  # each (B, channels, h, w)


class UperHead(nn.Module):
    """Multi-level features (finest first) → per-class logits at the finest level, (B, K, h0, w0).

    Args:
        in_channels: channels of each level.
        channels: the head's width (mmseg: 512; MAE's ViT-B config: 768).
        num_classes: K outputs.
        pool_scales: PPM scales.
        dropout: before the classifier.
    """

    def __init__(
        self,
        in_channels: list[int],
        channels: int,
        num_classes: int,
        pool_scales: tuple[int, ...] = (1, 2, 3, 6),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        top = in_channels[-1]
        self.ppm = PyramidPooling(top, channels, pool_scales)
        self.ppm_bottleneck = ConvBNReLU(top + len(pool_scales) * channels, channels, 3)
        self.lateral = nn.ModuleList(ConvBNReLU(c, channels, 1) for c in in_channels[:-1])
        self.fpn = nn.ModuleList(ConvBNReLU(channels, channels, 3) for _ in in_channels[:-1])
        self.fuse = ConvBNReLU(len(in_channels) * channels, channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        top = features[-1]
        laterals = [conv(x) for conv, x in zip(self.lateral, features[:-1], strict=True)]
        laterals.append(self.ppm_bottleneck(torch.cat([top, *self.ppm(top)], dim=1)))  # (B, ch, h3, w3)
        for level in range(len(laterals) - 1, 0, -1):  # top-down: coarse added into finer
            laterals[level - 1] = laterals[level - 1] + _upsample(
                laterals[level], laterals[level - 1].shape[-2:]
            )
        outputs = [conv(x) for conv, x in zip(self.fpn, laterals[:-1], strict=True)] + [laterals[-1]]
        size = outputs[0].shape[-2:]
        fused = self.fuse(
            torch.cat([outputs[0], *(_upsample(x, size) for x in outputs[1:])], dim=1)
        )  # (B, ch, h0, w0)
        return self.classifier(self.dropout(fused))  # (B, K, h0, w0)


class FCNHead(nn.Module):
    """mmseg's auxiliary head: 3×3 ConvBNReLU → dropout → 1×1 classifier, (B, C, h, w) → (B, K, h, w)."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.conv(x)))
