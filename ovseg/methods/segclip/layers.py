"""CLIP's transformer pieces, laid out so that CLIP and SegCLIP state_dict keys load unchanged.

``ResidualAttentionBlock`` has CLIP's parameter names (``attn.in_proj_weight``, ``ln_1``,
``mlp.c_fc``, ``mlp.c_proj``, ``ln_2``); ``TextTransformer`` is CLIP's causal text tower whose
feature is the EOT token's output (the highest token id) after ``ln_final`` and
``text_projection``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class QuickGELU(nn.Module):
    """OpenAI CLIP's GELU approximation, x·σ(1.702x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def activation(quick_gelu: bool) -> nn.Module:
    """QuickGELU (OpenAI CLIP, SegCLIP's release) or exact GELU (most open_clip models)."""
    return QuickGELU() if quick_gelu else nn.GELU()


class MLP(nn.Sequential):
    """CLIP's MLP: c_fc → activation → c_proj."""

    def __init__(self, width: int, hidden: int, quick_gelu: bool = True) -> None:
        super().__init__(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, hidden)),
                    ("gelu", activation(quick_gelu)),
                    ("c_proj", nn.Linear(hidden, width)),
                ]
            )
        )


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).

    Args:
        width: token width D.
        heads: attention heads.
        mlp_ratio: MLP hidden width over D.
        quick_gelu: QuickGELU (OpenAI CLIP) instead of GELU.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, quick_gelu: bool = True) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio), quick_gelu)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.ln_1(x)  # (B, N, D)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]  # (B, N, D)
        return x + self.mlp(self.ln_2(x))  # (B, N, D)


class CrossAttentionBlock(nn.Module):
    """SegCLIP's cross-attention block (paper eq. 1): queries attend to a separate key/value set.

    ``q + attn(ln_x(q), ln_k(kv), ln_k(kv))`` then ``+ mlp(ln_2(·))``, with the release's names.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, quick_gelu: bool = True) -> None:
        super().__init__()
        self.ln_x = nn.LayerNorm(width)
        self.ln_k = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio), quick_gelu)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        kv = self.ln_k(context)  # (B, M, D)
        x = queries + self.attn(self.ln_x(queries), kv, kv, need_weights=False)[0]  # (B, L, D)
        return x + self.mlp(self.ln_2(x))  # (B, L, D)


class TextTransformer(nn.Module):
    """CLIP's text tower: token + positional embedding, causal blocks, ln_final, projection.

    Args:
        embed_dim: output feature width E.
        width: transformer width.
        layers: transformer blocks.
        heads: attention heads.
        context_length: longest token sequence L.
        vocab_size: BPE vocabulary size.
        quick_gelu: QuickGELU (OpenAI CLIP) instead of GELU.
    """

    def __init__(
        self,
        embed_dim: int = 512,
        width: int = 512,
        layers: int = 12,
        heads: int = 8,
        context_length: int = 77,
        vocab_size: int = 49408,
        quick_gelu: bool = True,
    ) -> None:
        super().__init__()
        self.context_length = context_length
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, quick_gelu=quick_gelu) for _ in range(layers)
        )
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)  # (L, L)
        self.register_buffer("attn_mask", mask, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """CLIP's initialisation of the text tower."""
        width, layers = self.ln_final.normalized_shape[0], len(self.resblocks)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = width**-0.5 * (2 * layers) ** -0.5
        for block in self.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width**-0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 (T, L) CLIP tokens, EOT the highest id → (T, E) features (not normalised)."""
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(
                f"captions have {length} tokens but the text tower's context_length is "
                f"{self.context_length}; set data.init_args.context_length <= {self.context_length}."
            )
        x = self.token_embedding(tokens) + self.positional_embedding[:length]  # (T, L, W)
        mask = self.attn_mask[:length, :length].to(x.dtype)  # (L, L)
        for block in self.resblocks:
            x = block(x, attn_mask=mask)  # (T, L, W)
        eot = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # (T, W)
        return self.ln_final(eot) @ self.text_projection  # (T, E)
