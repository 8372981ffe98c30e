"""SegCLIP's auxiliary losses: masked-patch reconstruction (§2.3) and superpixel KL (§2.4).

The contrastive loss is ``ovseg.nn.contrastive.contrastive_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, 3, H, W) → (B, N, p·p·3), patches in row-major order, pixels (row, col, channel)."""
    batch, channels, height, width = images.shape
    gh, gw = height // patch_size, width // patch_size
    x = images[..., : gh * patch_size, : gw * patch_size]
    x = x.reshape(batch, channels, gh, patch_size, gw, patch_size)  # (B, C, gh, p, gw, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, gh * gw, patch_size * patch_size * channels)


def reconstruction_loss(pixels: torch.Tensor, target: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """L_rec: per-patch MSE averaged over the MASKED patches only (visible ones are ignored).

    Args:
        pixels: (B, N, P) predicted patches.
        target: (B, N, P) patches of the normalised input image.
        masked: (B, N) bool, True where the patch was hidden from the encoder.
    """
    per_patch = (pixels.float() - target.float()).pow(2).mean(dim=-1)  # (B, N)
    weights = masked.to(per_patch.dtype)  # (B, N)
    return (per_patch * weights).sum() / weights.sum().clamp_min(1.0)


def patch_labels(superpixels: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, H, W) superpixel ids → (B, N) the majority id of each patch (its super-patch).

    A majority vote rather than the release's truncated mean of ids, which gives boundary patches
    ids of superpixels they do not touch.
    """
    patches = patchify(superpixels[:, None], patch_size)  # (B, N, p*p)
    return patches.mode(dim=-1).values  # (B, N)


def superpixel_kl_loss(assignment: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_sup (eqs. 5–6): symmetric KL between each patch's and its super-patch's center distribution.

    P_j = softmax over centers of patch j's row of M; P̂_j = softmax of the mean row over the patches
    sharing j's super-patch; L = 1/(2N) Σ_j KL(P_j‖P̂_j) + KL(P̂_j‖P_j), averaged over the batch.
    (The release divides further by the number of centers L.)

    Args:
        assignment: (B, L, N) assignment M (the hard straight-through one, as in the release).
        labels: (B, N) super-patch id of each patch.
    """
    rows = assignment.float().transpose(1, 2)  # (B, N, L)
    batch, num_patches, centers = rows.shape
    ids = labels - labels.amin(dim=1, keepdim=True)  # (B, N) ids from 0
    num_ids = int(ids.max()) + 1
    sums = rows.new_zeros(batch, num_ids, centers).scatter_add(
        1, ids[..., None].expand(-1, -1, centers), rows
    )
    counts = rows.new_zeros(batch, num_ids).scatter_add(1, ids, rows.new_ones(batch, num_patches))  # (B, K)
    means = sums / counts.clamp_min(1.0)[..., None]  # (B, K, L)
    group_rows = means.gather(1, ids[..., None].expand(-1, -1, centers))  # (B, N, L)
    log_p = F.log_softmax(rows, dim=-1)  # (B, N, L) log P_j
    log_q = F.log_softmax(group_rows, dim=-1)  # (B, N, L) log P̂_j, eq. 5
    kl_pq = (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # (B, N)
    kl_qp = (log_q.exp() * (log_q - log_p)).sum(dim=-1)  # (B, N)
    return (kl_pq + kl_qp).sum(dim=1).div(2 * num_patches).mean()  # eq. 6
