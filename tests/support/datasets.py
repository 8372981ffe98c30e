"""Tiny benchmarks written in their genuine on-disk formats (JPEG images, palette/grey PNG labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ovseg.data.palette import voc_palette

IGNORE = 255


def random_scene(rng: np.random.Generator, height: int, width: int, num_labels: int) -> np.ndarray:
    """(H, W) uint8 labels: background 0 with 1–3 rectangles of labels 1..num_labels, void borders."""
    label = np.zeros((height, width), dtype=np.uint8)
    for _ in range(rng.integers(1, 4)):
        top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
        bottom = min(height, top + rng.integers(8, height // 2 + 9))
        right = min(width, left + rng.integers(8, width // 2 + 9))
        label[top:bottom, left:right] = IGNORE  # 1-px void border, as VOC draws it
        label[top + 1 : bottom - 1, left + 1 : right - 1] = rng.integers(1, num_labels + 1)
    return label


def paint(label: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image: each label in its VOC colour, void borders black like the background."""
    image = voc_palette()[np.where(label == IGNORE, 0, label)]
    return image


def write_voc(
    root: Path, sizes: list[tuple[int, int]], seed: int = 0, split: str = "val"
) -> list[np.ndarray]:
    """A VOC2012-layout dataset of painted scenes; returns the label maps in split order."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    labels, ids = [], []
    for index, (height, width) in enumerate(sizes):
        image_id = f"2007_{index:06d}"
        label = random_scene(rng, height, width, num_labels=20)
        Image.fromarray(paint(label)).save(base / "JPEGImages" / f"{image_id}.jpg", quality=95)
        png = Image.fromarray(label, mode="P")
        png.putpalette(voc_palette().reshape(-1).tolist())
        png.save(base / "SegmentationClass" / f"{image_id}.png")
        labels.append(label)
        ids.append(image_id)
    (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return labels


def write_grey_pairs(
    image_dir: Path,
    label_dir: Path,
    names: list[str],
    image_suffix: str,
    label_suffix: str,
    labels: list[np.ndarray],
) -> None:
    """Images + single-channel PNG labels (ADE20K, COCO, Cityscapes style); names may hold sub-folders."""
    for name, label in zip(names, labels, strict=True):
        image_path = Path(image_dir) / f"{name}{image_suffix}"
        label_path = Path(label_dir) / f"{name}{label_suffix}"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(paint(np.minimum(label, 20))).save(image_path)
        Image.fromarray(label).save(label_path)


def write_coco_object(
    root: Path, sizes: list[tuple[int, int]], seed: int = 0, split: str = "val"
) -> list[np.ndarray]:
    """A COCO-Object dataset as ``ovseg prepare coco-object`` leaves it: ``images/<split>2017/*.jpg``
    and grey ``annotations/<split>2017/*_instanceTrainIds.png`` (0 background, 1..80 things, no
    ignore); returns the label maps in file-name order."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "coco_stuff164k"
    names = [f"{index + 139:012d}" for index in range(len(sizes))]  # COCO's zero-padded image ids
    labels = []
    for height, width in sizes:
        scene = random_scene(rng, height, width, num_labels=80)
        labels.append(np.where(scene == IGNORE, 0, scene).astype(np.uint8))  # no void in COCO-Object
    write_grey_pairs(
        base / "images" / f"{split}2017",
        base / "annotations" / f"{split}2017",
        names,
        ".jpg",
        "_instanceTrainIds.png",
        labels,
    )
    return labels
