"""The shared evaluation face of every method, driven through a test-only colour segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ovseg.data.catalog import get_dataset_spec
from tests.support.datasets import paint
from tests.support.segmenters import ColourSegmenter

VOC = get_dataset_spec("voc")


def scene_with_three_classes() -> tuple[torch.Tensor, np.ndarray]:
    label = np.zeros((40, 60), dtype=np.uint8)
    label[:, :30] = 15  # person, the largest
    label[:20, 30:] = 12  # dog
    label[20:, 45:] = 3  # bird, the smallest
    image = torch.from_numpy(paint(label)).permute(2, 0, 1)[None]  # (1, 3, 40, 60)
    return image, label


def test_labels_follow_the_protocol_with_background():
    model = ColourSegmenter(dataset=VOC).eval()
    image, label = scene_with_three_classes()
    pred = model.predict_labels(model.normalize(image), (40, 60))
    assert pred.shape == (1, 40, 60)
    assert (pred[0].numpy() == label).mean() > 0.97
    assert model.bg_threshold == 0.95
    assert ColourSegmenter(dataset=VOC, bg_threshold=0.5).bg_threshold == 0.5
    assert ColourSegmenter(dataset=get_dataset_spec("voc20")).bg_threshold is None


def test_top_k_filter_keeps_only_the_image_level_best_classes():
    model = ColourSegmenter(dataset=VOC, protocol="segclip").eval()
    model.preset = model.preset.override(top_k_classes=2)
    image, _ = scene_with_three_classes()
    pred = model.predict_labels(model.normalize(image), (40, 60))
    assert set(pred.unique().tolist()) <= {0, 15, 12}  # bird filtered out; its pixels become background
    assert (pred == 3).sum() == 0 and (pred == 12).sum() > 0


def test_window_overrides_reach_inference():
    model = ColourSegmenter(dataset=VOC, mode="slide", short_side=64, crop=32, stride=16).eval()
    image, _ = scene_with_three_classes()
    model.predict_scores(model.normalize(image), (40, 60))
    # 64×96 resized image, 32-px windows every 16 px: 3 rows × 5 columns.
    assert model.segment_calls == 15


def test_evaluation_without_a_dataset_says_what_to_pass():
    with pytest.raises(RuntimeError, match="--data"):
        _ = ColourSegmenter().bg_threshold


def test_unknown_template_set_fails_at_construction():
    with pytest.raises(ValueError, match="imagenet"):
        ColourSegmenter(templates="coco")


def test_predict_step_returns_label_maps():
    model = ColourSegmenter(dataset=VOC).eval()
    model.on_predict_epoch_start()
    image, _ = scene_with_three_classes()
    out = model.predict_step({"image": image, "name": ["a"]}, 0)
    assert out["name"] == ["a"] and out["labels"].shape == (1, 40, 60)


def test_generated_benchmark_is_scored_whole_at_its_rendered_size_unless_overridden():
    synthetic = get_dataset_spec("synthetic")
    protocol = ColourSegmenter(dataset=synthetic).protocol
    assert (protocol.short_side, protocol.mode, protocol.templates) == (None, "whole", "simple")
    assert ColourSegmenter(dataset=synthetic, short_side=96).protocol.short_side == 96
    assert ColourSegmenter(dataset=synthetic, mode="slide", crop=32).protocol.mode == "slide"
    assert ColourSegmenter(dataset=synthetic).bg_threshold == 0.95  # scored like VOC
    assert ColourSegmenter(dataset=VOC).protocol.short_side == 448
