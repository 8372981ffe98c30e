"""S-Seg's image side: a MaskFormer whose queries become mask features in the image-text space.

backbone → pixel decoder → transformer decoder → per query: a mask (query embedding · per-pixel
embeddings) and a query embedding. As in S-Seg §3 (and GroupViT, whose design it follows), the image
embedding is the mean of the N query embeddings *then* the 2-layer MLP into the shared space; it
meets the caption in the contrastive loss. At inference the same MLP maps each query on its own:
the mask features that are compared with the class names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ovseg.methods.sseg.backbone import TimmBackbone
from ovseg.methods.sseg.pixel_decoder import FPNPixelDecoder
from ovseg.methods.sseg.transformer_decoder import MaskDecoder
from ovseg.nn.text import ProjectionMLP


@dataclass
class MaskFormerOutput:
    """What the MaskFormer returns (no losses)."""

    pred_masks: torch.Tensor  # (B, N, H/4, W/4) mask logits of the last decoder layer
    queries: torch.Tensor  # (B, N, E) query embeddings of the last decoder layer
    aux_masks: list[torch.Tensor]  # (B, N, H/4, W/4) mask logits before the first and of each earlier layer


class MaskFormer(nn.Module):
    """MaskFormer with a projection of each query into the image-text space.

    Args:
        backbone: timm model name (Swin-S by default).
        backbone_pretrained: load timm's pretrained backbone weights by name.
        backbone_weights: local backbone weights file.
        conv_dim: pixel decoder width.
        mask_dim: per-pixel embedding width.
        hidden_dim: query width.
        num_queries: N.
        decoder_layers: transformer decoder layers.
        decoder_heads: attention heads.
        decoder_ffn_dim: FFN hidden width.
        masked_attention: Mask2Former's masked cross-attention.
        embed_dim: width of the shared image-text space.
        projection_dim: hidden width of the 2-layer mask-feature projection.
    """

    def __init__(
        self,
        backbone: str = "swin_small_patch4_window7_224",
        backbone_pretrained: bool = False,
        backbone_weights: str | None = None,
        conv_dim: int = 256,
        mask_dim: int = 256,
        hidden_dim: int = 256,
        num_queries: int = 64,
        decoder_layers: int = 6,
        decoder_heads: int = 8,
        decoder_ffn_dim: int = 2048,
        masked_attention: bool = True,
        embed_dim: int = 256,
        projection_dim: int = 4096,
    ) -> None:
        super().__init__()
        self.backbone = TimmBackbone(backbone, backbone_pretrained, backbone_weights)
        self.pixel_decoder = FPNPixelDecoder(self.backbone.channels, conv_dim, mask_dim)
        self.decoder = MaskDecoder(
            conv_dim,
            mask_dim,
            hidden_dim,
            num_queries,
            decoder_layers,
            decoder_heads,
            decoder_ffn_dim,
            self.pixel_decoder.num_outputs,
            masked_attention,
        )
        self.projection = ProjectionMLP(hidden_dim, projection_dim, embed_dim)

    def forward(self, images: torch.Tensor) -> MaskFormerOutput:
        """Normalised images (B, 3, H, W) → masks, mask features and auxiliary masks."""
        pixels, maps = self.pixel_decoder(self.backbone(images))  # (B, M, H/4, W/4), coarse maps
        stages = self.decoder(maps, pixels)  # (queries (B, N, E), masks (B, N, H/4, W/4)) per stage
        queries, masks = stages[-1]
        return MaskFormerOutput(pred_masks=masks, queries=queries, aux_masks=[m for _, m in stages[:-1]])

    def image_embedding(self, queries: torch.Tensor) -> torch.Tensor:
        """(B, N, E) queries → (B, D): their mean, projected (what the contrastive loss sees)."""
        return self.projection(queries.mean(dim=1))  # (B, D)

    def mask_features(self, queries: torch.Tensor) -> torch.Tensor:
        """(B, N, E) queries → (B, N, D): each one projected on its own (what is classified)."""
        return self.projection(queries)  # (B, N, D)
