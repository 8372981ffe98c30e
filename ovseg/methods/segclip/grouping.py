"""SegCLIP's semantic group module: L learnable centers gather the patches into L group tokens.

Submodule names follow the released checkpoint (``semantic_center``, ``cross_att``, ``k_conv``, ...)
so that its ``semantic_layer2.*`` keys load by a prefix change only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn

from ovseg.methods.segclip.layers import CrossAttentionBlock, QuickGELU


class GroupOutput(NamedTuple):
    """What the group module hands on (L centers, N patches)."""

    tokens: torch.Tensor  # (B, L, D) group tokens Ĥp (eq. 3)
    hard: torch.Tensor  # (B, L, N) one-hot assignment M per patch, straight-through gradient
    soft: torch.Tensor  # (B, L, N) softmax of the assignment logits over centers (no noise)
    centers: torch.Tensor  # (B, L, D) contextual centers Ĥc (eq. 1)


def straight_through_assignment(
    logits: torch.Tensor, tau: float, noise: bool, dim: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard Gumbel-softmax over ``dim`` (paper eq. 2): one-hot forward, soft gradient.

    With ``noise`` (training) the soft sample is softmax((logits + Gumbel) / tau); without it
    (evaluation) it is softmax(logits), as in the release. Returns (hard, soft sample).
    """
    if noise:
        gumbels = -torch.empty_like(logits).exponential_().log()  # (B, L, N) ~ Gumbel(0, 1)
        y_soft = ((logits + gumbels) / tau).softmax(dim)  # (B, L, N)
    else:
        y_soft = logits.softmax(dim)  # (B, L, N)
    index = y_soft.argmax(dim, keepdim=True)  # (B, 1, N)
    y_hard = torch.zeros_like(y_soft).scatter_(dim, index, 1.0)  # (B, L, N)
    return y_hard - y_soft.detach() + y_soft, y_soft


class SemanticGroup(nn.Module):
    """Learnable centers → contextual centers → patch assignment → group tokens (paper §2.2).

    Args:
        width: token width D.
        heads: attention heads of the cross-attention blocks (also the groups of k/v projections).
        num_centers: L learnable centers.
        cross_layers: cross-attention blocks (eq. 1).
        tau: Gumbel-softmax temperature (training only).
        quick_gelu: QuickGELU in the cross-attention MLPs (the release's CLIP blocks).
    """

    def __init__(
        self,
        width: int = 768,
        heads: int = 12,
        num_centers: int = 8,
        cross_layers: int = 2,
        tau: float = 0.9,
        quick_gelu: bool = True,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}.")
        self.tau = tau
        self.semantic_center = nn.Parameter(torch.empty(num_centers, width))
        self.cross_att = nn.ModuleList(
            CrossAttentionBlock(width, heads, quick_gelu=quick_gelu) for _ in range(cross_layers)
        )
        self.cross_ln = nn.LayerNorm(width)
        self.norm = nn.LayerNorm(width)
        self.k_conv = nn.Conv1d(width, width, kernel_size=1, groups=heads, bias=False)
        self.k_ln = nn.LayerNorm(width)
        self.v_conv = nn.Conv1d(width, width, kernel_size=1, groups=heads, bias=False)
        mlp = nn.Sequential(
            OrderedDict(
                [
                    ("fc1", nn.Linear(width, 4 * width)),
                    ("act", nn.GELU()),
                    ("fc2", nn.Linear(4 * width, width)),
                ]
            )
        )
        self.proj_o = nn.Sequential(
            OrderedDict([("ln", nn.LayerNorm(width)), ("mlp", mlp), ("act", QuickGELU())])
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The release's initialisation: trunc-normal(0.02) centers and linear weights, zero biases."""
        nn.init.trunc_normal_(self.semantic_center, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    @property
    def num_centers(self) -> int:
        return self.semantic_center.shape[0]

    def forward(self, patches: torch.Tensor) -> GroupOutput:
        """(B, N, D) first-stage patch tokens Hp → ``GroupOutput``."""
        batch = patches.shape[0]
        centers = self.semantic_center.to(patches.dtype).expand(batch, -1, -1)  # (B, L, D)
        for block in self.cross_att:
            centers = block(centers, torch.cat([centers, patches], dim=1))  # (B, L, D) eq. 1
        centers = self.cross_ln(centers)  # (B, L, D) Ĥc
        normed = self.norm(patches).transpose(1, 2)  # (B, D, N)
        keys = self.k_ln(self.k_conv(normed).transpose(1, 2))  # (B, N, D)
        values = self.v_conv(normed).transpose(1, 2)  # (B, N, D)
        logits = torch.einsum("bld,bnd->bln", centers.float(), keys.float())  # (B, L, N) Hp Ĥcᵀ, eq. 2
        hard, _ = straight_through_assignment(logits, self.tau, noise=self.training)  # (B, L, N) M
        soft = logits.softmax(dim=1)  # (B, L, N)
        counts = hard.sum(dim=-1, keepdim=True).clamp_min(1.0)  # (B, L, 1)
        mean = torch.einsum("bln,bnd->bld", hard, values.float()) / counts  # (B, L, D) MEAN(MᵀHp)
        tokens = self.proj_o((mean + centers.float()).to(patches.dtype))  # (B, L, D) eq. 3
        return GroupOutput(tokens, hard, soft, centers)
