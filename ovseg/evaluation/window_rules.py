"""The protocol's rules, written once for every method: from one window's regions to its scores.

GroupViT's released evaluation (``GroupViTSegInference.encode_decode``, kept by SegCLIP's release)
runs per window:

1. Top-k class filter: the image-level probabilities pick the window's k best classes (k capped at
   the number of classes); a region's affinity is the softmax over its logits with every other class
   masked out, times the plain softmax over all classes (``top_k_combine="product"``).
2. Each pixel takes its regions' affinities (one-hot membership for groups).
3. Background channel: 1 where the pixel's best affinity is below min(threshold, the window's largest
   affinity over ALL regions, even one that owns no pixel), else 0.

Windows are then averaged, resized to the original image and the argmax taken (channel 0,
background, wins ties). TCL's release instead puts a constant channel equal to the threshold before
the argmax (``bg_rule="constant"``). ``bg_rule="threshold"`` adds no channel: background is decided
after averaging (``labels_from_window_scores``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ovseg.evaluation.inference import labels_from_scores
from ovseg.evaluation.protocols import Protocol
from ovseg.evaluation.regions import RegionScores


def top_k_keep(image_probs: torch.Tensor, top_k: int) -> torch.Tensor:
    """(B, C) bool: each image's ``top_k`` best classes (all of them when there are fewer)."""
    keep = torch.zeros_like(image_probs, dtype=torch.bool)  # (B, C)
    chosen = image_probs.topk(min(top_k, image_probs.shape[-1]), dim=-1).indices  # (B, k)
    return keep.scatter_(1, chosen, True)


def class_affinity(regions: RegionScores, top_k: int | None, combine: str = "product") -> torch.Tensor:
    """(B, R, C) each region's class affinity under the protocol's class filter (fp32)."""
    plain = regions.class_probs()  # (B, R, C)
    if top_k is None:
        return plain
    if regions.image_probs is None:
        raise ValueError(
            "the protocol's top-k class filter needs image-level class probabilities "
            "(RegionScores.image_probs), which this method does not give; turn the filter off "
            "with --model.top_k_classes 0."
        )
    keep = top_k_keep(regions.image_probs.float(), top_k)[:, None]  # (B, 1, C)
    if regions.logits is not None:  # the softmax over the kept logits, as the releases compute it
        filtered = regions.logits.float().masked_fill(~keep, float("-inf")).softmax(dim=-1)  # (B, R, C)
    else:
        kept = plain * keep  # (B, R, C)
        filtered = kept / kept.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(kept.dtype).tiny)
    if combine == "product":
        return filtered * plain  # (B, R, C)
    if combine == "filtered":
        return filtered
    raise ValueError(f"unknown top_k_combine '{combine}'; use product or filtered.")


def pixel_scores(regions: RegionScores, affinity: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) each pixel's class scores at the window's ``size``: Σ_r membership_r · affinity_r.

    A membership at another resolution is resized (bilinear) to the window first, as GroupViT's
    release resizes its group maps; pixel regions are resized as scores.
    """
    batch, _, classes = affinity.shape
    if regions.membership is None:
        scores = affinity.transpose(1, 2).reshape(batch, classes, *regions.grid)  # (B, C, h', w')
        if tuple(scores.shape[-2:]) != tuple(size):
            scores = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)  # (B, C, h, w)
        return scores
    membership = regions.membership.float()  # (B, R, h', w')
    if tuple(membership.shape[-2:]) != tuple(size):
        membership = F.interpolate(
            membership, size=size, mode="bilinear", align_corners=False
        )  # (B, R, h, w)
    scores = torch.einsum("brhw,brc->bchw", membership, affinity)  # (B, C, h, w)
    if regions.normalize:
        scores = scores / membership.sum(dim=1, keepdim=True).clamp_min(1e-6)  # (B, C, h, w)
    return scores


def window_background(scores: torch.Tensor, affinity: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, 1, h, w) GroupViT's background channel: 1 where the best class score is below
    min(threshold, the window's largest region affinity), 0 elsewhere.

    The bar is compared as the release compares it: a Python float against the fp32 scores.
    """
    best = scores.amax(dim=1)  # (B, h, w)
    largest = affinity.flatten(1).amax(dim=1)  # (B,): over every region, even one that owns no pixel
    channel = [best[index] < min(threshold, largest[index].item()) for index in range(best.shape[0])]
    return torch.stack(channel)[:, None].to(scores.dtype)  # (B, 1, h, w)


def window_scores(
    regions: RegionScores, protocol: Protocol, threshold: float | None, size: tuple[int, int]
) -> torch.Tensor:
    """One window's scores under ``protocol``: (B, 1 + C, h, w) with the background channel first
    when ``threshold`` is set and the rule makes a channel ("window", "constant"), else (B, C, h, w)."""
    with torch.autocast(regions.device.type, enabled=False):  # the rules in fp32
        affinity = class_affinity(regions, protocol.top_k_classes, protocol.top_k_combine)  # (B, R, C)
        scores = pixel_scores(regions, affinity, size)  # (B, C, h, w)
        if threshold is None or protocol.bg_rule == "threshold":
            return scores
        if protocol.bg_rule == "constant":
            background = torch.full_like(scores[:, :1], threshold)  # (B, 1, h, w)
        elif protocol.bg_rule == "window":
            background = window_background(scores, affinity, threshold)  # (B, 1, h, w)
        else:
            raise ValueError(f"unknown bg_rule '{protocol.bg_rule}'; use window, constant or threshold.")
        return torch.cat([background, scores], dim=1)  # (B, 1 + C, h, w)


def makes_background_channel(protocol: Protocol, threshold: float | None) -> bool:
    """Whether ``window_scores`` puts a background channel first."""
    return threshold is not None and protocol.bg_rule != "threshold"


def labels_from_window_scores(
    scores: torch.Tensor, protocol: Protocol, threshold: float | None
) -> torch.Tensor:
    """(B, H, W) labels from averaged, resized window scores: the argmax (background 0 winning ties)
    where there is a background channel, the plain threshold rule for ``bg_rule="threshold"``."""
    if threshold is not None and protocol.bg_rule == "threshold":
        return labels_from_scores(scores, threshold)
    return scores.argmax(dim=1)
