"""SegCLIP's segmentation (paper §2.5, inference): S = M·Ŝ.

Ŝ (L × C) is the softmax over classes of the scaled cosine similarity between each group token
(after ln_post and proj) and each class embedding; M maps pixels to groups. The release takes M as
the argmax of the soft patch→group assignment upsampled bilinearly to the input size, and, under
its own protocol, (a) renormalises Ŝ over the window's top-k classes by image feature and
multiplies it with the plain Ŝ, (b) lowers the background threshold to the best group affinity
when that is below it. Both rules are options here; (b) is realised by scaling the scores by
max(1, threshold / best affinity), which flags exactly the pixels the release flags.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ovseg.methods.segclip.model import ImageOutput, SegCLIPModel

Membership = Literal["upsampled", "patch", "soft"]


def _encode_padded(model: SegCLIPModel, images: torch.Tensor) -> ImageOutput:
    """Encode images padded (zeros = the mean colour) up to a multiple of the patch size."""
    patch = model.visual.patch_size
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % patch, -width % patch
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h))  # (B, 3, H', W')
    return model.encode_image(images)


def _scaled_cosine(
    model: SegCLIPModel, features: torch.Tensor, class_embeddings: torch.Tensor
) -> torch.Tensor:
    """(..., E) features × (C, E) classes → (..., C) logit_scale · cosine."""
    with torch.autocast(features.device.type, enabled=False):  # fp32 logits under autocast too
        features = F.normalize(features.float(), dim=-1)
        return model.logit_scale().float() * features @ class_embeddings.float().T


def classify(model: SegCLIPModel, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """(B, C) image-level class probabilities from the image feature z_p."""
    return _scaled_cosine(model, _encode_padded(model, images).feature, class_embeddings).softmax(dim=-1)


def group_affinity(
    model: SegCLIPModel, out: ImageOutput, class_embeddings: torch.Tensor, top_k: int | None = None
) -> torch.Tensor:
    """(B, L, C) Ŝ: each group's class probabilities; with ``top_k``, the release's product."""
    logits = _scaled_cosine(model, out.group_features, class_embeddings)  # (B, L, C)
    affinity = logits.softmax(dim=-1)  # (B, L, C)
    if top_k is not None and top_k < logits.shape[-1]:
        image_scores = _scaled_cosine(model, out.feature, class_embeddings)  # (B, C)
        keep = torch.zeros_like(image_scores, dtype=torch.bool)  # (B, C)
        keep.scatter_(1, image_scores.topk(top_k, dim=-1).indices, True)
        filtered = logits.masked_fill(~keep[:, None], float("-inf")).softmax(dim=-1)  # (B, L, C)
        affinity = filtered * affinity  # (B, L, C)
    return affinity


def group_membership(out: ImageOutput, size: tuple[int, int], membership: Membership) -> torch.Tensor:
    """(B, L, h, w) pixel → group weights: one-hot for "upsampled"/"patch", probabilities for "soft".

    "upsampled" is at ``size`` (the padded input), the others at the patch grid.
    """
    batch, centers, _ = out.soft.shape
    if membership == "patch":
        return out.hard.reshape(batch, centers, *out.grid)  # (B, L, gh, gw)
    soft = out.soft.reshape(batch, centers, *out.grid)  # (B, L, gh, gw)
    if membership == "soft":
        return soft
    if membership != "upsampled":
        raise ValueError(f"unknown membership '{membership}'; use upsampled, patch or soft.")
    upsampled = F.interpolate(soft, size=size, mode="bilinear", align_corners=False)  # (B, L, H, W)
    index = upsampled.argmax(dim=1)  # (B, H, W)
    return F.one_hot(index, centers).permute(0, 3, 1, 2).to(soft.dtype)  # (B, L, H, W)


@torch.no_grad()
def segment_scores(
    model: SegCLIPModel,
    images: torch.Tensor,
    class_embeddings: torch.Tensor,
    membership: Membership = "upsampled",
    top_k: int | None = None,
    bg_threshold: float | None = None,
) -> torch.Tensor:
    """(B, C, h, w) class scores S = M·Ŝ for normalised images (B, 3, H, W).

    Args:
        model: the SegCLIP model (in eval mode: no Gumbel noise).
        images: normalised images; padded internally to a multiple of the patch size.
        class_embeddings: (C, E) L2-normalised class embeddings.
        membership: how pixels are assigned to groups (see ``group_membership``).
        top_k: the release's per-window top-k renormalisation of Ŝ (None: off).
        bg_threshold: with a value, the release's background rule (see the module docstring).
    """
    height, width = images.shape[-2:]
    out = _encode_padded(model, images)
    affinity = group_affinity(model, out, class_embeddings, top_k)  # (B, L, C)
    patch = model.visual.patch_size
    padded = (out.grid[0] * patch, out.grid[1] * patch)
    weights = group_membership(out, padded, membership)  # (B, L, h, w)
    with torch.autocast(images.device.type, enabled=False):  # scores in fp32 under bf16 autocast too
        scores = torch.einsum("blhw,blc->bchw", weights.float(), affinity.float())  # (B, C, h, w) S = M Ŝ
    if padded != (height, width):
        if scores.shape[-2:] != padded:
            scores = F.interpolate(
                scores, size=padded, mode="bilinear", align_corners=False
            )  # (B, C, H', W')
        scores = scores[..., :height, :width]  # (B, C, H, W)
    if bg_threshold is not None:
        best = affinity.flatten(1).amax(dim=1)  # (B,)
        scores = scores * (bg_threshold / best).clamp_min(1.0)[:, None, None, None]
    return scores
