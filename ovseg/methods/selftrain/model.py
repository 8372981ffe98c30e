"""S-Seg+'s fully supervised segmenter as a plain module: ViT → 4-scale neck → UperNet → logits."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ovseg.methods.selftrain.backbone import MAE_VIT_B, ViTFeatures
from ovseg.methods.selftrain.upernet import FCNHead, UperHead, ViTMultiScaleNeck


class SegLogits(NamedTuple):
    logits: torch.Tensor  # (B, K, 4H/p, 4W/p): stride p/4 of the input (4 for ViT-B/16)
    aux_logits: torch.Tensor | None  # (B, K, H/p, W/p) of the auxiliary head, None without one


class UperNetViT(nn.Module):
    """A ViT backbone with an UperNet head and an optional FCN auxiliary head.

    Args:
        num_classes: K outputs (background included where the target benchmark has one).
        backbone, backbone_pretrained, backbone_weights, out_indices, backbone_kwargs: see
            ``ViTFeatures``.
        channels: UperHead width.
        aux_channels: FCN auxiliary head width (on the third level, stride p); 0: no auxiliary head.
        dropout: before each classifier.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = MAE_VIT_B,
        backbone_pretrained: bool = False,
        backbone_weights: str | None = None,
        out_indices: tuple[int, ...] = (3, 5, 7, 11),
        backbone_kwargs: dict | None = None,
        channels: int = 768,
        aux_channels: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if len(out_indices) != 4:
            raise ValueError(f"UperNet on a ViT takes 4 blocks' features, got out_indices={out_indices}")
        self.backbone = ViTFeatures(
            backbone, backbone_pretrained, backbone_weights, out_indices, backbone_kwargs
        )
        dim = self.backbone.embed_dim
        self.neck = ViTMultiScaleNeck(dim)
        self.head = UperHead([dim] * 4, channels, num_classes, dropout=dropout)
        self.aux_head = FCNHead(dim, aux_channels, num_classes, dropout) if aux_channels > 0 else None

    def forward(self, images: torch.Tensor) -> SegLogits:
        """(B, 3, H, W) normalised images → logits at stride p/4 and the auxiliary logits at stride p."""
        levels = self.neck(self.backbone(images))  # 4 × (B, D, h_i, w_i), finest first
        logits = self.head(levels)  # (B, K, 4h, 4w)
        aux = (
            self.aux_head(levels[2]) if self.aux_head is not None and self.training else None
        )  # (B, K, h, w)
        return SegLogits(logits, aux)
