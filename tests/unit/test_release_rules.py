"""Each method under the release's rules, labels compared pixel for pixel with the formula by hand.

GroupViT's ``encode_decode`` (kept by SegCLIP's release), per window: top-5 classes by the image-level
probabilities, affinity = softmax over the kept logits × plain softmax, each pixel its regions'
affinities, background channel where the best is below min(threshold, the largest affinity); then
windows averaged and the argmax. Written out here with the tiny models' own features.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ovseg.data.catalog import get_dataset_spec
from ovseg.methods.segclip import SegCLIP
from ovseg.methods.sseg import SSeg
from tests.unit.test_segclip_module import TINY_MODULE
from tests.unit.test_sseg_model import TINY as TINY_SSEG

SYNTHETIC = get_dataset_spec("synthetic")  # scored at its own size: the windows below are the run's
SLIDE = dict(mode="slide", crop=64, stride=32)  # a 64 × 96 image: windows at x = 0 and 32, half shared


def _product(logits: torch.Tensor, image_probs: torch.Tensor) -> torch.Tensor:
    """(R, C) the release's affinity: softmax over the top-5 classes' logits × the plain softmax."""
    keep = torch.zeros_like(image_probs, dtype=torch.bool)
    keep[image_probs.topk(min(5, image_probs.numel())).indices] = True
    return logits.masked_fill(~keep, float("-inf")).softmax(-1) * logits.softmax(-1)


def _slide_by_hand(images: torch.Tensor, window_fn, threshold: float) -> torch.Tensor:
    """(H, W) labels of one image: windows of 64 every 32 along x, background channel per window."""
    _, _, height, width = images.shape
    total, count = None, torch.zeros(height, width)
    for left in range(0, width - 64 + 1, 32):
        pixel, affinity = window_fn(images[..., left : left + 64])  # (C, h, w), (R, C)
        bar = min(threshold, affinity.max().item())
        background = (pixel.max(dim=0).values < bar).float()[None]  # (1, h, w)
        out = torch.cat([background, pixel])  # (1 + C, h, w)
        if total is None:
            total = torch.zeros(out.shape[0], height, width)
        total[:, :, left : left + 64] += out
        count[:, left : left + 64] += 1
    return (total / count).argmax(dim=0)


def _segclip_window(model: SegCLIP, classes: torch.Tensor):
    def window_fn(window: torch.Tensor):
        with torch.no_grad():
            out = model.model.encode_image(window)
            scale = model.model.logit_scale()
            logits = (F.normalize(out.group_features[0], dim=-1) @ classes.T) * scale  # (L, C)
            image = ((F.normalize(out.feature[0], dim=-1) @ classes.T) * scale).softmax(-1)  # (C,)
            soft = out.soft[0].reshape(1, -1, *out.grid)  # (1, L, gh, gw)
            soft = F.interpolate(soft, size=window.shape[-2:], mode="bilinear", align_corners=False)
        onehot = F.one_hot(soft[0].argmax(dim=0), soft.shape[1]).float()  # (h, w, L)
        affinity = _product(logits, image)  # (L, C)
        return (onehot @ affinity).permute(2, 0, 1), affinity

    return window_fn


def _sseg_window(model: SSeg, classes: torch.Tensor):
    def window_fn(window: torch.Tensor):
        with torch.no_grad():
            out = model.model(window)
            scale = model.logit_scale()
            logits = (
                scale * F.normalize(model.model.mask_features(out.queries)[0], dim=-1) @ classes.T
            )  # (N, C)
            image_feature = model.model.image_embedding(out.queries)[0]  # (D,)
            image = (scale * F.normalize(image_feature, dim=-1) @ classes.T).softmax(-1)  # (C,)
            masks = F.interpolate(out.pred_masks.sigmoid(), size=window.shape[-2:], mode="bilinear")[0]
        affinity = _product(logits, image)  # (N, C): the filter on each query's class distribution
        return torch.einsum("nc,nhw->chw", affinity, masks), affinity  # Σ_q p_q(c)·σ(m_q)

    return window_fn


def _classes(count: int, dim: int) -> torch.Tensor:
    torch.manual_seed(3)
    return F.normalize(torch.randn(count, dim), dim=-1)


def _labels(model, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    model._class_embeddings = classes
    return model.predict_labels(images, tuple(images.shape[-2:]))[0]


def _thresholds(model, images, classes, window_fn) -> list[float]:
    """The presets' thresholds, one above every affinity, and each window's largest affinity itself."""
    edges = [window_fn(images[..., left : left + 64])[1].max().item() for left in (0, 32)]
    return [0.25, 0.65, 0.8, 0.95, 1.0, *edges]


def test_segclip_under_its_protocol_labels_every_pixel_as_the_release():
    torch.manual_seed(0)
    model = SegCLIP(**TINY_MODULE, protocol="segclip", dataset=SYNTHETIC, **SLIDE).eval()
    torch.manual_seed(1)
    images, classes = torch.randn(1, 3, 64, 96), _classes(8, 64)
    window_fn = _segclip_window(model, classes)
    for threshold in _thresholds(model, images, classes, window_fn):
        model.bg_threshold_override = threshold
        assert torch.equal(_labels(model, images, classes), _slide_by_hand(images, window_fn, threshold)), (
            threshold
        )


@pytest.mark.parametrize("classes_count", [3, 8])  # ≤ 5 classes: all kept, the product still taken
def test_sseg_under_groupvit_labels_every_pixel_as_the_release(classes_count):
    torch.manual_seed(0)
    model = SSeg(**TINY_SSEG, protocol="groupvit", dataset=SYNTHETIC, **SLIDE).eval()
    torch.manual_seed(1)
    images, classes = torch.randn(1, 3, 64, 96), _classes(classes_count, 8)
    window_fn = _sseg_window(model, classes)
    labels = None
    for threshold in _thresholds(model, images, classes, window_fn):
        model.bg_threshold_override = threshold
        labels = _labels(model, images, classes)
        assert torch.equal(labels, _slide_by_hand(images, window_fn, threshold)), threshold
    assert labels.ne(0).any()  # at a bar of a window's largest affinity, some pixel keeps its class
