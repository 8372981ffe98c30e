"""Dataset-level semantic-segmentation metrics, computed exactly as mmsegmentation reports them.

A K×K confusion matrix is accumulated over the whole dataset (never averaged per image) and
sum-reduced across processes, so the result is the same on one GPU or many.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric

IGNORE_INDEX = 255


def reduce_zero_label(label: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """mmseg's ``reduce_zero_label`` (0 → ignore, x → x − 1, ignore stays ignore), as int64."""
    label = label.long()  # (..., H, W)
    return torch.where((label == 0) | (label == ignore_index), ignore_index, label - 1)


def scores_from_confusion(confusion: np.ndarray) -> dict[str, float | list[float]]:
    """mIoU, aAcc and mAcc (percent) and per-class IoU/Acc from a (K, K) matrix [gt, pred].

    IoU_c = I_c / (P_c + G_c − I_c), NaN when a class is absent from both GT and predictions;
    a class predicted but never in the GT scores 0. Acc_c = I_c / G_c, NaN when G_c = 0.
    """
    confusion = confusion.astype(np.float64)
    intersect = np.diag(confusion)  # (K,)
    area_gt = confusion.sum(axis=1)  # (K,)
    area_pred = confusion.sum(axis=0)  # (K,)
    union = area_pred + area_gt - intersect  # (K,)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = intersect / union
        acc = intersect / area_gt
        aacc = intersect.sum() / area_gt.sum()
    return {
        "mIoU": _nanmean_percent(iou),
        "aAcc": float(aacc * 100),
        "mAcc": _nanmean_percent(acc),
        "IoU": (iou * 100).tolist(),
        "Acc": (acc * 100).tolist(),
    }


def _nanmean_percent(values: np.ndarray) -> float:
    if np.isnan(values).all():
        return float("nan")
    return float(np.nanmean(values) * 100)


class SemSegIoU(Metric):
    """The field's mIoU: a confusion matrix over the whole dataset with an ignore label.

    ``update(pred, target)`` takes integer label maps of shape (N, H, W). Pixels whose target is
    ``ignore_index`` or outside ``[0, num_classes)`` are dropped together with the predictions on
    them. ``compute()`` returns ``mIoU``, ``aAcc``, ``mAcc`` (percent, floats) and ``IoU``, ``Acc``
    (percent, one float per class, NaN where undefined).
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"SemSegIoU needs num_classes >= 1, got {num_classes}.")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state(
            "confusion",
            default=torch.zeros(num_classes, num_classes, dtype=torch.long),
            dist_reduce_fx="sum",
        )

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        if pred.shape != target.shape:
            raise ValueError(
                f"SemSegIoU.update: prediction {tuple(pred.shape)} and target {tuple(target.shape)} "
                "must have the same (N, H, W) shape; resize scores to the original image size first."
            )
        if pred.is_floating_point() or target.is_floating_point():
            raise TypeError("SemSegIoU.update takes integer label maps; take the argmax of scores first.")
        k = self.num_classes
        pred = pred.reshape(-1).long()  # (N*H*W,)
        target = target.reshape(-1).long()  # (N*H*W,)
        valid = (target >= 0) & (target < k)  # the ignore label (255 ≥ k) is out of range too
        if self.ignore_index < k:
            valid &= target != self.ignore_index
        low, high = pred.aminmax() if pred.numel() else (pred.new_zeros(()), pred.new_zeros(()))
        if low < 0 or high >= k:
            in_range = pred[valid]
            if in_range.numel() and (in_range.min() < 0 or in_range.max() >= k):
                raise ValueError(
                    f"SemSegIoU.update: predicted labels must lie in [0, {k}), "
                    f"got values in [{int(in_range.min())}, {int(in_range.max())}]."
                )
        # Dropped pixels go to one extra bin instead of being gathered out (no masked copy).
        # torch.add with alpha is ~4x faster than `target * k + pred` for int64 on CPU.
        index = torch.add(pred, target, alpha=k).masked_fill_(~valid, k * k)  # (N*H*W,)
        counts = torch.bincount(index, minlength=k * k + 1)[: k * k]  # (K*K,)
        self.confusion += counts.reshape(k, k)

    def compute(self) -> dict[str, float | list[float]]:
        return scores_from_confusion(self.confusion.cpu().numpy())
