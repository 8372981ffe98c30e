"""SemSegIoU against an independent numpy implementation of mmsegmentation's formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ovseg.evaluation.metrics import SemSegIoU, reduce_zero_label


def numpy_reference(preds, gts, num_classes, ignore_index=255, reduce_zero=False):
    """mmseg's intersect-and-union, per image, summed over the dataset (written from the formula)."""
    total_i = np.zeros(num_classes)
    total_p = np.zeros(num_classes)
    total_g = np.zeros(num_classes)
    for pred, gt in zip(preds, gts, strict=True):
        gt = gt.astype(np.int64)
        if reduce_zero:
            gt = np.where(gt == 0, 255, gt - 1)
            gt = np.where(gt == 254, 255, gt)
        keep = gt != ignore_index
        p, g = pred[keep], gt[keep]
        bins = np.arange(num_classes + 1) - 0.5
        total_i += np.histogram(p[p == g], bins=bins)[0]
        total_p += np.histogram(p, bins=bins)[0]
        total_g += np.histogram(g, bins=bins)[0]
    union = total_p + total_g - total_i
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = total_i / union
        acc = total_i / total_g
    return {
        "mIoU": np.nanmean(iou) * 100,
        "aAcc": total_i.sum() / total_g.sum() * 100,
        "mAcc": np.nanmean(acc) * 100,
        "IoU": iou * 100,
    }


def random_maps(rng, count, num_classes, absent=(), reduce_zero=False):
    """Label maps of varied sizes with ignore pixels and some classes absent from the GT."""
    preds, gts = [], []
    for _ in range(count):
        h, w = rng.integers(5, 40, size=2)
        high = num_classes + 1 if reduce_zero else num_classes
        gt = rng.integers(0, high, size=(h, w))
        for cls in absent:
            gt[gt == (cls + 1 if reduce_zero else cls)] = 0 if not reduce_zero else 1
        gt[rng.random((h, w)) < 0.1] = 255
        pred = rng.integers(0, num_classes, size=(h, w))
        pred[pred == num_classes - 1] = 0  # the last class is never predicted
        preds.append(pred)
        gts.append(gt.astype(np.uint8))
    return preds, gts


def assert_same(ours, ref):
    for key in ("mIoU", "aAcc", "mAcc"):
        assert ours[key] == ref[key], key  # to the last digit
    assert len(ours["IoU"]) == len(ref["IoU"])
    for mine, theirs in zip(ours["IoU"], ref["IoU"], strict=True):
        assert (math.isnan(mine) and math.isnan(theirs)) or mine == theirs


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("reduce_zero", [False, True])
def test_matches_numpy_reference_whatever_the_batching(seed, reduce_zero):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(3, 12))
    preds, gts = random_maps(rng, 9, num_classes, absent=(1,), reduce_zero=reduce_zero)
    reference = numpy_reference(preds, gts, num_classes, reduce_zero=reduce_zero)
    for split in ([9], [1] * 9, [4, 5]):
        metric = SemSegIoU(num_classes)
        start = 0
        for size in split:
            for pred, gt in zip(preds[start : start + size], gts[start : start + size], strict=True):
                target = torch.from_numpy(gt)
                if reduce_zero:
                    target = reduce_zero_label(target)
                metric.update(torch.from_numpy(pred)[None], target[None])
            start += size
        assert_same(metric.compute(), reference)


def test_same_sized_batch_update_equals_per_image_updates():
    rng = np.random.default_rng(7)
    preds = rng.integers(0, 5, size=(6, 16, 16))
    gts = rng.integers(0, 5, size=(6, 16, 16))
    gts[:, :2] = 255
    batched, single = SemSegIoU(5), SemSegIoU(5)
    batched.update(torch.from_numpy(preds), torch.from_numpy(gts))
    for pred, gt in zip(preds, gts, strict=True):
        single.update(torch.from_numpy(pred)[None], torch.from_numpy(gt)[None])
    assert torch.equal(batched.confusion, single.confusion)
    assert_same(batched.compute(), numpy_reference(list(preds), list(gts), 5))


def test_absent_class_is_nan_and_predicted_only_class_is_zero():
    metric = SemSegIoU(4)
    gt = torch.tensor([[[0, 0, 1, 255]]])
    pred = torch.tensor([[[0, 2, 1, 3]]])  # class 2 predicted, never in GT; 3 only on an ignore pixel
    metric.update(pred, gt)
    result = metric.compute()
    assert result["IoU"][0] == pytest.approx(50.0)
    assert result["IoU"][1] == 100.0
    assert result["IoU"][2] == 0.0
    assert math.isnan(result["IoU"][3])  # its only prediction sits on an ignore pixel, dropped
    assert result["mIoU"] == pytest.approx(50.0)
    assert result["aAcc"] == pytest.approx(200 / 3)


def test_out_of_range_labels_are_dropped_with_their_predictions():
    metric = SemSegIoU(3)
    metric.update(torch.tensor([[[0, 1, 2, 2]]]), torch.tensor([[[0, 1, 7, -1]]]))
    assert metric.confusion.sum() == 2
    assert metric.compute()["mIoU"] == 100.0


def test_bad_inputs_are_named():
    metric = SemSegIoU(3)
    with pytest.raises(ValueError, match="same"):
        metric.update(torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="argmax"):
        metric.update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        metric.update(torch.full((1, 2, 2), 3), torch.zeros(1, 2, 2, dtype=torch.long))


def test_reduce_zero_label_maps_zero_to_ignore():
    label = torch.tensor([0, 1, 2, 255], dtype=torch.uint8)
    assert reduce_zero_label(label).tolist() == [255, 0, 1, 255]


def test_states_of_two_processes_merge_by_sum():
    """What DDP's reduction does: two halves merged give the whole dataset's matrix."""
    rng = np.random.default_rng(3)
    preds, gts = random_maps(rng, 6, 5)
    whole, first, second = SemSegIoU(5), SemSegIoU(5), SemSegIoU(5)
    for index, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        pair = torch.from_numpy(pred)[None], torch.from_numpy(gt)[None]
        whole.update(*pair)
        (first if index % 2 else second).update(*pair)
    first.merge_state(second)
    assert torch.equal(first.confusion, whole.confusion)
    assert_same(first.compute(), numpy_reference(preds, gts, 5))


def test_public_name():
    from ovseg.evaluation import SemSegIoU as exported

    assert exported is SemSegIoU
