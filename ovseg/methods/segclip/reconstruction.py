"""SegCLIP's reconstruction branch (paper §2.3): group tokens → visible patches → MAE decoder.

The masked view's L group tokens are spread back onto the visible patches by the reconstruction
layer (eq. 4), refined by extra transformer blocks and decoded, with mask tokens in the masked
positions, into pixels by an MAE decoder (He et al., 2022). Parameter names follow the release
(``vis_mae_decoder.*``: ``decoder_embed``, ``mask_token``, ``decoder_pos_embed``,
``decoder_blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``decoder_norm``,
``decoder_pred``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ovseg.methods.segclip.layers import QuickGELU, ResidualAttentionBlock


def sincos_pos_embed(width: int, grid: tuple[int, int], cls_token: bool = True) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos position embedding, (1 + gh·gw, width) with a zero class row.

    The first half of the channels encodes the column, the second half the row (MAE's order).
    """
    if width % 4:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {width}.")
    rows, cols = torch.meshgrid(
        torch.arange(grid[0], dtype=torch.float64), torch.arange(grid[1], dtype=torch.float64), indexing="ij"
    )  # (gh, gw) each
    omega = 1.0 / 10000 ** (torch.arange(width // 4, dtype=torch.float64) / (width / 4))  # (W/4,)

    def encode(positions: torch.Tensor) -> torch.Tensor:
        angles = positions.reshape(-1, 1) * omega  # (gh*gw, W/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (gh*gw, W/2)

    embed = torch.cat([encode(cols), encode(rows)], dim=1)  # (gh*gw, W)
    if cls_token:
        embed = torch.cat([torch.zeros(1, width, dtype=embed.dtype), embed])  # (1+gh*gw, W)
    return embed.float()


class RestoreLayer(nn.Module):
    """Paper eq. 4: H̃p = act(Linear_L→L(M)ᵀ Ĥp), the group tokens spread back onto the patches.

    The release's activation is QuickGELU (the paper writes GELU).
    """

    def __init__(self, num_centers: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(num_centers, num_centers)
        self.act = QuickGELU()

    def forward(self, tokens: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
        """(B, L, D) group tokens, (B, L, N) assignment → (B, N, D) patch tokens."""
        mixed = self.fc(assignment.transpose(1, 2).to(tokens.dtype))  # (B, N, L) Linear(M)
        return self.act(torch.einsum("bnl,bld->bnd", mixed, tokens))  # (B, N, D) eq. 4


class DecoderAttention(nn.Module):
    """MAE's self-attention (fused qkv with bias) on scaled-dot-product attention."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.heads, width // self.heads)  # (B, N, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, h, N, d) each
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d)
        return self.proj(out.transpose(1, 2).reshape(batch, length, width))  # (B, N, D)


class DecoderBlock(nn.Module):
    """MAE decoder block: pre-LN (eps 1e-6) attention and GELU MLP, both residual."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = DecoderAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("fc1", nn.Linear(width, hidden)), ("act", nn.GELU()), ("fc2", nn.Linear(hidden, width))]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))  # (B, N, D)
        return x + self.mlp(self.norm2(x))  # (B, N, D)


class MAEDecoder(nn.Module):
    """Visible tokens + mask tokens → per-patch pixels (MAE decoder, release sizes by default).

    Args:
        in_width: encoder token width D.
        width: decoder width (release: D / 2 = 384).
        layers: decoder blocks (3).
        heads: decoder heads (8).
        grid: the training patch grid (gh, gw), for the stored position embedding.
        patch_size: patch side p; the output has p·p·3 values per patch.
    """

    def __init__(
        self,
        in_width: int = 768,
        width: int = 384,
        layers: int = 3,
        heads: int = 8,
        grid: tuple[int, int] = (14, 14),
        patch_size: int = 16,
    ) -> None:
        super().__init__()
        self.decoder_embed = nn.Linear(in_width, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.register_buffer("decoder_pos_embed", sincos_pos_embed(width, grid)[None])  # (1, 1+N, Dd)
        self.decoder_blocks = nn.ModuleList(DecoderBlock(width, heads) for _ in range(layers))
        self.decoder_norm = nn.LayerNorm(width, eps=1e-6)
        self.decoder_pred = nn.Linear(width, patch_size * patch_size * 3)
        self.grid = tuple(grid)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MAE's initialisation: Xavier-uniform linear weights, zero biases, N(0, 0.02) mask token."""
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(
        self, visible: torch.Tensor, visible_index: torch.Tensor, grid: tuple[int, int]
    ) -> torch.Tensor:
        """(B, Nv, D) visible tokens at patch positions ``visible_index`` (B, Nv) → (B, N, p·p·3)."""
        batch = visible.shape[0]
        num_patches = grid[0] * grid[1]
        summary = visible.mean(dim=1, keepdim=True)  # (B, 1, D) the release's class token
        tokens = self.decoder_embed(torch.cat([summary, visible], dim=1))  # (B, 1+Nv, Dd)
        sequence = self.mask_token.to(tokens.dtype).expand(batch, num_patches, -1).clone()  # (B, N, Dd)
        index = visible_index[..., None].expand(-1, -1, tokens.shape[-1])  # (B, Nv, Dd)
        sequence = sequence.scatter(1, index, tokens[:, 1:])  # (B, N, Dd)
        x = torch.cat([tokens[:, :1], sequence], dim=1)  # (B, 1+N, Dd)
        pos = self.decoder_pos_embed
        if tuple(grid) != self.grid:
            pos = sincos_pos_embed(pos.shape[-1], grid).to(pos)[None]  # (1, 1+N, Dd)
        x = x + pos.to(x.dtype)  # (B, 1+N, Dd)
        for block in self.decoder_blocks:
            x = block(x)  # (B, 1+N, Dd)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]  # (B, N, p*p*3)


class ReconstructionHead(nn.Module):
    """Eq. 4's restore layer, extra transformer blocks and the MAE decoder.

    Args:
        width: encoder width D.
        heads: heads of the extra blocks.
        num_centers: L.
        layers: extra transformer blocks (the release: as many as the third stage, 2).
        decoder_width, decoder_layers, decoder_heads: MAE decoder sizes.
        grid: training patch grid.
        patch_size: patch side p.
        quick_gelu: QuickGELU in the extra blocks.
    """

    def __init__(
        self,
        width: int = 768,
        heads: int = 12,
        num_centers: int = 8,
        layers: int = 2,
        decoder_width: int = 384,
        decoder_layers: int = 3,
        decoder_heads: int = 8,
        grid: tuple[int, int] = (14, 14),
        patch_size: int = 16,
        quick_gelu: bool = True,
    ) -> None:
        super().__init__()
        self.restore = RestoreLayer(num_centers)
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, quick_gelu=quick_gelu) for _ in range(layers)
        )
        self.decoder = MAEDecoder(width, decoder_width, decoder_layers, decoder_heads, grid, patch_size)
        for module in [self.restore, *self.blocks]:
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.trunc_normal_(sub.weight, std=0.02)
                    nn.init.zeros_(sub.bias)

    def forward(
        self,
        tokens: torch.Tensor,
        assignment: torch.Tensor,
        visible_index: torch.Tensor,
        grid: tuple[int, int],
    ) -> torch.Tensor:
        """Masked view's group tokens (B, L, D) and assignment (B, L, Nv) → pixels (B, N, p·p·3)."""
        x = self.restore(tokens, assignment)  # (B, Nv, D) H̃p(m)
        for block in self.blocks:
            x = block(x)  # (B, Nv, D) Zp(m)
        return self.decoder(x, visible_index, grid)  # (B, N, p*p*3)
