"""The protocol's top-k class filter is applied once: by the method that owns it, else by the base."""

from __future__ import annotations

import torch

from ovseg.data.catalog import get_dataset_spec
from ovseg.methods.segclip import SegCLIP
from tests.support.segmenters import ColourSegmenter
from tests.unit.test_base_segmenter import scene_with_three_classes
from tests.unit.test_segclip_module import TINY_MODULE

VOC = get_dataset_spec("voc")  # 20 foreground classes, more than the segclip protocol's top 5
WHOLE_64 = dict(mode="whole", short_side=64)  # one window per image, so one top-k set per image


def _tiny_segclip(**kwargs) -> SegCLIP:
    torch.manual_seed(0)
    return SegCLIP(**TINY_MODULE, protocol="segclip", dataset=VOC, **WHOLE_64, **kwargs).eval()


def _scores(model, images: torch.Tensor) -> torch.Tensor:
    return model.predict_scores(model.normalize(images), tuple(images.shape[-2:]))  # (B, C, H0, W0)


def _images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randint(0, 256, (2, 3, 48, 72), dtype=torch.uint8)  # (B, 3, H0, W0)


def test_segclip_under_its_protocol_applies_only_its_own_per_window_filter():
    model = _tiny_segclip()
    assert model.protocol.top_k_classes == 5 and model.owns_top_k_filter()
    scores = _scores(model, _images())
    assert torch.isfinite(scores).all()  # the shared filter (which writes -inf) did not run
    classes_scored = (scores.amax(dim=(2, 3)) > 0).sum(dim=1)  # (B,)
    assert classes_scored.le(5).all()  # SegCLIP's own renormalisation kept only the top 5


def test_segclip_with_its_rules_off_gets_the_shared_filter_instead():
    model = _tiny_segclip(segclip_rules=False)
    assert not model.owns_top_k_filter()
    scores = _scores(model, _images())
    filtered = torch.isinf(scores).all(dim=(2, 3))  # (B, C)
    assert filtered.sum(dim=1).tolist() == [VOC.num_classes - 1 - 5] * 2


def test_a_method_without_its_own_filter_gets_the_shared_one():
    model = ColourSegmenter(dataset=VOC, protocol="segclip").eval()
    assert not model.owns_top_k_filter()
    image, _ = scene_with_three_classes()
    scores = _scores(model, image)
    filtered = torch.isinf(scores).all(dim=(2, 3))  # (1, C)
    assert filtered.sum().item() == VOC.num_classes - 1 - 5
    kept = (~filtered[0]).nonzero().flatten().tolist()
    assert {14, 11, 2} <= set(kept)  # person, dog, bird (foreground indices) survive the top 5
