"""The transformer decoder: N learned queries attend to the pixel decoder's maps, layer by layer.

Each layer: (masked) cross-attention to one scale of the pixel decoder (round robin over the scales,
coarsest first), self-attention among the queries, an FFN (post-norm, as in Mask2Former). Before the
first layer and after every layer a shared head predicts masks: normalised queries → 3-layer MLP →
dot product with the per-pixel embeddings. With ``masked_attention`` each query attends only inside
its previous mask (σ > 0.5; a query whose mask is empty attends everywhere).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn


def sine_position_encoding(height: int, width: int, dim: int, device: torch.device) -> torch.Tensor:
    """DETR's 2-D sine encoding, normalised coordinates: → (H*W, dim)."""
    quarter = dim // 4
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 * math.pi  # (H,)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 * math.pi  # (W,)
    freqs = 10000 ** (-torch.arange(quarter, device=device, dtype=torch.float32) / quarter)  # (dim/4,)
    y = ys[:, None, None] * freqs  # (H, 1, dim/4)
    x = xs[None, :, None] * freqs  # (1, W, dim/4)
    y = torch.cat([y.sin(), y.cos()], dim=-1).expand(height, width, -1)  # (H, W, dim/2)
    x = torch.cat([x.sin(), x.cos()], dim=-1).expand(height, width, -1)  # (H, W, dim/2)
    encoding = torch.cat([y, x], dim=-1).reshape(height * width, -1)  # (H*W, 4*(dim/4))
    return F.pad(encoding, (0, dim - encoding.shape[-1]))  # (H*W, dim)


class MLP(nn.Module):
    """Linear layers with ReLU between them."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x) if index == len(self.layers) - 1 else F.relu(layer(x))
        return x


class DecoderLayer(nn.Module):
    """Cross-attention → self-attention → FFN, each with a residual and a post-LayerNorm."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Linear(ffn_dim, dim))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))

    def forward(
        self,
        queries: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        attn_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        attended, _ = self.cross(queries + query_pos, memory + memory_pos, memory, attn_mask=attn_mask)
        queries = self.norms[0](queries + attended)  # (B, N, E)
        q = queries + query_pos
        attended, _ = self.self_attn(q, q, queries)
        queries = self.norms[1](queries + attended)  # (B, N, E)
        return self.norms[2](queries + self.ffn(queries))  # (B, N, E)


class MaskDecoder(nn.Module):
    """Queries → per-layer (query embeddings, mask logits).

    Args:
        in_dim: channels of the pixel decoder maps.
        mask_dim: channels of the per-pixel embeddings.
        hidden_dim: query width.
        num_queries: N.
        layers: decoder layers (S-Seg: 6).
        heads: attention heads.
        ffn_dim: FFN hidden width.
        num_levels: pixel decoder maps attended to, round robin.
        masked_attention: Mask2Former's masked cross-attention.
    """

    def __init__(
        self,
        in_dim: int = 256,
        mask_dim: int = 256,
        hidden_dim: int = 256,
        num_queries: int = 64,
        layers: int = 6,
        heads: int = 8,
        ffn_dim: int = 2048,
        num_levels: int = 3,
        masked_attention: bool = True,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.num_levels = num_levels
        self.masked_attention = masked_attention
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_pos = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(num_levels, hidden_dim)
        self.input_proj = nn.ModuleList(
            nn.Conv2d(in_dim, hidden_dim, 1) if in_dim != hidden_dim else nn.Identity()
            for _ in range(num_levels)
        )
        self.layers = nn.ModuleList(DecoderLayer(hidden_dim, heads, ffn_dim) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden_dim)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    def predict(self, queries: torch.Tensor, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, E) queries, (B, M, h, w) pixel embeddings → normalised queries, mask logits (B, N, h, w)."""
        queries = self.norm(queries)  # (B, N, E)
        masks = torch.einsum("bnm,bmhw->bnhw", self.mask_embed(queries), pixels)  # (B, N, h, w)
        return queries, masks

    def attention_mask(self, masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """True where a query may NOT attend: (B*heads, N, h*w)."""
        if not self.masked_attention:
            return None
        resized = F.interpolate(masks.detach().float(), size=size, mode="bilinear", align_corners=False)
        blocked = resized.sigmoid().flatten(2) < 0.5  # (B, N, h*w)
        blocked &= ~blocked.all(-1, keepdim=True)  # an empty mask attends everywhere
        return blocked.repeat_interleave(self.heads, dim=0)  # (B*heads, N, h*w)

    def forward(
        self, maps: list[torch.Tensor], pixels: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Pixel decoder maps (coarsest first) and per-pixel embeddings → (queries (B, N, E), masks
        (B, N, H/4, W/4)) before the first layer and after each layer; the last entry is final."""
        batch = pixels.shape[0]
        memories, positions, sizes = [], [], []
        for level, (feature, proj) in enumerate(zip(maps[: self.num_levels], self.input_proj, strict=True)):
            height, width = feature.shape[-2:]
            memories.append(
                proj(feature).flatten(2).transpose(1, 2) + self.level_embed.weight[level]
            )  # (B, hw, E)
            positions.append(sine_position_encoding(height, width, memories[-1].shape[-1], pixels.device))
            sizes.append((height, width))
        queries = self.query_feat.weight[None].expand(batch, -1, -1)  # (B, N, E)
        query_pos = self.query_pos.weight[None].expand(batch, -1, -1)  # (B, N, E)
        normed, masks = self.predict(queries, pixels)
        outputs = [(normed, masks)]
        for index, layer in enumerate(self.layers):
            level = index % self.num_levels
            mask = self.attention_mask(masks, sizes[level])
            memory_pos = positions[level].to(memories[level].dtype)[None]  # (1, hw, E)
            queries = layer(queries, query_pos, memories[level], memory_pos, mask)  # (B, N, E)
            normed, masks = self.predict(queries, pixels)
            outputs.append((normed, masks))
        return outputs
