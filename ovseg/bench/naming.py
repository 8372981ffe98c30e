"""Naming without background: how well a trained model names the objects, the threshold aside.

The field scores a benchmark "without background" as VOC20 and Context59 do: pixels whose ground
truth is background are ignored, and every other pixel takes its best class, with no background
threshold. On the synthetic split this separates two failures that the main mIoU mixes: naming the
objects wrongly, and telling them from the background (the 0.95 rule). It is a diagnostic beside
the main figure, on the same images and scores; the main figure stays the protocol's.

Beside it, recognition: whether the model knows which classes an image holds, wherever they are.
The method's image-level classifier (``classify_images``, what the protocols' top-k class filter
uses) scores every evaluation image for every class; for each class, the ROC AUC of those scores
against "the ground truth holds this class" (0.5: chance; 1: every image holding it ranked above
every image without it), averaged over the classes. A method that recognises the classes but names
the pixels badly draws or places its regions wrongly; one that recognises nothing cannot name.
"""

from __future__ import annotations

import torch

from ovseg.evaluation.metrics import SemSegIoU, reduce_zero_label
from ovseg.methods.base import OpenVocabSegmenter


def roc_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """(N,) scores, (N,) bool → P(positive scores above negative) + half of P(tie); NaN without
    both a positive and a negative."""
    pos, neg = scores[positive], scores[~positive]  # (P,), (M,)
    if pos.numel() == 0 or neg.numel() == 0:
        return float("nan")
    above = (pos[:, None] > neg[None, :]).double().mean()
    ties = (pos[:, None] == neg[None, :]).double().mean()
    return float(above + 0.5 * ties)


def can_recognise(model) -> bool:
    """Whether the method has an image-level classifier (S-Seg and SegCLIP do, selftrain does not)."""
    return type(model).classify_images is not OpenVocabSegmenter.classify_images


def classes_held(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, H, W) labels (0 background, k + 1 for class k) → (B, C) bool "image b holds class c"."""
    return torch.stack([(labels == k + 1).flatten(1).any(dim=1) for k in range(classes)], dim=1)  # (B, C)


def mean_recognition_auc(image_scores: torch.Tensor, holds: torch.Tensor) -> float:
    """(N, C) image scores, (N, C) bool "image n holds class c" → ROC AUC averaged over the classes
    (those present in some images and absent from others)."""
    aucs = torch.tensor([roc_auc(image_scores[:, c], holds[:, c]) for c in range(holds.shape[1])])
    return float(aucs.nanmean())


@torch.no_grad()
def naming_without_background(model, datamodule, seed: int = 0) -> dict | None:
    """Over the foreground classes of ``datamodule``'s test split, background ignored, each pixel
    labelled with its best foreground class: mIoU and per-class IoU (percent), with the chance level
    of a uniformly random foreground class per pixel, and the recognition AUC of the image-level
    classifier (None for a method without one); None for a benchmark without background (its main
    mIoU is already this)."""
    if not model.dataset.has_background:
        return None
    model.eval()
    classes = len(model.class_names)
    metric, uniform = SemSegIoU(classes), SemSegIoU(classes)
    generator = torch.Generator().manual_seed(seed)
    recognise = can_recognise(model)
    embeddings = model.build_class_embeddings() if recognise else None  # (C, D)
    image_scores, holds = [], []
    for batch in datamodule.test_dataloader():
        image, label = batch["image"].to(model.device), batch["label"]  # (B, 3, H, W), (B, H, W)
        normalized = model.normalize(image)  # (B, 3, H, W)
        scores = model.predict_scores(normalized, tuple(label.shape[-2:]))  # (B, [1 +] C, H, W)
        if model.has_background_channel():
            scores = scores[:, 1:]  # (B, C, H, W): the foreground classes only
        target = reduce_zero_label(label)  # (B, H, W): background → ignored, class k + 1 → k
        metric.update(scores.argmax(dim=1).cpu(), target)
        uniform.update(torch.randint(0, classes, target.shape, generator=generator), target)
        if recognise:
            image_scores.append(model.classify_images(normalized, embeddings).float().cpu())  # (B, C)
            holds.append(classes_held(label, classes))  # (B, C)
    result = metric.compute()
    return {
        "mIoU": result["mIoU"],
        "IoU": result["IoU"],
        "class_names": list(model.class_names),
        "uniform_chance": uniform.compute()["mIoU"],
        "recognition_auc": mean_recognition_auc(torch.cat(image_scores), torch.cat(holds))
        if recognise
        else None,
    }
