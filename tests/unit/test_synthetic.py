"""The embedded synthetic benchmark: determinism, captions, masks, appearance and the datasets."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2hsv

from ovseg.data.classnames import SYNTHETIC_CLASSES
from ovseg.data.synthetic import (
    CATEGORY_HUES,
    IGNORE_INDEX,
    Scene,
    SyntheticPairDataset,
    SyntheticSegDataset,
    render_scene,
)
from ovseg.data.synthetic.captions import _plural
from ovseg.data.synthetic.layout import _draw_object, plan_objects, scene_rng
from ovseg.data.synthetic.raster import _coverage, label_mask, rasterize

ROOT = Path(__file__).resolve().parents[2]
NUM_SCENES = 200
FRESH_PROCESS_CODE = (
    "import hashlib; from ovseg.data.synthetic import render_scene; "
    "s = render_scene(7, 3, 'eval', 64); "
    "print(hashlib.sha256(s.image.tobytes() + s.mask.tobytes() + s.caption.encode()).hexdigest())"
)


def _digest(scene: Scene) -> str:
    return hashlib.sha256(scene.image.tobytes() + scene.mask.tobytes() + scene.caption.encode()).hexdigest()


def _named(caption: str) -> set[str]:
    """Categories a caption names, singular or plural."""
    tokens = set(re.findall(r"[a-z]+", caption.lower()))
    return {name for name in SYNTHETIC_CLASSES if {name, _plural(name)} & tokens}


@pytest.fixture(scope="module", autouse=True)
def fresh_process():
    """Render one scene in a fresh interpreter, started early so it overlaps the other tests."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FRESH_PROCESS_CODE], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [render_scene(0, i, "train") for i in range(NUM_SCENES)]


def test_same_arguments_give_byte_identical_scenes():
    first, second = render_scene(5, 11, "train", 64), render_scene(5, 11, "train", 64)
    assert first.image.tobytes() == second.image.tobytes()
    assert first.mask.tobytes() == second.mask.tobytes()
    assert (first.caption, first.categories) == (second.caption, second.categories)


def test_indices_and_splits_give_different_scenes():
    base = render_scene(0, 0, "train")
    assert not np.array_equal(base.image, render_scene(0, 1, "train").image)
    assert not np.array_equal(base.image, render_scene(0, 0, "eval").image)
    assert not np.array_equal(base.image, render_scene(1, 0, "train").image)
    assert not np.array_equal(render_scene(0, 0, "tune").image, render_scene(0, 0, "eval").image)


def test_layout_and_caption_do_not_depend_on_image_size():
    small, large = render_scene(2, 9, "eval", 64), render_scene(2, 9, "eval", 96)
    assert large.image.shape == (96, 96, 3) and large.mask.shape == (96, 96)
    assert (small.caption, small.categories) == (large.caption, large.categories)


def test_captions_name_only_drawn_categories_and_at_least_one(scenes):
    for scene in scenes:
        present = {SYNTHETIC_CLASSES[c] for c in scene.categories}
        named = _named(scene.caption)
        assert named, scene.caption
        assert named <= present, (scene.caption, present)
    assert len({scene.caption for scene in scenes}) > 0.9 * len(scenes)
    assert any(re.search(r"\b(two|three|four) [a-z ]*(boxes|crosses|balls|stars|rings|moons|hearts|arrows)\b",
                         scene.caption) for scene in scenes)  # fmt: skip


def test_mask_values_and_categories(scenes):
    seen = set()
    for scene in scenes:
        assert scene.image.dtype == np.uint8 and scene.image.shape == (64, 64, 3)
        assert scene.mask.dtype == np.uint8 and scene.mask.shape == (64, 64)
        assert 1 <= len(scene.categories) <= 4
        labels = set(np.unique(scene.mask).tolist())
        assert labels <= {*range(len(SYNTHETIC_CLASSES) + 1), IGNORE_INDEX}
        assert labels - {0, IGNORE_INDEX} <= {c + 1 for c in scene.categories}
        seen.update(scene.categories)
    assert seen == set(range(len(SYNTHETIC_CLASSES)))


def test_borders_are_ignored_and_ignore_marks_blended_pixels(scenes):
    for scene in scenes[:50]:
        mask = scene.mask
        assert (mask == IGNORE_INDEX).any()
        for a, b in ((mask[1:], mask[:-1]), (mask[:, 1:], mask[:, :-1])):  # 4-neighbour pairs
            assert not ((a != b) & (a != IGNORE_INDEX) & (b != IGNORE_INDEX)).any()
    for index in range(20):
        objects = plan_objects(scene_rng(0, "train", index))
        owner = rasterize(objects, 64)  # (257, 257) top layer per lattice sample
        coverage = np.stack([_coverage(owner, k) for k in range(-1, len(objects))])  # (L, 64, 64)
        blended = (coverage > 0).sum(0) >= 2
        np.testing.assert_array_equal(render_scene(0, index).mask == IGNORE_INDEX, blended)


def test_objects_are_large_enough_but_leave_background(scenes):
    foreground = np.array([np.mean(scene.mask != 0) for scene in scenes])
    assert 0.05 < foreground.mean() < 0.8
    assert foreground.min() > 0.01 and foreground.max() < 0.9


def test_background_is_less_saturated_than_objects(scenes):
    background, objects = [], []
    for scene in scenes[:60]:
        sat = rgb2hsv(scene.image)[..., 1]  # (H, W)
        background.append(sat[scene.mask == 0])
        objects.append(sat[(scene.mask > 0) & (scene.mask != IGNORE_INDEX)])
    bg_sat, obj_sat = np.concatenate(background).mean(), np.concatenate(objects).mean()
    assert bg_sat < 0.15 < 0.4 < obj_sat


def test_neighbouring_categories_share_hues_and_rendered_colours(scenes):
    assert list(CATEGORY_HUES) == list(SYNTHETIC_CLASSES)
    for name, (lo, hi) in CATEGORY_HUES.items():
        overlapping = [
            other
            for other, (olo, ohi) in CATEGORY_HUES.items()
            if other != name and any(lo < ohi + shift and olo + shift < hi for shift in (-360, 0, 360))
        ]
        assert len(overlapping) >= 2, name
    colours: dict[int, set[tuple[int, int, int]]] = {1: set(), 2: set()}  # box, star
    for scene in scenes:
        for label, found in colours.items():
            found.update(map(tuple, (scene.image[scene.mask == label + 1] // 16).tolist()))
    assert colours[1] & colours[2]


def test_each_family_has_its_own_shape():
    rng = np.random.default_rng(0)
    masks = {}
    for category, name in enumerate(SYNTHETIC_CLASSES):
        obj = _draw_object(category, 16 / 64, rng)  # centred, radius 16 px at 64 px
        obj.angle = 0.0
        masks[name] = label_mask([obj], rasterize([obj], 64), 64) == category + 1  # (64, 64)
    assert not masks["ring"][32, 32] and not masks["moon"][32, 32]  # the ring's hole, the moon's bite
    assert masks["ball"][32, 32] and masks["box"][32, 32] and masks["cross"][32, 32]
    assert masks["ball"][39, 39] and not masks["cross"][39, 39]  # diagonal: between the cross's arms
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
            assert iou < 0.9, (a, b, iou)


def test_pair_dataset_items():
    data = SyntheticPairDataset(length=3, image_size=48, seed=4)
    item = data[2]
    assert len(data) == 3 and item["key"] == "synthetic-4-00000002"
    assert isinstance(item["image"], Image.Image) and item["image"].mode == "RGB"
    assert item["image"].size == (48, 48) and item["caption"] == render_scene(4, 2, "train", 48).caption
    assert data[-1]["key"] == item["key"]
    with pytest.raises(IndexError, match="out of range"):
        data[3]
    with pytest.raises(IndexError):
        data[-4]


def test_seg_dataset_items():
    data = SyntheticSegDataset(length=2, image_size=32, seed=1)
    item = data[1]
    assert item["name"] == "synthetic-eval-000001"
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 32, 32)
    assert item["label"].dtype == torch.int64 and item["label"].shape == (32, 32)
    scene = render_scene(1, 1, "eval", 32)
    np.testing.assert_array_equal(item["image"].permute(1, 2, 0).numpy(), scene.image)
    np.testing.assert_array_equal(item["label"].numpy(), scene.mask)
    with pytest.raises(IndexError):
        data[2]
    tune = SyntheticSegDataset(length=2, image_size=32, seed=1, split="tune")[1]
    assert tune["name"] == "synthetic-tune-000001"
    np.testing.assert_array_equal(tune["label"].numpy(), render_scene(1, 1, "tune", 32).mask)


def test_the_tuning_stream_is_a_split_of_the_data_modules():
    from ovseg.data.image_text import ImageTextDataModule
    from ovseg.data.segmentation import SegDataModule
    from ovseg.errors import OvsegUserError

    module = SegDataModule("synthetic", split="tune", num_workers=0, limit=2)
    module.setup("test")
    names = [name for batch in module.test_dataloader() for name in batch["name"]]
    assert names == ["synthetic-tune-000000", "synthetic-tune-000001"]
    with pytest.raises(OvsegUserError, match=r"'val' .* or 'tune'"):
        SegDataModule("synthetic", split="train")
    with pytest.raises(OvsegUserError, match="no split 'test'"):
        ImageTextDataModule(val_split="test")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SyntheticPairDataset(length=0), "length must be >= 1"),
        (lambda: SyntheticSegDataset(image_size=31), "image_size must be >= 32"),
        (lambda: SyntheticPairDataset(seed=-1), "seed must be >= 0"),
        (lambda: render_scene(0, 0, split="val"), "split must be one of train, eval, tune"),
        (lambda: render_scene(0, -1), "index must be >= 0"),
    ],
)
def test_bad_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_scene_is_reproducible_in_a_fresh_process(fresh_process):
    out, _ = fresh_process.communicate(timeout=120)
    assert fresh_process.returncode == 0
    assert out.strip() == _digest(render_scene(7, 3, "eval", 64))
