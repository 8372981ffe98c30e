"""How fast SemSegIoU accumulates, in megapixels per second, against a numpy histogram reference.

Run: .venv/bin/python benchmarks/metric_speed.py [--classes 21] [--size 512] [--batch 8] [--repeats 20]
Prints the median over repeated runs after warm-up, and the ratio to the reference in the same run.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import median_seconds

from ovseg.evaluation.metrics import SemSegIoU


def numpy_accumulate(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    keep = gt != 255
    return np.bincount(gt[keep] * num_classes + pred[keep], minlength=num_classes**2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.size, args.size)
    pred = torch.randint(0, args.classes, shape, generator=generator)
    gt = torch.randint(0, args.classes, shape, generator=generator)
    gt[torch.rand(shape, generator=generator) < 0.05] = 255
    metric = SemSegIoU(args.classes)
    pred_np, gt_np = pred.numpy().astype(np.int64), gt.numpy().astype(np.int64)

    megapixels = pred.numel() / 1e6
    ours = median_seconds(lambda: metric.update(pred, gt), args.repeats, warmup=3)
    reference = median_seconds(lambda: numpy_accumulate(pred_np, gt_np, args.classes), args.repeats, warmup=3)
    print(f"torch threads {torch.get_num_threads()}, batch {shape}, {args.classes} classes")
    print(f"SemSegIoU.update   {megapixels / ours:8.1f} MP/s  (median {ours * 1e3:.2f} ms)")
    print(f"numpy bincount ref {megapixels / reference:8.1f} MP/s  (median {reference * 1e3:.2f} ms)")
    print(f"ratio ours/ref     {reference / ours:8.2f}x")


if __name__ == "__main__":
    main()
