"""What a method's forward on one window hands to the protocol: regions with class scores.

Every open-vocabulary method here segments by regions: SegCLIP's groups, S-Seg's masks, or the
pixels themselves for a dense method. A region has class scores (logits, or probabilities when the
method's scores are not a softmax over the class list), and each pixel belongs to the regions with
some weight. The protocol's rules (``ovseg.evaluation.window_rules``) read only this, so they are
written once for every method.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RegionScores:
    """One window's regions (batch B, regions R, classes C, window h × w).

    Attributes:
        logits: (B, R, C) each region's class logits (logit scale × cosine similarity); its class
            probabilities are their softmax. None when ``probs`` is given instead.
        probs: (B, R, C) each region's class probabilities, for a method whose scores are not a
            softmax over the class list; None when ``logits`` is given.
        membership: (B, R, h', w') each pixel's weight on each region: one-hot for a hard assignment
            (SegCLIP's groups), soft for masks (S-Seg's σ(m_q)); at any resolution, resized to the
            window by the rules. None: every pixel is a region of its own, R = h' · w' in row-major
            order, and ``grid`` gives (h', w').
        image_probs: (B, C) the image-level class probabilities that rank the classes for the top-k
            filter (GroupViT's average-pooled image feature); None for a method without them.
        grid: (h', w') of the pixel regions when ``membership`` is None.
        normalize: divide each pixel's class scores by the sum of its memberships.
    """

    logits: torch.Tensor | None = None
    probs: torch.Tensor | None = None
    membership: torch.Tensor | None = None
    image_probs: torch.Tensor | None = None
    grid: tuple[int, int] | None = None
    normalize: bool = False

    def __post_init__(self) -> None:
        if (self.logits is None) == (self.probs is None):
            raise ValueError("RegionScores needs exactly one of logits and probs.")
        scores = self.logits if self.logits is not None else self.probs
        if scores.ndim != 3:
            raise ValueError(f"region scores must be (B, R, C), got shape {tuple(scores.shape)}.")
        if self.membership is None:
            if self.grid is None or self.grid[0] * self.grid[1] != scores.shape[1]:
                raise ValueError(
                    f"pixel regions need grid=(h, w) with h·w = R = {scores.shape[1]}, got grid={self.grid}."
                )
        elif self.membership.shape[:2] != scores.shape[:2]:
            raise ValueError(
                f"membership {tuple(self.membership.shape)} does not match the regions {tuple(scores.shape)}."
            )

    @property
    def device(self) -> torch.device:
        return (self.logits if self.logits is not None else self.probs).device

    @classmethod
    def from_pixels(cls, probs: torch.Tensor, image_probs: torch.Tensor | None = None) -> RegionScores:
        """Every pixel a region: (B, C, h, w) class probabilities."""
        height, width = probs.shape[-2:]
        flat = probs.flatten(2).transpose(1, 2)  # (B, h·w, C)
        return cls(probs=flat, image_probs=image_probs, grid=(height, width))

    def class_probs(self) -> torch.Tensor:
        """(B, R, C) the plain class probabilities, in fp32."""
        if self.logits is not None:
            return self.logits.float().softmax(dim=-1)
        return self.probs.float()
