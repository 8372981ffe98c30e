"""SegCLIP's segmentation (paper §2.5, inference): S = M·Ŝ, as regions for the shared protocol.

Ŝ (L × C) is the softmax over classes of the scaled cosine similarity between each group token
(after ln_post and proj) and each class embedding; M maps pixels to groups. The release takes M as
the argmax of the soft patch→group assignment upsampled bilinearly to the input size. SegCLIP gives
the protocol its groups' logits, M and the image feature's class probabilities
(``group_regions``); the release's top-5 filter and background rule are the protocol's
(``ovseg.evaluation.window_rules``), applied to every method alike.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ovseg.evaluation.regions import RegionScores
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
    """(..., E) features × (C, E) classes → (..., C) cosine · logit_scale (the release's order)."""
    with torch.autocast(features.device.type, enabled=False):  # fp32 logits under autocast too
        features = F.normalize(features.float(), dim=-1)
        return (features @ class_embeddings.float().T) * model.logit_scale().float()


def classify(model: SegCLIPModel, images: torch.Tensor, class_embeddings: torch.Tensor) -> torch.Tensor:
    """(B, C) image-level class probabilities from the image feature z_p."""
    return _scaled_cosine(model, _encode_padded(model, images).feature, class_embeddings).softmax(dim=-1)


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
def group_regions(
    model: SegCLIPModel,
    images: torch.Tensor,
    class_embeddings: torch.Tensor,
    membership: Membership = "upsampled",
) -> RegionScores:
    """One window's groups for normalised images (B, 3, H, W): their class logits (B, L, C), the
    pixel → group membership M (B, L, H, W) and the image feature's class probabilities (B, C).

    Args:
        model: the SegCLIP model (in eval mode: no Gumbel noise).
        images: normalised images; padded internally to a multiple of the patch size.
        class_embeddings: (C, E) L2-normalised class embeddings.
        membership: how pixels are assigned to groups (see ``group_membership``).
    """
    height, width = images.shape[-2:]
    out = _encode_padded(model, images)
    patch = model.visual.patch_size
    padded = (out.grid[0] * patch, out.grid[1] * patch)
    weights = group_membership(out, padded, membership).float()  # (B, L, h, w)
    if tuple(weights.shape[-2:]) != padded:
        weights = F.interpolate(weights, size=padded, mode="bilinear", align_corners=False)  # (B, L, H', W')
    return RegionScores(
        logits=_scaled_cosine(model, out.group_features, class_embeddings),  # (B, L, C)
        membership=weights[..., :height, :width],  # (B, L, H, W)
        image_probs=_scaled_cosine(model, out.feature, class_embeddings).softmax(dim=-1),  # (B, C)
    )
