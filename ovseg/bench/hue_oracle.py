"""The hue oracle of the synthetic benchmark: perfect masks, each object named by its colour alone.

Every synthetic category has a typical hue range (``CATEGORY_HUES``), and neighbouring ranges
overlap by design, so colour is a cue but never decides the category; only the shape does. This
oracle keeps the true masks and the true background and names each object with the most likely
category for its hue: among the categories whose range holds the hue, the one with the narrowest
range (hues are drawn uniformly within a category's range and the categories are equally likely,
so that one has the highest density). Saturation, brightness and texture are drawn the same way
for every category and carry no clue.

Its mIoU is the ceiling of a method that tells the categories apart by colour and never by shape,
however well it draws and thresholds its masks.
"""

from __future__ import annotations

import numpy as np
import torch

from ovseg.data.catalog import get_dataset_spec
from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic import CATEGORY_HUES, SUPERSAMPLE
from ovseg.data.synthetic.layout import plan_objects, scene_rng
from ovseg.data.synthetic.raster import label_mask, rasterize
from ovseg.evaluation.metrics import SemSegIoU

KEY = "hue"


def holds(hue_range: tuple[float, float], hue: float) -> bool:
    """Whether a hue in [0, 360) lies in a range given in degrees and read modulo 360."""
    low, high = hue_range
    return any(low <= hue + turn <= high for turn in (-360.0, 0.0, 360.0))


def most_likely_category(hue: float) -> int:
    """Index of the category that most likely drew ``hue``: the narrowest range holding it."""
    widths = [
        high - low if holds((low, high), hue) else np.inf
        for low, high in (CATEGORY_HUES[name] for name in SYNTHETIC_CLASSES)
    ]
    if np.isinf(min(widths)):
        raise ValueError(f"hue {hue} lies in no category's range.")
    return int(np.argmin(widths))


def hue_named_scene(seed: int, index: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(prediction, label), both int64 (H, W), of evaluation scene ``index``: the true mask with
    every object's pixels relabelled with the category its hue names."""
    objects = plan_objects(scene_rng(seed, "eval", index))  # the scene's first draws, as render_scene's
    owner = rasterize(objects, image_size)  # (H*S + 1, W*S + 1) top object per lattice sample
    label = torch.from_numpy(label_mask(objects, owner, image_size).astype(np.int64))  # (H, W)
    centre = SUPERSAMPLE // 2
    owner_at_centres = torch.from_numpy(owner[centre::SUPERSAMPLE, centre::SUPERSAMPLE].astype(np.int64))
    prediction = label.clone()  # (H, W): background and ignored pixels stay as they are
    is_object = (label > 0) & (label <= len(SYNTHETIC_CLASSES))  # (H, W)
    for layer, obj in enumerate(objects):
        prediction[is_object & (owner_at_centres == layer)] = most_likely_category(obj.hue) + 1
    return prediction, label


def hue_oracle_miou(images: int, image_size: int, seed: int) -> float:
    """mIoU of the hue oracle on the first ``images`` synthetic evaluation images of ``seed``."""
    metric = SemSegIoU(get_dataset_spec("synthetic").num_classes)
    for index in range(images):
        prediction, label = hue_named_scene(seed, index, image_size)
        metric.update(prediction[None], label[None])
    return metric.compute()["mIoU"]
