"""One spec per evaluation benchmark: classes, on-disk layout and label conventions, as plain data.

Layouts and label conventions follow mmsegmentation (``shared/REFERENCE.md`` §3), so data prepared
for the peer projects works unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ovseg.data import classnames as cn
from ovseg.errors import UnknownNameError

DATA_ROOT_ENV = "OVSEG_DATA_ROOT"


def default_data_root(root: str | os.PathLike | None = None) -> str:
    """``root`` if given, else the ``OVSEG_DATA_ROOT`` environment variable, else ``data``."""
    return str(root) if root is not None else os.environ.get(DATA_ROOT_ENV) or "data"


@dataclass(frozen=True)
class DatasetSpec:
    """An evaluation benchmark.

    Attributes:
        name: the ``--data`` alias.
        class_names: foreground class names, raw (the protocol renames them for prompts).
        has_background: label 0 is background, which is never a text query; class k is label k+1.
        family: protocol family for thresholds and renames ('voc', 'context', 'coco', ...).
        base_dir: the dataset's folder under the data root.
        image_dir, label_dir: image and label folders under ``base_dir`` ("{split}" is filled in).
        image_suffix, label_suffix: file endings that pair an image with its label.
        split_file: list of image ids under ``base_dir``, or None to take every label file.
        reduce_zero_label: mmseg's 0 → ignore, x → x − 1 on the labels.
        num_images: images in the standard evaluation split.
        how_to_prepare: where the raw data comes from and the command that prepares it.
        val_split: the evaluation split's name on disk ("{split}" when asked for "val").
        generated: made by ovseg itself (the synthetic benchmark): nothing on disk.
        native_resolution: evaluate each image whole at its own size unless the run overrides it
            (the synthetic benchmark is scored at the size it is rendered at).
    """

    name: str
    class_names: tuple[str, ...]
    has_background: bool
    family: str
    base_dir: str
    image_dir: str
    label_dir: str
    image_suffix: str
    label_suffix: str
    split_file: str | None
    reduce_zero_label: bool
    num_images: int
    how_to_prepare: str
    val_split: str = "val"
    generated: bool = False
    native_resolution: bool = False

    @property
    def num_classes(self) -> int:
        """Number of labels the metric scores (background included where there is one)."""
        return len(self.class_names) + int(self.has_background)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The name of every scored label, in label order."""
        return ((cn.BACKGROUND,) if self.has_background else ()) + self.class_names

    def layout(self, split: str = "val") -> str:
        """The expected folder layout of one split, for error messages."""
        disk_split = self.val_split if split == "val" else split
        parts = [self.image_dir + "/*" + self.image_suffix, self.label_dir + "/*" + self.label_suffix]
        if self.split_file:
            parts.append(self.split_file)
        lines = "".join(f"\n    {part.format(split=disk_split)}" for part in parts)
        return f"  <root>/{self.base_dir}/{lines}"


_VOC_SOURCE = "extract VOCtrainval_11-May-2012.tar (PASCAL VOC 2012) into <root>; no conversion is needed."
_CONTEXT_SOURCE = (
    "extract VOCtrainval_03-May-2010.tar (PASCAL VOC 2010) into <root>, put PASCAL-Context's "
    "trainval_merged.json in <root>/VOCdevkit/VOC2010/, then run: ovseg prepare context --data-root <root>"
)
_COCO_SOURCE = (
    "unzip COCO val2017.zip into <root>/coco_stuff164k/images/ and COCO-Stuff-164k "
    "stuffthingmaps_trainval2017.zip into <root>/coco_stuff164k/, then run: "
    "ovseg prepare coco-object --data-root <root>"
)

_VOC_LAYOUT = dict(
    base_dir="VOCdevkit/VOC2012",
    image_dir="JPEGImages",
    label_dir="SegmentationClass",
    image_suffix=".jpg",
    label_suffix=".png",
    split_file="ImageSets/Segmentation/{split}.txt",
    num_images=1449,
    how_to_prepare=_VOC_SOURCE,
)
_CONTEXT_LAYOUT = dict(
    base_dir="VOCdevkit/VOC2010",
    image_dir="JPEGImages",
    label_dir="SegmentationClassContext",
    image_suffix=".jpg",
    label_suffix=".png",
    split_file="ImageSets/SegmentationContext/{split}.txt",
    num_images=5104,
    how_to_prepare=_CONTEXT_SOURCE,
)
_COCO_LAYOUT = dict(
    base_dir="coco_stuff164k",
    image_dir="images/{split}2017",
    label_dir="annotations/{split}2017",
    image_suffix=".jpg",
    split_file=None,
    num_images=5000,
    how_to_prepare=_COCO_SOURCE,
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("voc", cn.VOC_CLASSES, True, "voc", reduce_zero_label=False, **_VOC_LAYOUT),
        DatasetSpec("voc20", cn.VOC_CLASSES, False, "voc", reduce_zero_label=True, **_VOC_LAYOUT),
        DatasetSpec(
            "context", cn.CONTEXT59_CLASSES, True, "context", reduce_zero_label=False, **_CONTEXT_LAYOUT
        ),
        DatasetSpec(
            "context59", cn.CONTEXT59_CLASSES, False, "context", reduce_zero_label=True, **_CONTEXT_LAYOUT
        ),
        DatasetSpec(
            "coco",
            cn.COCO_OBJECT_CLASSES,
            True,
            "coco",
            label_suffix="_instanceTrainIds.png",
            reduce_zero_label=False,
            **_COCO_LAYOUT,
        ),
        DatasetSpec(
            "coco-stuff",
            cn.COCO_STUFF_CLASSES,
            False,
            "coco-stuff",
            label_suffix="_labelTrainIds.png",
            reduce_zero_label=False,
            **{**_COCO_LAYOUT, "how_to_prepare": _COCO_SOURCE.replace("coco-object", "coco-object --stuff")},
        ),
        DatasetSpec(
            "ade20k",
            cn.ADE20K_CLASSES,
            False,
            "ade20k",
            base_dir="ADEChallengeData2016",
            image_dir="images/{split}",
            label_dir="annotations/{split}",
            image_suffix=".jpg",
            label_suffix=".png",
            split_file=None,
            reduce_zero_label=True,
            num_images=2000,
            how_to_prepare="unzip ADEChallengeData2016.zip (sceneparsing.csail.mit.edu) into <root>; "
            "no conversion is needed.",
            val_split="validation",
        ),
        DatasetSpec(
            "cityscapes",
            cn.CITYSCAPES_CLASSES,
            False,
            "cityscapes",
            base_dir="cityscapes",
            image_dir="leftImg8bit/{split}",
            label_dir="gtFine/{split}",
            image_suffix="_leftImg8bit.png",
            label_suffix="_gtFine_labelTrainIds.png",
            split_file=None,
            reduce_zero_label=False,
            num_images=500,
            how_to_prepare="unzip leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip "
            "(cityscapes-dataset.com) into <root>/cityscapes/, then make the *_labelTrainIds.png files "
            "with cityscapesscripts' csCreateTrainIdLabelImgs.",
        ),
        DatasetSpec(
            "synthetic",
            cn.SYNTHETIC_CLASSES,
            True,
            "voc",
            base_dir="",
            image_dir="",
            label_dir="",
            image_suffix="",
            label_suffix="",
            split_file=None,
            reduce_zero_label=False,
            num_images=256,
            how_to_prepare="nothing to prepare: ovseg renders it (ovseg.data.synthetic).",
            generated=True,
            native_resolution=True,
        ),
    )
}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec called ``name``; an unknown name is an error listing the valid ones."""
    if name not in DATASETS:
        raise UnknownNameError(f"Unknown dataset '{name}'. Valid datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]
