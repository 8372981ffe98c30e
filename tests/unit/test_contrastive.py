"""The contrastive loss on one process: symmetric InfoNCE, checked against a direct formula."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ovseg.nn.contrastive import LogitScale, contrastive_loss


def test_matches_the_symmetric_infonce_formula():
    torch.manual_seed(0)
    images, texts = torch.randn(6, 8), torch.randn(6, 8)
    scale = torch.tensor(14.0)
    sim = F.normalize(images, dim=-1) @ F.normalize(texts, dim=-1).T  # (6, 6)
    log_p_i2t = (scale * sim).log_softmax(dim=1).diagonal()
    log_p_t2i = (scale * sim).log_softmax(dim=0).diagonal()
    expected = -(log_p_i2t.mean() + log_p_t2i.mean()) / 2
    torch.testing.assert_close(contrastive_loss(images, texts, scale), expected)


def test_aligned_pairs_score_lower_than_shuffled_ones():
    torch.manual_seed(1)
    features = torch.randn(8, 16)
    scale = torch.tensor(50.0)
    aligned = contrastive_loss(features, features + 0.01 * torch.randn(8, 16), scale)
    shuffled = contrastive_loss(features, features.roll(1, dims=0), scale)
    assert aligned < 0.1 < shuffled


def test_logit_scale_starts_at_one_over_the_temperature_and_is_clamped():
    scale = LogitScale(init_temperature=0.07)
    torch.testing.assert_close(scale(), torch.tensor(1 / 0.07))
    with torch.no_grad():
        scale.log_scale.fill_(10.0)
    assert scale() == 100.0


def test_gradients_reach_both_towers():
    images = torch.randn(4, 8, requires_grad=True)
    texts = torch.randn(4, 8, requires_grad=True)
    contrastive_loss(images, texts, torch.tensor(10.0)).backward()
    assert images.grad.abs().sum() > 0 and texts.grad.abs().sum() > 0
