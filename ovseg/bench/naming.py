"""Naming without background: how well a trained model names the objects, the threshold aside.

The field scores a benchmark "without background" as VOC20 and Context59 do: pixels whose ground
truth is background are ignored, and every other pixel takes its best class, with no background
threshold. On the synthetic split this separates two failures that the main mIoU mixes: naming the
objects wrongly, and telling them from the background (the 0.95 rule). It is a diagnostic beside
the main figure, on the same images and scores; the main figure stays the protocol's.
"""

from __future__ import annotations

import torch

from ovseg.evaluation.metrics import SemSegIoU, reduce_zero_label


@torch.no_grad()
def naming_without_background(model, datamodule, seed: int = 0) -> dict | None:
    """Over the foreground classes of ``datamodule``'s test split, background ignored, each pixel
    labelled with its best foreground class: mIoU and per-class IoU (percent), with the chance level
    of a uniformly random foreground class per pixel; None for a benchmark without background (its
    main mIoU is already this)."""
    if not model.dataset.has_background:
        return None
    model.eval()
    classes = len(model.class_names)
    metric, uniform = SemSegIoU(classes), SemSegIoU(classes)
    generator = torch.Generator().manual_seed(seed)
    for batch in datamodule.test_dataloader():
        image, label = batch["image"].to(model.device), batch["label"]  # (B, 3, H, W), (B, H, W)
        scores = model.predict_scores(model.normalize(image), tuple(label.shape[-2:]))  # (B, [1 +] C, H, W)
        if model.predicts_background():
            scores = scores[:, 1:]  # (B, C, H, W): the foreground classes only
        target = reduce_zero_label(label)  # (B, H, W): background → ignored, class k + 1 → k
        metric.update(scores.argmax(dim=1).cpu(), target)
        uniform.update(torch.randint(0, classes, target.shape, generator=generator), target)
    result = metric.compute()
    return {
        "mIoU": result["mIoU"],
        "IoU": result["IoU"],
        "class_names": list(model.class_names),
        "uniform_chance": uniform.compute()["mIoU"],
    }
