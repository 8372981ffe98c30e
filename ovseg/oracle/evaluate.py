"""The pseudo-mask oracle: majority-labelled masks scored with the shared metric (``SemSegIoU``).

For each evaluation image the source's class-agnostic masks each take their majority ground-truth
label (``majority_labels``); the painted image is accumulated into one dataset-level confusion
matrix, as a method's predictions are. The result is the mIoU a segmenter would reach if it
labelled every one of these masks perfectly: the upper bound of methods built on them (S-Seg
reports 78.8 on VOC for DINO K-Means and 49.5 for raw-pixel K-Means).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch

from ovseg.data.catalog import DatasetSpec, get_dataset_spec
from ovseg.evaluation.metrics import SemSegIoU
from ovseg.oracle.majority import majority_labels

MaskSource = Callable[[torch.Tensor], torch.Tensor]  # uint8 (3, H, W) → int64 segment ids (H, W)


def _samples(data, limit: int | None) -> Iterator[dict]:
    """{"image": (3, H, W), "label": (H, W)} items of a dataset or a data module's evaluation split."""
    if hasattr(data, "test_dataloader"):  # a SegDataModule, or a data module holding one
        items = (
            {"image": batch["image"][index], "label": batch["label"][index]}
            for batch in data.test_dataloader()
            for index in range(batch["image"].shape[0])
        )
    else:
        items = (data[index] for index in range(len(data)))
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            return
        yield item


def _spec_of(data) -> DatasetSpec:
    spec = getattr(data, "spec", None)
    if isinstance(spec, DatasetSpec):
        return spec
    if type(data).__name__ == "SyntheticSegDataset":
        return get_dataset_spec("synthetic")
    raise ValueError("pass label_names: the data carries no DatasetSpec (its .spec) to take them from.")


def oracle_miou(
    source: MaskSource | str,
    data,
    limit: int | None = None,
    label_names: tuple[str, ...] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """mIoU of ``source``'s masks, each painted with its majority ground-truth label.

    Args:
        source: a mask source (``ovseg.oracle.sources``; any callable image → segment ids) or the
            name of one built with default settings (``pixel``, ``felzenszwalb``, ``dino``).
        data: a ``SegDataModule`` (its evaluation loader), or a dataset of {"image", "label"} items
            (``SegmentationDataset``, ``SyntheticSegDataset``).
        limit: score only the first ``limit`` images (None: all).
        label_names: names of the scored labels (default: the data's ``DatasetSpec``).
        progress: called with the number of images done after each image.

    Returns:
        ``{"metrics": {mIoU, aAcc, mAcc, IoU, Acc}, "per_class_IoU": {name: IoU}, "num_images",
        "masks_per_image", "masks": the source's settings, "label_names", "seconds"}``; figures in
        percent, NaN for a class absent from both ground truth and prediction.
    """
    if isinstance(source, str):
        from ovseg.oracle.sources import build_mask_source

        source = build_mask_source(source)
    names = tuple(label_names) if label_names is not None else _spec_of(data).label_names
    metric = SemSegIoU(len(names))
    started, images, masks = time.perf_counter(), 0, 0
    for item in _samples(data, limit):
        label = item["label"]  # (H, W)
        segments = source(item["image"])  # (H, W)
        if tuple(segments.shape) != tuple(label.shape):
            raise ValueError(
                f"mask source gave {tuple(segments.shape)} ids for a {tuple(label.shape)} label."
            )
        painted = majority_labels(segments, label, len(names))  # (H, W)
        metric.update(painted[None], label[None])
        images += 1
        masks += int(torch.unique(segments).numel())
        if progress is not None:
            progress(images)
    if images == 0:
        raise ValueError("the oracle got no images: the data is empty (or limit is 0).")
    scores = metric.compute()
    describe = getattr(source, "describe", None)
    return {
        "metrics": scores,
        "per_class_IoU": dict(zip(names, scores["IoU"], strict=True)),
        "label_names": list(names),
        "num_images": images,
        "masks_per_image": masks / images,
        "masks": describe() if callable(describe) else {"source": type(source).__name__},
        "seconds": round(time.perf_counter() - started, 3),
    }
