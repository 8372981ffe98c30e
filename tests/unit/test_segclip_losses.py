"""SegCLIP's auxiliary losses: superpixel KL (eqs. 5–6) and masked-patch reconstruction."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ovseg.methods.segclip.losses import patch_labels, patchify, reconstruction_loss, superpixel_kl_loss
from ovseg.methods.segclip.reconstruction import sincos_pos_embed


def _one_hot(centers: torch.Tensor, count: int) -> torch.Tensor:
    """(B, N) center ids → (B, L, N) one-hot assignment."""
    return F.one_hot(centers, count).permute(0, 2, 1).float()


def test_superpixel_loss_is_zero_when_assignments_are_constant_within_superpixels():
    labels = torch.tensor([[0, 0, 1, 1, 1, 2], [5, 5, 5, 7, 7, 7]])  # (B, N) super-patches
    consistent = _one_hot(torch.tensor([[3, 3, 1, 1, 1, 0], [2, 2, 2, 2, 2, 2]]), 4)
    assert superpixel_kl_loss(consistent, labels).item() == 0.0
    split = _one_hot(torch.tensor([[3, 1, 1, 1, 1, 0], [2, 2, 2, 2, 2, 2]]), 4)
    assert superpixel_kl_loss(split, labels).item() > 0.0


def test_superpixel_loss_matches_the_equations():
    torch.manual_seed(0)
    rows = torch.randn(2, 4, 10)  # (B, L, N)
    labels = torch.randint(0, 3, (2, 10))
    expected = []
    for b in range(2):
        p = rows[b].T.softmax(-1)  # (N, L)
        total = 0.0
        for j in range(10):
            group = rows[b].T[labels[b] == labels[b, j]].mean(0).softmax(-1)  # eq. 5
            total += (p[j] * (p[j] / group).log()).sum() + (group * (group / p[j]).log()).sum()
        expected.append(total / (2 * 10))  # eq. 6
    torch.testing.assert_close(superpixel_kl_loss(rows, labels), torch.stack(expected).mean())


def test_patch_labels_take_the_majority_vote():
    superpixels = torch.zeros(1, 4, 4, dtype=torch.int64)
    superpixels[0, :2, :2] = torch.tensor([[5, 5], [5, 9]])  # patch 0: three 5s, one 9
    superpixels[0, :2, 2:] = 3
    superpixels[0, 2:, :] = torch.tensor([[1, 1, 2, 2], [4, 1, 2, 0]])
    assert patch_labels(superpixels, 2).tolist() == [[5, 3, 1, 2]]


def test_patchify_orders_patches_row_major_and_pixels_row_col_channel():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    patches = patchify(images, 2)  # (B, 6, 12)
    expected = F.unfold(images, kernel_size=2, stride=2)  # (B, 3*2*2, 6): channel-major pixels
    expected = expected.reshape(2, 3, 4, 6).permute(0, 3, 2, 1).reshape(2, 6, 12)
    torch.testing.assert_close(patches, expected)


def test_reconstruction_loss_ignores_visible_patches():
    torch.manual_seed(0)
    target = torch.randn(2, 6, 12)
    masked = torch.tensor([[True, False, True, False, False, True], [False] * 5 + [True]])
    pixels = torch.randn(2, 6, 12, requires_grad=True)
    loss = reconstruction_loss(pixels, target, masked)
    changed = pixels.detach().clone()
    changed[~masked] += 100.0  # anything at the visible patches
    torch.testing.assert_close(reconstruction_loss(changed, target, masked), loss.detach())
    expected = (pixels - target).pow(2).mean(-1)[masked].mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert pixels.grad[~masked].abs().sum() == 0 and pixels.grad[masked].abs().sum() > 0


def test_decoder_position_embedding_is_mae_sincos():
    from open_clip.pos_embed import get_2d_sincos_pos_embed  # an outside reference (MAE's numpy code)

    ours = sincos_pos_embed(32, (5, 5))
    reference = torch.from_numpy(np.asarray(get_2d_sincos_pos_embed(32, 5, cls_token=True))).float()
    torch.testing.assert_close(ours, reference)
