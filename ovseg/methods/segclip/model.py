"""SegCLIP's dual encoder (paper §2.1): a CLIP ViT split in two stages around the group module.

Image encoder, in order: patch embedding + positional embedding + ln_pre (the class token is not
used); the first ``first_stage_layer`` CLIP blocks on the patch tokens; the semantic group module
(L group tokens); the remaining CLIP blocks on the group tokens only; max over the group tokens →
ln_post → proj. The text tower is CLIP's. Models return features, never losses.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ovseg.methods.segclip.grouping import GroupOutput, SemanticGroup
from ovseg.methods.segclip.layers import ResidualAttentionBlock, TextTransformer
from ovseg.methods.segclip.reconstruction import ReconstructionHead
from ovseg.nn.contrastive import LogitScale


class ImageOutput(NamedTuple):
    """The image encoder's features (L group tokens, N = gh·gw patches)."""

    feature: torch.Tensor  # (B, E) image feature z_p
    group_features: torch.Tensor  # (B, L, E) each group token after ln_post and proj
    hard: torch.Tensor  # (B, L, N) patch → group one-hot assignment M
    soft: torch.Tensor  # (B, L, N) patch → group probabilities
    grid: tuple[int, int]  # (gh, gw) patch grid


class MaskedOutput(NamedTuple):
    """The reconstruction pass on a masked view."""

    pixels: torch.Tensor  # (B, N, p*p*3) predicted pixels of every patch
    masked: torch.Tensor  # (B, N) bool: True where the patch was hidden from the encoder
    groups: GroupOutput  # the group module's output on the visible patches


class SegCLIPImageEncoder(nn.Module):
    """CLIP ViT with SegCLIP's semantic group module between its two stages.

    Args:
        image_size: training resolution (sets the stored positional embedding; any size runs).
        patch_size: patch side p.
        width: token width D.
        layers: CLIP blocks in total.
        heads: attention heads.
        first_stage_layer: CLIP blocks before the group module.
        embed_dim: output feature width E.
        num_centers: learnable centers L.
        cross_layers: cross-attention blocks of the group module.
        tau: Gumbel-softmax temperature.
        quick_gelu: QuickGELU (OpenAI CLIP) instead of GELU.
        class_token: keep CLIP's class token through the first stage (as plain CLIP does); the
            release drops it before the blocks (False).
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        width: int = 768,
        layers: int = 12,
        heads: int = 12,
        first_stage_layer: int = 10,
        embed_dim: int = 512,
        num_centers: int = 8,
        cross_layers: int = 2,
        tau: float = 0.9,
        quick_gelu: bool = True,
        class_token: bool = False,
    ) -> None:
        super().__init__()
        if not 0 <= first_stage_layer <= layers:
            raise ValueError(
                f"first_stage_layer must be in [0, {layers}] (the blocks), got {first_stage_layer}."
            )
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}.")
        self.patch_size = patch_size
        self.class_token = class_token
        scale = width**-0.5
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width), requires_grad=class_token)  # (D,)
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))  # (1+N, D)
        self.ln_pre = nn.LayerNorm(width)
        self.stage1 = nn.ModuleList(
            ResidualAttentionBlock(width, heads, quick_gelu=quick_gelu) for _ in range(first_stage_layer)
        )
        self.group = SemanticGroup(width, heads, num_centers, cross_layers, tau, quick_gelu)
        self.stage3 = nn.ModuleList(
            ResidualAttentionBlock(width, heads, quick_gelu=quick_gelu)
            for _ in range(layers - first_stage_layer)
        )
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, embed_dim))

    def patch_positions(self, grid: tuple[int, int]) -> torch.Tensor:
        """(N, D) positional embedding of the patches, bicubically resized to ``grid`` if needed."""
        pos = self.positional_embedding[1:]  # (N0, D)
        side = math.isqrt(pos.shape[0])
        if (side, side) == tuple(grid):
            return pos
        square = pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)  # (1, D, s, s)
        resized = F.interpolate(
            square.float(), size=grid, mode="bicubic", align_corners=False
        )  # (1, D, gh, gw)
        return resized.flatten(2)[0].T.to(pos.dtype)  # (N, D)

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """(B, 3, H, W) → (B, N, D) patch tokens after ln_pre, and the grid (gh, gw)."""
        x = self.conv1(images)  # (B, D, gh, gw)
        grid = tuple(x.shape[-2:])
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        x = x + self.patch_positions(grid).to(x.dtype)  # (B, N, D)
        return self.ln_pre(x), grid

    def first_stage(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, N, D) embedded patches → (B, N, D) Hp after the first ``first_stage_layer`` blocks."""
        x = patches
        if self.class_token:
            cls = self.ln_pre(self.class_embedding + self.positional_embedding[0]).to(x.dtype)  # (D,)
            x = torch.cat([cls.expand(x.shape[0], 1, -1), x], dim=1)  # (B, 1+N, D)
        for block in self.stage1:
            x = block(x)
        return x[:, 1:] if self.class_token else x  # (B, N, D)

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., D) → (..., E): ln_post then proj."""
        return self.ln_post(tokens) @ self.proj.to(tokens.dtype)

    def forward(self, images: torch.Tensor) -> ImageOutput:
        tokens, grid = self.embed(images)  # (B, N, D)
        groups = self.group(self.first_stage(tokens))  # (B, L, D) tokens
        x = groups.tokens
        for block in self.stage3:
            x = block(x)  # (B, L, D) Zp
        feature = self.project(x.max(dim=1).values)  # (B, E) max before ln_post/proj
        return ImageOutput(feature, self.project(x), groups.hard, groups.soft, grid)

    def forward_visible(
        self, images: torch.Tensor, mask_ratio: float
    ) -> tuple[GroupOutput, torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Group module on a random subset of patches (the masked view of §2.3).

        Keeps ``int((N + 1)·(1 − mask_ratio)) − 1`` patches per image, as the release (which
        counts its dropped class token). Returns (groups, visible index (B, Nv), masked (B, N), grid).
        """
        tokens, grid = self.embed(images)  # (B, N, D)
        batch, num_patches, width = tokens.shape
        keep = max(1, int((num_patches + 1) * (1 - mask_ratio)) - 1)
        order = torch.rand(batch, num_patches, device=tokens.device).argsort(dim=1)  # (B, N)
        visible_index = order[:, :keep]  # (B, Nv)
        visible = tokens.gather(1, visible_index[..., None].expand(-1, -1, width))  # (B, Nv, D)
        masked = torch.ones(batch, num_patches, dtype=torch.bool, device=tokens.device)  # (B, N)
        masked.scatter_(1, visible_index, False)
        return self.group(self.first_stage(visible)), visible_index, masked, grid


class SegCLIPModel(nn.Module):
    """SegCLIP: the image encoder, CLIP's text tower, the logit scale and the reconstruction head.

    Args:
        image_size, patch_size, vision_width, vision_layers, vision_heads, first_stage_layer,
            num_centers, cross_layers, gumbel_tau: image encoder (see ``SegCLIPImageEncoder``).
        embed_dim: shared feature width E.
        text_width, text_layers, text_heads, context_length, vocab_size: CLIP's text tower.
        quick_gelu: QuickGELU (OpenAI CLIP, the release) instead of GELU.
        class_token: keep CLIP's class token in the first stage (the release drops it).
        reconstruction: build the reconstruction head (§2.3).
        reconstruction_layers: its extra blocks (None: as many as the third stage).
        decoder_width: MAE decoder width (None: vision_width // 2).
        decoder_layers, decoder_heads: MAE decoder depth and heads.
        init_temperature: initial contrastive temperature (learned; CLIP's 0.07, logit scale ≤ 100).
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        vision_width: int = 768,
        vision_layers: int = 12,
        vision_heads: int = 12,
        first_stage_layer: int = 10,
        num_centers: int = 8,
        cross_layers: int = 2,
        gumbel_tau: float = 0.9,
        embed_dim: int = 512,
        text_width: int = 512,
        text_layers: int = 12,
        text_heads: int = 8,
        context_length: int = 77,
        vocab_size: int = 49408,
        quick_gelu: bool = True,
        class_token: bool = False,
        reconstruction: bool = True,
        reconstruction_layers: int | None = None,
        decoder_width: int | None = None,
        decoder_layers: int = 3,
        decoder_heads: int = 8,
        init_temperature: float = 0.07,
    ) -> None:
        super().__init__()
        self.visual = SegCLIPImageEncoder(
            image_size, patch_size, vision_width, vision_layers, vision_heads, first_stage_layer,
            embed_dim, num_centers, cross_layers, gumbel_tau, quick_gelu, class_token,
        )  # fmt: skip
        self.text = TextTransformer(
            embed_dim, text_width, text_layers, text_heads, context_length, vocab_size, quick_gelu
        )
        self.logit_scale = LogitScale(init_temperature=init_temperature, max_scale=100.0)
        self.reconstruction: ReconstructionHead | None = None
        if reconstruction:
            grid = image_size // patch_size
            self.reconstruction = ReconstructionHead(
                vision_width,
                vision_heads,
                num_centers,
                vision_layers - first_stage_layer if reconstruction_layers is None else reconstruction_layers,
                decoder_width or vision_width // 2,
                decoder_layers,
                decoder_heads,
                (grid, grid),
                patch_size,
                quick_gelu,
            )

    def encode_image(self, images: torch.Tensor) -> ImageOutput:
        """Normalised (B, 3, H, W) images → ``ImageOutput``."""
        return self.visual(images)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 (T, L) CLIP tokens → (T, E) text features z_w (EOT token)."""
        return self.text(tokens)

    def reconstruct(self, images: torch.Tensor, mask_ratio: float = 0.75) -> MaskedOutput:
        """The second pass of §2.3: encode a masked view with the SAME encoder, decode all pixels."""
        if self.reconstruction is None:
            raise RuntimeError("this SegCLIPModel was built with reconstruction=False.")
        groups, visible_index, masked, grid = self.visual.forward_visible(images, mask_ratio)
        pixels = self.reconstruction(groups.tokens, groups.hard, visible_index, grid)  # (B, N, p*p*3)
        return MaskedOutput(pixels, masked, groups)
