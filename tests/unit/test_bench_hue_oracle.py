"""The hue oracle: true masks, every object named by the most likely category for its hue."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ovseg.bench.hue_oracle import holds, hue_named_scene, hue_oracle_miou, most_likely_category
from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic import render_scene
from ovseg.data.synthetic.layout import plan_objects, scene_rng
from ovseg.evaluation.metrics import SemSegIoU


def test_a_hue_names_the_narrowest_category_range_that_holds_it():
    index = SYNTHETIC_CLASSES.index
    assert holds((320.0, 390.0), 10.0) and holds((-5.0, 70.0), 358.0) and not holds((25.0, 100.0), 10.0)
    assert most_likely_category(10.0) == index("ball")  # ball (70°) and box (75°) both hold 10°
    assert most_likely_category(50.0) == index("box")  # box (75°) against star (75°): the first
    assert most_likely_category(85.0) == index("star")  # star (75°) against ring (90°)
    assert most_likely_category(130.0) == index("ring")  # ring and cross are both 90° wide: the first
    assert most_likely_category(300.0) == index("heart")  # heart (80°) only


def test_a_scene_keeps_its_true_mask_and_renames_each_object_by_its_hue():
    renamed = 0
    for index in range(12):
        prediction, label = hue_named_scene(0, index, 64)
        assert np.array_equal(label.numpy(), render_scene(0, index, "eval", 64).mask)
        is_object = (label >= 1) & (label <= 8)  # (H, W)
        assert torch.equal(prediction[~is_object], label[~is_object])  # background and ignore kept
        objects = plan_objects(scene_rng(0, "eval", index))
        named = {obj.category + 1: most_likely_category(obj.hue) + 1 for obj in objects}
        if len({obj.category for obj in objects}) == len(objects):  # one object per category
            for true, guess in named.items():
                assert set(prediction[label == true].unique().tolist()) <= {guess}
                renamed += int(guess != true and bool((label == true).any()))
    assert renamed > 0  # hue ranges overlap: some objects get another category's name


def test_the_oracle_scores_the_renamed_scenes_with_the_shared_metric():
    metric = SemSegIoU(9)
    for index in range(6):
        metric.update(*(part[None] for part in hue_named_scene(3, index, 64)))
    expected = metric.compute()
    assert hue_oracle_miou(6, 64, 3) == pytest.approx(expected["mIoU"])
    assert expected["IoU"][0] == pytest.approx(100.0) and 0.0 < expected["mIoU"] < 100.0
