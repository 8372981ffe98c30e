"""Whole/slide inference, resizing and the background rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovseg.evaluation.inference import (
    infer_scores,
    labels_from_scores,
    resize_short_side,
    short_side_size,
    slide_inference,
    whole_inference,
    window_starts,
)


def pixelwise_segmenter(images: torch.Tensor) -> torch.Tensor:
    """Known output: 4 class scores per pixel, each a fixed function of that pixel alone."""
    return torch.cat([images, images.sum(dim=1, keepdim=True)], dim=1)  # (B, 4, H, W)


def window_mean_segmenter(images: torch.Tensor) -> torch.Tensor:
    """Known output per window: every pixel gets the window's mean, at a quarter resolution."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    h, w = max(images.shape[-2] // 4, 1), max(images.shape[-1] // 4, 1)
    return mean.expand(-1, 2, h, w).clone()  # (B, 2, h, w)


def test_short_side_resize_keeps_ratio_and_caps_long_side():
    assert short_side_size(375, 500, 448) == (448, 597)
    assert short_side_size(500, 375, 448) == (597, 448)
    assert short_side_size(100, 3000, 448, max_long_side=2048) == (68, 2048)
    assert resize_short_side(torch.zeros(1, 3, 20, 40), 10).shape == (1, 3, 10, 20)


def test_windows_cover_the_axis_and_the_last_one_is_shifted_inside():
    assert window_starts(448, 448, 224) == [0]
    assert window_starts(597, 448, 224) == [0, 149]
    assert window_starts(1000, 448, 224) == [0, 224, 448, 552]
    assert window_starts(100, 448, 224) == [0]  # smaller than the window: one window of its own size
    for length in range(1, 60):
        starts = window_starts(length, 16, 7)
        covered = torch.zeros(length, dtype=torch.bool)
        for start in starts:
            assert start >= 0 and start + min(16, length) <= length
            covered[start : start + 16] = True
        assert covered.all()


def test_slide_with_crop_equal_to_image_reproduces_the_segmenter_exactly():
    images = torch.rand(2, 3, 32, 48)
    expected = pixelwise_segmenter(images)
    assert torch.equal(slide_inference(pixelwise_segmenter, images, crop=48, stride=24), expected)
    assert torch.equal(whole_inference(pixelwise_segmenter, images), expected)


def test_slide_averages_overlapping_windows():
    torch.manual_seed(0)
    images = torch.rand(1, 3, 20, 28)
    crop, stride = 12, 8
    result = slide_inference(window_mean_segmenter, images, crop=crop, stride=stride)
    # Brute force: each pixel's score is the mean of the means of the windows that contain it.
    total, count = torch.zeros(20, 28), torch.zeros(20, 28)
    for top in window_starts(20, crop, stride):
        for left in window_starts(28, crop, stride):
            total[top : top + crop, left : left + crop] += images[
                ..., top : top + crop, left : left + crop
            ].mean()
            count[top : top + crop, left : left + crop] += 1
    assert count.max() > 1  # the test exercises real overlaps
    torch.testing.assert_close(result[0, 0], total / count, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(result[0, 1], total / count, rtol=1e-6, atol=1e-7)


def test_scores_end_at_the_original_size():
    images = torch.rand(1, 3, 37, 53)
    scores = infer_scores(pixelwise_segmenter, images, (37, 53), short_side=64, crop=64, stride=32)
    assert scores.shape == (1, 4, 37, 53)
    whole = infer_scores(pixelwise_segmenter, images, (37, 53), short_side=64, mode="whole")
    resized = F.interpolate(images, size=short_side_size(37, 53, 64), mode="bilinear", align_corners=False)
    expected = F.interpolate(
        pixelwise_segmenter(resized), size=(37, 53), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(whole, expected)
    with pytest.raises(ValueError, match="whole"):
        infer_scores(pixelwise_segmenter, images, (37, 53), short_side=64, mode="tiles")


def test_background_rule():
    scores = torch.tensor([[0.2, 0.96], [0.94, 0.01], [0.95, 0.5]]).T.reshape(1, 2, 1, 3)  # (1, C=2, 1, 3)
    assert labels_from_scores(scores, None).tolist() == [[[1, 0, 0]]]
    assert labels_from_scores(scores, 0.95).tolist() == [[[2, 0, 1]]]  # below .95 → background 0


def test_short_side_none_keeps_the_size():
    images = torch.rand(1, 3, 20, 30)
    assert resize_short_side(images, None) is images
